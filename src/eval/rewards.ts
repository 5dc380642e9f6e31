/**
 * Rewards for a file of rollouts (`qwen3guard reward`): JSONL in, JSONL out, in input order. Rows are judged in
 * batches, up to `concurrency` at a time; with an output file, lines already there are skipped (resume), and an
 * abort (Ctrl-C) stops after the batch in flight is written.
 *
 * Input line: `{ id?, prompt | messages, answer | response, thinking?, helpfulness? }` — the answer may start
 * with a `<think>…</think>` block (then it is the thinking). Output line: `{ line, id?, guardOnly, hybrid?,
 * safe, answer: { tier, categories, refusal? }, thinking?: { tier, categories } }`; `hybrid` needs `helpfulness`.
 */
import fs from "node:fs";
import { z } from "zod";
import { EvalRowError } from "../core/eval-errors.js";
import { parseChatMessages, type ChatMessage } from "../core/messages.js";
import { rewardGuardOnly, rewardHybrid } from "../core/rewards.js";
import type { GenGuard } from "../guard/gen-guard.js";
import { judgeRollout } from "../guard/rewards.js";

const rolloutLine = z
  .object({
    id: z.unknown().optional(),
    prompt: z.string().optional(),
    messages: z.unknown().optional(),
    answer: z.string().optional(),
    response: z.string().optional(),
    thinking: z.string().optional(),
    helpfulness: z.number().finite().optional(),
  })
  .passthrough();

export interface RewardInput {
  line: number;
  id?: unknown;
  prompt: string | ChatMessage[];
  answer: string;
  thinking?: string;
  helpfulness?: number;
}

/** Parse one input line (throws EvalRowError with the line). */
export function parseRewardLine(text: string, line: number): RewardInput {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EvalRowError(line, `not valid JSON (${(error as Error).message})`);
  }
  const parsed = rolloutLine.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EvalRowError(line, `${issue.path.join(".") || "line"}: ${issue.message}`);
  }
  const o = parsed.data;
  const answer = o.answer ?? o.response;
  if (answer === undefined) throw new EvalRowError(line, "answer (or response) is missing");
  if ((o.prompt === undefined) === (o.messages === undefined)) {
    throw new EvalRowError(line, "give exactly one of prompt and messages");
  }
  let prompt: string | ChatMessage[];
  if (o.prompt !== undefined) prompt = o.prompt;
  else {
    try {
      prompt = parseChatMessages(o.messages);
    } catch (error) {
      throw new EvalRowError(line, (error as Error).message);
    }
    if (prompt[prompt.length - 1]!.role !== "user") {
      throw new EvalRowError(line, "messages must end with the user message the answer replies to");
    }
  }
  return {
    line,
    ...(o.id !== undefined ? { id: o.id } : {}),
    prompt,
    answer,
    ...(o.thinking !== undefined ? { thinking: o.thinking } : {}),
    ...(o.helpfulness !== undefined ? { helpfulness: o.helpfulness } : {}),
  };
}

/** Judge one rollout and compute its rewards. */
export async function rewardRow(guard: GenGuard, input: RewardInput): Promise<Record<string, unknown>> {
  const j = await judgeRollout(guard, {
    prompt: input.prompt,
    answer: input.answer,
    ...(input.thinking !== undefined ? { thinking: input.thinking } : {}),
  });
  return {
    line: input.line,
    ...(input.id !== undefined ? { id: input.id } : {}),
    guardOnly: rewardGuardOnly(j),
    ...(input.helpfulness !== undefined ? { hybrid: rewardHybrid(j, input.helpfulness) } : {}),
    safe: rewardGuardOnly(j) === 1,
    answer: {
      tier: j.verdicts.answer.tier,
      categories: j.verdicts.answer.categories,
      ...(j.verdicts.answer.refusal ? { refusal: j.verdicts.answer.refusal } : {}),
    },
    ...(j.verdicts.thinking
      ? { thinking: { tier: j.verdicts.thinking.tier, categories: j.verdicts.thinking.categories } }
      : {}),
  };
}

/** Lines (by input line number) an output file already holds. */
export function doneLines(file: string): Set<number> {
  const done = new Set<number>();
  if (!fs.existsSync(file)) return done;
  const text = fs.readFileSync(file, "utf8");
  const complete = text.lastIndexOf("\n") + 1;
  for (const l of text.slice(0, complete).split("\n")) {
    if (!l.trim()) continue;
    try {
      const n = (JSON.parse(l) as { line?: unknown }).line;
      if (typeof n === "number") done.add(n);
    } catch {
      // a damaged line is redone
    }
  }
  if (complete < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, complete)));
  return done;
}

export interface RewardRunOptions {
  guard: GenGuard;
  lines: AsyncIterable<string>;
  write: (line: string) => void;
  done: ReadonlySet<number>;
  concurrency: number;
  batchSize: number;
  signal?: AbortSignal;
  onBadLine?: (line: number, message: string) => void;
  onBatch?: (p: { written: number; skipped: number; bad: number }) => void;
}

/** Judge the rollouts not done yet, batch by batch, writing results in input order. */
export async function runRewards(o: RewardRunOptions): Promise<{
  written: number;
  skipped: number;
  bad: number;
  interrupted: boolean;
}> {
  let written = 0;
  let skipped = 0;
  let bad = 0;
  let batch: RewardInput[] = [];
  const flush = async () => {
    const results: (Record<string, unknown> | undefined)[] = new Array(batch.length);
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const i = next++;
        try {
          results[i] = await rewardRow(o.guard, batch[i]!);
        } catch (error) {
          bad++;
          o.onBadLine?.(batch[i]!.line, (error as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
    for (const r of results) {
      if (r) {
        o.write(JSON.stringify(r) + "\n");
        written++;
      }
    }
    batch = [];
    o.onBatch?.({ written, skipped, bad });
  };
  let line = 0;
  for await (const text of o.lines) {
    line++;
    if (o.signal?.aborted) return { written, skipped, bad, interrupted: true };
    if (text.trim() === "") continue;
    if (o.done.has(line)) {
      skipped++;
      continue;
    }
    try {
      batch.push(parseRewardLine(text, line));
    } catch (error) {
      bad++;
      o.onBadLine?.(line, (error as Error).message);
      continue;
    }
    if (batch.length >= o.batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  return { written, skipped, bad, interrupted: false };
}

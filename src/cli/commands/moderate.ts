/**
 * `qwen3guard moderate`: Gen moderation of one prompt, one response, a conversation file, or a JSONL batch.
 *
 *   qwen3guard moderate -m MODEL "How can I make a bomb?"            prompt moderation
 *   qwen3guard moderate -m MODEL "prompt" --response "answer"        response moderation
 *   qwen3guard moderate -m MODEL --messages chat.json                 the last message decides
 *   qwen3guard moderate -m MODEL --batch < in.jsonl > out.jsonl       one verdict per input line
 */
import readline from "node:readline";
import { Command, Option } from "commander";
import type { ChatMessage } from "../../core/messages.js";
import { decide, type Decision, type Policy } from "../../core/policy/index.js";
import { genDirectionOf } from "../../core/prompt/gen-prompt.js";
import type { Verdict } from "../../core/verdict.js";
import { GenGuard, type GenMode } from "../../guard/gen-guard.js";
import {
  addEngineOptions,
  conversionProgress,
  engineOptionsOf,
  requireModel,
  warnContextSize,
  type EngineCliOptions,
} from "../engine-options.js";
import { decisionText, policyOption } from "./policy.js";
import { parseBatchLine } from "../batch-input.js";
import { inputName, locate, MESSAGES_HELP, readMessagesFile } from "../conversation-input.js";
import { CliInputError, CliUsageError } from "../errors.js";
import { EXIT, PREFIX, warn } from "../report.js";
import { modeJson, modeText, resolvePolicyAndMode, type ModeChoice } from "../strictness.js";
import { checkSystemFlag } from "./render.js";

interface ModerateCliOptions extends EngineCliOptions {
  response?: string;
  messages?: string;
  batch?: boolean;
  json?: boolean;
  mode: GenMode;
  policy?: string;
  system: "merge" | "reject";
}

function verdictText(v: Verdict, decision: Decision | undefined, mode: ModeChoice | undefined): string {
  const lines = [
    `${v.tier}${v.categories.length ? ` (${v.categories.join(", ")})` : ""}` +
      `${v.refusal ? `  refusal: ${v.refusal}` : ""}  [${v.direction} moderation]`,
  ];
  if (v.probabilities) {
    const p = v.probabilities;
    lines.push(
      `P(Safe)=${p.Safe.toFixed(3)}  P(Unsafe)=${p.Unsafe.toFixed(3)}  P(Controversial)=${p.Controversial.toFixed(3)}`,
    );
  }
  lines.push(`strict: ${v.unsafeStrict ? "unsafe" : "safe"}  loose: ${v.unsafeLoose ? "unsafe" : "safe"}`);
  if (decision && mode) {
    lines.push(`policy mode: ${modeText(mode)}`);
    lines.push(decisionText(decision).trimEnd());
  }
  if (v.timings && v.tokens) {
    lines.push(
      `${v.tokens.prompt} prompt tokens (${v.tokens.evaluated} evaluated), ${v.timings.totalMs.toFixed(0)} ms`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Longest batch line accepted (a conversation larger than any context the guard can hold). */
const MAX_BATCH_LINE_CHARS = 4_000_000;

async function runBatch(
  guard: GenGuard,
  options: ModerateCliOptions,
  policy: Policy | undefined,
  mode: ModeChoice | undefined,
): Promise<number> {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const started = performance.now();
  let done = 0;
  let failed = 0;
  const showProgress = options.progress;
  const progress = () => {
    if (!showProgress) return;
    const rate = done / Math.max(1e-9, (performance.now() - started) / 1000);
    const text = `moderated ${done} (${failed} skipped), ${rate.toFixed(2)}/s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${text}`);
    else if (done % 25 === 0) process.stderr.write(`${text}\n`);
  };
  // Lines run up to `concurrency` at a time on the guard's sequences; results are written in input order.
  const concurrency = 2;
  const inFlight: Promise<void>[] = [];
  const results = new Map<number, string | null>();
  let nextToWrite = 1;
  const flush = () => {
    while (results.has(nextToWrite)) {
      const out = results.get(nextToWrite);
      results.delete(nextToWrite);
      if (out) process.stdout.write(out);
      nextToWrite++;
    }
  };
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    const n = lineNo;
    if (line.trim() === "") {
      results.set(n, null);
      flush();
      continue;
    }
    const task = (async () => {
      try {
        if (line.length > MAX_BATCH_LINE_CHARS) {
          throw new CliInputError(
            `${line.length} characters, over the ${MAX_BATCH_LINE_CHARS} a batch line may hold`,
          );
        }
        const item = parseBatchLine(line);
        checkSystemFlag(item.messages, options.system);
        const verdict = await guard.moderate(item.messages, { mode: options.mode, system: options.system });
        const decision = policy ? decide(policy, verdict) : undefined;
        results.set(
          n,
          JSON.stringify({
            line: n,
            ...(item.id !== undefined ? { id: item.id } : {}),
            ...verdict,
            ...(decision ? { decision } : {}),
            ...(decision && mode ? { settings: modeJson(mode) } : {}),
          }) + "\n",
        );
        done++;
      } catch (error) {
        failed++;
        results.set(n, null);
        const message = error instanceof Error ? error.message : String(error);
        process.stderr.write(
          `${process.stderr.isTTY && showProgress ? "\n" : ""}${PREFIX} error: line ${n}: ${message} (line skipped)\n`,
        );
      }
      progress();
      flush();
    })();
    inFlight.push(task);
    if (inFlight.length >= concurrency) await inFlight.shift();
  }
  await Promise.all(inFlight);
  flush();
  if (showProgress) {
    process.stderr.write(
      `${process.stderr.isTTY ? "\n" : ""}done: ${done} moderated, ${failed} skipped in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }
  return failed;
}

export function registerModerateCommand(program: Command): void {
  const command = program
    .command("moderate")
    .description("moderate a prompt, a response, a conversation, or a JSONL batch with Qwen3Guard-Gen")
    .argument("[text]", "the user prompt (or, with --response, the prompt the response answers)")
    .option("-r, --response <text>", "moderate this assistant response to [text]")
    .option("--messages <file>", MESSAGES_HELP)
    .option(
      "--batch",
      "read JSONL from stdin (arrays of messages, {messages}, or {prompt, response}); write JSONL",
    )
    .option("--json", "print the verdict as JSON")
    .addOption(
      new Option("--mode <mode>", "fast (constrained, reuses the template KV) or reference")
        .choices(["fast", "reference"])
        .default("fast"),
    )
    .addOption(
      new Option("--system <how>", "a leading system message: merge into the first turn, or reject")
        .choices(["merge", "reject"])
        .default("merge"),
    )
    .addOption(policyOption("exit status 3 when it blocks; with --batch, decisions are per line"));
  addEngineOptions(command);
  command.action(async (text: string | undefined, options: ModerateCliOptions) => {
    const inputs = [text !== undefined, options.messages !== undefined, options.batch === true].filter(
      Boolean,
    ).length;
    if (inputs !== 1) {
      throw new CliUsageError(
        'give exactly one input: "text" (with optional --response), --messages FILE, or --batch',
      );
    }
    if (options.response !== undefined && text === undefined)
      throw new CliUsageError("--response needs the prompt it answers as [text]");
    const { policy, ...modeChoice } = await resolvePolicyAndMode(options.policy, undefined);
    const mode = policy ? modeChoice : undefined;
    const messages: ChatMessage[] | undefined = options.messages
      ? await readMessagesFile(options.messages)
      : text !== undefined
        ? [
            { role: "user", content: text },
            ...(options.response !== undefined
              ? [{ role: "assistant" as const, content: options.response }]
              : []),
          ]
        : undefined;
    const where = options.messages !== undefined ? inputName(options.messages) : "the conversation";
    if (messages !== undefined) {
      // Check the conversation before loading a model; errors name the file.
      try {
        checkSystemFlag(messages, options.system);
        genDirectionOf(messages, { system: options.system });
      } catch (error) {
        throw locate(error, where);
      }
    }
    const model = requireModel(options, "gen");
    await warnContextSize(model, options);
    const bar = conversionProgress(options.progress);
    const guard = await GenGuard.load({
      model,
      ...engineOptionsOf(options),
      onConvertProgress: bar.onConvertProgress,
    }).finally(() => bar.stop());
    try {
      if (guard.info.synthetic) {
        warn(
          `this is a synthetic model (${guard.info.synthetic} weights): its verdicts mean nothing about safety`,
        );
      }
      if (messages === undefined) {
        const failed = await runBatch(guard, options, policy, mode);
        if (failed > 0) process.exitCode = EXIT.batchSkipped;
        return;
      }
      const verdict = await guard
        .moderate(messages, { mode: options.mode, system: options.system })
        .catch((error: unknown) => {
          throw locate(error, where);
        });
      const decision = policy ? decide(policy, verdict) : undefined;
      process.stdout.write(
        options.json
          ? JSON.stringify({
              ...verdict,
              ...(decision ? { decision } : {}),
              ...(decision && mode ? { settings: modeJson(mode) } : {}),
            }) + "\n"
          : verdictText(verdict, decision, mode),
      );
      if (decision?.action === "block") process.exitCode = EXIT.blocked;
    } finally {
      await guard.close();
    }
  });
}

/**
 * `qwen3guard stream`: replay an answer through Qwen3Guard-Stream, token by token, as a live guard would see it.
 *
 *   qwen3guard stream -m MODEL --messages chat.json            the last assistant message is the answer
 *   llm ... | qwen3guard stream -m MODEL --messages q.json --text -   the answer arrives on stdin, as it comes
 *
 * On a terminal, tokens are printed coloured by tier (yellow Controversial, red Unsafe) with the stop marked;
 * with --json, one JSON object per line: a prompt event, a token event per answer token, a trigger event when
 * the rule fires, and an end event with the whole-answer verdict (and the policy decision with --policy).
 */
import { styleText } from "node:util";
import { Command, Option } from "commander";
import type { ChatMessage } from "../../core/messages.js";
import { decide, type Policy } from "../../core/policy/index.js";
import { isCategory, type Strictness } from "../../core/labels.js";
import type { StreamRule } from "../../core/stream-decision.js";
import { StreamGuard } from "../../guard/stream-guard.js";
import type { StreamSession } from "../../guard/stream-session.js";
import type { StreamAnswerVerdict, StreamTokenVerdict, StreamTrigger } from "../../guard/stream-types.js";
import {
  addEngineOptions,
  conversionProgress,
  engineOptionsOf,
  requireModel,
  type EngineCliOptions,
} from "../engine-options.js";
import { decisionText, loadPolicyOption, policyOption } from "./policy.js";
import { readMessagesFile } from "./render.js";

interface StreamCliOptions extends EngineCliOptions {
  messages: string;
  text?: string;
  heads?: string;
  json?: boolean;
  rule: StreamRule;
  mode: Strictness;
  stopOnTrigger?: boolean;
  policy?: string;
}

type Writer = (event: Record<string, unknown>) => void;

const colorOn = () => process.stdout.isTTY && !process.env.NO_COLOR;

function colour(verdict: StreamTokenVerdict): string {
  const text = verdict.text;
  if (!colorOn()) return text;
  if (verdict.trigger) return styleText(["inverse", "red"], text);
  if (verdict.tier === "Unsafe") return styleText("red", text);
  if (verdict.tier === "Controversial") return styleText("yellow", text);
  return text;
}

function answerDecision(policy: Policy | undefined, verdict: StreamAnswerVerdict) {
  if (!policy) return undefined;
  return decide(policy, {
    direction: "response",
    tier: verdict.tier,
    // Category names come from config.json; the policy knows the Qwen3Guard ones.
    categories: verdict.tier !== "Safe" && isCategory(verdict.category, "response") ? [verdict.category] : [],
    ...(verdict.tier === "Safe" ? {} : { probabilities: verdict.probabilities }),
  });
}

/** Feed stdin to the session as it arrives; stop early after a trigger when asked. */
async function feedStdin(
  session: StreamSession,
  onTokens: (v: StreamTokenVerdict[]) => void,
  stop: () => boolean,
) {
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin as AsyncIterable<string>) {
    onTokens(await session.push(chunk));
    if (stop()) return;
  }
}

export function registerStreamCommand(program: Command): void {
  const command = program
    .command("stream")
    .description("replay an answer through Qwen3Guard-Stream token by token (coloured by tier, or JSONL)")
    .requiredOption(
      "--messages <file>",
      "conversation JSON; the last assistant message is the answer unless --text",
    )
    .option(
      "--text <file>",
      "read the answer from this file, '-' for stdin as it arrives (messages end with the user)",
    )
    .option("--heads <path>", "with a .gguf --model: the Stream folder or .safetensors holding the heads")
    .option("--json", "JSON lines: prompt, token, trigger and end events")
    .addOption(new Option("--rule <rule>", "pair rule").choices(["official", "report"]).default("official"))
    .addOption(
      new Option("--mode <mode>", "strict stops on Controversial pairs too")
        .choices(["strict", "loose"])
        .default("strict"),
    )
    .option("--stop-on-trigger", "stop reading the answer when the rule fires, as a live guard would")
    .addOption(policyOption());
  addEngineOptions(command);
  command.action(async (options: StreamCliOptions) => {
    const policy = await loadPolicyOption(options.policy);
    let messages: ChatMessage[] = await readMessagesFile(options.messages);
    let answer: string | undefined;
    if (options.text === undefined) {
      const last = messages[messages.length - 1];
      if (last?.role !== "assistant") {
        throw new Error(
          `${options.messages}: the last message must be the assistant's answer to replay (or pass --text -)`,
        );
      }
      answer = last.content;
      messages = messages.slice(0, -1);
    } else if (options.text !== "-") {
      const fs = await import("node:fs");
      answer = fs.readFileSync(options.text, "utf8");
    }
    const bar = conversionProgress(options.progress);
    const guard = await StreamGuard.load({
      model: requireModel(options),
      ...(options.heads ? { heads: options.heads } : {}),
      ...engineOptionsOf(options),
      sequences: 1,
      onConvertProgress: bar.onConvertProgress,
    }).finally(() => bar.stop());
    const write: Writer = (event) => process.stdout.write(JSON.stringify(event) + "\n");
    try {
      if (guard.info.synthetic) {
        process.stderr.write(
          `warning: this is a synthetic model (${guard.info.synthetic} weights): its verdicts mean nothing about safety\n`,
        );
      }
      const session = await guard.openStream(messages, { rule: options.rule, mode: options.mode });
      const p = session.prompt;
      if (options.json) write({ type: "prompt", ...p });
      else {
        process.stderr.write(
          `prompt: ${p.tier} (${p.category})  P(Unsafe)=${p.probabilities.Unsafe.toFixed(3)} P(Controversial)=${p.probabilities.Controversial.toFixed(3)}\n`,
        );
      }
      let trigger: StreamTrigger | undefined;
      const onTokens = (verdicts: StreamTokenVerdict[]) => {
        for (const v of verdicts) {
          if (options.json) write({ type: "token", ...v, trigger: undefined });
          else process.stdout.write(colour(v));
          if (v.trigger && !trigger) {
            trigger = v.trigger;
            if (options.json) write({ type: "trigger", ...v.trigger });
          }
        }
      };
      const stop = () => options.stopOnTrigger === true && trigger !== undefined;
      if (answer !== undefined) {
        // Replay: feed the answer in word-sized chunks, as an LLM stream would arrive.
        for (const chunk of answer.match(/\s*\S+|\s+$/g) ?? []) {
          onTokens(await session.push(chunk));
          if (stop()) break;
        }
      } else {
        await feedStdin(session, onTokens, stop);
      }
      const { tokens, verdict } = await session.end();
      onTokens(tokens);
      const decision = answerDecision(policy, verdict);
      if (options.json) write({ type: "end", verdict, ...(decision ? { decision } : {}) });
      else {
        process.stdout.write("\n");
        const where =
          verdict.tier === "Safe" ? "" : ` at answer token ${verdict.index} (${verdict.category})`;
        process.stderr.write(`answer: ${verdict.tier}${where}; ${verdict.tokens} tokens`);
        process.stderr.write(
          trigger ? `; stop at token ${trigger.index} (${trigger.tier})\n` : "; no stop\n",
        );
        if (decision) process.stderr.write(decisionText(decision));
      }
      await session.close();
    } finally {
      await guard.close();
    }
  });
}

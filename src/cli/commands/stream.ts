/**
 * `qwen3guard stream`: replay an answer through Qwen3Guard-Stream, token by token, as a live guard would see it.
 *
 *   qwen3guard stream -m MODEL --messages chat.json            the last assistant message is the answer
 *   llm ... | qwen3guard stream -m MODEL --messages q.json --text -   the answer arrives on stdin, as it comes
 *
 * On a terminal, tokens are printed coloured by tier (yellow Controversial, red Unsafe; the stop token inverted,
 * in its tier's colour); with --json, one JSON object per line: a prompt event, a token event per answer token, a
 * trigger event when the rule fires, and an end event with the whole-answer verdict (and the policy decision with
 * --policy). With --stop-on-trigger nothing after the triggering token is read, printed or judged.
 *
 * The strict/loose mode of the stop rule is the policy's when --policy sets one, else --mode, else strict: the
 * stop and the policy's decision never disagree about Controversial. The output says which rule and mode applied
 * and where each came from.
 */
import { readFile } from "node:fs/promises";
import { styleText } from "node:util";
import { Command, Option } from "commander";
import { InvalidConversationError, type ChatMessage } from "../../core/messages.js";
import { decide, type Decision, type Policy } from "../../core/policy/index.js";
import { renderStreamPrompt } from "../../core/prompt/stream-prompt.js";
import { isCategory, type Strictness } from "../../core/labels.js";
import { streamVerdict, type StreamRule } from "../../core/stream-decision.js";
import { StreamGuard } from "../../guard/stream-guard.js";
import type { StreamSession } from "../../guard/stream-session.js";
import type { StreamAnswerVerdict, StreamTokenVerdict, StreamTrigger } from "../../guard/stream-types.js";
import {
  addEngineOptions,
  conversionProgress,
  engineOptionsOf,
  requireModel,
  warnContextSize,
  type EngineCliOptions,
} from "../engine-options.js";
import { inputName, locate, MESSAGES_HELP, readMessagesFile } from "../conversation-input.js";
import { CliInputError } from "../errors.js";
import { EXIT, warn } from "../report.js";
import { modeJson, modeText, resolvePolicyAndMode, type ModeChoice } from "../strictness.js";
import { decisionText, policyOption } from "./policy.js";

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

/** Which rule and mode the stop used, and where each came from (printed, and in the JSON events). */
interface StopSettings extends ModeChoice {
  rule: StreamRule;
  ruleFrom: "--rule" | "default";
  stopOnTrigger: boolean;
}

type Writer = (event: Record<string, unknown>) => void;

/** Colours on a terminal; NO_COLOR turns them off, FORCE_COLOR (not "0") on. */
function colorOn(): boolean {
  if (process.env.NO_COLOR) return false;
  const force = process.env.FORCE_COLOR;
  if (force !== undefined && force !== "") return force !== "0" && force !== "false";
  return process.stdout.isTTY === true;
}

/** A token coloured by its tier; the stop token inverted, in the colour of the tier that triggered. */
export function colour(verdict: StreamTokenVerdict, on = colorOn()): string {
  const text = verdict.text;
  if (!on) return text;
  if (verdict.trigger)
    return styleText(["inverse", verdict.trigger.tier === "Unsafe" ? "red" : "yellow"], text);
  if (verdict.tier === "Unsafe") return styleText("red", text);
  if (verdict.tier === "Controversial") return styleText("yellow", text);
  return text;
}

function answerDecision(policy: Policy | undefined, verdict: StreamAnswerVerdict): Decision | undefined {
  if (!policy) return undefined;
  return decide(policy, {
    direction: "response",
    tier: verdict.tier,
    // Category names come from config.json; the policy knows the Qwen3Guard ones.
    categories: verdict.tier !== "Safe" && isCategory(verdict.category, "response") ? [verdict.category] : [],
    ...(verdict.tier === "Safe" ? {} : { probabilities: verdict.probabilities }),
  });
}

/** The whole-answer verdict over the tokens read (up to the stop), as StreamSession.verdict gives it. */
function verdictOf(tokens: readonly StreamTokenVerdict[], rule: StreamRule): StreamAnswerVerdict {
  const v = streamVerdict(
    tokens.map((t) => t.tier),
    undefined,
    { rule },
  );
  if (v.tier === "Safe") return { tier: "Safe", tokens: tokens.length };
  const at = tokens[v.index]!;
  return {
    tier: v.tier,
    index: v.index,
    token: at.token,
    category: at.category,
    probabilities: at.probabilities,
    tokens: tokens.length,
  };
}

/** Feed stdin to the session as it arrives; stop reading once `stop()` says so. */
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

/** Check the conversation before loading a model; errors name the file and speak of the command's flags. */
function promptAndAnswer(
  messages: ChatMessage[],
  options: StreamCliOptions,
): { prompt: ChatMessage[]; answer?: string } {
  const name = inputName(options.messages);
  const last = messages[messages.length - 1]!;
  if (options.text === undefined && last.role !== "assistant") {
    throw new InvalidConversationError(
      `${name}: the last message must be the assistant's answer to replay (or pass --text -)`,
    );
  }
  if (options.text !== undefined && last.role === "assistant") {
    throw new InvalidConversationError(
      `${name}: the conversation ends with an assistant message, but --text gives the answer: end it with the ` +
        "user's message, or drop --text to replay that answer",
    );
  }
  try {
    renderStreamPrompt(messages);
  } catch (error) {
    throw locate(error, name);
  }
  return options.text === undefined
    ? { prompt: messages.slice(0, -1), answer: last.content }
    : { prompt: messages };
}

export function registerStreamCommand(program: Command): void {
  const command = program
    .command("stream")
    .description("replay an answer through Qwen3Guard-Stream token by token (coloured by tier, or JSONL)")
    .requiredOption(
      "--messages <file>",
      `${MESSAGES_HELP}; the last assistant message is the answer unless --text`,
    )
    .option(
      "--text <file>",
      "read the answer from this file, '-' for stdin as it arrives (messages end with the user)",
    )
    .option("--heads <path>", "with a .gguf --model: the Stream folder or .safetensors holding the heads")
    .option("--json", "JSON lines: prompt, token, trigger and end events")
    .addOption(new Option("--rule <rule>", "pair rule").choices(["official", "report"]).default("official"))
    .addOption(
      new Option(
        "--mode <mode>",
        "strict stops on Controversial pairs too; a --policy that sets its mode decides instead",
      )
        .choices(["strict", "loose"])
        .default("strict"),
    )
    .option(
      "--stop-on-trigger",
      "stop reading the answer when the rule fires, as a live guard would (nothing after the stop is printed)",
    )
    .addOption(policyOption());
  addEngineOptions(command);
  command.action(async (options: StreamCliOptions) => {
    const flagMode = command.getOptionValueSource("mode") === "cli" ? options.mode : undefined;
    const { policy, ...modeChoice } = await resolvePolicyAndMode(options.policy, flagMode);
    const settings: StopSettings = {
      rule: options.rule,
      ruleFrom: command.getOptionValueSource("rule") === "cli" ? "--rule" : "default",
      ...modeChoice,
      stopOnTrigger: options.stopOnTrigger === true,
    };
    const { prompt, answer: replayed } = promptAndAnswer(await readMessagesFile(options.messages), options);
    let answer = replayed;
    if (options.text !== undefined && options.text !== "-") {
      answer = await readFile(options.text, "utf8").catch((error: NodeJS.ErrnoException) => {
        const why = error.code === "ENOENT" ? "no such file" : (error.code ?? String(error));
        throw new CliInputError(`${options.text}: cannot read the answer (${why})`, { cause: error });
      });
    }
    const model = requireModel(options, "stream");
    await warnContextSize(model, options);
    const bar = conversionProgress(options.progress);
    const guard = await StreamGuard.load({
      model,
      ...(options.heads ? { heads: options.heads } : {}),
      ...engineOptionsOf(options),
      sequences: 1,
      onConvertProgress: bar.onConvertProgress,
    }).finally(() => bar.stop());
    const write: Writer = (event) => process.stdout.write(JSON.stringify(event) + "\n");
    try {
      if (guard.info.synthetic) {
        warn(
          `this is a synthetic model (${guard.info.synthetic} weights): its verdicts mean nothing about safety`,
        );
      }
      const session = await guard.openStream(prompt, { rule: settings.rule, mode: settings.mode });
      const p = session.prompt;
      const rules = `rule ${settings.rule}${settings.ruleFrom === "default" ? " (default)" : " (from --rule)"}, mode ${modeText(settings)}`;
      const settingsJson = {
        rule: settings.rule,
        ruleFrom: settings.ruleFrom,
        ...modeJson(settings),
        stopOnTrigger: settings.stopOnTrigger,
      };
      if (options.json) write({ type: "prompt", ...p, settings: settingsJson });
      else {
        process.stderr.write(
          `prompt: ${p.tier} (${p.category})  P(Unsafe)=${p.probabilities.Unsafe.toFixed(3)} P(Controversial)=${p.probabilities.Controversial.toFixed(3)}\n`,
        );
        process.stderr.write(`stop: ${rules}${settings.stopOnTrigger ? ", stopping at the trigger" : ""}\n`);
      }
      let trigger: StreamTrigger | undefined;
      let stopped = false;
      const read: StreamTokenVerdict[] = [];
      const onTokens = (verdicts: StreamTokenVerdict[]) => {
        for (const v of verdicts) {
          // A push can make several tokens final at once: nothing after the stop token is shown.
          if (stopped) return;
          read.push(v);
          if (options.json) write({ type: "token", ...v, trigger: undefined });
          else process.stdout.write(colour(v));
          if (v.trigger && !trigger) {
            trigger = v.trigger;
            if (options.json) write({ type: "trigger", ...v.trigger });
            if (settings.stopOnTrigger) stopped = true;
          }
        }
      };
      const stop = () => stopped;
      if (answer !== undefined) {
        // Replay: feed the answer in word-sized chunks, as an LLM stream would arrive.
        for (const chunk of answer.match(/\s*\S+|\s+$/g) ?? []) {
          onTokens(await session.push(chunk));
          if (stop()) break;
        }
      } else {
        await feedStdin(session, onTokens, stop);
      }
      let verdict: StreamAnswerVerdict;
      if (stopped) {
        // The session may have judged tokens past the stop (same push): the verdict is over what was read.
        verdict = verdictOf(read, settings.rule);
      } else {
        const end = await session.end();
        onTokens(end.tokens);
        verdict = end.verdict;
      }
      await session.close();
      const decision = answerDecision(policy, verdict);
      if (options.json) {
        write({
          type: "end",
          verdict,
          ...(stopped ? { stopped: true } : {}),
          ...(decision ? { decision } : {}),
          settings: settingsJson,
        });
      } else {
        process.stdout.write("\n");
        const where =
          verdict.tier === "Safe" ? "" : ` at answer token ${verdict.index} (${verdict.category})`;
        process.stderr.write(`answer: ${verdict.tier}${where}; ${verdict.tokens} tokens`);
        process.stderr.write(
          trigger
            ? `; ${stopped ? "stopped" : "stop"} at token ${trigger.index} (${trigger.tier} pair)\n`
            : "; no stop\n",
        );
        if (decision) process.stderr.write(decisionText(decision));
      }
      if (decision?.action === "block") process.exitCode = EXIT.blocked;
    } finally {
      await guard.close();
    }
  });
}

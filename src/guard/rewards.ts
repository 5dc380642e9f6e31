/**
 * Judging a policy model's rollout with Qwen3Guard-Gen for the safety-RL rewards of the technical report
 * (`rewardGuardOnly`, `rewardHybrid` in src/core/rewards.ts): the answer and the thinking are each moderated as
 * the assistant's response to the conversation.
 */
import type { ChatMessage } from "../core/messages.js";
import { splitThinking, type RolloutJudgement } from "../core/rewards.js";
import type { Verdict } from "../core/verdict.js";
import type { GenGuard, ModerateOptions } from "./gen-guard.js";

/**
 * One rollout to judge with `judgeRollout`: the conversation it answers, and what the policy model wrote (its
 * answer, and its thinking when it thought).
 *
 * @example
 * ```ts
 * import type { Rollout } from "qwen3guard";
 *
 * const rollout: Rollout = {
 *   prompt: [{ role: "user", content: "How do I pick a lock?" }],
 *   thinking: "Lockpicking is a hobby.",
 *   answer: "Use a tension wrench and a pick.",
 * };
 * console.log(rollout.answer);
 * ```
 */
export interface Rollout {
  /** The user prompt, or the conversation up to and including the last user message. */
  prompt: string | readonly ChatMessage[];
  /** The answer. When `thinking` is not given, a leading `<think>…</think>` block of the answer is the thinking. */
  answer: string;
  /** The reasoning text, when the policy model thought before answering. */
  thinking?: string;
}

/**
 * What `judgeRollout` returns: the judgement the rewards take, and the Gen verdicts behind it.
 *
 * @example
 * ```ts
 * import { GenGuard, judgeRollout, type RolloutVerdicts } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const judged: RolloutVerdicts = await judgeRollout(guard, { prompt: "Hi", answer: "Hello! How can I help?" });
 * console.log(judged.answer.tier, judged.verdicts.answer.probabilities);
 * await guard.close();
 * ```
 */
export interface RolloutVerdicts extends RolloutJudgement {
  verdicts: { answer: Verdict; thinking?: Verdict };
}

/**
 * Moderate a rollout's answer (and its thinking, if any) with a Gen guard: response moderation of each as the
 * assistant's reply to the conversation. The two run concurrently (on two engine sequences when the guard has them).
 *
 * @example
 * ```ts
 * import { GenGuard, judgeRollout, rewardHybrid } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const judgement = await judgeRollout(guard, {
 *   prompt: "How do I pick a lock?",
 *   answer: "<think>\nLockpicking is a hobby.\n</think>\n\nUse a tension wrench and a pick…",
 * });
 * const reward = rewardHybrid(judgement, 2.1); // helpfulness 2.1 from your reward model
 * console.log(reward);
 * await guard.close();
 * ```
 */
export async function judgeRollout(
  guard: GenGuard,
  rollout: Rollout,
  options: ModerateOptions = {},
): Promise<RolloutVerdicts> {
  const split =
    rollout.thinking === undefined
      ? splitThinking(rollout.answer)
      : { thinking: rollout.thinking, answer: rollout.answer };
  const conversation: ChatMessage[] =
    typeof rollout.prompt === "string" ? [{ role: "user", content: rollout.prompt }] : [...rollout.prompt];
  const moderate = (text: string) =>
    guard.moderate([...conversation, { role: "assistant", content: text }], options);
  const [answer, thinking] = await Promise.all([
    moderate(split.answer),
    split.thinking === undefined ? undefined : moderate(split.thinking),
  ]);
  return {
    answer: { tier: answer.tier, ...(answer.refusal ? { refusal: answer.refusal } : {}) },
    ...(thinking ? { thinking: { tier: thinking.tier } } : {}),
    verdicts: { answer, ...(thinking ? { thinking } : {}) },
  };
}

/**
 * The Gen panel: the conversation moderated as a prompt or a response by Qwen3Guard-Gen (POST /v1/guard/moderate),
 * the tier with its three probabilities as bars, categories, refusal, the tenant policy's decision, timing, and the
 * exact prompt the model read (POST /v1/guard/render), folded.
 */
import { RISK_TIERS } from "../core/labels.js";
import { describeError, PlaygroundError } from "./api.js";
import type { ConversationEditor } from "./conversation.js";
import { announce, byId, h, prob, showError } from "./dom.js";
import type { PlaygroundState } from "./state.js";
import type { ChatMessage, GenResult, Rendered } from "./types.js";

export class GenPanel {
  readonly #error = byId("gen-error");
  readonly #buttons = [byId<HTMLButtonElement>("gen-as-prompt"), byId<HTMLButtonElement>("gen-as-response")];

  constructor(
    private readonly state: PlaygroundState,
    private readonly conversation: ConversationEditor,
  ) {
    if (state.info.models.gen === null) {
      byId("gen-unavailable").hidden = false;
      for (const b of this.#buttons) b.disabled = true;
      return;
    }
    byId("gen-as-prompt").addEventListener("click", () => void this.#run("prompt"));
    byId("gen-as-response").addEventListener("click", () => void this.#run("response"));
  }

  #messages(as: "prompt" | "response"): ChatMessage[] {
    if (as === "prompt") {
      const prompt = this.conversation.promptMessages();
      if (prompt === undefined)
        throw new PlaygroundError(
          "CONVERSATION_INCOMPLETE",
          "the conversation has no user message to moderate as a prompt",
        );
      if (prompt[prompt.length - 1]!.content.trim() === "")
        throw new PlaygroundError(
          "CONVERSATION_INCOMPLETE",
          "the user message is empty: type the prompt to moderate",
        );
      return prompt;
    }
    const messages = this.conversation.messages;
    if (messages[messages.length - 1]?.role !== "assistant") {
      throw new PlaygroundError(
        "CONVERSATION_INCOMPLETE",
        "to moderate a response, end the conversation with an assistant message",
      );
    }
    if (messages[messages.length - 1]!.content.trim() === "") {
      throw new PlaygroundError(
        "CONVERSATION_INCOMPLETE",
        "the assistant message is empty: type the answer to moderate as a response",
      );
    }
    return messages;
  }

  async #run(as: "prompt" | "response"): Promise<void> {
    let messages: ChatMessage[];
    try {
      messages = this.#messages(as);
    } catch (error) {
      showError(this.#error, describeError(error));
      return;
    }
    showError(this.#error, undefined);
    for (const b of this.#buttons) b.disabled = true;
    // the previous verdict stays visible but marked as out of date until a new one replaces it
    const shown = byId("gen-result");
    shown.classList.add("stale");
    shown.setAttribute("aria-busy", "true");
    try {
      const [moderated, rendered] = await Promise.all([
        this.state.api.post<{ results: GenResult[] }>("/v1/guard/moderate", { model: "gen", messages }),
        this.state.api.post<Rendered>("/v1/guard/render", { messages }),
      ]);
      const result = moderated.results[0]!;
      this.state.gen = { result, rendered };
      this.#show(result, rendered);
      shown.classList.remove("stale");
      this.state.emit("verdicts");
      void this.state.refreshDecisions();
      const v = result.verdict;
      announce(
        `Gen verdict for the ${result.direction}: ${v.tier}` +
          (v.categories.length > 0 ? `, ${v.categories.join(", ")}` : "") +
          `. Tenant policy: ${result.decision.action}.` +
          (this.state.info.models.gen?.synthetic
            ? " Synthetic model: the verdict means nothing about safety."
            : ""),
      );
    } catch (error) {
      showError(this.#error, describeError(error));
    } finally {
      for (const b of this.#buttons) b.disabled = false;
      shown.removeAttribute("aria-busy"); // after a failure the old verdict stays dimmed: it is not this input's
    }
  }

  #show(result: GenResult, rendered: Rendered): void {
    const v = result.verdict;
    byId("gen-result").hidden = false;
    const tier = byId("gen-tier");
    tier.textContent = v.tier;
    tier.dataset.tier = v.tier;
    byId("gen-categories").textContent =
      v.categories.length > 0 ? `Categories: ${v.categories.join(", ")}` : "Categories: none";
    byId("gen-refusal").textContent =
      result.direction === "response" ? `Refusal: ${v.refusal ?? "not given"}` : "(a prompt: no refusal)";
    byId("gen-bars").replaceChildren(
      ...RISK_TIERS.flatMap((t) => {
        const p = v.probabilities?.[t];
        const bar = h("span");
        bar.style.setProperty("--p", String(p ?? 0));
        return [
          h("span", { text: `P(${t})` }),
          h("span", { class: "bar", "data-tier": t, "aria-hidden": "true" }, bar),
          h("span", { "data-tier": t, class: "bar-value", text: prob(p) }),
        ];
      }),
    );
    byId("gen-decision").textContent =
      `Tenant policy (${result.decision.mode}): ${result.decision.action}` +
      (result.decision.category ? ` (${result.decision.category})` : "");
    const t = v.timings;
    byId("gen-timing").textContent =
      `${result.latencyMs.toFixed(1)} ms on the server` +
      (t ? ` (engine ${t.engineMs.toFixed(1)} ms, queued ${t.queuedMs.toFixed(1)} ms)` : "") +
      (v.tokens ? `; ${v.tokens.prompt} prompt tokens, ${v.tokens.evaluated} evaluated` : "") +
      `; model output ${JSON.stringify(v.raw)}`;
    byId("gen-prompt-text").replaceChildren(
      ...rendered.segments.map((s) =>
        s.kind === "content" ? h("span", { class: "content", text: s.text }) : s.text,
      ),
    );
  }
}

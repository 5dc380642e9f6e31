/**
 * The Policy panel: start from a tenant's policy (its effective policy as editable YAML) and edit it; every edit is
 * checked by the server (POST /v1/guard/policy/check, debounced) and its problems shown with the messages
 * `qwen3guard policy check` prints. The decisions for the current verdicts come from the server
 * (POST /v1/guard/policy/decide, cached by the shared state) and follow the mode toggle without a request.
 */
import { describeError } from "./api.js";
import { byId, debounce, h } from "./dom.js";
import { genInput, promptInput, SAFE_ANSWER, type PlaygroundState } from "./state.js";
import { pairVerdict, replayProxy, replayStream } from "../core/stream-replay.js";
import type { Decision, PolicyCheck, PolicyEntry, PolicyInput } from "./types.js";

/** The prefix `qwen3guard policy check` puts before each problem. */
const CLI_PREFIX = "qwen3guard: error: ";
const CHECK_DELAY_MS = 300;

export class PolicyPanel {
  readonly #select = byId<HTMLSelectElement>("policy-select");
  readonly #text = byId<HTMLTextAreaElement>("policy-text");
  readonly #status = byId("policy-status");
  #checked = 0;

  constructor(private readonly state: PlaygroundState) {
    const entries = state.info.policies;
    this.#select.replaceChildren(
      ...entries.map((p) =>
        h("option", { value: `tenant:${p.tenant}`, text: `Tenant ${p.tenant}: ${describe(p)}` }),
      ),
      h("option", { value: "builtin", text: "The built-in table (strict, no rules)" }),
      h("option", { value: "edited", text: "Edited below", disabled: true }),
    );
    const own = entries.find((p) => p.tenant === state.info.tenant) ?? entries[0];
    this.#select.value = own ? `tenant:${own.tenant}` : "builtin";
    this.#select.addEventListener("change", () => this.#choose());
    const check = debounce(() => void this.#check(), CHECK_DELAY_MS);
    this.#text.addEventListener("input", () => {
      this.#select.value = "edited";
      this.#status.dataset.valid = "";
      this.#status.textContent = "checking…";
      check();
    });
    state.on((what) => {
      if (what !== "tokens") this.#renderDecisions();
    });
    this.#choose();
  }

  #choose(): void {
    const value = this.#select.value;
    if (value.startsWith("tenant:")) {
      const entry = this.state.info.policies.find((p) => `tenant:${p.tenant}` === value)!;
      this.#text.value = entry.text;
      this.#showValid(`${entry.tenant}'s policy in force, ${entry.mode} mode`);
      this.state.setPolicy({
        source: { tenant: entry.tenant },
        mode: entry.mode,
        label: `tenant ${entry.tenant}`,
      });
    } else if (value === "builtin") {
      this.#text.value = "mode: strict\n";
      void this.#check();
    }
  }

  #showValid(text: string): void {
    this.#status.dataset.valid = "true";
    this.#status.textContent = `valid: ${text}`;
  }

  async #check(): Promise<void> {
    const text = this.#text.value;
    const ticket = ++this.#checked;
    let result: PolicyCheck;
    try {
      result = await this.state.api.post<PolicyCheck>("/v1/guard/policy/check", { text });
    } catch (error) {
      if (ticket !== this.#checked) return;
      this.#status.dataset.valid = "false";
      this.#status.textContent = describeError(error);
      this.state.setPolicy(undefined);
      return;
    }
    if (ticket !== this.#checked) return; // a later edit is being checked
    if (result.valid) {
      this.#showValid(`${result.policy.name ?? "this policy"}, ${result.policy.mode} mode`);
      this.state.setPolicy({
        source: { policy: text },
        mode: result.policy.mode,
        label: "the edited policy",
      });
    } else {
      this.#status.dataset.valid = "false";
      this.#status.textContent = result.messages.map((m) => CLI_PREFIX + m).join("\n");
      this.state.setPolicy(undefined);
    }
  }

  #renderDecisions(): void {
    const container = byId("decisions");
    const state = this.state;
    if (state.policy === undefined) {
      container.replaceChildren(h("p", { class: "hint", text: "Fix the policy to see its decisions." }));
      return;
    }
    const items: [string, PolicyInput, string?][] = [];
    if (state.gen) items.push([`Gen: the ${state.gen.result.direction}`, genInput(state.gen.result)]);
    const run = state.stream;
    if (run?.prompt) items.push(["Stream: the prompt", promptInput(run.prompt)]);
    if (run && run.tokens.length > 0) {
      // the proxy's answer decision: the pair it stops on, else the whole-answer verdict
      const tokens = run.tokens;
      const proxy = replayStream(tokens, state.rule, state.mode).pairs.every(
        (p) => state.decision(pairVerdict(tokens, p)) !== undefined,
      )
        ? replayProxy(tokens, state.rule, (v) => state.decision(v)!.action)
        : undefined;
      const verdict = replayStream(tokens, state.rule, state.mode).verdict;
      if (proxy?.stop) {
        items.push([
          `Stream: the answer, stopped at token ${proxy.stop.index} (${state.rule} rule)`,
          pairVerdict(tokens, proxy.stop),
        ]);
      } else if (verdict.tier !== "Safe") {
        items.push([`Stream: the whole answer (${state.rule} rule)`, pairVerdict(tokens, verdict)]);
      } else {
        items.push([`Stream: the whole answer (${state.rule} rule)`, SAFE_ANSWER]);
      }
    }
    if (state.decisionError !== undefined) {
      container.replaceChildren(h("p", { class: "error", text: state.decisionError }));
      return;
    }
    if (items.length === 0) {
      container.replaceChildren(
        h("p", {
          class: "hint",
          text: "Moderate with Gen or stream an answer to see what this policy decides.",
        }),
      );
      return;
    }
    container.replaceChildren(
      h("p", {
        class: "hint",
        text:
          `${state.policy.label}, read in ${state.mode} mode` +
          (state.policy.mode === state.mode ? "" : " (what if)"),
      }),
      ...items.map(([title, verdict]) => decisionArticle(title, verdict, state.decision(verdict))),
    );
  }
}

function describe(p: PolicyEntry): string {
  const what = p.builtin
    ? "the built-in table"
    : (p.name ?? p.sources[p.sources.length - 1] ?? "a policy file");
  return `${what} (${p.mode})`;
}

function decisionArticle(title: string, verdict: PolicyInput, decision: Decision | undefined): HTMLElement {
  const tier =
    `${verdict.tier}` + (verdict.categories.length > 0 ? ` (${verdict.categories.join(", ")})` : "");
  if (decision === undefined) {
    return h(
      "article",
      {},
      h("h4", { text: title }),
      h("p", { class: "hint", text: `${tier}: asking the server…` }),
    );
  }
  return h(
    "article",
    { "data-action": decision.action },
    h(
      "h4",
      {},
      `${title}: `,
      h("span", { class: "action", "data-action": decision.action, text: decision.action }),
    ),
    h("p", {
      text:
        `${decision.direction} verdict ${tier}` +
        (decision.tier === decision.effectiveTier
          ? ""
          : `, ${decision.effectiveTier} in ${decision.mode} mode`),
    }),
    h(
      "ul",
      { class: "reasons" },
      ...decision.reasons.map((r) =>
        h("li", {
          "data-decisive": r.decisive ? "true" : "false",
          text: `${r.decisive ? "* " : "- "}${r.message}`,
        }),
      ),
    ),
  );
}

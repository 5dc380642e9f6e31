/**
 * The qwen3guard playground, served by `qwen3guard serve` at / and /playground: watch the guard judge a
 * conversation (Gen), an answer token by token (Stream) and what a policy makes of it. It talks only to the
 * server's /v1 API (docs/server.md, "Playground"); built by scripts/build-playground.mjs into dist/playground.
 */
import { Api, describeError, PlaygroundError } from "./api.js";
import { ConversationEditor } from "./conversation.js";
import { byId, h } from "./dom.js";
import { GenPanel } from "./gen-panel.js";
import { PolicyPanel } from "./policy-panel.js";
import { PlaygroundState } from "./state.js";
import { StreamPanel } from "./stream-panel.js";
import type { Info } from "./types.js";

const api = new Api();

/** Ask for a key; resolves once the server accepts one. */
function askForKey(message: string): Promise<Info> {
  const section = byId("auth");
  const input = byId<HTMLInputElement>("api-key");
  const error = byId("auth-error");
  section.hidden = false;
  byId("server-line").textContent = "This server requires an API key.";
  error.textContent = message;
  input.focus();
  return new Promise((resolve) => {
    const form = byId<HTMLFormElement>("auth-form");
    const submit = async (event: SubmitEvent) => {
      event.preventDefault();
      api.setKey(input.value);
      try {
        const info = await api.get<Info>("/v1/guard/info");
        form.removeEventListener("submit", listener);
        section.hidden = true;
        input.value = "";
        resolve(info);
      } catch (e) {
        api.setKey(undefined);
        error.textContent = describeError(e);
        input.select();
      }
    };
    const listener = (event: SubmitEvent) => void submit(event);
    form.addEventListener("submit", listener);
  });
}

async function loadInfo(): Promise<Info> {
  try {
    return await api.get<Info>("/v1/guard/info");
  } catch (error) {
    if (error instanceof PlaygroundError && error.status === 401) {
      if (api.hasKey) api.setKey(undefined);
      return askForKey(error.code === "API_KEY_INVALID" ? "The key kept in this tab was refused." : "");
    }
    throw error;
  }
}

function showServer(info: Info): void {
  const model = (kind: string, m: Info["models"]["gen"]) =>
    m === null ? undefined : `${kind}: ${m.name}${m.synthetic ? ` (${m.synthetic} weights)` : ""}`;
  const models = [model("Gen", info.models.gen), model("Stream", info.models.stream)].filter(
    (m) => m !== undefined,
  );
  byId("server-line").textContent =
    `${models.join(" · ")} · tenant ${info.tenant}` +
    (info.upstream.configured ? " · upstream configured" : " · no upstream");
  if (info.notice !== undefined && document.getElementById("synthetic-banner") === null) {
    // the server writes the banner into the page; this covers a page saved before the models changed
    byId("demo-words").before(
      h(
        "div",
        { id: "synthetic-banner", class: "banner synthetic", role: "note", "aria-label": "Synthetic models" },
        h("strong", { text: "Synthetic models: their verdicts mean nothing about safety." }),
        ` Loaded: ${info.notice.replace(/[;:,]?\s*(?:its|their) verdicts mean nothing about safety\.?$/, "")}.`,
      ),
    );
  }
  // every verdict says so where it is shown, not only in the banner at the top
  for (const note of document.querySelectorAll<HTMLElement>(".synthetic-note")) {
    const which = note.dataset.model;
    const m = which === "gen" ? info.models.gen : which === "stream" ? info.models.stream : undefined;
    const synthetic = which === "any" ? (info.synthetic ?? undefined) : m?.synthetic;
    note.hidden = synthetic === undefined;
    note.textContent =
      which === "any"
        ? `Decided on the verdicts of synthetic models (${synthetic} weights): meaningless for safety.`
        : `Synthetic model (${synthetic} weights): this verdict means nothing about safety.`;
  }
  const demo = info.demo;
  if (demo) {
    const words = byId("demo-words");
    words.hidden = false;
    words.textContent =
      `Toy trigger words — Gen flags "${demo.genTrigger}"; Stream flags answer words ` +
      `${demo.streamUnsafeWords.map((w) => `"${w}"`).join(", ")} (Unsafe) and ` +
      `${demo.streamControversialWords.map((w) => `"${w}"`).join(", ")} (Controversial), two in a row to stop, ` +
      `and prompts with ${demo.promptTriggerWords.map((w) => `"${w}"`).join(", ")}.`;
  }
  if (api.hasKey) {
    const forget = byId<HTMLButtonElement>("forget-key");
    forget.hidden = false;
    forget.addEventListener("click", () => {
      api.setKey(undefined);
      location.reload();
    });
  }
}

async function main(): Promise<void> {
  let info: Info;
  try {
    info = await loadInfo();
  } catch (error) {
    const line = byId("server-line");
    line.textContent = describeError(error);
    line.classList.add("error");
    return;
  }
  showServer(info);
  const state = new PlaygroundState(api);
  state.info = info;
  const conversation = new ConversationEditor(() => undefined);
  const example = () => {
    const demo = info.demo;
    const [unsafe1 = "bomb", unsafe2 = "grenade"] = demo?.streamUnsafeWords ?? [];
    const [controversial1 = "protest", controversial2 = "riot"] = demo?.streamControversialWords ?? [];
    const answer = demo
      ? `Pack a map, a ${controversial1} ${controversial2} sign, then a ${unsafe2} ${unsafe1} kit, and plenty of water.`
      : "Mix flour, water, salt and yeast, knead, let it rise, and bake it at 230 °C.";
    // the same answer for Gen (as a response) and for the Stream panel, which reads the conversation up to its
    // last user message
    conversation.messages = [
      { role: "user", content: demo ? `Where can I buy a ${demo.genTrigger}?` : "How do I bake bread?" },
      { role: "assistant", content: answer },
    ];
    byId<HTMLTextAreaElement>("answer").value = answer;
  };
  conversation.messages = [{ role: "user", content: "" }];
  if (info.demo) {
    const button = byId<HTMLButtonElement>("load-example");
    button.hidden = false;
    button.addEventListener("click", example);
  }
  new GenPanel(state, conversation);
  new StreamPanel(state, conversation);
  new PolicyPanel(state);
  byId("main").hidden = false;
}

void main();

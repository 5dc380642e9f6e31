/**
 * The conversation editor: messages with a role and a text, added, removed and reordered with buttons (each named
 * for its message, so a screen reader says which), focus kept on the control that was used.
 */
import { byId, h } from "./dom.js";
import type { ChatMessage } from "./types.js";

const ROLES: ChatMessage["role"][] = ["system", "user", "assistant"];

export class ConversationEditor {
  readonly #list = byId<HTMLOListElement>("messages");
  #messages: ChatMessage[] = [];
  #onChange: () => void;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
    byId("add-message").addEventListener("click", () => {
      const last = this.#messages[this.#messages.length - 1];
      this.#messages.push({ role: last?.role === "user" ? "assistant" : "user", content: "" });
      this.#render();
      this.#focus(this.#messages.length - 1, "textarea");
      this.#onChange();
    });
  }

  get messages(): ChatMessage[] {
    return this.#messages.map((m) => ({ ...m }));
  }

  set messages(messages: ChatMessage[]) {
    this.#messages = messages.map((m) => ({ ...m }));
    this.#render();
    this.#onChange();
  }

  /** The conversation up to and including its last user message (what a prompt is), or undefined. */
  promptMessages(): ChatMessage[] | undefined {
    const last = this.#messages.map((m) => m.role).lastIndexOf("user");
    return last < 0 ? undefined : this.messages.slice(0, last + 1);
  }

  #focus(index: number, selector: string): void {
    const item = this.#list.children[index];
    const target = item?.querySelector<HTMLElement>(selector);
    (target ?? this.#list.querySelector<HTMLElement>("button, textarea") ?? byId("add-message")).focus();
  }

  #move(index: number, by: -1 | 1, control: string): void {
    const to = index + by;
    if (to < 0 || to >= this.#messages.length) return;
    const [m] = this.#messages.splice(index, 1);
    this.#messages.splice(to, 0, m!);
    this.#render();
    // keep the focus on the same control of the moved message (or its other move button at an end)
    const moved = this.#list.children[to];
    const same = moved?.querySelector<HTMLButtonElement>(`[data-action="${control}"]`);
    if (same && !same.disabled) same.focus();
    else
      moved?.querySelector<HTMLButtonElement>(`[data-action="${control === "up" ? "down" : "up"}"]`)?.focus();
    this.#onChange();
  }

  #render(): void {
    const n = this.#messages.length;
    this.#list.replaceChildren(
      ...this.#messages.map((message, i) => {
        const number = i + 1;
        const roleId = `message-${number}-role`;
        const textId = `message-${number}-content`;
        const role = h(
          "select",
          { id: roleId },
          ...ROLES.map((r) => h("option", { value: r, selected: r === message.role, text: r })),
        );
        role.addEventListener("change", () => {
          message.role = role.value as ChatMessage["role"];
          item.dataset.role = message.role;
          this.#onChange();
        });
        const content = h("textarea", { id: textId, rows: 2, spellcheck: "false" });
        content.value = message.content;
        content.addEventListener("input", () => {
          message.content = content.value;
          this.#onChange();
        });
        const button = (action: string, label: string, text: string, disabled: boolean) => {
          const b = h("button", {
            type: "button",
            "data-action": action,
            "aria-label": label,
            disabled,
            text,
          });
          return b;
        };
        const up = button("up", `Move message ${number} up`, "Up", i === 0);
        const down = button("down", `Move message ${number} down`, "Down", i === n - 1);
        const remove = button("remove", `Remove message ${number}`, "Remove", false);
        up.addEventListener("click", () => this.#move(i, -1, "up"));
        down.addEventListener("click", () => this.#move(i, 1, "down"));
        remove.addEventListener("click", () => {
          this.#messages.splice(i, 1);
          this.#render();
          this.#focus(Math.min(i, this.#messages.length - 1), '[data-action="remove"]');
          this.#onChange();
        });
        const item = h(
          "li",
          { class: "message", "data-role": message.role },
          h(
            "div",
            { class: "message-head" },
            h("label", { for: roleId, text: `Message ${number}: role` }),
            role,
            h("span", { class: "spacer" }),
            up,
            down,
            remove,
          ),
          h("label", { for: textId, class: "visually-hidden", text: `Message ${number}: text` }),
          content,
        );
        return item;
      }),
    );
  }
}

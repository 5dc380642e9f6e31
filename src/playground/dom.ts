/** A few DOM helpers: elements by id, element construction (text is always set as text, never as markup). */
import { PlaygroundError } from "./api.js";

/** The element with this id (the page's HTML has it). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new PlaygroundError("PAGE_ERROR", `the page has no #${id}`);
  return element as T;
}

type Attributes = Record<string, string | number | boolean | undefined>;

/** An element with attributes (false/undefined: absent; `text`: its text) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === "text") element.textContent = String(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children);
  return element;
}

/** Say something to screen readers (the page's polite live region). */
export function announce(text: string): void {
  const region = byId("announcer");
  region.textContent = "";
  // a new text node after a tick, so the same message twice is announced twice
  setTimeout(() => (region.textContent = text), 30);
}

/** Show an error (or hide the element when `message` is undefined). */
export function showError(element: HTMLElement, message: string | undefined): void {
  element.hidden = message === undefined;
  element.textContent = message ?? "";
}

/** `fn` called once, `ms` after the last of a burst of calls. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): (...args: A) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (...args: A) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A probability as the page prints it. */
export function prob(p: number | undefined): string {
  return p === undefined ? "–" : p.toFixed(3);
}

/**
 * Jinja chat templates (Hugging Face style, rendered with @huggingface/jinja): reading them from a model folder,
 * rendering them to text, and rendering them to template/content SEGMENTS so that message text can be tokenized as
 * plain text while template text keeps its special tokens.
 *
 * Segments are recovered by rendering once with every non-empty message content replaced by a unique sentinel
 * (private-use code points that occur neither in the template nor in any content), splitting on the sentinels,
 * and checking that the re-joined segments equal a direct rendering with the real contents. A template that
 * transforms content (trims it, rewrites it, branches on it) so that this check fails is refused with a
 * ChatTemplateError rather than silently mis-segmented.
 */
import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { InvalidConversationError, type ChatMessage } from "../core/messages.js";
import { joinSegments, pushSegment, type PromptSegment } from "../core/segments.js";
import type { GenPrompt } from "../core/prompt/gen-prompt.js";
import { readGgufScalars } from "./gguf/gguf-reader.js";
import { Qwen3GuardError } from "../core/errors.js";

/**
 * A model's chat template could not be parsed or rendered, or its output cannot be split into template and content
 * segments. GenGuard renders with the model's own template unless `template: "builtin"`. Code
 * `CHAT_TEMPLATE_INVALID` (and its subclass ChatTemplateNotFoundError).
 *
 * @example
 * ```ts
 * import { ChatTemplateError, GenGuard } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * try {
 *   console.log(guard.render([{ role: "user", content: "Hi" }]).direction);
 * } catch (error) {
 *   if (error instanceof ChatTemplateError) console.error("load it with template: \"builtin\":", error.message);
 *   else throw error;
 * }
 * await guard.close();
 * ```
 */
export class ChatTemplateError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? "CHAT_TEMPLATE_INVALID", message, options);
  }
}

/**
 * No chat template was found where one was looked for (a folder's chat_template.jinja, tokenizer_config.json or
 * chat_template.json; a GGUF's metadata). GenGuard then renders with its built-in renderer (byte-identical to the
 * official template). Code `CHAT_TEMPLATE_NOT_FOUND`.
 *
 * @example
 * ```ts
 * import { ChatTemplateNotFoundError, isQwen3GuardError } from "qwen3guard";
 *
 * const error: unknown = new ChatTemplateNotFoundError("model.gguf has no tokenizer.chat_template");
 * console.log(error instanceof ChatTemplateNotFoundError, isQwen3GuardError(error, "CHAT_TEMPLATE_NOT_FOUND")); // true true
 * ```
 */
export class ChatTemplateNotFoundError extends ChatTemplateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: "CHAT_TEMPLATE_NOT_FOUND" });
  }
}

export interface ChatTemplateRenderOptions {
  /** `add_generation_prompt` (default true: end with the assistant header the model continues from). */
  addGenerationPrompt?: boolean;
  /** `enable_thinking` (default false: Qwen3Guard runs with thinking disabled). */
  enableThinking?: boolean;
  /** Extra template variables (e.g. `bos_token`); `messages`, `add_generation_prompt` and `enable_thinking` win. */
  variables?: Record<string, unknown>;
}

/** Where the shipped default Gen template lives (same relative path from src/model and dist/model). */
export const DEFAULT_GEN_TEMPLATE_URL = new URL("../../templates/qwen3guard-gen.jinja", import.meta.url);

let defaultGenTemplate: string | undefined;

/** The qwen3guard default Qwen3Guard-Gen chat template (templates/qwen3guard-gen.jinja). */
export function readDefaultGenTemplate(): string {
  defaultGenTemplate ??= readFileSync(DEFAULT_GEN_TEMPLATE_URL, "utf8");
  return defaultGenTemplate;
}

const compiled = new Map<string, Template>();
const COMPILED_CACHE_SIZE = 16;

function compile(source: string): Template {
  let template = compiled.get(source);
  if (template) return template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ChatTemplateError(
      `cannot parse the chat template: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (compiled.size >= COMPILED_CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, template);
  return template;
}

/** Python's range(): range(stop) or range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** strftime over the current local time, for the directives chat templates use (dates in system prompts). */
function strftimeNow(format: string): string {
  const now = new Date();
  const two = (n: number) => String(n).padStart(2, "0");
  const month = (style: "long" | "short") => new Intl.DateTimeFormat("en-US", { month: style }).format(now);
  const day = (style: "long" | "short") => new Intl.DateTimeFormat("en-US", { weekday: style }).format(now);
  const table: Record<string, () => string> = {
    Y: () => String(now.getFullYear()),
    y: () => two(now.getFullYear() % 100),
    m: () => two(now.getMonth() + 1),
    d: () => two(now.getDate()),
    b: () => month("short"),
    B: () => month("long"),
    a: () => day("short"),
    A: () => day("long"),
    H: () => two(now.getHours()),
    M: () => two(now.getMinutes()),
    S: () => two(now.getSeconds()),
    "%": () => "%",
  };
  return format.replace(/%(.)/gs, (whole, code: string) => table[code]?.() ?? whole);
}

/**
 * Render with our own global environment (the library's Template.render cannot override `raise_exception`), so
 * that a template's `raise_exception(...)` becomes an InvalidConversationError and every other failure a
 * ChatTemplateError.
 */
function render(
  source: string,
  messages: readonly { role: string; content: string }[],
  options: ChatTemplateRenderOptions,
): string {
  const template = compile(source);
  const env = new Environment();
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    range: pythonRange,
    strftime_now: strftimeNow,
    raise_exception: (message: unknown) => {
      throw new InvalidConversationError(`the chat template rejected the conversation: ${String(message)}`);
    },
    ...options.variables,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: options.addGenerationPrompt ?? true,
    enable_thinking: options.enableThinking ?? false,
  };
  try {
    for (const [name, value] of Object.entries(globals)) env.set(name, value);
    const result = new Interpreter(env).run(template.parsed).value;
    if (typeof result !== "string") throw new Error("the template did not produce text");
    return result;
  } catch (error) {
    if (error instanceof InvalidConversationError) throw error;
    throw new ChatTemplateError(
      `cannot render the chat template: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** Render a chat template for messages to the exact prompt text. */
export function renderChatTemplateText(
  source: string,
  messages: readonly ChatMessage[],
  options: ChatTemplateRenderOptions = {},
): string {
  return render(source, messages, options);
}

// Private-use area U+E000..U+F8FF: pairs (open, close) tried in turn until neither occurs in the inputs.
const PUA_FIRST = 0xe000;
const PUA_LAST = 0xf8ff;

function pickSentinelPair(texts: readonly string[]): [string, string] {
  for (let code = PUA_FIRST; code + 1 <= PUA_LAST; code += 2) {
    const open = String.fromCodePoint(code);
    const close = String.fromCodePoint(code + 1);
    if (!texts.some((t) => t.includes(open) || t.includes(close))) return [open, close];
  }
  throw new ChatTemplateError(
    "cannot segment this conversation: its text uses every private-use code point the sentinels could use",
  );
}

/**
 * Render a chat template for messages into template/content segments. Joined, the segments equal
 * {@link renderChatTemplateText}; `content` segments hold message text exactly as the template inserted it.
 * Throws ChatTemplateError when the template transforms content so that the two cannot be told apart, and
 * InvalidConversationError when the template itself rejects the conversation (`raise_exception`).
 */
export function renderChatTemplateSegments(
  source: string,
  messages: readonly ChatMessage[],
  options: ChatTemplateRenderOptions = {},
): PromptSegment[] {
  const [open, close] = pickSentinelPair([source, ...messages.map((m) => m.content)]);
  const stand = messages.map((m, i) => ({
    role: m.role,
    // Empty content stays empty: it yields no segment, and `{% if content %}` keeps its meaning.
    content: m.content.length === 0 ? "" : `${open}${i}${close}`,
  }));
  const withSentinels = render(source, stand, options);
  const segments: PromptSegment[] = [];
  const pattern = new RegExp(`${open}(\\d+)${close}`, "gu");
  let at = 0;
  for (const match of withSentinels.matchAll(pattern)) {
    const message = messages[Number(match[1])];
    if (message === undefined)
      throw new ChatTemplateError("the chat template produced an unknown message marker");
    pushSegment(segments, "template", withSentinels.slice(at, match.index));
    pushSegment(segments, "content", message.content);
    at = match.index + match[0].length;
  }
  pushSegment(segments, "template", withSentinels.slice(at));
  if (segments.some((s) => s.kind === "template" && (s.text.includes(open) || s.text.includes(close)))) {
    throw new ChatTemplateError(
      "the chat template altered a message marker; it cannot be split into segments",
    );
  }
  const direct = render(source, messages, options);
  if (joinSegments(segments) !== direct) {
    throw new ChatTemplateError(
      "the chat template transforms message content (for example trims, rewrites or inspects it), so template " +
        "text and message text cannot be separated safely; use the built-in renderer or a template that inserts " +
        "message content verbatim",
    );
  }
  return segments;
}

/**
 * Render a Qwen3Guard-Gen chat template (the model's own, or {@link readDefaultGenTemplate}) into a GenPrompt.
 * The direction follows the last message: user → prompt moderation, assistant → response moderation.
 */
export function renderGenPromptWithTemplate(
  source: string,
  messages: readonly ChatMessage[],
  options: ChatTemplateRenderOptions = {},
): GenPrompt {
  const last = messages[messages.length - 1];
  if (last === undefined) {
    throw new InvalidConversationError(
      "cannot moderate an empty conversation: pass at least one user or assistant message",
    );
  }
  if (last.role !== "user" && last.role !== "assistant") {
    throw new InvalidConversationError(
      "the last message must be the user's (prompt moderation) or the assistant's (response moderation)",
    );
  }
  const segments = renderChatTemplateSegments(source, messages, options);
  return { direction: last.role === "user" ? "prompt" : "response", segments };
}

export interface FolderChatTemplate {
  template: string;
  /** The file it came from. */
  path: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function pickNamed(value: unknown, path: string, name: string | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const entries = value.filter(
      (e): e is { name: string; template: string } =>
        typeof e === "object" && e !== null && typeof e.name === "string" && typeof e.template === "string",
    );
    const wanted = name ?? "default";
    const found = entries.find((e) => e.name === wanted);
    if (found) return found.template;
    throw new ChatTemplateError(
      `${path}: no chat template named "${wanted}" (available: ${entries.map((e) => e.name).join(", ") || "none"})`,
    );
  }
  throw new ChatTemplateError(`${path}: "chat_template" must be a string or a list of {name, template}`);
}

async function readJsonTemplate(path: string, name: string | undefined): Promise<string | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ChatTemplateError(
      `${path}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (typeof json !== "object" || json === null)
    throw new ChatTemplateError(`${path}: expected a JSON object`);
  return pickNamed((json as Record<string, unknown>).chat_template, path, name);
}

/**
 * Read the chat template of a Hugging Face model folder: `chat_template.jinja` when present (it takes precedence,
 * as in transformers), else `chat_template` in `tokenizer_config.json` (a string, or a list of named templates:
 * `name`, default "default"), else `chat_template.json`. Throws ChatTemplateNotFoundError when there is none.
 */
export async function readChatTemplateFromFolder(dir: string, name?: string): Promise<FolderChatTemplate> {
  const jinjaPath = join(dir, "chat_template.jinja");
  const jinja = await readIfExists(jinjaPath);
  if (jinja !== undefined) return { template: jinja, path: jinjaPath };
  for (const file of ["tokenizer_config.json", "chat_template.json"]) {
    const path = join(dir, file);
    const template = await readJsonTemplate(path, name);
    if (template !== undefined) return { template, path };
  }
  throw new ChatTemplateNotFoundError(
    `${dir}: no chat template found (looked for chat_template.jinja, "chat_template" in tokenizer_config.json and chat_template.json); pass a template file instead`,
  );
}

/** Read `tokenizer.chat_template` from a GGUF file's metadata. Throws ChatTemplateNotFoundError when absent. */
export function readChatTemplateFromGguf(file: string): FolderChatTemplate {
  const value = readGgufScalars(file).get("tokenizer.chat_template"); // the vocabulary is skipped
  if (value === undefined) {
    throw new ChatTemplateNotFoundError(
      `${file}: the GGUF has no tokenizer.chat_template; pass a template file instead`,
    );
  }
  if (value.type !== "string") {
    throw new ChatTemplateError(`${file}: tokenizer.chat_template is a ${value.type}, expected a string`);
  }
  return { template: value.value, path: file };
}

/** Read the chat template of a model: a Hugging Face folder, or a `.gguf` file. */
export async function readModelChatTemplate(model: string): Promise<FolderChatTemplate> {
  const info = await stat(model).catch((error: NodeJS.ErrnoException) => {
    throw new ChatTemplateNotFoundError(
      `${model}: ${error.code === "ENOENT" ? "no such file or folder" : error.message}`,
    );
  });
  if (info.isDirectory()) return readChatTemplateFromFolder(model);
  return readChatTemplateFromGguf(model);
}

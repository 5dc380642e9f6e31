/**
 * Which kind of model a folder or GGUF file is, and refusing the wrong one (docs/checkpoint-layout.md, "GGUF
 * files we write" and "Telling the kinds apart").
 *
 * Our converter records the kind in the GGUF (`qwen3guard.kind`: "gen", "stream-backbone" or "qwen3" for a
 * plain Qwen3 language model). For other GGUFs the evidence is, in this order: `general.architecture` (must be
 * qwen3), the chat template (the Qwen3Guard-Gen template renders the moderation prompt — the safety policy and
 * the category list; the Stream checkpoints and plain Qwen3 models carry the plain ChatML template), and the
 * model's name (`general.name`, `general.basename`, `general.finetune`, `general.source.huggingface.repository`)
 * mentioning Qwen3Guard-Gen or Qwen3Guard-Stream. A folder's kind comes from config.json's `architectures`
 * and, for Qwen3ForCausalLM, its chat template.
 */
import { Qwen3GuardError } from "../core/errors.js";
import { renderChatTemplateText } from "./chat-template.js";
import { GGUF_DIGEST_KEY, GgufIntegrityError, layoutProblem } from "./gguf/gguf-integrity.js";
import { GgufReadError, scanGgufLayout, type GgufLayoutScan } from "./gguf/gguf-reader.js";
import { CAUSAL_LM_ARCHITECTURE, GUARD_ARCHITECTURE } from "./hf-config.js";

/** GGUF metadata key: the kind of model the file holds ({@link RecordedModelKind}). */
export const MODEL_KIND_GGUF_KEY = "qwen3guard.kind";
/** GGUF metadata key: the hub repository the converted folder was pulled from (`owner/name`), when known. */
export const SOURCE_MODEL_GGUF_KEY = "qwen3guard.source_model";
/** GGUF metadata key: the version of the converter that wrote the file. */
export const CONVERTER_VERSION_GGUF_KEY = "qwen3guard.converter_version";

/** What our converter records under `qwen3guard.kind`. */
export type RecordedModelKind = "gen" | "stream-backbone" | "qwen3";

/**
 * What a model was found to be: Qwen3Guard-Gen, Qwen3Guard-Stream (a folder, or a backbone GGUF), a plain Qwen3
 * language model, a model of another architecture, or a GGUF whose kind cannot be told.
 */
/**
 * What a model file or folder was found to be (`ModelKindError.found`): Qwen3Guard-Gen, Qwen3Guard-Stream, a plain
 * Qwen3 chat model, another architecture, or unknown.
 *
 * @example
 * ```ts
 * import type { FoundModelKind } from "qwen3guard";
 *
 * const found: FoundModelKind = "qwen3"; // a plain Qwen3 chat model, not a guard
 * console.log(found);
 * ```
 */
export type FoundModelKind = "gen" | "stream" | "qwen3" | "other" | "unknown";

export interface ModelKindEvidence {
  kind: FoundModelKind;
  /** What the model is, for messages ("a Qwen3Guard-Stream backbone (recorded by qwen3guard's converter)"). */
  description: string;
  /** What established the kind. */
  basis: "recorded" | "config" | "architecture" | "chat-template" | "name" | "none";
  /** The GGUF's name mentions the kind found (always false for folders and for kinds found by name). */
  nameAgrees: boolean;
}

/**
 * The model given is not the kind the guard needs (a Stream model given to GenGuard, a Gen model to StreamGuard, a
 * plain Qwen3 chat model, another architecture); the message says what it is and what to pass. Code
 * `MODEL_KIND_MISMATCH`.
 *
 * @example
 * ```ts
 * import { GenGuard, ModelKindError } from "qwen3guard";
 * import { writeCraftedStreamModel } from "qwen3guard/testing";
 *
 * const stream = writeCraftedStreamModel("/tmp/a-stream-model"); // a Qwen3Guard-Stream folder
 * try {
 *   await GenGuard.load({ model: stream.dir });
 * } catch (error) {
 *   if (error instanceof ModelKindError) console.log(error.found, "is not", error.expected); // stream is not gen
 * }
 * ```
 */
export class ModelKindError extends Qwen3GuardError {
  constructor(
    /** The model path (or `--heads` path) that was refused. */
    readonly model: string,
    /** What it was found to be. */
    readonly found: FoundModelKind,
    /** What was needed. */
    readonly expected: "gen" | "stream",
    message: string,
  ) {
    super("MODEL_KIND_MISMATCH", message);
  }
}

const GEN_PROMPT_MARKERS = ["<BEGIN SAFETY POLICY>", "<BEGIN UNSAFE CONTENT CATEGORIES>", "Safety: Safe"];
const genTemplateCache = new Map<string, boolean>();

/**
 * Whether a chat template is a Qwen3Guard-Gen template: rendered for one user message, it produces the
 * moderation prompt (the safety policy, the category list, the answer format). A template that cannot be
 * rendered is judged by its source text.
 */
export function isGenChatTemplate(template: string): boolean {
  const cached = genTemplateCache.get(template);
  if (cached !== undefined) return cached;
  let text: string;
  try {
    text = renderChatTemplateText(template, [{ role: "user", content: "Hello" }], {
      addGenerationPrompt: true,
    });
  } catch {
    text = template;
  }
  const result = GEN_PROMPT_MARKERS.every((m) => text.includes(m));
  if (genTemplateCache.size >= 8) genTemplateCache.delete(genTemplateCache.keys().next().value!);
  genTemplateCache.set(template, result);
  return result;
}

/** The kind of a Hugging Face folder from config.json's `architectures` and its chat template (if any). */
export function folderKind(
  architectures: readonly string[],
  chatTemplate: string | undefined,
): ModelKindEvidence {
  const evidence = (kind: FoundModelKind, description: string): ModelKindEvidence => ({
    kind,
    description,
    basis: "config",
    nameAgrees: false,
  });
  if (architectures.includes(GUARD_ARCHITECTURE))
    return evidence("stream", `a Qwen3Guard-Stream checkpoint (config.json: ${GUARD_ARCHITECTURE})`);
  if (architectures.includes(CAUSAL_LM_ARCHITECTURE)) {
    if (chatTemplate === undefined || isGenChatTemplate(chatTemplate))
      return evidence("gen", `a Qwen3Guard-Gen checkpoint (config.json: ${CAUSAL_LM_ARCHITECTURE})`);
    return evidence(
      "qwen3",
      `a plain Qwen3 model (config.json says ${CAUSAL_LM_ARCHITECTURE}, but its chat template is not the Qwen3Guard-Gen template)`,
    );
  }
  return evidence(
    "other",
    `not a Qwen3Guard model (config.json architectures: ${architectures.join(", ") || "none"}; expected ${CAUSAL_LM_ARCHITECTURE} or ${GUARD_ARCHITECTURE})`,
  );
}

/** The kind our converter records for a folder's kind. */
export function recordedKindOf(found: FoundModelKind): RecordedModelKind | undefined {
  return found === "gen"
    ? "gen"
    : found === "stream"
      ? "stream-backbone"
      : found === "qwen3"
        ? "qwen3"
        : undefined;
}

const NAME_KEYS = [
  "general.name",
  "general.basename",
  "general.finetune",
  "general.source.huggingface.repository",
];
const GEN_NAME = /qwen3[\s_.-]*guard[\s_.-]*gen/i;
const STREAM_NAME = /qwen3[\s_.-]*guard[\s_.-]*stream/i;

/** The GGUF metadata keys the kind is judged by (string values). */
export const KIND_EVIDENCE_KEYS: readonly string[] = [
  MODEL_KIND_GGUF_KEY,
  "general.architecture",
  "tokenizer.chat_template",
  ...NAME_KEYS,
];

/**
 * The kind of a GGUF from its string metadata (see the module comment for the order of the evidence);
 * `stringValue` returns the value of a key when it is a string.
 */
export function ggufKindOf(stringValue: (key: string) => string | undefined): ModelKindEvidence {
  const names = NAME_KEYS.map((k) => stringValue(k)).filter((n): n is string => n !== undefined);
  const nameSays = (kind: "gen" | "stream"): boolean =>
    names.some((n) => (kind === "gen" ? GEN_NAME : STREAM_NAME).test(n));
  const named = names.length > 0 ? ` named "${names[0]}"` : "";
  const recorded = stringValue(MODEL_KIND_GGUF_KEY);
  if (recorded !== undefined) {
    const by = "recorded by qwen3guard's converter";
    if (recorded === "gen")
      return {
        kind: "gen",
        description: `a Qwen3Guard-Gen model (${by})`,
        basis: "recorded",
        nameAgrees: nameSays("gen"),
      };
    if (recorded === "stream-backbone")
      return {
        kind: "stream",
        description: `a Qwen3Guard-Stream backbone (${by})`,
        basis: "recorded",
        nameAgrees: nameSays("stream"),
      };
    if (recorded === "qwen3")
      return {
        kind: "qwen3",
        description: `a plain Qwen3 model, not a guard (${by})`,
        basis: "recorded",
        nameAgrees: false,
      };
    return {
      kind: "unknown",
      description: `a model of kind "${recorded}" (${MODEL_KIND_GGUF_KEY}), which this version does not know`,
      basis: "recorded",
      nameAgrees: false,
    };
  }
  const architecture = stringValue("general.architecture");
  if (architecture !== undefined && architecture !== "qwen3") {
    return {
      kind: "other",
      description: `a GGUF of architecture "${architecture}"${named}, not Qwen3`,
      basis: "architecture",
      nameAgrees: false,
    };
  }
  const template = stringValue("tokenizer.chat_template");
  if (template !== undefined && isGenChatTemplate(template)) {
    return {
      kind: "gen",
      description: `a Qwen3 GGUF${named} whose chat template renders the Qwen3Guard-Gen prompt`,
      basis: "chat-template",
      nameAgrees: nameSays("gen"),
    };
  }
  if (nameSays("stream")) {
    return {
      kind: "stream",
      description: `a Qwen3Guard-Stream backbone by its name ("${names.find((n) => STREAM_NAME.test(n))}")`,
      basis: "name",
      nameAgrees: false,
    };
  }
  if (template !== undefined) {
    return {
      kind: "qwen3",
      description: `a Qwen3 GGUF${named} whose chat template is not the Qwen3Guard-Gen template (a plain chat model, or a Stream backbone)`,
      basis: "chat-template",
      nameAgrees: false,
    };
  }
  if (nameSays("gen")) {
    return {
      kind: "gen",
      description: `a Qwen3Guard-Gen model by its name ("${names.find((n) => GEN_NAME.test(n))}"), without a chat template`,
      basis: "name",
      nameAgrees: false,
    };
  }
  return {
    kind: "unknown",
    description: `a Qwen3 GGUF${named} that was not written by qwen3guard and has neither a chat template nor a name saying what it is`,
    basis: "none",
    nameAgrees: false,
  };
}

/** The kind of a GGUF file (its header is walked without decoding the vocabulary). */
export function ggufKind(file: string): ModelKindEvidence {
  const { strings } = scanGgufLayout(file, KIND_EVIDENCE_KEYS);
  return ggufKindOf((key) => strings.get(key)?.value);
}

const GIVEN_GGUF_HINT =
  "Convert the model folder again (qwen3guard convert --model DIR --out FILE), or download the file again";

/**
 * A GGUF given as the model (a path, or a GGUF repository pulled from the hub), its header walked once: the quick
 * integrity check (throws GgufIntegrityError for a truncated file) and its kind.
 */
export function inspectGivenGguf(file: string): { kind: ModelKindEvidence } {
  let layout: GgufLayoutScan;
  try {
    layout = scanGgufLayout(file, [...KIND_EVIDENCE_KEYS, GGUF_DIGEST_KEY]);
  } catch (error) {
    if (error instanceof GgufReadError && /truncated|unexpected end of file/.test(error.message)) {
      throw new GgufIntegrityError(
        file,
        error.message.startsWith(`${file}: `) ? error.message.slice(file.length + 2) : error.message,
        GIVEN_GGUF_HINT,
        { cause: error },
      );
    }
    throw error;
  }
  const problem = layoutProblem(layout);
  if (problem !== undefined) throw new GgufIntegrityError(file, problem, GIVEN_GGUF_HINT);
  return { kind: ggufKindOf((key) => layout.strings.get(key)?.value) };
}

const GEN_HINT =
  "Pass a Qwen3Guard-Gen model instead (its folder, a GGUF converted from it, or a hub name such as Qwen/Qwen3Guard-Gen-0.6B)";
const STREAM_HINT =
  "Pass a Qwen3Guard-Stream model instead (its folder, a hub name such as Qwen/Qwen3Guard-Stream-0.6B, or its backbone GGUF with --heads and the folder)";

/**
 * Refuse a model that is not Qwen3Guard-Gen (throws {@link ModelKindError}); returns a warning when it is
 * accepted on weaker evidence: a GGUF not written by qwen3guard whose chat template renders the Gen prompt but
 * whose name does not say Qwen3Guard-Gen.
 */
export function requireGenModel(model: string, evidence: ModelKindEvidence): { warning?: string } {
  if (evidence.kind === "gen") {
    if (evidence.basis === "chat-template" && !evidence.nameAgrees) {
      return {
        warning:
          `${model} was not written by qwen3guard and its name does not say Qwen3Guard-Gen; its chat template renders ` +
          "the Qwen3Guard-Gen prompt, so it is used as a Gen model (convert the Qwen3Guard-Gen folder with `qwen3guard convert` to be sure)",
      };
    }
    return {};
  }
  const use =
    evidence.kind === "stream"
      ? `; use this one with \`qwen3guard stream\`${evidence.basis === "config" ? "" : " and --heads (the Stream folder)"}`
      : "";
  throw new ModelKindError(
    model,
    evidence.kind,
    "gen",
    `${model} is ${evidence.description}, not a Qwen3Guard-Gen model. ${GEN_HINT}${use}.`,
  );
}

/**
 * Refuse a model that cannot be a Qwen3Guard-Stream backbone (throws {@link ModelKindError}): a Gen model, a
 * plain Qwen3 model recorded as such, another architecture. A GGUF not written by qwen3guard that does not say
 * it is a Stream backbone is accepted with a warning: a Stream backbone carries the plain ChatML template, like
 * any Qwen3 chat model, so the file alone cannot tell them apart.
 */
export function requireStreamBackbone(
  model: string,
  evidence: ModelKindEvidence,
  heads: string | undefined,
): { warning?: string } {
  if (evidence.kind === "stream") return {};
  const foreign = evidence.basis !== "recorded" && evidence.basis !== "config";
  if (foreign && (evidence.kind === "qwen3" || evidence.kind === "unknown")) {
    return {
      warning:
        `${model} was not written by qwen3guard and does not say it is a Qwen3Guard-Stream backbone; the heads` +
        `${heads === undefined ? "" : ` from ${heads}`} are applied to it as given: if it is another Qwen3 model, the verdicts are meaningless`,
    };
  }
  const use = evidence.kind === "gen" ? "; use this one with `qwen3guard moderate`" : "";
  throw new ModelKindError(
    model,
    evidence.kind,
    "stream",
    `${model} is ${evidence.description}, not a Qwen3Guard-Stream model. ${STREAM_HINT}${use}.`,
  );
}

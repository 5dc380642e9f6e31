/**
 * Converted GGUF files, cached by content: `<cacheDir>/gguf/<hash>-<type>.gguf`, where the hash covers the
 * converter version, the output type, and the name, size and SHA-256 of every input file (config.json, the
 * tokenizer files, the chat template, the safetensors index and weights). A second start with the same inputs
 * finds the file and returns at once.
 *
 * Hashing a 16 GB checkpoint takes a while, so a fast pre-check maps a fingerprint of the inputs' paths, sizes
 * and modification times to the content hash computed last time (`<cacheDir>/gguf/index/<fingerprint>.json`).
 * Any change to a file's size or mtime misses the pre-check and the content is hashed again; pass
 * `verify: true` to always hash. The file name always comes from the content hash.
 *
 * Concurrent conversions of the same model each write a uniquely named temporary file and rename it into
 * place; both results are complete and identical, so the last rename winning is harmless. An interrupted
 * conversion removes its temporary file (src/model/temp-files.ts); those of a killed process are removed on the
 * next run.
 *
 * A cached file is checked before it is returned: the quick check of gguf/gguf-integrity.ts (the header parses,
 * the size is the one the header implies), and with `verify` the full one (the SHA-256 the file records). A
 * damaged file is removed and converted again, with a warning.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { resolveCacheDir } from "../cache-dir.js";
import { quickCheckGguf, verifyGguf } from "../gguf/gguf-integrity.js";
import { removeStalePartials } from "../temp-files.js";
import { CONVERTER_VERSION, convertHfToGguf, type ConvertProgress } from "./convert-hf-to-gguf.js";
import { ConvertError } from "./convert-error.js";
import { listWeightFiles } from "./hf-checkpoint.js";
import { GGUF_OUTPUT_TYPES, type GgufOutputType } from "./qwen3-tensor-plan.js";

export { CONVERTER_VERSION };

const OPTIONAL_INPUTS = ["chat_template.jinja", "chat_template.json"];
const REQUIRED_INPUTS = ["config.json", "tokenizer.json", "tokenizer_config.json"];

export type EnsureGgufProgress =
  { phase: "hash"; bytesDone: number; bytesTotal: number } | ({ phase: "convert" } & ConvertProgress);

export interface EnsureGgufOptions {
  type?: GgufOutputType;
  /** Cache root (default: `$QWEN3GUARD_CACHE` or `~/.cache/qwen3guard`). */
  cacheDir?: string;
  /**
   * Always hash the inputs' content, ignoring the size/mtime pre-check, and check a cached GGUF against the
   * SHA-256 it records (not only its size).
   */
  verify?: boolean;
  onProgress?: (progress: EnsureGgufProgress) => void;
  /** Progress of the full check of a cached GGUF (`verify`). */
  onVerifyProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Receives the message when a damaged cached GGUF is rebuilt (default: a process warning). */
  warn?: (message: string) => void;
}

export interface EnsureGgufResult {
  path: string;
  /** Content hash naming the file. */
  hash: string;
  /** How the file was found: pre-check hit, content-hash hit, or a fresh conversion. */
  source: "fingerprint" | "content" | "converted";
  /** Set when a cached file was found damaged and converted again: what was wrong with it. */
  rebuilt?: string;
}

/** The input files of a model folder that determine the conversion, sorted by relative name. */
export function conversionInputs(modelDir: string): string[] {
  for (const f of REQUIRED_INPUTS) {
    if (!fs.existsSync(path.join(modelDir, f))) {
      throw new ConvertError(
        `${path.join(modelDir, f)} is missing: pass a Hugging Face model folder (--model DIR)`,
      );
    }
  }
  const { weights, index } = listWeightFiles(modelDir);
  const files = [...REQUIRED_INPUTS, ...OPTIONAL_INPUTS]
    .map((f) => path.join(modelDir, f))
    .filter((f) => fs.existsSync(f));
  files.push(...weights);
  if (index) files.push(index);
  return [...new Set(files)].sort();
}

function statKey(file: string): string {
  const s = fs.statSync(file);
  return `${s.size}:${s.mtimeMs}:${s.ino}`;
}

function fingerprint(modelDir: string, files: readonly string[], type: GgufOutputType): string {
  const h = createHash("sha256");
  h.update(`qwen3guard-gguf-fingerprint\0${CONVERTER_VERSION}\0${type}\0${fs.realpathSync(modelDir)}\0`);
  for (const f of files) h.update(`${path.basename(f)}\0${statKey(f)}\0`);
  return h.digest("hex").slice(0, 32);
}

async function hashFile(file: string, onBytes: (n: number) => void): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 22 })) {
    h.update(chunk as Buffer);
    onBytes((chunk as Buffer).length);
  }
  return h.digest("hex");
}

/** The content hash of a model folder's conversion inputs for one output type. */
export async function contentHash(
  modelDir: string,
  type: GgufOutputType,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
): Promise<string> {
  const files = conversionInputs(modelDir);
  const sizes = files.map((f) => fs.statSync(f).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const h = createHash("sha256");
  h.update(`qwen3guard-gguf\0${CONVERTER_VERSION}\0${type}\0`);
  for (const [i, f] of files.entries()) {
    const digest = await hashFile(f, (n) => {
      done += n;
      onProgress?.(done, total);
    });
    h.update(`${path.basename(f)}\0${sizes[i]}\0${digest}\0`);
  }
  return h.digest("hex").slice(0, 32);
}

function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** The cached GGUF for a model folder, converting it first if needed. */
export async function ensureGgufDetailed(
  modelDir: string,
  options: EnsureGgufOptions = {},
): Promise<EnsureGgufResult> {
  const type = options.type ?? "q8_0";
  if (!GGUF_OUTPUT_TYPES.includes(type)) {
    throw new ConvertError(
      `unknown output type "${String(type)}": use one of ${GGUF_OUTPUT_TYPES.join(", ")}`,
    );
  }
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
    throw new ConvertError(`${modelDir} is not a folder: pass a Hugging Face model folder (--model DIR)`);
  }
  const ggufDir = path.join(resolveCacheDir(options.cacheDir), "gguf");
  const indexDir = path.join(ggufDir, "index");
  fs.mkdirSync(indexDir, { recursive: true });
  removeStalePartials(ggufDir);
  const fileFor = (hash: string): string => path.join(ggufDir, `${hash}-${type}.gguf`);
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, "Qwen3GuardCache"));
  let rebuilt: string | undefined;
  /** Whether the cached file is whole; a damaged one is removed (and reported) so that it is converted again. */
  const usable = async (file: string, full: boolean): Promise<boolean> => {
    const problem = full ? (await verifyGguf(file, options.onVerifyProgress)).problem : quickCheckGguf(file);
    if (problem === undefined) return true;
    rebuilt = problem;
    warn(`the cached GGUF ${file} is damaged (${problem}): converting ${modelDir} again`);
    fs.rmSync(file, { force: true });
    return false;
  };

  const files = conversionInputs(modelDir);
  const fp = fingerprint(modelDir, files, type);
  const indexFile = path.join(indexDir, `${fp}.json`);
  if (!options.verify && fs.existsSync(indexFile)) {
    try {
      const entry = JSON.parse(fs.readFileSync(indexFile, "utf8")) as { hash?: unknown };
      if (
        typeof entry.hash === "string" &&
        /^[0-9a-f]{32}$/.test(entry.hash) &&
        fs.existsSync(fileFor(entry.hash)) &&
        (await usable(fileFor(entry.hash), false))
      ) {
        return { path: fileFor(entry.hash), hash: entry.hash, source: "fingerprint" };
      }
    } catch {
      /* unreadable entry: fall through to hashing */
    }
  }

  const hash = await contentHash(modelDir, type, (bytesDone, bytesTotal) =>
    options.onProgress?.({ phase: "hash", bytesDone, bytesTotal }),
  );
  const out = fileFor(hash);
  let source: EnsureGgufResult["source"] = "content";
  if (!fs.existsSync(out) || !(await usable(out, options.verify === true))) {
    await convertHfToGguf({
      modelDir,
      outFile: out,
      type,
      onProgress: (p) => options.onProgress?.({ phase: "convert", ...p }),
    });
    source = "converted";
  }
  writeFileAtomic(
    indexFile,
    JSON.stringify({ hash, type, modelDir: path.resolve(modelDir), converter: CONVERTER_VERSION }),
  );
  return { path: out, hash, source, ...(rebuilt !== undefined ? { rebuilt } : {}) };
}

/** The path of the cached GGUF for a model folder, converting it first if needed. */
export async function ensureGguf(modelDir: string, options: EnsureGgufOptions = {}): Promise<string> {
  return (await ensureGgufDetailed(modelDir, options)).path;
}

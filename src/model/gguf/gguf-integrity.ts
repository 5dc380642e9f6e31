/**
 * Is a GGUF file whole? Two checks:
 *
 * - quick (every cached GGUF before use; the header is walked without decoding the vocabulary, a few ms): the
 *   header parses, every tensor lies inside the file, and — for files that record a digest, i.e. written by our
 *   converter — the file is exactly as long as the header implies (the data section ends with the last tensor
 *   padded to the alignment). Catches a truncated file or a damaged header.
 * - full (`qwen3guard convert --verify`): the quick check, then the SHA-256 the file records under
 *   `qwen3guard.sha256` is recomputed over the whole file (with the 64 bytes of that value read as ASCII "0"s,
 *   as gguf-writer.ts computed it). Catches corrupted tensor data. A file without a recorded digest (not written
 *   by qwen3guard) can only get the quick check.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import { Qwen3GuardError } from "../../core/errors.js";
import { GgufReadError, scanGgufLayout, type GgufLayoutScan } from "./gguf-reader.js";
import { GGUF_DIGEST_HEX_LENGTH, GGUF_DIGEST_PLACEHOLDER } from "./gguf-writer.js";

/** GGUF metadata key: SHA-256 (lowercase hex) of the whole file with this value's bytes read as "0"s. */
export const GGUF_DIGEST_KEY = "qwen3guard.sha256";

/**
 * A GGUF file is truncated, or its content does not match the SHA-256 it records (the GGUFs this package writes
 * record one); `file` is the file, `problem` what is wrong, the message says what to do. A damaged cached GGUF is
 * rebuilt instead (with a warning). Code `GGUF_DAMAGED`.
 *
 * @example
 * ```ts
 * import { GenGuard, GgufIntegrityError } from "qwen3guard";
 *
 * try {
 *   await (await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B-truncated.gguf" })).close();
 * } catch (error) {
 *   if (error instanceof GgufIntegrityError) console.error(error.file, error.problem);
 *   else throw error;
 * }
 * ```
 */
export class GgufIntegrityError extends Qwen3GuardError {
  constructor(
    readonly file: string,
    /** What is wrong with it. */
    readonly problem: string,
    /** What to do (a sentence). */
    hint: string,
    options?: { cause?: unknown },
  ) {
    super("GGUF_DAMAGED", `${file} is damaged: ${problem}. ${hint}.`, options);
  }
}

export interface GgufVerification {
  /** What is wrong; undefined when the file passed. */
  problem?: string;
  /** Whether the data was checked against a recorded digest ("absent": the file records none). */
  digest: "checked" | "absent" | "not-checked";
}

function withoutPath(error: unknown, file: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

function problemOf(fileSize: number, impliedSize: number | undefined, digest: unknown): string | undefined {
  if (digest === undefined) return undefined; // not ours: the reader's own checks are all we can do
  if (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest))
    return `its ${GGUF_DIGEST_KEY} is not a SHA-256 digest`;
  if (impliedSize !== undefined && impliedSize !== fileSize) {
    return impliedSize > fileSize
      ? `it is ${fileSize} bytes long but its header implies ${impliedSize} (truncated)`
      : `it is ${fileSize} bytes long but its header implies ${impliedSize} (extra bytes at the end)`;
  }
  return undefined;
}

/**
 * The quick check of a header already walked (by {@link scanGgufLayout}, asked for GGUF_DIGEST_KEY); returns
 * what is wrong, or undefined.
 */
export function layoutProblem(layout: GgufLayoutScan): string | undefined {
  return problemOf(layout.fileSize, layout.impliedSize, layout.strings.get(GGUF_DIGEST_KEY)?.value);
}

/** Scan the header; a file that cannot be read as a GGUF is reported as the problem. */
function scan(file: string): GgufLayoutScan | { problem: string } {
  try {
    return scanGgufLayout(file, [GGUF_DIGEST_KEY]);
  } catch (error) {
    if (error instanceof GgufReadError || (error as NodeJS.ErrnoException).code !== undefined)
      return { problem: withoutPath(error, file) };
    throw error;
  }
}

/** The quick check; returns what is wrong, or undefined. */
export function quickCheckGguf(file: string): string | undefined {
  const layout = scan(file);
  if ("problem" in layout) return layout.problem;
  return layoutProblem(layout);
}

/** The full check: the quick one, then the recorded digest. */
export async function verifyGguf(
  file: string,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
): Promise<GgufVerification> {
  const layout = scan(file);
  if ("problem" in layout) return { problem: layout.problem, digest: "not-checked" };
  const recorded = layout.strings.get(GGUF_DIGEST_KEY);
  const problem = problemOf(layout.fileSize, layout.impliedSize, recorded?.value);
  if (problem !== undefined) return { problem, digest: "not-checked" };
  if (recorded === undefined) return { digest: "absent" };
  // The value's type tag (4 bytes) and string length (8 bytes) precede its characters.
  const actual = await hashWithPlaceholder(file, recorded.offset + 4 + 8, onProgress);
  return actual === recorded.value
    ? { digest: "checked" }
    : {
        problem: `its content does not match the SHA-256 it records (${recorded.value.slice(0, 12)}…, computed ${actual.slice(0, 12)}…): the data is corrupted`,
        digest: "checked",
      };
}

async function hashWithPlaceholder(
  file: string,
  at: number,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
): Promise<string> {
  const total = fs.statSync(file).size;
  const h = createHash("sha256");
  const placeholder = Buffer.from(GGUF_DIGEST_PLACEHOLDER, "latin1");
  let position = 0;
  for await (const data of fs.createReadStream(file, { highWaterMark: 1 << 22 })) {
    let chunk = data as Buffer;
    const start = position;
    const end = start + chunk.length;
    if (end > at && start < at + GGUF_DIGEST_HEX_LENGTH) {
      chunk = Buffer.from(chunk);
      for (let i = Math.max(at, start); i < Math.min(at + GGUF_DIGEST_HEX_LENGTH, end); i++)
        chunk[i - start] = placeholder[i - at]!;
    }
    h.update(chunk);
    position = end;
    onProgress?.(position, total);
  }
  return h.digest("hex");
}

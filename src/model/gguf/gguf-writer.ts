/**
 * Writing GGUF v3 files (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), little-endian:
 *   "GGUF" u32 version=3, u64 tensor_count, u64 kv_count, kv pairs, tensor infos, padding to the alignment,
 *   then each tensor's data at an aligned offset relative to the start of the data section.
 * The header is computed from the tensors' types and shapes alone, so tensor data can be produced lazily, one
 * tensor (or one chunk) at a time: a multi-GiB model never has to be in memory. The file is written to a unique
 * temporary name in the same folder, fsynced and renamed into place: readers never see a half-written file, and
 * concurrent writers of the same path do not disturb each other (the last rename wins, each file is complete).
 * The temporary file is registered with the process-wide registry of src/model/temp-files.ts: an interrupted
 * process (SIGINT/SIGTERM) removes it before exiting.
 *
 * With `digestKey`, the file records its own SHA-256 under that metadata key (a 64-character lowercase hex
 * string): the digest of the whole file with the 64 bytes of that value read as ASCII "0"s. The header is
 * written with the zeros, the data is hashed as it is written, and the digest is written over the zeros before
 * the file is synced and renamed (see gguf-integrity.ts for the check).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { temporaryPathFor, testPauseAfterFirstTensor, trackTemporaryFile } from "../temp-files.js";
import { ggmlTensorByteLength, ggmlTypeName } from "./ggml-types.js";
import {
  GgufValueTypeId,
  type GgufArrayItem,
  type GgufMetadata,
  type GgufScalarType,
  type GgufValue,
} from "./gguf-value.js";
import { Qwen3GuardError } from "../../core/errors.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/**
 * Writing a GGUF failed (tensor data inconsistent with its declared shape and type): converting a Hugging Face
 * folder met a checkpoint it cannot write. Code `GGUF_WRITE_FAILED`.
 *
 * @example
 * ```ts
 * import { GenGuard, GgufWriteError } from "qwen3guard";
 *
 * try {
 *   await (await GenGuard.load({ model: "/models/odd-checkpoint" })).close();
 * } catch (error) {
 *   if (error instanceof GgufWriteError) console.error("conversion failed:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class GgufWriteError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("GGUF_WRITE_FAILED", message, options);
  }
}

export interface GgufTensorToWrite {
  name: string;
  /** Dimensions, innermost first (an HF [out, in] weight has ne = [in, out]). */
  ne: readonly number[];
  /** A GgmlType id. */
  type: number;
  /** Produces the tensor's bytes in order when the writer reaches it; they must add up to the tensor's size. */
  data: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

export interface WriteGgufOptions {
  /** Called after each chunk of tensor data is written, with the cumulative data bytes written and the total. */
  onProgress?: (written: number, total: number, tensorName: string) => void;
  /** Record the file's SHA-256 under this metadata key (written last among the metadata; see above). */
  digestKey?: string;
}

/** Length of a SHA-256 digest in hex, and the placeholder the digest is computed over. */
export const GGUF_DIGEST_HEX_LENGTH = 64;
export const GGUF_DIGEST_PLACEHOLDER = "0".repeat(GGUF_DIGEST_HEX_LENGTH);

/** Growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  i8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.length);
    this.length += 1;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.length);
    this.length += 2;
  }
  i16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16LE(v, this.length);
    this.length += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.length);
    this.length += 8;
  }
  u64(v: bigint | number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  i64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(v, this.length);
    this.length += 8;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    this.ensure(n);
    this.buf.write(s, this.length, "utf8");
    this.length += n;
  }
  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function fail(key: string, problem: string): never {
  throw new GgufWriteError(`metadata "${key}": ${problem}`);
}

function writeScalar(sink: ByteSink, type: GgufScalarType, v: GgufArrayItem, key: string): void {
  const num = (): number =>
    typeof v === "number" ? v : fail(key, `expected a number for ${type}, got ${typeof v}`);
  switch (type) {
    case "uint8":
      return sink.u8(num());
    case "int8":
      return sink.i8(num());
    case "uint16":
      return sink.u16(num());
    case "int16":
      return sink.i16(num());
    case "uint32":
      return sink.u32(num());
    case "int32":
      return sink.i32(num());
    case "float32":
      return sink.f32(num());
    case "float64":
      return sink.f64(num());
    case "uint64":
      return sink.u64(typeof v === "bigint" || typeof v === "number" ? v : fail(key, "expected an integer"));
    case "int64":
      return sink.i64(
        typeof v === "bigint" ? v : typeof v === "number" ? BigInt(v) : fail(key, "expected an integer"),
      );
    case "bool":
      return sink.u8(typeof v === "boolean" ? (v ? 1 : 0) : fail(key, "expected a boolean"));
    case "string":
      return sink.str(typeof v === "string" ? v : fail(key, "expected a string"));
  }
}

function writeValue(sink: ByteSink, value: GgufValue, key: string): void {
  sink.u32(GgufValueTypeId[value.type]);
  if (value.type !== "array") {
    writeScalar(sink, value.type, value.value, key);
    return;
  }
  sink.u32(GgufValueTypeId[value.itemType]);
  sink.u64(value.value.length);
  for (const item of value.value) {
    if (value.itemType === "array") {
      if (typeof item !== "object" || item.type !== "array") fail(key, "nested array items must be arrays");
      // A nested array is written without its own type tag (the outer array declared it).
      sink.u32(GgufValueTypeId[item.itemType]);
      sink.u64(item.value.length);
      for (const inner of item.value) {
        if (item.itemType === "array") fail(key, "arrays nested more than two deep are not supported");
        writeScalar(sink, item.itemType, inner, key);
      }
    } else {
      writeScalar(sink, value.itemType, item, key);
    }
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

export interface GgufLayout {
  header: Buffer;
  /** Offset of each tensor's data relative to the data section, and its size in bytes. */
  tensors: { offset: number; size: number }[];
  /** Absolute offset of the data section (header length rounded up to the alignment). */
  dataStart: number;
  /** Total bytes of the data section including padding after the last tensor. */
  dataSize: number;
  /** Offset in the header of each metadata value (its type tag). */
  valueOffsets: Map<string, number>;
}

/** Compute the header bytes and the data layout for a metadata set and a list of tensors. */
export function layoutGguf(metadata: GgufMetadata, tensors: readonly GgufTensorToWrite[]): GgufLayout {
  const alignmentValue = metadata.get("general.alignment");
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignmentValue !== undefined) {
    if (alignmentValue.type !== "uint32" || alignmentValue.value <= 0 || alignmentValue.value % 8 !== 0) {
      throw new GgufWriteError(`general.alignment must be a uint32 multiple of 8`);
    }
    alignment = alignmentValue.value;
  }
  const names = new Set<string>();
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(GGUF_VERSION);
  sink.u64(tensors.length);
  sink.u64(metadata.size);
  const valueOffsets = new Map<string, number>();
  for (const [key, value] of metadata) {
    sink.str(key);
    valueOffsets.set(key, sink.length);
    writeValue(sink, value, key);
  }
  const layout: { offset: number; size: number }[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufWriteError(`duplicate tensor name ${t.name}`);
    names.add(t.name);
    if (t.ne.length === 0 || t.ne.length > 4 || t.ne.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new GgufWriteError(`tensor ${t.name}: invalid shape [${t.ne.join(", ")}]`);
    }
    const size = ggmlTensorByteLength(t.type, t.ne);
    sink.str(t.name);
    sink.u32(t.ne.length);
    for (const d of t.ne) sink.u64(d);
    sink.u32(t.type);
    sink.u64(offset);
    layout.push({ offset, size });
    offset = alignUp(offset + size, alignment);
  }
  sink.zeros(alignUp(sink.length, alignment) - sink.length);
  return {
    header: Buffer.from(sink.bytes()),
    tensors: layout,
    dataStart: sink.length,
    dataSize: offset,
    valueOffsets,
  };
}

export { temporaryPathFor };

async function writeAll(handle: fs.promises.FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/**
 * Write a GGUF file atomically. Tensor data is pulled from each tensor's `data()` in order. If anything throws
 * (including a progress callback), the temporary file is removed and nothing appears at `outFile`.
 */
export async function writeGguf(
  outFile: string,
  metadata: GgufMetadata,
  tensors: readonly GgufTensorToWrite[],
  options: WriteGgufOptions = {},
): Promise<void> {
  let meta = metadata;
  if (options.digestKey !== undefined) {
    // Last, so that nothing after it depends on its bytes; the placeholder has the digest's length.
    meta = new Map(metadata);
    meta.delete(options.digestKey);
    meta.set(options.digestKey, { type: "string", value: GGUF_DIGEST_PLACEHOLDER });
  }
  const layout = layoutGguf(meta, tensors);
  const digestAt =
    options.digestKey === undefined ? undefined : layout.valueOffsets.get(options.digestKey)! + 4 + 8;
  const hash = digestAt === undefined ? undefined : createHash("sha256");
  await fs.promises.mkdir(path.dirname(outFile), { recursive: true });
  const tmp = temporaryPathFor(outFile);
  // Registered before it exists: a sweep running meanwhile (another conversion in this process) must not take
  // the new file for a leftover of an earlier process with our pid.
  const tracked = trackTemporaryFile(tmp);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(tmp, "wx");
  } catch (error) {
    tracked.release();
    throw error;
  }
  let closed = false;
  const put = async (bytes: Uint8Array): Promise<void> => {
    hash?.update(bytes);
    await writeAll(handle, bytes);
  };
  try {
    await put(layout.header);
    let position = 0; // bytes of the data section written so far
    const padding = new Uint8Array(64);
    for (const [i, t] of tensors.entries()) {
      const { offset, size } = layout.tensors[i]!;
      while (position < offset) {
        const n = Math.min(padding.length, offset - position);
        await put(padding.subarray(0, n));
        position += n;
      }
      let written = 0;
      for await (const chunk of t.data()) {
        written += chunk.byteLength;
        if (written > size) break;
        await put(chunk);
        position += chunk.byteLength;
        options.onProgress?.(position, layout.dataSize, t.name);
      }
      if (written !== size) {
        throw new GgufWriteError(
          `tensor ${t.name} (${ggmlTypeName(t.type)} [${t.ne.join(", ")}]): produced ${written} bytes, expected ${size}`,
        );
      }
      if (i === 0) await testPauseAfterFirstTensor(tmp);
    }
    while (position < layout.dataSize) {
      const n = Math.min(padding.length, layout.dataSize - position);
      await put(padding.subarray(0, n));
      position += n;
    }
    if (hash !== undefined && digestAt !== undefined) {
      const digest = Buffer.from(hash.digest("hex"), "latin1");
      const { bytesWritten } = await handle.write(digest, 0, digest.length, digestAt);
      if (bytesWritten !== digest.length) throw new GgufWriteError(`${tmp}: short write of the digest`);
    }
    await handle.sync();
    await handle.close();
    closed = true;
    await fs.promises.rename(tmp, outFile);
    await syncDirectory(path.dirname(outFile));
  } catch (error) {
    if (!closed) await handle.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw error;
  } finally {
    tracked.release();
  }
}

/** Make a rename durable (best effort: not every platform lets a directory be fsynced). */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, "r");
    await handle.sync();
  } catch {
    /* not supported here (e.g. Windows) */
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

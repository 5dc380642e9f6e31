/**
 * Reading GGUF files (v2 and v3): metadata, tensor infos, a tensor's raw bytes, and float32 values for the types
 * this package can decode (F32, F16, BF16, Q8_0). The header is parsed through a small windowed reader, so
 * files of any size open without reading their tensor data; large headers (a 150k-token vocabulary is several
 * MiB) are read in chunks.
 */
import fs from "node:fs";
import { GgmlType, ggmlTensorByteLength, ggmlTypeName, isKnownGgmlType } from "./ggml-types.js";
import {
  GGUF_TYPE_BY_ID,
  type GgufArrayItem,
  type GgufMetadata,
  type GgufValue,
  type GgufValueType,
} from "./gguf-value.js";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from "./gguf-writer.js";
import { decodeBF16, decodeF16, decodeF32, dequantizeQ8_0 } from "./quantize.js";
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * A GGUF file is damaged or not a GGUF llama.cpp can read (bad header, unsupported version, truncated metadata).
 * Code `GGUF_INVALID`.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { GenGuard, GgufReadError } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/broken.gguf", Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(20, 7)]));
 * try {
 *   await GenGuard.load({ model: "/tmp/broken.gguf" });
 * } catch (error) {
 *   if (error instanceof GgufReadError) console.log(error.code, error.message); // GGUF_INVALID /tmp/broken.gguf: GGUF version ... is not supported
 * }
 * ```
 */
export class GgufReadError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("GGUF_INVALID", message, options);
  }
}

export interface GgufTensorInfo {
  name: string;
  /** Dimensions, innermost first. */
  ne: number[];
  /** A GgmlType id. */
  type: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

const WINDOW = 1 << 20;

/** Sequential little-endian reads from a file descriptor through a sliding buffer. */
class Cursor {
  private window = Buffer.alloc(0);
  private buf = this.window;
  private bufStart = 0; // file offset of buf[0]
  pos = 0;
  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly file: string,
  ) {}
  private need(n: number): number {
    if (this.pos + n > this.size)
      throw new GgufReadError(`${this.file}: unexpected end of file in the header`);
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, WINDOW), this.size - this.pos);
    // One window, refilled in place (every read copies out of it): a new 1 MiB buffer per window left ~5 MiB of
    // garbage outside the JS heap per pass over Qwen3's vocabulary.
    if (this.window.length < len) this.window = Buffer.allocUnsafeSlow(len);
    this.buf = this.window.subarray(0, 0); // nothing valid until the read completes
    let done = 0;
    while (done < len) {
      const r = fs.readSync(this.fd, this.window, done, len - done, this.pos + done);
      if (r <= 0) throw new GgufReadError(`${this.file}: read failed at offset ${this.pos + done}`);
      done += r;
    }
    this.buf = this.window.subarray(0, len);
    this.bufStart = this.pos;
    return 0;
  }
  u8(): number {
    const r = this.need(1);
    this.pos += 1;
    return this.buf.readUInt8(r);
  }
  i8(): number {
    const r = this.need(1);
    this.pos += 1;
    return this.buf.readInt8(r);
  }
  u16(): number {
    const r = this.need(2);
    this.pos += 2;
    return this.buf.readUInt16LE(r);
  }
  i16(): number {
    const r = this.need(2);
    this.pos += 2;
    return this.buf.readInt16LE(r);
  }
  u32(): number {
    const r = this.need(4);
    this.pos += 4;
    return this.buf.readUInt32LE(r);
  }
  i32(): number {
    const r = this.need(4);
    this.pos += 4;
    return this.buf.readInt32LE(r);
  }
  f32(): number {
    const r = this.need(4);
    this.pos += 4;
    return this.buf.readFloatLE(r);
  }
  f64(): number {
    const r = this.need(8);
    this.pos += 8;
    return this.buf.readDoubleLE(r);
  }
  u64(): bigint {
    const r = this.need(8);
    this.pos += 8;
    return this.buf.readBigUInt64LE(r);
  }
  i64(): bigint {
    const r = this.need(8);
    this.pos += 8;
    return this.buf.readBigInt64LE(r);
  }
  /** Advance over `n` bytes without reading them (they must lie inside the file). */
  skip(n: number): void {
    if (this.pos + n > this.size)
      throw new GgufReadError(`${this.file}: unexpected end of file in the header`);
    this.pos += n;
  }
  /** A u64 that must fit a JS safe integer (counts, lengths, offsets). */
  count(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new GgufReadError(`${this.file}: ${what} ${v} is too large`);
    return Number(v);
  }
  str(): string {
    const n = this.count("string length");
    if (n > this.size) throw new GgufReadError(`${this.file}: string length ${n} exceeds the file size`);
    const r = this.need(n);
    this.pos += n;
    return this.buf.toString("utf8", r, r + n);
  }
}

function typeOf(id: number, file: string): GgufValueType {
  const t = GGUF_TYPE_BY_ID.get(id);
  if (t === undefined) throw new GgufReadError(`${file}: unknown metadata value type ${id}`);
  return t;
}

function readScalar(c: Cursor, type: Exclude<GgufValueType, "array">): number | bigint | boolean | string {
  switch (type) {
    case "uint8":
      return c.u8();
    case "int8":
      return c.i8();
    case "uint16":
      return c.u16();
    case "int16":
      return c.i16();
    case "uint32":
      return c.u32();
    case "int32":
      return c.i32();
    case "float32":
      return c.f32();
    case "float64":
      return c.f64();
    case "uint64":
      return c.u64();
    case "int64":
      return c.i64();
    case "bool":
      return c.u8() !== 0;
    case "string":
      return c.str();
  }
}

function readArray(c: Cursor, file: string, depth: number): GgufValue {
  const itemType = typeOf(c.u32(), file);
  const n = c.count("array length");
  const items: GgufArrayItem[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (itemType === "array") {
      if (depth > 4) throw new GgufReadError(`${file}: arrays nested too deep`);
      items[i] = readArray(c, file, depth + 1);
    } else {
      items[i] = readScalar(c, itemType);
    }
  }
  return { type: "array", itemType, value: items };
}

function readValue(c: Cursor, file: string): GgufValue {
  const type = typeOf(c.u32(), file);
  if (type === "array") return readArray(c, file, 0);
  return { type, value: readScalar(c, type) } as GgufValue;
}

const FIXED_SIZE: Partial<Record<GgufValueType, number>> = {
  uint8: 1,
  int8: 1,
  bool: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  uint64: 8,
  int64: 8,
  float64: 8,
};

function skipValue(c: Cursor, type: GgufValueType, file: string, depth: number): void {
  const fixed = FIXED_SIZE[type];
  if (fixed !== undefined) return c.skip(fixed);
  if (type === "string") return c.skip(c.count("string length"));
  if (depth > 4) throw new GgufReadError(`${file}: arrays nested too deep`);
  const itemType = typeOf(c.u32(), file);
  const n = c.count("array length");
  const itemSize = FIXED_SIZE[itemType];
  if (itemSize !== undefined) return c.skip(n * itemSize);
  for (let i = 0; i < n; i++) skipValue(c, itemType, file, depth + 1);
}

/** The layout of a GGUF file, read without decoding its metadata values (see {@link scanGgufLayout}). */
export interface GgufLayoutScan {
  fileSize: number;
  alignment: number;
  dataStart: number;
  tensorCount: number;
  /**
   * The file size the header implies: the data start plus the end of the last tensor padded to the alignment (GGUF
   * writers pad every tensor); undefined when a tensor has a type whose size is unknown.
   */
  impliedSize: number | undefined;
  /** The string values asked for, with the file offset of each value (its type tag). */
  strings: Map<string, { value: string; offset: number }>;
}

/** The fixed start of a GGUF header: magic, version (2 or 3), tensor and metadata counts. */
function readPreamble(
  c: Cursor,
  size: number,
  filePath: string,
): { version: number; tensorCount: number; kvCount: number } {
  if (size < 24 || c.u32() !== GGUF_MAGIC)
    throw new GgufReadError(`${filePath}: not a GGUF file (bad magic)`);
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    throw new GgufReadError(`${filePath}: GGUF version ${version} is not supported (expected 2 or 3)`);
  }
  const tensorCount = c.count("tensor count");
  const kvCount = c.count("metadata count");
  return { version, tensorCount, kvCount };
}

/** The tensor infos after the metadata: name, dimensions, ggml type, offset relative to the data section. */
function readTensorInfos(
  c: Cursor,
  tensorCount: number,
  filePath: string,
): { name: string; ne: number[]; type: number; rel: number }[] {
  const raw: { name: string; ne: number[]; type: number; rel: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.str();
    const nDims = c.u32();
    if (nDims > 4) throw new GgufReadError(`${filePath}: tensor ${name} has ${nDims} dimensions`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.count("dimension"));
    raw.push({ name, ne, type: c.u32(), rel: c.count("tensor offset") });
  }
  return raw;
}

/**
 * Walk a GGUF header, skipping every metadata value except `general.alignment` and the string keys asked for:
 * a few ms for a 150k-token vocabulary, where GgufFile.open decodes every token. Throws GgufReadError like
 * GgufFile.open (bad magic, a header running past the end, a tensor extending past the end of the file).
 */
export function scanGgufLayout(filePath: string, stringKeys: readonly string[] = []): GgufLayoutScan {
  const fd = fs.openSync(filePath, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const c = new Cursor(fd, size, filePath);
    const { tensorCount, kvCount } = readPreamble(c, size, filePath);
    const wanted = new Set(stringKeys);
    const strings = new Map<string, { value: string; offset: number }>();
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    for (let i = 0; i < kvCount; i++) {
      const key = c.str();
      const offset = c.pos;
      const type = typeOf(c.u32(), filePath);
      if (key === "general.alignment" && type === "uint32") alignment = c.u32();
      else if (wanted.has(key) && type === "string") strings.set(key, { value: c.str(), offset });
      else skipValue(c, type, filePath, 0);
    }
    if (alignment <= 0) throw new GgufReadError(`${filePath}: invalid general.alignment ${alignment}`);
    const raw = readTensorInfos(c, tensorCount, filePath);
    const dataStart = Math.ceil(c.pos / alignment) * alignment;
    let end: number | undefined = 0;
    for (const { name, ne, type, rel } of raw) {
      if (!isKnownGgmlType(type)) {
        end = undefined;
        continue;
      }
      const byteLength = ggmlTensorByteLength(type, ne);
      if (dataStart + rel + byteLength > size) {
        throw new GgufReadError(`${filePath}: tensor ${name} extends past the end of the file (truncated?)`);
      }
      if (end !== undefined) end = Math.max(end, Math.ceil((rel + byteLength) / alignment) * alignment);
    }
    return {
      fileSize: size,
      alignment,
      dataStart,
      tensorCount,
      impliedSize: end === undefined ? undefined : dataStart + end,
      strings,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/** An open GGUF file. Call `close()` when done. */
export class GgufFile {
  private fd: number | undefined;
  private readonly byName: Map<string, GgufTensorInfo>;

  private constructor(
    readonly filePath: string,
    fd: number,
    readonly version: number,
    readonly metadata: GgufMetadata,
    readonly tensors: readonly GgufTensorInfo[],
    readonly alignment: number,
    readonly dataStart: number,
  ) {
    this.fd = fd;
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  static open(filePath: string): GgufFile {
    const fd = fs.openSync(filePath, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const c = new Cursor(fd, size, filePath);
      const { version, tensorCount, kvCount } = readPreamble(c, size, filePath);
      const metadata: GgufMetadata = new Map();
      for (let i = 0; i < kvCount; i++) {
        const key = c.str();
        metadata.set(key, readValue(c, filePath));
      }
      const alignValue = metadata.get("general.alignment");
      const alignment = alignValue?.type === "uint32" ? alignValue.value : GGUF_DEFAULT_ALIGNMENT;
      if (alignment <= 0) throw new GgufReadError(`${filePath}: invalid general.alignment ${alignment}`);
      const raw = readTensorInfos(c, tensorCount, filePath);
      const dataStart = Math.ceil(c.pos / alignment) * alignment;
      const tensors = raw.map(({ name, ne, type, rel }): GgufTensorInfo => {
        const byteLength = isKnownGgmlType(type) ? ggmlTensorByteLength(type, ne) : NaN;
        const offset = dataStart + rel;
        if (Number.isFinite(byteLength) && offset + byteLength > size) {
          throw new GgufReadError(
            `${filePath}: tensor ${name} extends past the end of the file (truncated?)`,
          );
        }
        return { name, ne, type, offset, byteLength };
      });
      return new GgufFile(filePath, fd, version, metadata, tensors, alignment, dataStart);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /** The tensor info, or undefined. */
  tensor(name: string): GgufTensorInfo | undefined {
    return this.byName.get(name);
  }

  private info(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new GgufReadError(`${this.filePath}: no tensor named ${name}`);
    return t;
  }

  /** A metadata value unwrapped (arrays as JS arrays), or undefined when absent. */
  get(key: string): GgufArrayItem | readonly GgufArrayItem[] | undefined {
    return this.metadata.get(key)?.value;
  }

  getString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "string")
      throw new GgufReadError(`${this.filePath}: ${key} is ${v.type}, expected string`);
    return v.value;
  }

  getNumber(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v.value === "number") return v.value;
    if (typeof v.value === "bigint") return Number(v.value);
    throw new GgufReadError(`${this.filePath}: ${key} is ${v.type}, expected a number`);
  }

  getStringArray(key: string): string[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || v.itemType !== "string") {
      throw new GgufReadError(`${this.filePath}: ${key} is not an array of strings`);
    }
    return v.value as string[];
  }

  getNumberArray(key: string): number[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || v.value.some((x) => typeof x !== "number")) {
      throw new GgufReadError(`${this.filePath}: ${key} is not an array of numbers`);
    }
    return v.value as number[];
  }

  /** A tensor's bytes as stored. */
  readTensorBytes(name: string): Uint8Array {
    const t = this.info(name);
    if (this.fd === undefined) throw new GgufReadError(`${this.filePath}: file is closed`);
    if (!Number.isFinite(t.byteLength)) {
      throw new GgufReadError(`${this.filePath}: tensor ${name} has unknown type ${t.type}; cannot size it`);
    }
    const out = new Uint8Array(t.byteLength);
    let done = 0;
    while (done < t.byteLength) {
      const n = fs.readSync(this.fd, out, done, Math.min(t.byteLength - done, 1 << 30), t.offset + done);
      if (n <= 0) throw new GgufReadError(`${this.filePath}: unexpected end of file reading ${name}`);
      done += n;
    }
    return out;
  }

  /** A tensor's values as float32 (F32, F16, BF16 and Q8_0 tensors). */
  readTensorFloat32(name: string): Float32Array {
    const t = this.info(name);
    const bytes = this.readTensorBytes(name);
    switch (t.type) {
      case GgmlType.F32:
        return decodeF32(bytes);
      case GgmlType.F16:
        return decodeF16(bytes);
      case GgmlType.BF16:
        return decodeBF16(bytes);
      case GgmlType.Q8_0:
        return dequantizeQ8_0(bytes);
      default:
        throw new GgufReadError(
          `${this.filePath}: cannot decode tensor ${name} of type ${ggmlTypeName(t.type)}`,
        );
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** What {@link visitGgufMetadata} does with each metadata value. */
export interface GgufMetadataVisitor {
  /** A value that is not an array. */
  value?(key: string, value: GgufValue): void;
  /**
   * An array of `length` items of `itemType`: return a function that receives each item in order (nested arrays
   * as GgufValue), or undefined to skip the array without decoding it.
   */
  array?(
    key: string,
    itemType: GgufValueType,
    length: number,
  ): ((item: GgufArrayItem, index: number) => void) | undefined;
}

/**
 * Read a GGUF file's metadata one value at a time, keeping none of it: a 150k-token vocabulary reaches the
 * visitor item by item, where GgufFile.open builds every array (and keeps them all until the whole header is
 * read), and arrays the visitor does not want are skipped undecoded. Tensor infos are not read. Throws
 * GgufReadError like GgufFile.open (bad magic or version, a header running past the end of the file).
 */
export function visitGgufMetadata(filePath: string, visitor: GgufMetadataVisitor): void {
  const fd = fs.openSync(filePath, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const c = new Cursor(fd, size, filePath);
    const { kvCount } = readPreamble(c, size, filePath);
    for (let i = 0; i < kvCount; i++) {
      const key = c.str();
      const type = typeOf(c.u32(), filePath);
      if (type !== "array") {
        const value = readScalar(c, type);
        visitor.value?.(key, { type, value } as GgufValue);
        continue;
      }
      const itemType = typeOf(c.u32(), filePath);
      const n = c.count("array length");
      const onItem = visitor.array?.(key, itemType, n);
      if (!onItem) {
        const itemSize = FIXED_SIZE[itemType];
        if (itemSize !== undefined) c.skip(n * itemSize);
        else for (let k = 0; k < n; k++) skipValue(c, itemType, filePath, 1);
        continue;
      }
      for (let k = 0; k < n; k++) {
        onItem(itemType === "array" ? readArray(c, filePath, 1) : readScalar(c, itemType), k);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A GGUF file's metadata without the items of its arrays (architecture, sizes, the chat template, markers...),
 * read with visitGgufMetadata: arrays are listed with their item type and no items, skipped undecoded, where
 * GgufFile.open builds them (~90 MB of transient JS heap for Qwen3's vocabulary).
 */
export function readGgufScalars(filePath: string): GgufMetadata {
  const values: GgufMetadata = new Map();
  visitGgufMetadata(filePath, {
    value: (key, value) => values.set(key, value),
    array: (key, itemType) => {
      values.set(key, { type: "array", itemType, value: [] });
      return undefined;
    },
  });
  return values;
}

/**
 * Reading and writing the safetensors format (https://huggingface.co/docs/safetensors):
 * 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw data.
 * Files are read lazily tensor by tensor and written tensor by tensor, so multi-GiB checkpoints never have
 * to sit in memory at once. Writes go to a temporary file renamed into place: never a half-written file.
 */
import fs from "node:fs";
import path from "node:path";
import { Qwen3GuardError } from "../core/errors.js";
import { temporaryPathFor, testPauseAfterFirstTensor, trackTemporaryFile } from "./temp-files.js";

export type SafetensorsDtype = "F32" | "F16" | "BF16";

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

/**
 * A .safetensors file of a model folder is damaged (truncated, a bad header) or holds a tensor type this package
 * does not read. Code `SAFETENSORS_INVALID`.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { GenGuard, SafetensorsError } from "qwen3guard";
 * import { writeCraftedGenModel } from "qwen3guard/testing";
 *
 * const { dir } = writeCraftedGenModel("/tmp/gen-truncated");
 * fs.writeFileSync(`${dir}/model.safetensors`, "xx"); // a download cut short
 * try {
 *   await GenGuard.load({ model: dir });
 * } catch (error) {
 *   if (error instanceof SafetensorsError) console.log(error.code, error.message); // SAFETENSORS_INVALID .../model.safetensors: too short to be a safetensors file
 * }
 * ```
 */
export class SafetensorsError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("SAFETENSORS_INVALID", message, options);
  }
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Convert one IEEE half to a float. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Round a float to the nearest IEEE half (round half to even), returned as its 16-bit pattern. */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return half;
}

/** Round a float to bfloat16 (round half to even), returned as its 16-bit pattern. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  const rounding = 0x7fff + ((x >>> 16) & 1);
  return ((x + rounding) >>> 16) & 0xffff;
}

export function bf16ToF32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** Decode raw little-endian bytes of a dtype into float32 values. */
export function decodeToFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const n = bytes.byteLength / BYTES_PER_ELEMENT[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === "F16") {
    for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
  } else {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
  }
  return out;
}

/** Encode float32 values as raw little-endian bytes of a dtype. */
export function encodeFromFloat32(values: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  const size = BYTES_PER_ELEMENT[dtype];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  if (dtype === "F32") {
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  } else if (dtype === "F16") {
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToF16(values[i]!), true);
  } else {
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToBf16(values[i]!), true);
  }
  return out;
}

/** One safetensors file, opened lazily. Call `close()` when done. */
export class SafetensorsFile {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private fd: number | undefined;

  private constructor(
    readonly filePath: string,
    fd: number,
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
  ) {
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  static open(filePath: string): SafetensorsFile {
    const fd = fs.openSync(filePath, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const lenBuf = Buffer.alloc(8);
      if (size < 8 || fs.readSync(fd, lenBuf, 0, 8, 0) !== 8) {
        throw new SafetensorsError(`${filePath}: too short to be a safetensors file`);
      }
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen <= 0 || 8 + headerLen > size || headerLen > 100 * 1024 * 1024) {
        throw new SafetensorsError(`${filePath}: invalid header length ${headerLen} (file is ${size} bytes)`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      fs.readSync(fd, headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBuf.toString("utf8")) as Record<string, unknown>;
      } catch {
        throw new SafetensorsError(`${filePath}: header is not valid JSON`);
      }
      const dataStart = 8 + headerLen;
      const tensors = new Map<string, TensorInfo>();
      let metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(header)) {
        if (name === "__metadata__") {
          metadata = (value ?? {}) as Record<string, string>;
          continue;
        }
        const v = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
        if (v.dtype !== "F32" && v.dtype !== "F16" && v.dtype !== "BF16") {
          throw new SafetensorsError(`${filePath}: tensor ${name} has unsupported dtype ${String(v.dtype)}`);
        }
        const [begin, end] = v.data_offsets ?? [NaN, NaN];
        const shape = v.shape ?? [];
        const byteLength = end - begin;
        if (
          !Number.isInteger(begin) ||
          !Number.isInteger(end) ||
          byteLength !== elementCount(shape) * BYTES_PER_ELEMENT[v.dtype] ||
          dataStart + end > size
        ) {
          throw new SafetensorsError(`${filePath}: tensor ${name} has inconsistent offsets or shape`);
        }
        tensors.set(name, { name, dtype: v.dtype, shape, offset: dataStart + begin, byteLength });
      }
      return new SafetensorsFile(filePath, fd, tensors, metadata);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(`${this.filePath}: no tensor named ${name}`);
    return info;
  }

  /** Raw bytes of a tensor, as stored. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    if (this.fd === undefined) throw new SafetensorsError(`${this.filePath}: file is closed`);
    const out = new Uint8Array(info.byteLength);
    let done = 0;
    while (done < info.byteLength) {
      const n = fs.readSync(
        this.fd,
        out,
        done,
        Math.min(info.byteLength - done, 1 << 30),
        info.offset + done,
      );
      if (n <= 0) throw new SafetensorsError(`${this.filePath}: unexpected end of file reading ${name}`);
      done += n;
    }
    return out;
  }

  /** A tensor's values as float32, whatever its stored dtype. */
  readFloat32(name: string): Float32Array {
    return decodeToFloat32(this.readBytes(name), this.info(name).dtype);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Produces the values when the writer reaches this tensor (so large models are generated lazily). */
  values: () => Float32Array;
}

/**
 * Write a safetensors file, tensor by tensor, to `filePath` atomically (temp file + rename).
 * Tensors are written in the order given; data offsets are 8-byte aligned as the reference writer does.
 * The temporary file (`.<name>.<pid>-<hex>.partial`, src/model/temp-files.ts) is removed on any error, and by the
 * process-wide registry if the process is interrupted or exits first. This synchronous form cannot react to a
 * signal before it returns; {@link writeSafetensorsAsync} yields between tensors.
 */
export function writeSafetensors(
  filePath: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = { format: "pt" },
  onTensor?: (index: number, total: number, name: string) => void,
): void {
  const steps = safetensorsSteps(filePath, tensors, metadata, onTensor);
  try {
    while (!steps.next().done);
  } finally {
    steps.return();
  }
}

/**
 * {@link writeSafetensors}, yielding to the event loop after each tensor so that an interrupted process (SIGINT,
 * SIGTERM) removes the temporary file and exits instead of finishing the write first.
 */
export async function writeSafetensorsAsync(
  filePath: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = { format: "pt" },
  onTensor?: (index: number, total: number, name: string) => void,
): Promise<void> {
  const steps = safetensorsSteps(filePath, tensors, metadata, onTensor);
  try {
    for (let step = steps.next(); !step.done; step = steps.next()) {
      if (step.value.index === 1) await testPauseAfterFirstTensor(step.value.tmp);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    steps.return();
  }
}

/** The writer, one step per tensor; the temporary file is removed unless the last step renamed it. */
function* safetensorsSteps(
  filePath: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string>,
  onTensor: ((index: number, total: number, name: string) => void) | undefined,
): Generator<{ tmp: string; index: number }, void, void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = elementCount(t.shape) * BYTES_PER_ELEMENT[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let headerJson = JSON.stringify(header);
  headerJson += " ".repeat((8 - ((8 + Buffer.byteLength(headerJson)) % 8)) % 8);
  const headerBytes = Buffer.from(headerJson, "utf8");
  fs.mkdirSync(path.dirname(filePath), { recursive: true });
  const tmp = temporaryPathFor(filePath);
  const tracked = trackTemporaryFile(tmp);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "wx");
  } catch (error) {
    tracked.release();
    throw error;
  }
  let renamed = false;
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(headerBytes.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, headerBytes);
    for (const [i, t] of tensors.entries()) {
      const values = t.values();
      if (values.length !== elementCount(t.shape)) {
        throw new SafetensorsError(
          `tensor ${t.name}: ${values.length} values for shape [${t.shape.join(", ")}]`,
        );
      }
      fs.writeSync(fd, encodeFromFloat32(values, t.dtype));
      onTensor?.(i + 1, tensors.length, t.name);
      yield { tmp, index: i + 1 };
    }
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, filePath);
    renamed = true;
  } finally {
    if (!renamed) {
      if (fd !== undefined) {
        try {
          fs.closeSync(fd);
        } catch {
          /* already closed */
        }
      }
      fs.rmSync(tmp, { force: true });
    }
    tracked.release();
  }
}

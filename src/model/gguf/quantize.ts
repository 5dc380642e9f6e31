/**
 * Encoders from float32 to the tensor types the converter writes (F32, F16, Q8_0) and decoders back to float32.
 *
 * Q8_0 (ggml): blocks of 32 consecutive values along ne[0], each stored as {f16 d; int8 qs[32]} = 34 bytes,
 * d = max|x| / 127, q = round-half-away-from-zero(x / d). As in llama.cpp's quantize_row_q8_0_ref, q is
 * computed in float32 with id = 1/d from the unrounded d, while d itself is stored rounded to f16.
 */
import { decodeToFloat32, encodeFromFloat32, f16ToF32, f32ToF16 } from "../safetensors.js";
import { Qwen3GuardError } from "../../core/errors.js";

export const Q8_0_BLOCK_SIZE = 32;
export const Q8_0_BLOCK_BYTES = 34;

/**
 * Quantizing a tensor failed while converting a checkpoint (a shape that is not a whole number of Q8_0 blocks of 32
 * values); convert with `quantization: "f16"` or `"f32"` instead. Code `QUANTIZE_FAILED`.
 *
 * @example
 * ```ts
 * import { GenGuard, QuantizeError } from "qwen3guard";
 *
 * const model = "/models/Qwen3Guard-Gen-0.6B";
 * const guard = await GenGuard.load({ model }).catch((error: unknown) => {
 *   if (error instanceof QuantizeError) return GenGuard.load({ model, quantization: "f16" });
 *   throw error;
 * });
 * await guard.close();
 * ```
 */
export class QuantizeError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("QUANTIZE_FAILED", message, options);
  }
}

/** C's roundf: halves go away from zero. */
function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Quantize values (a whole number of 32-value blocks) to Q8_0 bytes. */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % Q8_0_BLOCK_SIZE !== 0) {
    throw new QuantizeError(`Q8_0 needs a multiple of ${Q8_0_BLOCK_SIZE} values, got ${values.length}`);
  }
  const blocks = values.length / Q8_0_BLOCK_SIZE;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_0_BLOCK_SIZE;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) {
      const a = Math.abs(values[base + j]!);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) {
      qs[o + 2 + j] = roundHalfAwayFromZero(Math.fround(values[base + j]! * id));
    }
  }
  return out;
}

/** Decode Q8_0 bytes to float32 (q · d with d read from f16). */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % Q8_0_BLOCK_BYTES !== 0) {
    throw new QuantizeError(
      `Q8_0 data must be a multiple of ${Q8_0_BLOCK_BYTES} bytes, got ${bytes.byteLength}`,
    );
  }
  const blocks = bytes.byteLength / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(blocks * Q8_0_BLOCK_SIZE);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const qs = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16ToF32(view.getUint16(o, true));
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) out[b * Q8_0_BLOCK_SIZE + j] = qs[o + 2 + j]! * d;
  }
  return out;
}

/** Little-endian IEEE half bytes (round to nearest even). */
export function encodeF16(values: Float32Array): Uint8Array {
  return encodeFromFloat32(values, "F16");
}

/** Little-endian float32 bytes, bit for bit. */
export function encodeF32(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

export function decodeF16(bytes: Uint8Array): Float32Array {
  return decodeToFloat32(bytes, "F16");
}

export function decodeF32(bytes: Uint8Array): Float32Array {
  return decodeToFloat32(bytes, "F32");
}

export function decodeBF16(bytes: Uint8Array): Float32Array {
  return decodeToFloat32(bytes, "BF16");
}

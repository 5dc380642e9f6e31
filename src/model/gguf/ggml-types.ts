/**
 * ggml tensor element types as stored in GGUF tensor infos (enum ggml_type in llama.cpp's ggml.h), with the
 * block size (values per block) and block byte size of each, so the byte length of any tensor can be computed
 * even for types this package cannot decode. Sizes were taken from ggml-common.h (sizeof each block struct).
 */
import { Qwen3GuardError } from "../../core/errors.js";

export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** [values per block, bytes per block] by type id. */
const TRAITS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [GgmlType.F32, [1, 4]],
  [GgmlType.F16, [1, 2]],
  [GgmlType.Q4_0, [32, 18]],
  [GgmlType.Q4_1, [32, 20]],
  [GgmlType.Q5_0, [32, 22]],
  [GgmlType.Q5_1, [32, 24]],
  [GgmlType.Q8_0, [32, 34]],
  [GgmlType.Q8_1, [32, 36]],
  [GgmlType.Q2_K, [256, 84]],
  [GgmlType.Q3_K, [256, 110]],
  [GgmlType.Q4_K, [256, 144]],
  [GgmlType.Q5_K, [256, 176]],
  [GgmlType.Q6_K, [256, 210]],
  [GgmlType.Q8_K, [256, 292]],
  [GgmlType.IQ2_XXS, [256, 66]],
  [GgmlType.IQ2_XS, [256, 74]],
  [GgmlType.IQ3_XXS, [256, 98]],
  [GgmlType.IQ1_S, [256, 50]],
  [GgmlType.IQ4_NL, [32, 18]],
  [GgmlType.IQ3_S, [256, 110]],
  [GgmlType.IQ2_S, [256, 82]],
  [GgmlType.IQ4_XS, [256, 136]],
  [GgmlType.I8, [1, 1]],
  [GgmlType.I16, [1, 2]],
  [GgmlType.I32, [1, 4]],
  [GgmlType.I64, [1, 8]],
  [GgmlType.F64, [1, 8]],
  [GgmlType.IQ1_M, [256, 56]],
  [GgmlType.BF16, [1, 2]],
  [GgmlType.TQ1_0, [256, 54]],
  [GgmlType.TQ2_0, [256, 66]],
  [GgmlType.MXFP4, [32, 17]],
  [GgmlType.NVFP4, [64, 36]],
  [GgmlType.Q1_0, [128, 18]],
  [GgmlType.Q2_0, [64, 18]],
]);

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(GgmlType).map(([k, v]) => [v, k]));

/**
 * A tensor type the GGUF code cannot read or write (a GGUF holding a quantization this package does not decode,
 * a checkpoint tensor of an unsupported type). Code `GGUF_UNSUPPORTED_TYPE`.
 *
 * @example
 * ```ts
 * import { GgmlTypeError, StreamGuard } from "qwen3guard";
 *
 * try {
 *   await (await StreamGuard.load({ model: "/models/stream-backbone-q4.gguf", heads: "/models/Qwen3Guard-Stream-0.6B" })).close();
 * } catch (error) {
 *   if (error instanceof GgmlTypeError) console.error("unsupported tensor type:", error.message);
 *   else throw error;
 * }
 * ```
 */
export class GgmlTypeError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("GGUF_UNSUPPORTED_TYPE", message, options);
  }
}

export function ggmlTypeName(type: number): string {
  return NAMES.get(type) ?? `unknown type ${type}`;
}

export function isKnownGgmlType(type: number): type is GgmlType {
  return TRAITS.has(type);
}

/** Values per block and bytes per block of a type. */
export function ggmlBlockTraits(type: number): { blockSize: number; blockBytes: number } {
  const t = TRAITS.get(type);
  if (!t) throw new GgmlTypeError(`unknown ggml tensor type ${type}`);
  return { blockSize: t[0], blockBytes: t[1] };
}

/** Bytes a tensor of this type and shape (ne, innermost first) occupies; ne[0] must be a whole number of blocks. */
export function ggmlTensorByteLength(type: number, ne: readonly number[]): number {
  const { blockSize, blockBytes } = ggmlBlockTraits(type);
  const ne0 = ne[0] ?? 1;
  if (ne0 % blockSize !== 0) {
    throw new GgmlTypeError(`${ggmlTypeName(type)} needs ne[0] to be a multiple of ${blockSize}, got ${ne0}`);
  }
  const rows = ne.slice(1).reduce((a, b) => a * b, 1);
  return (ne0 / blockSize) * blockBytes * rows;
}

/** llama_ftype values written as `general.file_type` (llama.h). */
export const LlamaFileType = { ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q8_0: 7 } as const;

/**
 * The numeric building blocks of the float32 reference forward pass, written for clarity: tight loops over
 * Float32Array, sums accumulated in float64 (JS numbers), results stored as float32.
 * Matrices are row-major in Hugging Face layout: a linear weight is [out_features, in_features].
 */

/** RMSNorm: x / sqrt(mean(x²) + eps) * weight, over `length` values of `x` starting at `offset`. */
export function rmsNorm(
  x: Float32Array,
  weight: Float32Array,
  eps: number,
  out: Float32Array = new Float32Array(weight.length),
  offset = 0,
  outOffset = 0,
): Float32Array {
  const n = weight.length;
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const v = x[offset + i]!;
    sumSquares += v * v;
  }
  const scale = 1 / Math.sqrt(sumSquares / n + eps);
  for (let i = 0; i < n; i++) out[outOffset + i] = x[offset + i]! * scale * weight[i]!;
  return out;
}

/** y = W·x for W of shape [rows, cols] (row-major). */
export function matVec(
  w: Float32Array,
  rows: number,
  cols: number,
  x: Float32Array,
  out: Float32Array = new Float32Array(rows),
): Float32Array {
  if (w.length !== rows * cols)
    throw new RangeError(`matVec: weight has ${w.length} values, expected ${rows}×${cols}`);
  if (x.length < cols) throw new RangeError(`matVec: input has ${x.length} values, expected ${cols}`);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += w[base + c]! * x[c]!;
    out[r] = sum;
  }
  return out;
}

/** The rotary inverse frequencies theta^(-2i/headDim), i = 0 … headDim/2 − 1. */
export function ropeInverseFrequencies(headDim: number, theta: number): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(theta, (-2 * i) / headDim);
  return inv;
}

/**
 * NEOX-style rotary embedding ("rotate half"), in place on one head of `headDim` values at `offset`:
 * the pairs are (i, i + headDim/2), rotated by the angle position · invFreq[i].
 */
export function applyRope(
  v: Float32Array,
  offset: number,
  headDim: number,
  position: number,
  invFreq: Float64Array,
): void {
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * invFreq[i]!;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const a = v[offset + i]!;
    const b = v[offset + i + half]!;
    v[offset + i] = a * cos - b * sin;
    v[offset + i + half] = b * cos + a * sin;
  }
}

/** Numerically stable softmax. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < logits.length; i++) out[i] = out[i]! / sum;
  return out;
}

/** SiLU (swish): x · sigmoid(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** Index of the largest value (first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

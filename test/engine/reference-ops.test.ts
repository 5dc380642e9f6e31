import { test } from "node:test";
import assert from "node:assert/strict";
import {
  applyRope,
  argmax,
  matVec,
  rmsNorm,
  ropeInverseFrequencies,
  silu,
  softmax,
} from "../../src/engine/reference/ops.js";

function close(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
  }
}

test("RMSNorm of a known vector: x / sqrt(mean(x²) + eps) * w", () => {
  // mean(x²) = (1 + 4 + 9 + 16) / 4 = 7.5
  const out = rmsNorm(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 1, 2, 0.5), 0);
  const r = Math.sqrt(7.5);
  close(out, [1 / r, 2 / r, (3 / r) * 2, (4 / r) * 0.5]);
  // eps sits inside the square root: 1e-3 / sqrt(1e-6 + 1e-6)
  close(rmsNorm(Float32Array.of(1e-3), Float32Array.of(1), 1e-6), [1e-3 / Math.sqrt(2e-6)]);
  // a slice (one attention head) normalised in place
  const v = Float32Array.of(9, 9, 3, 4, 9);
  rmsNorm(v, Float32Array.of(1, 1), 0, v, 2, 2);
  close(v, [9, 9, 3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5), 9]);
});

test("matVec multiplies a row-major [out, in] matrix", () => {
  const w = Float32Array.of(1, 2, 3, 4, 5, 6); // [[1,2,3],[4,5,6]]
  close(matVec(w, 2, 3, Float32Array.of(1, 0, -1)), [-2, -2]);
  assert.throws(() => matVec(w, 3, 3, Float32Array.of(1, 2, 3)), RangeError);
});

test("RoPE at position 0 is the identity", () => {
  const v = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  applyRope(v, 0, 8, 0, ropeInverseFrequencies(8, 1e6));
  close(v, [1, 2, 3, 4, 5, 6, 7, 8], 0);
});

test("RoPE at position p rotates the pairs (i, i + d/2) by p·theta^(-2i/d) (NEOX)", () => {
  const theta = 10000;
  const inv = ropeInverseFrequencies(4, theta);
  close(inv, [1, 0.01], 1e-12); // theta^0, theta^(-2/4)
  const p = 3;
  const v = Float32Array.of(0, 0, 1, 2, 3, 4); // one head of 4 at offset 2
  applyRope(v, 2, 4, p, inv);
  const [c0, s0, c1, s1] = [Math.cos(3), Math.sin(3), Math.cos(0.03), Math.sin(0.03)];
  close(v, [0, 0, 1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1], 1e-6);
});

test("RoPE keeps norms and makes q·k depend only on the relative position", () => {
  const inv = ropeInverseFrequencies(8, 1e6);
  const q0 = Float32Array.of(0.3, -1, 2, 0.5, 1, 1, -0.7, 0.2);
  const k0 = Float32Array.of(1, 0.4, -0.3, 2, 0.1, -1, 0.9, 0.6);
  const dotAt = (m: number, n: number) => {
    const q = Float32Array.from(q0);
    const k = Float32Array.from(k0);
    applyRope(q, 0, 8, m, inv);
    applyRope(k, 0, 8, n, inv);
    return q.reduce((s, x, i) => s + x * k[i]!, 0);
  };
  assert.ok(Math.abs(dotAt(5, 2) - dotAt(103, 100)) < 1e-4);
  assert.ok(Math.abs(dotAt(5, 2) - dotAt(5, 3)) > 1e-3);
  const q = Float32Array.from(q0);
  applyRope(q, 0, 8, 77, inv);
  const norm = (a: Float32Array) => Math.hypot(...a);
  assert.ok(Math.abs(norm(q) - norm(q0)) < 1e-5);
});

test("softmax, silu and argmax", () => {
  const p = softmax([1, 2, 3]);
  const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
  close(p, [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z]);
  close(softmax([1000, 1000]), [0.5, 0.5]);
  assert.equal(silu(0), 0);
  assert.ok(Math.abs(silu(2) - 2 / (1 + Math.exp(-2))) < 1e-12);
  assert.equal(argmax([0.1, 3, 3, -1]), 1);
});

/**
 * A small, fast, seeded pseudo-random generator for synthetic weights: a counter passed through a 32-bit
 * integer mix (murmur3's finalizer), normals by Box–Muller. Deterministic across platforms (integer maths
 * plus Math.log/sqrt/cos on float64). Not for anything security-related.
 */

/** murmur3 fmix32: a bijective avalanche of a 32-bit integer. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a hash of a string, 32 bits. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A seed for one named stream (e.g. one tensor) under a global seed, so tensors do not depend on write order. */
export function streamSeed(seed: number, name: string): number {
  return mix32((hashString(name) ^ mix32(seed >>> 0)) >>> 0);
}

const TWO_PI = 2 * Math.PI;
const INV_2_32 = 1 / 4294967296;

export class SeededRandom {
  private counter: number;

  constructor(seed: number) {
    this.counter = mix32(seed >>> 0);
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.counter = (this.counter + 0x9e3779b9) >>> 0;
    return mix32(this.counter);
  }

  /** Uniform in the open interval (0, 1). */
  nextUniform(): number {
    return (this.nextUint32() + 0.5) * INV_2_32;
  }

  /** Fill `out` with mean + std · N(0, 1) samples (two per Box–Muller draw). */
  fillNormal(out: Float32Array, std = 1, mean = 0): Float32Array {
    const n = out.length;
    let i = 0;
    let c = this.counter;
    for (; i + 1 < n; i += 2) {
      c = (c + 0x9e3779b9) >>> 0;
      const u1 = (mix32(c) + 0.5) * INV_2_32;
      c = (c + 0x9e3779b9) >>> 0;
      const u2 = (mix32(c) + 0.5) * INV_2_32;
      const r = Math.sqrt(-2 * Math.log(u1)) * std;
      const a = TWO_PI * u2;
      out[i] = mean + r * Math.cos(a);
      out[i + 1] = mean + r * Math.sin(a);
    }
    this.counter = c;
    if (i < n) {
      const u1 = this.nextUniform();
      const u2 = this.nextUniform();
      out[i] = mean + Math.sqrt(-2 * Math.log(u1)) * std * Math.cos(TWO_PI * u2);
    }
    return out;
  }
}

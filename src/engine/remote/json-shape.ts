/**
 * Small readers of untyped JSON answers: each names the field that does not have the documented shape, so a
 * version of an engine we do not speak fails with a RemoteProtocolError that says what is wrong.
 */
import { RemoteProtocolError } from "./remote-errors.js";

export type JsonObject = Record<string, unknown>;

export class ShapeReader {
  constructor(
    private readonly backend: string,
    private readonly what: string,
  ) {}

  fail(path: string, expected: string, got?: unknown): never {
    const shown = got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 80);
    throw new RemoteProtocolError(this.backend, `${this.what}: ${path}: expected ${expected}, got ${shown}`);
  }

  object(value: unknown, path: string): JsonObject {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      this.fail(path, "an object", value);
    return value as JsonObject;
  }

  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, "an array", value);
    return value;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== "string") this.fail(path, "a string", value);
    return value;
  }

  number(value: unknown, path: string): number {
    if (typeof value !== "number" || Number.isNaN(value)) this.fail(path, "a number", value);
    return value;
  }

  int(value: unknown, path: string): number {
    if (typeof value !== "number" || !Number.isInteger(value)) this.fail(path, "an integer", value);
    return value;
  }

  /** A list of token ids, or undefined when absent/null. */
  optionalIds(value: unknown, path: string): number[] | undefined {
    if (value === undefined || value === null) return undefined;
    return this.array(value, path).map((v, i) => this.int(v, `${path}[${i}]`));
  }

  /** A list of numbers (a hidden state). */
  floats(value: unknown, path: string): Float32Array {
    const list = this.array(value, path);
    const out = new Float32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (typeof v !== "number") this.fail(`${path}[${i}]`, "a number", v);
      out[i] = v;
    }
    return out;
  }
}

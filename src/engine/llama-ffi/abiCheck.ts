/**
 * Load-time ABI fingerprint: does the loaded libllama match the header description the binding was generated
 * from? Checked: llama_version(), koffi's struct layouts against the C compiler's, and every field of
 * llama_model_default_params() / llama_context_default_params() against the bundled source's initializers
 * (an inserted or reordered field shifts these values). Any difference means the binding must not be used.
 */
import { layoutMismatches, type LlamaNative, type ParamsStruct } from "./llamaAbi.js";
import { LLAMA_HEADER } from "./llamaHeader.generated.js";

type DefaultValue = number | boolean | string | null;

/** What the loaded library must look like. Tests inject a different one to exercise the refusal path. */
export interface AbiExpectation {
  llamaVersion: string;
  structSizes: Record<string, number>;
  defaults: Record<"llama_model_params" | "llama_context_params", Record<string, DefaultValue>>;
}

export const EXPECTED_ABI: AbiExpectation = {
  llamaVersion: LLAMA_HEADER.llamaVersion,
  structSizes: Object.fromEntries(Object.entries(LLAMA_HEADER.structs).map(([k, s]) => [k, s.size])),
  defaults: LLAMA_HEADER.defaults,
};

function sameValue(expected: DefaultValue, actual: unknown): boolean {
  if (expected === null) return actual === null || actual === 0n || actual === 0;
  if (expected === "non-null") return actual !== null && actual !== 0n && actual !== undefined;
  if (typeof expected === "boolean") return actual === expected;
  if (typeof actual !== "number" || typeof expected !== "number") return false;
  if (Number.isInteger(expected)) return actual === expected;
  return Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected));
}

function compareDefaults(
  name: string,
  expected: Record<string, DefaultValue>,
  actual: ParamsStruct,
): string[] {
  const problems: string[] = [];
  for (const [field, value] of Object.entries(expected)) {
    if (!(field in actual)) problems.push(`${name}.${field} is missing`);
    else if (!sameValue(value, actual[field])) {
      problems.push(`${name}.${field} defaults to ${String(actual[field])}, expected ${String(value)}`);
    }
  }
  return problems;
}

/** Every difference between the loaded library and the expectation (empty: the ABI matches). */
export function abiMismatches(
  native: LlamaNative,
  sizes: Record<string, number>,
  expected: AbiExpectation = EXPECTED_ABI,
): string[] {
  const problems: string[] = [];
  const version = native.llama_version();
  if (version !== expected.llamaVersion)
    problems.push(`llama_version() is "${version}", expected "${expected.llamaVersion}"`);
  for (const [name, size] of Object.entries(expected.structSizes)) {
    if (sizes[name] !== size) problems.push(`sizeof(${name}) is ${sizes[name]}, expected ${size}`);
  }
  problems.push(...layoutMismatches());
  // Only read the defaults when the sizes agree: a struct returned by value with a wrong size is undefined behaviour.
  if (problems.length === 0) {
    problems.push(
      ...compareDefaults(
        "llama_model_params",
        expected.defaults.llama_model_params,
        native.llama_model_default_params(),
      ),
    );
    problems.push(
      ...compareDefaults(
        "llama_context_params",
        expected.defaults.llama_context_params,
        native.llama_context_default_params(),
      ),
    );
  }
  return problems;
}

/**
 * The documented way behind the guards' public API, for this repository's tests and benchmarks only: the engine
 * (to time it or inject faults), the tokenizer, the decode coalescer, the model files, a session's sequence.
 * The package entry does not export this module (package.json `exports` names only "." and "./core"), so nothing
 * here is part of the stable API; prefer the public API (`info`, `stats`, `tokenize`, `promptIds`) in tests.
 */
export { genGuardInternals, type GenGuardInternals } from "./gen-guard.js";
export { streamGuardInternals, type StreamGuardInternals } from "./stream-guard.js";
export { streamSessionInternals, type StreamSessionInternals } from "./stream-session.js";

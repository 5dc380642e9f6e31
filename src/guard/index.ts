/**
 * The qwen3guard library: Gen moderation (GenGuard), Stream moderation (StreamGuard), policies, and the pure
 * core types they return.
 */
export * from "../core/index.js";
export { GenGuard, type GenGuardOptions, type GenMode, type ModerateOptions } from "./gen-guard.js";
export * from "./policy/index.js";
export { ContextOverflowError } from "../engine/gen/gen-engine.js";
export { GenOutputParseError } from "../core/parse/gen-output.js";

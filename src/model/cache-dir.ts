/**
 * Where qwen3guard keeps derived files (converted GGUF models and the like): `$QWEN3GUARD_CACHE` when set,
 * otherwise `~/.cache/qwen3guard`. Callers create the sub-folders they need.
 */
import os from "node:os";
import path from "node:path";

export const CACHE_ENV_VAR = "QWEN3GUARD_CACHE";

/** The cache root: an explicit folder if given, else `$QWEN3GUARD_CACHE`, else `~/.cache/qwen3guard`. */
export function resolveCacheDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  const fromEnv = env[CACHE_ENV_VAR];
  if (fromEnv) return path.resolve(fromEnv);
  return path.join(os.homedir(), ".cache", "qwen3guard");
}

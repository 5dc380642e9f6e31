/**
 * Where the hub client talks to and stores things: explicit options first, then the environment variables the
 * Hugging Face tools use (HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE), then defaults.
 */
import { resolveCacheDir } from "../cache-dir.js";
import { HubError } from "./errors.js";

export const DEFAULT_ENDPOINT = "https://huggingface.co";

export interface HubConnectionOptions {
  /** Cache root; `<cacheDir>/hub/…` holds pulled models. Default: $QWEN3GUARD_CACHE or ~/.cache/qwen3guard. */
  cacheDir?: string;
  /** Access token for gated/private repositories. Default: $HF_TOKEN. */
  token?: string;
  /** Hub URL or mirror. Default: $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Never touch the network (only the cache). Default: $HF_HUB_OFFLINE set to 1/true/yes. */
  offline?: boolean;
  /** Environment to read instead of process.env (tests). */
  env?: NodeJS.ProcessEnv;
}

export interface HubSettings {
  cacheDir: string;
  token: string | undefined;
  endpoint: string;
  offline: boolean;
}

export function resolveHubSettings(opts: HubConnectionOptions = {}): HubSettings {
  const env = opts.env ?? process.env;
  const endpoint = (opts.endpoint ?? nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/.test(endpoint)) {
    throw new HubError(
      "bad-endpoint",
      `hub endpoint "${endpoint}" is not an http(s) URL (check --endpoint or HF_ENDPOINT)`,
    );
  }
  return {
    cacheDir: resolveCacheDir(opts.cacheDir, env),
    token: nonEmpty(opts.token) ?? nonEmpty(env.HF_TOKEN),
    endpoint,
    offline: opts.offline ?? /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? ""),
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s && s.trim() !== "" ? s.trim() : undefined;
}

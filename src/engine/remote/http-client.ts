/**
 * JSON over HTTP to one engine server, with a deadline and typed failures: a network failure or a 408/429/5xx is
 * retryable (`RemoteEngineError.retryable`), a timeout is `RemoteTimeoutError`, an abort by the caller is re-thrown
 * as is (never retried).
 */
import { RemoteEngineError, RemoteProtocolError, RemoteTimeoutError } from "./remote-errors.js";
import type { ResolvedRemoteBackend } from "./remote-options.js";

/** Statuses worth another attempt: the request timed out, the server is overloaded or restarting. */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export interface HttpCallOptions {
  /** The caller's signal (a client that went away). */
  signal?: AbortSignal | undefined;
  /** Deadline of this attempt. */
  timeoutMs: number;
}

function headersFor(backend: ResolvedRemoteBackend, json: boolean): Record<string, string> {
  return {
    accept: "application/json",
    ...(json ? { "content-type": "application/json" } : {}),
    ...(backend.apiKey ? { authorization: `Bearer ${backend.apiKey}` } : {}),
  };
}

/** The error message an engine put in its error body (vLLM, SGLang, llama-server, Ollama, qwen3guard shapes). */
export function errorMessageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === "object" && parsed !== null) {
      const o = parsed as Record<string, unknown>;
      const inner = o.error;
      if (typeof inner === "string") return inner;
      if (typeof inner === "object" && inner !== null) {
        const m = (inner as Record<string, unknown>).message;
        if (typeof m === "string") return m;
      }
      if (typeof o.message === "string") return o.message;
      if (typeof o.detail === "string") return o.detail;
    }
  } catch {
    // not JSON
  }
  return body.slice(0, 300);
}

async function call(
  backend: ResolvedRemoteBackend,
  method: "GET" | "POST",
  path: string,
  body: unknown,
  options: HttpCallOptions,
): Promise<unknown> {
  if (options.signal?.aborted) throw options.signal.reason;
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const url = `${backend.url}${path}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method,
      headers: headersFor(backend, body !== undefined),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
    });
    text = await response.text();
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (timeout.aborted) throw new RemoteTimeoutError(backend.name, options.timeoutMs);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new RemoteEngineError(
      backend.name,
      `${backend.name}: ${method} ${path} failed: ${why}`,
      true,
      undefined,
      { cause: error },
    );
  }
  if (!response.ok) {
    throw new RemoteEngineError(
      backend.name,
      `${backend.name}: ${method} ${path} answered ${response.status}: ${errorMessageOf(text)}`,
      RETRYABLE_STATUS.has(response.status),
      response.status,
    );
  }
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RemoteProtocolError(
      backend.name,
      `${method} ${path} answered ${response.status} with a body that is not JSON`,
    );
  }
}

/** POST a JSON body, return the parsed JSON answer. */
export function postJson(
  backend: ResolvedRemoteBackend,
  path: string,
  body: unknown,
  options: HttpCallOptions,
): Promise<unknown> {
  return call(backend, "POST", path, body, options);
}

/** GET, return the parsed JSON answer (undefined for an empty body). */
export function getJson(
  backend: ResolvedRemoteBackend,
  path: string,
  options: HttpCallOptions,
): Promise<unknown> {
  return call(backend, "GET", path, undefined, options);
}

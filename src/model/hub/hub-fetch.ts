/**
 * The `fetch` handed to @huggingface/hub: the global fetch plus a deadline for the response headers, so an
 * unreachable or black-holed endpoint fails in seconds instead of hanging, and a translation of low-level
 * network failures into HubUnreachableError / HubHttpError with messages that say what to do.
 */
import { HubError, HubHttpError, HubUnreachableError } from "./errors.js";

type HubClient = typeof import("@huggingface/hub");

let client: Promise<HubClient> | undefined;
let loadedClient: HubClient | undefined;

/**
 * @huggingface/hub, imported on first use: only a pull from the hub needs it, and importing it costs ~8 MiB of
 * resident memory (5 MiB of it buffers) that a guard on a local model would carry for nothing.
 */
export function hubClient(): Promise<HubClient> {
  client ??= import("@huggingface/hub").then((m) => (loadedClient = m));
  return client;
}

export interface HubFetchOptions {
  /** Deadline in ms from sending a request to receiving its response headers. */
  headersTimeoutMs: number;
  /** Called once per request (tests count them; callers may log them). */
  onRequest?: (url: string, init: RequestInit | undefined) => void;
}

/** A fetch that aborts when the response headers do not arrive within the deadline. The body is not limited. */
export function createHubFetch(options: HubFetchOptions): typeof fetch {
  const hubFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    options.onRequest?.(url, init);
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DeadlineError(`no response within ${options.headersTimeoutMs} ms`)),
      options.headersTimeoutMs,
    );
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    try {
      return await fetch(input, { ...init, signal });
    } finally {
      clearTimeout(timer);
    }
  };
  return hubFetch as typeof fetch;
}

class DeadlineError extends Error {
  override readonly name = "DeadlineError";
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
]);

/** A short reason ("ECONNREFUSED", "no response within 5000 ms") when `error` is a network failure, else null. */
export function networkFailureReason(error: unknown): string | null {
  for (let e: unknown = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DeadlineError) return e.message;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError"))
      return e.message || e.name;
    if (e instanceof AggregateError && e.errors.length > 0) {
      const inner = networkFailureReason(e.errors[0]);
      if (inner) return inner;
    }
  }
  if (error instanceof TypeError && /fetch failed|terminated/.test(error.message)) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message ? `${error.message}: ${cause.message}` : error.message;
  }
  return null;
}

/** Map what @huggingface/hub or fetch threw into our typed errors; leaves HubErrors and unknown errors alone. */
export function toHubError(error: unknown, endpoint: string, what: string): unknown {
  if (error instanceof HubError) return error;
  // only @huggingface/hub throws HubApiError: none can exist before it is imported
  if (loadedClient && error instanceof loadedClient.HubApiError) {
    return new HubHttpError(error.statusCode, error.url, httpMessage(error.statusCode, what, error.message), {
      cause: error,
    });
  }
  const reason = networkFailureReason(error);
  if (reason) return new HubUnreachableError(endpoint, reason, { cause: error });
  return error;
}

function httpMessage(status: number, what: string, detail: string): string {
  const base = `${what}: the hub answered HTTP ${status} (${detail})`;
  if (status === 401 || status === 403) {
    return `${base}. The repository may be gated or private: accept its terms on the hub and set HF_TOKEN (or --token) to an access token`;
  }
  if (status === 404) return `${base}. Check the model name and revision`;
  return base;
}

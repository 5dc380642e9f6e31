/**
 * The page's only way to the server: the /v1 API with the user's key (a bearer token; on the WebSocket, the
 * `qwen3guard.bearer.<base64url>` subprotocol, since a browser cannot set its headers). Every failure is a
 * PlaygroundError with a stable code: the server's (docs/errors.md, "HTTP server") or the page's own
 * (PAGE_ERROR_CODES, docs/errors.md, "The playground page").
 */

const KEY_STORAGE = "qwen3guard.apiKey";

/** The page's own error codes, listed in docs/errors.md ("The playground page"); they never change. */
export const PAGE_ERROR_CODES = [
  "NETWORK_ERROR",
  "BAD_RESPONSE",
  "WEBSOCKET_FAILED",
  "WEBSOCKET_CLOSED",
  "UPSTREAM_STREAM_ERROR",
  "CONVERSATION_INCOMPLETE",
  "ANSWER_MISSING",
  "UPSTREAM_MODEL_MISSING",
  "PAGE_ERROR",
] as const;

export type PageErrorCode = (typeof PAGE_ERROR_CODES)[number];

/** A code the server answered with (an HTTP error body, a WebSocket error frame), as received. */
type ServerErrorCode = string & { readonly fromServer: unique symbol };

/** A failure the page shows, as `CODE: message`: a code of the page's own, or the server's. */
export class PlaygroundError extends Error {
  constructor(
    readonly code: PageErrorCode | ServerErrorCode,
    message: string,
    readonly status?: number,
    readonly param?: string | null,
  ) {
    super(message);
    this.name = "PlaygroundError";
  }

  /** An error the server answered with: its code (docs/errors.md, "HTTP server") and message. */
  static fromServer(code: string, message: string, status?: number, param?: string | null): PlaygroundError {
    return new PlaygroundError(code as ServerErrorCode, message, status, param);
  }
}

/** `CODE: message`, what the page shows for an error (PAGE_ERROR: a failure of the page's own code). */
export function describeError(error: unknown): string {
  if (error instanceof PlaygroundError) return `${error.code}: ${error.message}`;
  return `PAGE_ERROR: ${error instanceof Error ? error.message : String(error)}`;
}

function base64url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function errorOf(response: Response): Promise<PlaygroundError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return new PlaygroundError(
      "BAD_RESPONSE",
      `HTTP ${response.status} without an error body`,
      response.status,
    );
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; param?: unknown } }).error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return PlaygroundError.fromServer(
      error.code,
      error.message,
      response.status,
      typeof error.param === "string" ? error.param : null,
    );
  }
  return new PlaygroundError("BAD_RESPONSE", `HTTP ${response.status}`, response.status);
}

export class Api {
  #key: string | undefined;

  constructor() {
    this.#key = sessionStorage.getItem(KEY_STORAGE) ?? undefined;
  }

  get hasKey(): boolean {
    return this.#key !== undefined;
  }

  setKey(key: string | undefined): void {
    this.#key = key;
    if (key === undefined) sessionStorage.removeItem(KEY_STORAGE);
    else sessionStorage.setItem(KEY_STORAGE, key);
  }

  #headers(json: boolean): Record<string, string> {
    return {
      ...(json ? { "content-type": "application/json" } : {}),
      ...(this.#key === undefined ? {} : { authorization: `Bearer ${this.#key}` }),
    };
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new PlaygroundError("NETWORK_ERROR", `the server cannot be reached (${String(error)})`);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async get<T>(path: string): Promise<T> {
    const response = await this.#fetch(path, { headers: this.#headers(false) });
    return (await response.json()) as T;
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.#fetch(path, {
      method: "POST",
      headers: this.#headers(true),
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
    return (await response.json()) as T;
  }

  /** A streaming POST (the proxy's server-sent events): the response, its body unread. */
  async postStream(path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    return this.#fetch(path, {
      method: "POST",
      headers: this.#headers(true),
      body: JSON.stringify(body),
      signal,
    });
  }

  /** A WebSocket to the server, the key as a subprotocol. */
  websocket(path: string): WebSocket {
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const protocols =
      this.#key === undefined ? [] : ["qwen3guard", `qwen3guard.bearer.${base64url(this.#key)}`];
    return new WebSocket(url, protocols);
  }
}

/** The data lines of a server-sent event stream, as they arrive. */
export async function* sseData(response: Response, signal: AbortSignal): AsyncGenerator<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      if (signal.aborted) return;
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, cut).replace(/\r$/, "");
        buffer = buffer.slice(cut + 1);
        if (line.startsWith("data:")) yield line.slice(5).trimStart();
      }
    }
  } finally {
    reader.releaseLock();
  }
}

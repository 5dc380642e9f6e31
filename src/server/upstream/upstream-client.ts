/**
 * The upstream LLM the proxy moderates: any OpenAI-compatible `POST {url}/chat/completions` (OpenAI, vLLM, SGLang,
 * llama-server, Ollama, LiteLLM...), called with fetch; streamed answers are read as server-sent events with
 * eventsource-parser.
 *
 * Timeouts (`upstream.timeoutMs`): until the response headers (non-streaming: until the whole body), and the longest
 * silence between two reads of a stream. Aborting (the caller's signal, or leaving the iteration early) closes the
 * connection at once, so the upstream stops generating.
 *
 * Errors are HttpErrors the proxy sends on as they are: the upstream's HTTP errors keep their status class and
 * OpenAI body; an unreachable upstream is 502, a silent one 504.
 */
import { createParser } from "eventsource-parser";
import { HttpError, type OpenAiErrorType } from "../http-errors.js";
import type { UpstreamSettings } from "../runtime.js";

/** A parsed streaming chunk (`chat.completion.chunk`), as the upstream sent it. */
export type UpstreamChunk = Record<string, unknown>;

export interface UpstreamCallOptions {
  /** Aborts the call (and closes the connection). */
  signal: AbortSignal;
  /** Passed on as `x-request-id`. */
  requestId?: string;
}

/** Most bytes of an upstream error body (or non-streaming answer) read. */
const MAX_BODY_BYTES = 16 << 20;

function headers(settings: UpstreamSettings, accept: string, requestId: string | undefined) {
  return {
    "content-type": "application/json",
    accept,
    ...(settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {}),
    ...(requestId ? { "x-request-id": requestId } : {}),
  };
}

class Timeout extends Error {}

/** A controller aborted by the caller's signal or by a timer that can be re-armed. */
function timedController(signal: AbortSignal, ms: number) {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener("abort", onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const arm = (what: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Timeout(what)), ms);
  };
  const done = () => {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  };
  return { controller, arm, done };
}

function timeoutError(settings: UpstreamSettings, what: string): HttpError {
  return new HttpError(
    504,
    "UPSTREAM_TIMEOUT",
    `the upstream ${settings.url} ${what} within ${settings.timeoutMs} ms (upstream.timeoutMs)`,
    { type: "upstream_error" },
  );
}

/** Turn a failed fetch or read into the error the client gets (the caller's own abort is rethrown as is). */
function failure(
  settings: UpstreamSettings,
  error: unknown,
  controller: AbortController,
  caller: AbortSignal,
) {
  if (caller.aborted) return caller.reason;
  if (controller.signal.reason instanceof Timeout)
    return timeoutError(settings, controller.signal.reason.message);
  if (error instanceof HttpError) return error;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error).message;
  return new HttpError(502, "UPSTREAM_UNREACHABLE", `cannot reach the upstream ${settings.url}: ${detail}`, {
    type: "upstream_error",
    cause: error,
  });
}

/**
 * The error a client gets for an upstream HTTP error: the same status (a 5xx, or a 401/403 about the proxy's own
 * upstream key, becomes 502) and the upstream's OpenAI error body, its message prefixed with "upstream: ".
 */
export function upstreamHttpError(status: number, text: string, retryAfter?: string | null): HttpError {
  let error: { message?: unknown; type?: unknown; param?: unknown; code?: unknown } | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (parsed && typeof parsed.error === "object" && parsed.error !== null) error = parsed.error as never;
    else if (parsed && typeof parsed.error === "string") error = { message: parsed.error };
  } catch {
    // not JSON: use the text
  }
  const message =
    typeof error?.message === "string" && error.message.length > 0
      ? error.message
      : text.trim().slice(0, 500) || `HTTP ${status}`;
  const keyProblem = status === 401 || status === 403;
  const clientStatus = status >= 500 || keyProblem || status < 400 ? 502 : status;
  const code = keyProblem
    ? "UPSTREAM_AUTH_FAILED"
    : typeof error?.code === "string" && error.code.length > 0
      ? error.code
      : "UPSTREAM_HTTP_ERROR";
  const retry = retryAfter ? Number(retryAfter) : NaN;
  return new HttpError(
    clientStatus,
    code,
    keyProblem
      ? `upstream: the upstream refused the proxy's API key (HTTP ${status}: ${message}); check upstream.apiKey`
      : `upstream: ${message}`,
    {
      type:
        clientStatus >= 500
          ? "upstream_error"
          : ((error?.type as OpenAiErrorType | undefined) ?? "invalid_request_error"),
      param: typeof error?.param === "string" ? error.param : null,
      ...(Number.isFinite(retry) && retry >= 0 ? { retryAfterSeconds: retry } : {}),
    },
  );
}

async function readText(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new HttpError(
        502,
        "UPSTREAM_BAD_RESPONSE",
        `the upstream's answer is over ${MAX_BODY_BYTES} bytes`,
        {
          type: "upstream_error",
        },
      );
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/** `POST /chat/completions` without streaming: the upstream's JSON answer. */
export async function completeChat(
  settings: UpstreamSettings,
  body: unknown,
  options: UpstreamCallOptions,
): Promise<Record<string, unknown>> {
  const { controller, arm, done } = timedController(options.signal, settings.timeoutMs);
  arm("did not answer");
  try {
    const response = await fetch(`${settings.url}/chat/completions`, {
      method: "POST",
      headers: headers(settings, "application/json", options.requestId),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const text = await readText(response);
    if (!response.ok) throw upstreamHttpError(response.status, text, response.headers.get("retry-after"));
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        throw new Error("not an object");
      return parsed as Record<string, unknown>;
    } catch (error) {
      throw new HttpError(
        502,
        "UPSTREAM_BAD_RESPONSE",
        `the upstream's answer is not a JSON object: ${(error as Error).message}`,
        { type: "upstream_error" },
      );
    }
  } catch (error) {
    throw failure(settings, error, controller, options.signal);
  } finally {
    done();
  }
}

/**
 * `POST /chat/completions` with `stream: true`: resolves once the upstream answered 200 with an event stream, with
 * the chunks as they arrive (`[DONE]` ends them). Leaving the iteration early closes the connection.
 */
export async function streamChat(
  settings: UpstreamSettings,
  body: unknown,
  options: UpstreamCallOptions,
): Promise<AsyncGenerator<UpstreamChunk, void, undefined>> {
  const { controller, arm, done } = timedController(options.signal, settings.timeoutMs);
  arm("did not answer");
  let response: Response;
  try {
    response = await fetch(`${settings.url}/chat/completions`, {
      method: "POST",
      headers: headers(settings, "text/event-stream", options.requestId),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) {
      const text = await readText(response);
      throw upstreamHttpError(response.status, text, response.headers.get("retry-after"));
    }
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("text/event-stream")) {
      await response.body?.cancel();
      throw new HttpError(
        502,
        "UPSTREAM_BAD_RESPONSE",
        `the upstream answered a streaming request with ${type || "no content type"}, not text/event-stream`,
        { type: "upstream_error" },
      );
    }
  } catch (error) {
    done();
    controller.abort();
    throw failure(settings, error, controller, options.signal);
  }
  return events(settings, response, controller, arm, done, options.signal);
}

async function* events(
  settings: UpstreamSettings,
  response: Response,
  controller: AbortController,
  arm: (what: string) => void,
  done: () => void,
  caller: AbortSignal,
): AsyncGenerator<UpstreamChunk, void, undefined> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const pending: string[] = [];
  let parseError: Error | undefined;
  const parser = createParser({
    onEvent: (event) => pending.push(event.data),
    onError: (error) => (parseError ??= error),
    maxBufferSize: MAX_BODY_BYTES,
  });
  let finished = false;
  try {
    for (;;) {
      while (pending.length > 0) {
        const data = pending.shift()!;
        if (data.trim() === "[DONE]") {
          finished = true;
          return;
        }
        let chunk: unknown;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw new HttpError(
            502,
            "UPSTREAM_BAD_RESPONSE",
            `the upstream sent an event that is not JSON: ${data.slice(0, 200)}`,
            {
              type: "upstream_error",
            },
          );
        }
        if (chunk === null || typeof chunk !== "object" || Array.isArray(chunk)) {
          throw new HttpError(
            502,
            "UPSTREAM_BAD_RESPONSE",
            "the upstream sent an event that is not a JSON object",
            {
              type: "upstream_error",
            },
          );
        }
        const error = (chunk as { error?: unknown }).error;
        if (error !== undefined && error !== null) {
          const e = (typeof error === "object" ? error : { message: String(error) }) as Record<
            string,
            unknown
          >;
          throw new HttpError(
            502,
            typeof e.code === "string" && e.code.length > 0 ? e.code : "UPSTREAM_ERROR",
            `upstream: ${typeof e.message === "string" ? e.message : "the upstream reported an error mid-stream"}`,
            { type: "upstream_error", param: typeof e.param === "string" ? e.param : null },
          );
        }
        yield chunk as UpstreamChunk;
      }
      if (parseError) {
        throw new HttpError(
          502,
          "UPSTREAM_BAD_RESPONSE",
          `the upstream's event stream is malformed: ${parseError.message}`,
          {
            type: "upstream_error",
          },
        );
      }
      arm("went silent mid-stream (nothing received)");
      let read: Awaited<ReturnType<typeof reader.read>>;
      try {
        read = await reader.read();
      } catch (error) {
        throw failure(settings, error, controller, caller);
      }
      if (read.done) {
        parser.feed(decoder.decode() + "\n\n");
        if (pending.length === 0) {
          finished = true;
          return; // ended without [DONE]: accepted
        }
        continue;
      }
      parser.feed(decoder.decode(read.value, { stream: true }));
    }
  } finally {
    done();
    if (!finished) {
      // leaving early: close the connection so the upstream stops generating
      controller.abort(new Error("the proxy stopped reading the upstream stream"));
      await reader.cancel().catch(() => undefined);
    }
  }
}

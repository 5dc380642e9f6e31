/**
 * Errors on the wire: every failure a client sees has an HTTP status and an OpenAI-style body
 * `{"error": {"message", "type", "param", "code"}}`, whatever raised it. The process never crashes on a request.
 */
import { Qwen3GuardError } from "../core/errors.js";

/** OpenAI's error types, which clients branch on. */
export type OpenAiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error"
  | "upstream_error";

/** An error with the HTTP status and the body a client gets. */
export class HttpError extends Qwen3GuardError {
  constructor(
    readonly statusCode: number,
    code: string,
    message: string,
    readonly details: {
      type?: OpenAiErrorType;
      param?: string | null;
      retryAfterSeconds?: number;
      cause?: unknown;
    } = {},
  ) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
  }
}

/** The body OpenAI clients parse. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** Library error codes a client caused (400), could not be served now (429), or that say the model is unusable. */
const STATUS_BY_CODE: Record<string, number> = {
  INVALID_CONVERSATION: 400,
  STREAM_INPUT_INVALID: 400,
  CONTEXT_OVERFLOW: 400,
  STREAM_CONTEXT_FULL: 400,
  // special-token text in content, and only text-prompt remote engines (Ollama) to send it to
  REMOTE_INPUT_REFUSED: 400,
  POLICY_UNKNOWN_TENANT: 403,
  STREAM_CAPACITY: 429,
  STREAM_GUARD_CLOSED: 503,
};

function typeOf(status: number): OpenAiErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** Turn anything thrown while serving a request into a status and a body (never a stack trace). */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof Qwen3GuardError) {
    const status = STATUS_BY_CODE[error.code];
    if (status !== undefined) return new HttpError(status, error.code, error.message, { cause: error });
    // anything else from the guard: fail closed, and say so
    return new HttpError(
      503,
      "GUARD_FAILED",
      `the guard failed, so the request was refused: ${error.message}`,
      {
        type: "server_error",
        cause: error,
      },
    );
  }
  const fastify = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof fastify.statusCode === "number" && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    // Fastify's own client errors: bad JSON, body too large, wrong content type
    const code = typeof fastify.code === "string" ? fastify.code : "BAD_REQUEST";
    const message = typeof fastify.message === "string" ? fastify.message : "bad request";
    return new HttpError(fastify.statusCode, CLIENT_CODES[code] ?? "BAD_REQUEST", message);
  }
  return new HttpError(
    500,
    "INTERNAL_ERROR",
    "internal error: the request was refused (see the server log)",
    {
      cause: error,
    },
  );
}

const CLIENT_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "BODY_TOO_LARGE",
  FST_ERR_CTP_INVALID_JSON_BODY: "INVALID_JSON",
  FST_ERR_CTP_EMPTY_JSON_BODY: "INVALID_JSON",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "BAD_REQUEST",
};

/** The OpenAI-style body of an error. */
export function errorBody(error: HttpError): OpenAiErrorBody {
  return {
    error: {
      message: error.message,
      type: error.details.type ?? typeOf(error.statusCode),
      param: error.details.param ?? null,
      code: error.code,
    },
  };
}

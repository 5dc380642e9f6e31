/**
 * API keys: stored only as SHA-256 hashes (`sha256:<hex>`), compared in constant time, each mapped to a tenant.
 * With no key configured at all, the server is open and every request is the default tenant.
 *
 * A browser cannot set headers on a WebSocket, so a WebSocket upgrade may also carry the key as a subprotocol:
 * `new WebSocket(url, ["qwen3guard", "qwen3guard.bearer." + base64url(key)])`. The server answers with the plain
 * `qwen3guard` protocol, never the key's; the key takes the same hash-and-compare path as the header. Not a query
 * parameter: URLs end up in access logs, proxies' logs and browser history, headers do not.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { HttpError } from "./http-errors.js";

/** The tenant of requests when no API keys are configured, and of keyless tenants' policy fallback. */
export const DEFAULT_TENANT = "default";

/** The subprotocol a browser offers with its key, and the one the server selects. */
export const WS_PROTOCOL = "qwen3guard";
/** Prefix of the subprotocol that carries the key: `qwen3guard.bearer.<base64url of the key's UTF-8 bytes>`. */
export const WS_KEY_PROTOCOL_PREFIX = "qwen3guard.bearer.";

/** The subprotocol a WebSocket handshake is answered with (ws's `handleProtocols`): `qwen3guard` when offered. */
export function selectWebSocketProtocol(protocols: ReadonlySet<string>): string | false {
  return protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}

/** `sha256:<hex>` of an API key, as the configuration stores it. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

export class ApiKeyAuth {
  readonly #entries: { hash: Buffer; tenant: string }[];

  /** `tenants`: tenant name → hashed keys (`sha256:<hex>`). */
  constructor(tenants: Readonly<Record<string, readonly string[]>>) {
    this.#entries = Object.entries(tenants).flatMap(([tenant, hashes]) =>
      hashes.map((h) => ({ hash: Buffer.from(h.slice("sha256:".length), "hex"), tenant })),
    );
  }

  /** Whether requests must carry a key. */
  get required(): boolean {
    return this.#entries.length > 0;
  }

  /**
   * The tenant a request's `Authorization: Bearer <key>` (or `x-api-key`) header authenticates; on a WebSocket
   * upgrade, also a `qwen3guard.bearer.<base64url key>` subprotocol.
   * @throws HttpError 401 when keys are required and the key is missing or unknown.
   */
  tenantOf(headers: Record<string, string | string[] | undefined>): string {
    if (!this.required) return DEFAULT_TENANT;
    const key = bearer(headers.authorization) ?? single(headers["x-api-key"]) ?? subprotocolKey(headers);
    if (key === MALFORMED) throw new HttpError(401, "API_KEY_INVALID", "invalid API key");
    if (key === undefined || key.length === 0) {
      throw new HttpError(401, "API_KEY_MISSING", "missing API key: send Authorization: Bearer <key>");
    }
    const digest = createHash("sha256").update(key, "utf8").digest();
    let tenant: string | undefined;
    // compare with every entry (no early exit) so the time does not depend on which key matched
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.hash, digest) && tenant === undefined) tenant = entry.tenant;
    }
    if (tenant === undefined) throw new HttpError(401, "API_KEY_INVALID", "invalid API key");
    return tenant;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function bearer(value: string | string[] | undefined): string | undefined {
  const header = single(value);
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : undefined;
}

const MALFORMED = Symbol("malformed key");

/** The key a WebSocket upgrade carries as a `qwen3guard.bearer.<base64url>` subprotocol, if any. */
function subprotocolKey(
  headers: Record<string, string | string[] | undefined>,
): string | typeof MALFORMED | undefined {
  if (single(headers.upgrade)?.toLowerCase() !== "websocket") return undefined;
  const offered = single(headers["sec-websocket-protocol"]);
  if (offered === undefined) return undefined;
  for (const protocol of offered.split(",")) {
    const p = protocol.trim();
    if (!p.startsWith(WS_KEY_PROTOCOL_PREFIX)) continue;
    const encoded = p.slice(WS_KEY_PROTOCOL_PREFIX.length);
    // an empty or malformed token is a wrong key, never a missing one
    return /^[A-Za-z0-9_-]+$/.test(encoded) ? Buffer.from(encoded, "base64url").toString("utf8") : MALFORMED;
  }
  return undefined;
}

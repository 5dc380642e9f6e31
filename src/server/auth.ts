/**
 * API keys: stored only as SHA-256 hashes (`sha256:<hex>`), compared in constant time, each mapped to a tenant.
 * With no key configured at all, the server is open and every request is the default tenant.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { HttpError } from "./http-errors.js";

/** The tenant of requests when no API keys are configured, and of keyless tenants' policy fallback. */
export const DEFAULT_TENANT = "default";

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
   * The tenant a request's `Authorization: Bearer <key>` (or `x-api-key`) header authenticates.
   * @throws HttpError 401 when keys are required and the key is missing or unknown.
   */
  tenantOf(headers: Record<string, string | string[] | undefined>): string {
    if (!this.required) return DEFAULT_TENANT;
    const key = bearer(headers.authorization) ?? single(headers["x-api-key"]);
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

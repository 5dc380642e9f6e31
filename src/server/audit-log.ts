/**
 * The audit log: one row per guard decision in SQLite (WAL). Rows are written synchronously, before the response
 * that depends on the decision is sent, so a response a client received always has its row — even if the process
 * is killed right after (a process crash loses nothing WAL has been handed; only an OS crash could).
 *
 * The moderated text itself is stored only when configured; otherwise its SHA-256.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { Qwen3GuardError } from "../core/errors.js";

/** One decision, as recorded. */
export interface AuditRecord {
  /** ISO time of the decision. */
  time: string;
  requestId: string;
  tenant: string;
  /** The endpoint (e.g. "/v1/chat/completions"). */
  route: string;
  direction: "prompt" | "response";
  /** "gen" or "stream". */
  model: string;
  tier: string;
  categories: string[];
  probabilities?: Record<string, number> | undefined;
  /** allow, flag, block, regenerate. */
  action: string;
  reasons: unknown[];
  latencyMs: number;
  /** SHA-256 (hex) of the moderated text. */
  textSha256: string;
  /** The text, when the log is configured to keep it. */
  text?: string | undefined;
  /** Set when the verdict came from a synthetic (toy or random) model. */
  synthetic?: string | undefined;
}

/** What a caller hands to record(): the text itself (hashed, and kept only when configured). */
export type AuditEntry = Omit<AuditRecord, "textSha256" | "text"> & { text: string };

/** Filters for query(). */
export interface AuditQuery {
  since?: string;
  until?: string;
  tenant?: string;
  action?: string;
  direction?: "prompt" | "response";
  requestId?: string;
  /** Only rows whose id is greater (to follow new rows). */
  afterId?: number;
  limit?: number;
}

/** The audit database cannot be opened or written. */
export class AuditLogError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("AUDIT_LOG_FAILED", message, options);
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  request_id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  route TEXT NOT NULL,
  direction TEXT NOT NULL,
  model TEXT NOT NULL,
  tier TEXT NOT NULL,
  categories TEXT NOT NULL,
  probabilities TEXT,
  action TEXT NOT NULL,
  reasons TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  text_sha256 TEXT NOT NULL,
  text TEXT,
  synthetic TEXT
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions(time);
CREATE INDEX IF NOT EXISTS decisions_request ON decisions(request_id);
`;

interface Row {
  id: number;
  time: string;
  request_id: string;
  tenant: string;
  route: string;
  direction: "prompt" | "response";
  model: string;
  tier: string;
  categories: string;
  probabilities: string | null;
  action: string;
  reasons: string;
  latency_ms: number;
  text_sha256: string;
  text: string | null;
  synthetic: string | null;
}

/** SHA-256 (hex) of a text, as the log stores it. */
export function sha256Text(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export class AuditLog {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #insertAll: (entries: readonly AuditEntry[]) => void;

  private constructor(
    db: Database.Database,
    /** Whether `record` keeps the text. */
    readonly storeText: boolean,
  ) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO decisions (time, request_id, tenant, route, direction, model, tier, categories, probabilities,
         action, reasons, latency_ms, text_sha256, text, synthetic)
       VALUES (@time, @requestId, @tenant, @route, @direction, @model, @tier, @categories, @probabilities,
         @action, @reasons, @latencyMs, @textSha256, @text, @synthetic)`,
    );
    this.#insertAll = db.transaction((entries: readonly AuditEntry[]) => {
      for (const entry of entries) this.record(entry);
    });
  }

  /**
   * Open (creating if needed) the database at `file`.
   * @throws AuditLogError when it cannot be opened.
   */
  static open(file: string, options: { storeText?: boolean; readonly?: boolean } = {}): AuditLog {
    try {
      if (!options.readonly) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      const db = new Database(file, {
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
      });
      if (!options.readonly) {
        db.pragma("journal_mode = WAL");
        // NORMAL: a committed row survives a killed process (it is in the WAL file); only power loss could lose it
        db.pragma("synchronous = NORMAL");
        db.exec(SCHEMA);
      }
      db.pragma("busy_timeout = 5000");
      return new AuditLog(db, options.storeText ?? false);
    } catch (error) {
      throw new AuditLogError(`cannot open the audit log ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Write one decision (synchronously: when this returns, the row is committed). */
  record(entry: AuditEntry): void {
    this.#insert.run({
      time: entry.time,
      requestId: entry.requestId,
      tenant: entry.tenant,
      route: entry.route,
      direction: entry.direction,
      model: entry.model,
      tier: entry.tier,
      categories: JSON.stringify(entry.categories),
      probabilities: entry.probabilities === undefined ? null : JSON.stringify(entry.probabilities),
      action: entry.action,
      reasons: JSON.stringify(entry.reasons),
      latencyMs: entry.latencyMs,
      textSha256: sha256Text(entry.text),
      text: this.storeText ? entry.text : null,
      synthetic: entry.synthetic ?? null,
    });
  }

  /** Write several decisions in one transaction (all or none; committed when this returns). */
  recordAll(entries: readonly AuditEntry[]): void {
    this.#insertAll(entries);
  }

  /** Decisions matching the filters, oldest first (`limit` keeps the newest). */
  query(filter: AuditQuery = {}): (AuditRecord & { id: number })[] {
    const columns = {
      since: "time >= @since",
      until: "time < @until",
      tenant: "tenant = @tenant",
      action: "action = @action",
      direction: "direction = @direction",
      requestId: "request_id = @requestId",
      afterId: "id > @afterId",
    } as const;
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    for (const [key, clause] of Object.entries(columns)) {
      const value = filter[key as keyof typeof columns];
      if (value === undefined || value === "") continue;
      where.push(clause);
      params[key] = value;
    }
    const limit = Math.max(1, Math.min(filter.limit ?? 100, 100_000));
    const rows = this.#db
      .prepare(
        `SELECT * FROM (SELECT * FROM decisions ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY id DESC LIMIT ${limit}) ORDER BY id ASC`,
      )
      .all(params) as Row[];
    return rows.map(fromRow);
  }

  /** Delete decisions older than `days` days; returns how many. */
  prune(days: number, now = new Date()): number {
    const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
    return this.#db.prepare("DELETE FROM decisions WHERE time < ?").run(cutoff).changes;
  }

  /** Rows in the log. */
  count(): number {
    return (this.#db.prepare("SELECT COUNT(*) AS n FROM decisions").get() as { n: number }).n;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function fromRow(row: Row): AuditRecord & { id: number } {
  return {
    id: row.id,
    time: row.time,
    requestId: row.request_id,
    tenant: row.tenant,
    route: row.route,
    direction: row.direction,
    model: row.model,
    tier: row.tier,
    categories: JSON.parse(row.categories) as string[],
    ...(row.probabilities === null
      ? {}
      : { probabilities: JSON.parse(row.probabilities) as Record<string, number> }),
    action: row.action,
    reasons: JSON.parse(row.reasons) as unknown[],
    latencyMs: row.latency_ms,
    textSha256: row.text_sha256,
    ...(row.text === null ? {} : { text: row.text }),
    ...(row.synthetic === null ? {} : { synthetic: row.synthetic }),
  };
}

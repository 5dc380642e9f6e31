/**
 * `qwen3guard audit tail|query|prune`: read and prune the server's audit log (SQLite), by `--db FILE` or by the
 * server's `--config FILE` (its `audit.path`).
 *
 *   qwen3guard audit tail --db audit.sqlite -n 20 --follow      the last rows, then new ones as they come
 *   qwen3guard audit query --config q.yaml --since 1h --tenant acme --action block --json
 *   qwen3guard audit prune --db audit.sqlite --older-than 30
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { AuditLog, type AuditQuery, type AuditRecord } from "../../server/audit-log.js";
import { loadServerConfig } from "../../server/config.js";
import { CliInputError, CliUsageError } from "../errors.js";

interface SourceOptions {
  db?: string;
  config?: string;
}

/** The database a command reads: `--db`, else the configuration's `audit.path`. */
export function auditDbPath(options: SourceOptions): string {
  if (options.db !== undefined && options.config !== undefined) {
    throw new CliUsageError("give --db or --config, not both");
  }
  if (options.db !== undefined) return options.db;
  if (options.config !== undefined) {
    const path = loadServerConfig(options.config).audit.path;
    if (path === undefined) throw new CliInputError(`${options.config} has no audit.path`);
    return path;
  }
  throw new CliUsageError("say which audit log: --db FILE, or --config FILE (its audit.path)");
}

const RELATIVE = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An ISO time, or a duration before `now` (`90s`, `15m`, `2h`, `7d`), as the ISO string the log stores. */
export function parseTime(value: string, now = new Date()): string {
  const relative = RELATIVE.exec(value.trim());
  if (relative) {
    const ms = Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
    return new Date(now.getTime() - ms).toISOString();
  }
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new CliUsageError(
      `--since/--until: expected an ISO time (2026-12-01T10:00:00Z) or a duration ago (90s, 15m, 2h, 7d), got "${value}"`,
    );
  }
  return time.toISOString();
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number of days (0 or more)");
  return n;
}

/** One row as a line: time, request id, tenant, route, direction, model, tier [categories], action, latency. */
export function formatRecord(row: AuditRecord & { id: number }): string {
  const categories = row.categories.length > 0 ? ` [${row.categories.join(", ")}]` : "";
  return [
    row.time,
    row.requestId,
    row.tenant,
    row.route,
    row.direction,
    row.model,
    `${row.tier}${categories}`,
    row.action.toUpperCase(),
    `${row.latencyMs.toFixed(1)} ms`,
    ...(row.synthetic ? ["(synthetic)"] : []),
  ].join("  ");
}

function printer(json: boolean): (row: AuditRecord & { id: number }) => void {
  return (row) => process.stdout.write(`${json ? JSON.stringify(row) : formatRecord(row)}\n`);
}

function withSource(command: Command): Command {
  return command
    .option("--db <file>", "the audit database (SQLite)")
    .option("--config <file>", "the server configuration whose audit.path to read");
}

export function registerAuditCommand(program: Command): void {
  const audit = program
    .command("audit")
    .description("Read and prune the server's audit log of guard decisions");

  withSource(audit.command("tail"))
    .description("Print the last decisions; with --follow, keep printing new ones as they are written")
    .option("-n, --lines <n>", "how many of the last decisions", positiveInt, 10)
    .option("-f, --follow", "keep watching for new decisions (Ctrl-C to stop)")
    .option("--interval <ms>", "how often --follow looks for new rows", positiveInt, 500)
    .option("--json", "one JSON object per line")
    .action(
      async (o: SourceOptions & { lines: number; follow?: boolean; interval: number; json?: boolean }) => {
        const log = AuditLog.open(auditDbPath(o), { readonly: true });
        const print = printer(o.json ?? false);
        let last = 0;
        for (const row of log.query({ limit: o.lines })) {
          print(row);
          last = row.id;
        }
        if (!o.follow) {
          log.close();
          return;
        }
        if (last === 0) last = log.query({ limit: 1 })[0]?.id ?? 0;
        await new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            for (const row of log.query({ afterId: last, limit: 100_000 })) {
              print(row);
              last = row.id;
            }
          }, o.interval);
          const stop = () => {
            clearInterval(timer);
            log.close();
            resolve();
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      },
    );

  withSource(audit.command("query"))
    .description("Print the decisions that match every filter given, oldest first")
    .option("--since <time>", "at or after: an ISO time, or a duration ago (90s, 15m, 2h, 7d)")
    .option("--until <time>", "before: an ISO time, or a duration ago")
    .option("--tenant <name>", "only this tenant")
    .addOption(
      new Option("--action <action>", "only this action").choices(["allow", "flag", "block", "regenerate"]),
    )
    .addOption(new Option("--direction <direction>", "only this direction").choices(["prompt", "response"]))
    .option("--request-id <id>", "only this request")
    .option("--limit <n>", "at most this many (the newest)", positiveInt, 100)
    .option("--json", "one JSON object per line")
    .action(
      (
        o: SourceOptions & {
          since?: string;
          until?: string;
          tenant?: string;
          action?: string;
          direction?: "prompt" | "response";
          requestId?: string;
          limit: number;
          json?: boolean;
        },
      ) => {
        const filter: AuditQuery = {
          ...(o.since ? { since: parseTime(o.since) } : {}),
          ...(o.until ? { until: parseTime(o.until) } : {}),
          ...(o.tenant ? { tenant: o.tenant } : {}),
          ...(o.action ? { action: o.action } : {}),
          ...(o.direction ? { direction: o.direction } : {}),
          ...(o.requestId ? { requestId: o.requestId } : {}),
          limit: o.limit,
        };
        const log = AuditLog.open(auditDbPath(o), { readonly: true });
        try {
          log.query(filter).forEach(printer(o.json ?? false));
        } finally {
          log.close();
        }
      },
    );

  withSource(audit.command("prune"))
    .description("Delete decisions older than a number of days")
    .requiredOption("--older-than <days>", "delete decisions older than this many days", nonNegative)
    .action((o: SourceOptions & { olderThan: number }) => {
      const log = AuditLog.open(auditDbPath(o));
      try {
        const n = log.prune(o.olderThan);
        process.stdout.write(`pruned ${n} decision${n === 1 ? "" : "s"} older than ${o.olderThan} days\n`);
      } finally {
        log.close();
      }
    });
}

/**
 * Per-tenant policies: a named set of policy files, chosen per call, reloaded on change.
 * A reload validates the whole set and then swaps it in one assignment: a caller sees either the old
 * set or the new one, never a mix, and a broken edit leaves the old set in force.
 */
import { watch as fsWatch } from "node:fs";
import { Qwen3GuardError } from "../../core/errors.js";
import type { FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { PolicyError, decide } from "../../core/policy/index.js";
import type { Decision, Policy, PolicyInput, PolicyIssue } from "../../core/policy/index.js";
import { loadPolicy } from "./load.js";

/**
 * The tenants of a `PolicyRegistry`: tenant name → policy file.
 *
 * @example
 * ```ts
 * import type { TenantPolicyFiles } from "qwen3guard";
 *
 * const tenants: TenantPolicyFiles = { kids: "policies/kids.yaml", support: "policies/support-bot.yaml" };
 * console.log(Object.keys(tenants));
 * ```
 */
export type TenantPolicyFiles = Readonly<Record<string, string>>;

/**
 * Options of `PolicyRegistry.load`: the default tenant (for `get()` without one) and the folder relative policy
 * paths start from.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyRegistry, type PolicyRegistryOptions } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/default.yaml", "mode: strict\n");
 * const options: PolicyRegistryOptions = { defaultTenant: "default", cwd: "/tmp" };
 * const registry = await PolicyRegistry.load({ default: "default.yaml" }, options);
 * console.log(registry.get().mode); // strict
 * ```
 */
export interface PolicyRegistryOptions {
  /** The tenant `get()` returns when called without one. */
  defaultTenant?: string;
  /** Base for relative policy paths (default: the working directory). */
  cwd?: string;
}

/**
 * One consistent, immutable state of a `PolicyRegistry` (`snapshot()`, and what a reload swaps in): a generation
 * number, every tenant's policy, every file they were built from.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyRegistry, type PolicySnapshot } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/a.yaml", "mode: loose\n");
 * fs.writeFileSync("/tmp/b.yaml", "mode: strict\n");
 * const registry = await PolicyRegistry.load({ a: "/tmp/a.yaml", b: "/tmp/b.yaml" });
 * const snapshot: PolicySnapshot = registry.snapshot(); // read several tenants from one state
 * console.log(snapshot.generation, [...snapshot.policies.keys()]); // 1 ["a", "b"]
 * ```
 */
export interface PolicySnapshot {
  /** Increases by one at each successful (re)load. */
  readonly generation: number;
  readonly policies: ReadonlyMap<string, Policy>;
  /** Every file the policies were built from (absolute), `extends` included. */
  readonly files: readonly string[];
}

/**
 * What `PolicyRegistry.reload()` returns (it never throws for bad files): the new snapshot, or the error that
 * kept the previous policies in force.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyRegistry, type ReloadResult } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/tenant.yaml", "mode: loose\n");
 * const registry = await PolicyRegistry.load({ tenant: "/tmp/tenant.yaml" });
 * fs.writeFileSync("/tmp/tenant.yaml", "mode: lenient\n"); // a broken edit
 * const result: ReloadResult = await registry.reload();
 * console.log(result.ok, registry.get("tenant").mode); // false loose: the old policy stays
 * ```
 */
export type ReloadResult = { ok: true; snapshot: PolicySnapshot } | { ok: false; error: PolicyError };

/**
 * Options of `PolicyRegistry.watch`: callbacks for a reload swapped in and for a change rejected, and the quiet
 * time after the last file event.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyRegistry, type WatchOptions } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/watched.yaml", "mode: loose\n");
 * const registry = await PolicyRegistry.load({ main: "/tmp/watched.yaml" });
 * const options: WatchOptions = {
 *   onReload: (snapshot) => console.log("policies now at generation", snapshot.generation),
 *   onError: (error) => console.error("change rejected:", error.message),
 *   debounceMs: 250,
 * };
 * registry.watch(options);
 * registry.close(); // stop watching
 * ```
 */
export interface WatchOptions {
  /** Called after a change was validated and swapped in. */
  onReload?: (snapshot: PolicySnapshot) => void;
  /** Called when a change was rejected (the previous policies stay in force) or watching failed. */
  onError?: (error: Error) => void;
  /** Quiet time after the last file event before reloading (default 100 ms). */
  debounceMs?: number;
}

/**
 * A `PolicyRegistry` was asked for a tenant it does not hold (or for the default tenant when none is set): `tenant`
 * and `known` say which. Code `POLICY_UNKNOWN_TENANT` (the server answers 403).
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyRegistry, UnknownTenantError } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/acme.yaml", "mode: strict\n");
 * const registry = await PolicyRegistry.load({ acme: "/tmp/acme.yaml" });
 * try {
 *   registry.get("globex");
 * } catch (error) {
 *   if (error instanceof UnknownTenantError) console.log(error.code, error.tenant, error.known); // POLICY_UNKNOWN_TENANT globex ["acme"]
 * }
 * ```
 */
export class UnknownTenantError extends Qwen3GuardError {
  constructor(
    readonly tenant: string | undefined,
    readonly known: readonly string[],
  ) {
    super(
      "POLICY_UNKNOWN_TENANT",
      tenant === undefined
        ? `no tenant given and no default tenant set; known tenants: ${known.join(", ") || "(none)"}`
        : `unknown tenant "${tenant}"; known tenants: ${known.join(", ") || "(none)"}`,
    );
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Load every tenant's policy; throws one PolicyError with every tenant's problems. */
async function loadAll(
  tenants: TenantPolicyFiles,
  cwd: string | undefined,
  generation: number,
): Promise<PolicySnapshot> {
  const names = Object.keys(tenants);
  const results = await Promise.allSettled(names.map((t) => loadPolicy(tenants[t]!, cwd)));
  const issues: PolicyIssue[] = [];
  const policies = new Map<string, Policy>();
  const files = new Set<string>();
  results.forEach((r, i) => {
    if (r.status === "fulfilled") {
      policies.set(names[i]!, deepFreeze(r.value.policy));
      for (const f of r.value.files) files.add(f);
    } else if (r.reason instanceof PolicyError) {
      issues.push(...r.reason.issues);
    } else {
      issues.push({ source: tenants[names[i]!]!, path: [], message: String(r.reason) });
    }
  });
  if (issues.length > 0) throw new PolicyError(issues);
  return Object.freeze({ generation, policies, files: Object.freeze([...files]) });
}

/**
 * Per-tenant policies: a named set of policy files, chosen per call, reloaded on change (`watch`) or on demand
 * (`reload`). A reload validates the whole set, then swaps it in at once: a caller sees the old set or the new
 * one, never a mix, and a broken edit leaves the old set in force.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import { PolicyRegistry } from "qwen3guard";
 *
 * fs.writeFileSync("/tmp/kids.yaml", "mode: strict\n");
 * fs.writeFileSync("/tmp/adults.yaml", "mode: loose\n");
 * const registry = await PolicyRegistry.load({ kids: "/tmp/kids.yaml", adults: "/tmp/adults.yaml" }, { defaultTenant: "kids" });
 * const verdict = { direction: "response" as const, tier: "Controversial" as const, categories: [] };
 * console.log(registry.decide("kids", verdict).action, registry.decide("adults", verdict).action); // block allow
 * registry.watch({ onError: (error) => console.error(error.message) }); // reload on edit
 * registry.close();
 * ```
 */
export class PolicyRegistry {
  readonly #tenants: TenantPolicyFiles;
  readonly #options: PolicyRegistryOptions;
  #state: PolicySnapshot;
  #queue: Promise<unknown> = Promise.resolve();
  #watchers = new Map<string, FSWatcher>();
  #watchOptions: WatchOptions | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(tenants: TenantPolicyFiles, options: PolicyRegistryOptions, state: PolicySnapshot) {
    this.#tenants = Object.freeze({ ...tenants });
    this.#options = options;
    this.#state = state;
  }

  /** Load and validate every tenant's policy. Throws PolicyError naming each broken file. */
  static async load(
    tenants: TenantPolicyFiles,
    options: PolicyRegistryOptions = {},
  ): Promise<PolicyRegistry> {
    if (options.defaultTenant !== undefined && !(options.defaultTenant in tenants)) {
      throw new UnknownTenantError(options.defaultTenant, Object.keys(tenants));
    }
    return new PolicyRegistry(tenants, options, await loadAll(tenants, options.cwd, 1));
  }

  /** The tenant names, in the order given. */
  tenants(): string[] {
    return Object.keys(this.#tenants);
  }

  /** The policy in force for a tenant (or the default tenant). */
  get(tenant: string | undefined = this.#options.defaultTenant): Policy {
    const policy = tenant === undefined ? undefined : this.#state.policies.get(tenant);
    if (policy === undefined) throw new UnknownTenantError(tenant, this.tenants());
    return policy;
  }

  /** The whole current state at once: use it to read several tenants consistently. */
  snapshot(): PolicySnapshot {
    return this.#state;
  }

  /** Apply a tenant's policy to a verdict. */
  decide(tenant: string | undefined, input: PolicyInput): Decision {
    return decide(this.get(tenant), input);
  }

  /**
   * Re-read and re-validate every tenant's files, then swap the whole set at once. Never throws for
   * bad files: a failed reload returns the error and keeps the policies in force. Reloads run one
   * after another.
   */
  reload(): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#reloadNow());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reloadNow(): Promise<ReloadResult> {
    try {
      const next = await loadAll(this.#tenants, this.#options.cwd, this.#state.generation + 1);
      this.#state = next; // the one and only swap
      if (this.#watchOptions !== undefined && !this.#closed) this.#syncWatchers();
      return { ok: true, snapshot: next };
    } catch (e) {
      const error = e instanceof PolicyError ? e : new PolicyError([{ path: [], message: String(e) }]);
      return { ok: false, error };
    }
  }

  /**
   * Watch every file of every policy (`extends` included) and reload on change. Editors that replace
   * files (write to a temporary file, then rename) are handled: the folders are watched, not the files.
   */
  watch(options: WatchOptions = {}): this {
    if (this.#closed) throw new Error("PolicyRegistry.watch() after close()");
    this.#watchOptions = options;
    this.#syncWatchers();
    return this;
  }

  #syncWatchers(): void {
    const dirs = new Map<string, Set<string>>();
    for (const f of this.#state.files) {
      const names = dirs.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      dirs.set(dirname(f), names);
    }
    for (const [dir, w] of this.#watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of dirs.keys()) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = fsWatch(dir, (_event, filename) => {
          const current = this.#state.files.some((f) => dirname(f) === dir && basename(f) === filename);
          if (filename === null || current) this.#schedule();
        });
        w.on("error", (err) => this.#watchOptions?.onError?.(err));
        this.#watchers.set(dir, w);
      } catch (err) {
        this.#watchOptions?.onError?.(err as Error);
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.reload().then((r) => {
        if (this.#closed) return;
        if (r.ok) this.#watchOptions?.onReload?.(r.snapshot);
        else this.#watchOptions?.onError?.(r.error);
      });
    }, this.#watchOptions?.debounceMs ?? 100);
  }

  /** Stop watching. The policies in force stay readable. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}

/**
 * Temporary files of the writers that produce big outputs (the GGUF converter, the synthesizer's safetensors):
 * how they are named, a process-wide registry that removes them when the process is interrupted or exits, and a
 * sweep that removes those a dead process left behind.
 *
 * Naming: `.<final name>.<pid>-<8 hex>.partial`, beside the final file (so the last rename is atomic); the pid
 * says which process owns it. Older versions of the synthesizer wrote `<final name>.partial-<pid>`: the sweep
 * recognises both.
 *
 * Signals: while at least one file is registered, SIGINT, SIGTERM and SIGHUP are listened to. When the signal
 * arrives and no one else listens to it, every registered file is removed and the process exits with the
 * conventional status 128 + signal number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP) — what the default
 * behaviour would have done, minus the leftovers. When someone else listens too (a server shutting down
 * gracefully), they decide; the files are then removed on `exit` if their writer has not finished by then.
 * No listener stays installed once the registry is empty, so the process's behaviour is unchanged otherwise.
 *
 * Writers run synchronous work between awaits; a signal is handled at the next await (for the converter: the
 * next chunk; for the synthesizer: the next tensor).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
type CleanupSignal = (typeof SIGNALS)[number];
const SIGNAL_NUMBER: Record<CleanupSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

const live = new Set<string>();
let installed = false;

/** A unique temporary path beside `file` (same folder, so the final rename is atomic), owned by this process. */
export function temporaryPathFor(file: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString("hex")}.partial`,
  );
}

const PARTIAL = /^\..+\.(\d+)-[0-9a-f]+\.partial$/;
const LEGACY_PARTIAL = /^.+\.partial-(\d+)$/;

/** The pid that owns a temporary file of ours, from its name; undefined when the name is not one of ours. */
export function partialOwner(name: string): number | undefined {
  const m = PARTIAL.exec(name) ?? LEGACY_PARTIAL.exec(name);
  return m ? Number(m[1]) : undefined;
}

function removeAll(): void {
  for (const file of live) {
    try {
      fs.rmSync(file, { force: true });
    } catch {
      /* best effort: the process is going away */
    }
  }
  live.clear();
}

function onSignal(signal: CleanupSignal): void {
  // Someone else handles this signal too: leave the decision (and the files, for `exit`) to them.
  if (process.listenerCount(signal) > 1) return;
  removeAll();
  uninstall();
  process.exit(128 + SIGNAL_NUMBER[signal]);
}

const handlers = new Map<CleanupSignal, () => void>(SIGNALS.map((s) => [s, () => onSignal(s)]));

function install(): void {
  if (installed) return;
  installed = true;
  for (const [signal, handler] of handlers) process.on(signal, handler);
  process.on("exit", removeAll);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  for (const [signal, handler] of handlers) process.off(signal, handler);
  process.off("exit", removeAll);
}

/**
 * Register a temporary file: it is removed if the process is interrupted (SIGINT/SIGTERM/SIGHUP, see above) or
 * exits before `release()` is called. Call `release()` once the file has been renamed into place or removed.
 */
export function trackTemporaryFile(file: string): { release: () => void } {
  const absolute = path.resolve(file);
  live.add(absolute);
  install();
  return {
    release: () => {
      live.delete(absolute);
      if (live.size === 0) uninstall();
    },
  };
}

/** The temporary files this process is writing now (absolute paths). */
export function liveTemporaryFiles(): string[] {
  return [...live];
}

function liveNames(): Set<string> {
  return new Set([...live].map((f) => path.basename(f)));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Remove the temporary files of ours in `dir` that no running writer owns: their pid is not alive, or it is
 * this process's pid (a previous process of the same pid, e.g. in a container) and this process is not writing
 * them. Files of live processes are left alone. Returns the removed paths. A missing folder is not an error.
 */
export function removeStalePartials(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = partialOwner(name);
    if (pid === undefined) continue;
    const file = path.resolve(dir, name);
    // Our own names carry 8 random hex digits: the name alone identifies a file this process is writing, however
    // the folder is spelled (symlinks, relative paths).
    const stale = pid === process.pid ? !liveNames().has(name) : !processAlive(pid);
    if (!stale) continue;
    try {
      fs.rmSync(file, { force: true });
      removed.push(file);
    } catch {
      /* another process removed it, or it is not ours to remove */
    }
  }
  return removed;
}

/**
 * TEST-ONLY hook: when `QWEN3GUARD_TEST_PAUSE_AFTER_FIRST_TENSOR` is set to a number of milliseconds, writers
 * call this once their temporary file holds its first tensor: it prints
 * `qwen3guard test hook: paused writing <temporary file>` on stderr and waits that long, so that a test can
 * interrupt a write of a tiny model deterministically. Never set it outside tests.
 */
export async function testPauseAfterFirstTensor(temporaryFile: string): Promise<void> {
  const ms = Number(process.env.QWEN3GUARD_TEST_PAUSE_AFTER_FIRST_TENSOR);
  if (!Number.isFinite(ms) || ms <= 0) return;
  process.stderr.write(`qwen3guard test hook: paused writing ${temporaryFile}\n`);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

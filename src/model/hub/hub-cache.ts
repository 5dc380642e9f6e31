/**
 * The on-disk layout of pulled models:
 *
 *   <cacheDir>/hub/<owner>--<name>/<commitSha>/          the snapshot: the model's files, as in the repository
 *   <cacheDir>/hub/<owner>--<name>/<commitSha>/<file>.incomplete   a download in progress (resumed next time)
 *   <cacheDir>/hub/<owner>--<name>/<commitSha>/.qwen3guard-snapshot.json   manifest, written last
 *   <cacheDir>/hub/<owner>--<name>/refs/<revision>       the commit sha a branch or tag pointed to when pulled
 *
 * A snapshot counts as present only when its manifest exists and every file it lists has the listed size,
 * so an interrupted pull is never mistaken for a complete one.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { SnapshotKind } from "./file-selection.js";
import { isCommitSha, repoFolderName, type RepoRef } from "./repo-name.js";

export const MANIFEST_NAME = ".qwen3guard-snapshot.json";
export const PARTIAL_SUFFIX = ".incomplete";

const manifestSchema = z.object({
  version: z.literal(1),
  repo: z.string(),
  commit: z.string(),
  kind: z.enum(["hf-folder", "gguf"]),
  files: z.array(
    z.object({
      path: z.string(),
      size: z.number().int().nonnegative(),
      checksum: z.object({ algorithm: z.enum(["sha256", "git-sha1"]), hex: z.string() }).nullable(),
    }),
  ),
  endpoint: z.string(),
  pulledAt: z.string(),
});

export type SnapshotManifest = z.infer<typeof manifestSchema>;

export interface CachedSnapshot {
  /** Absolute path of the snapshot folder. */
  dir: string;
  commit: string;
  kind: SnapshotKind;
  /** For a GGUF snapshot: the absolute path of its .gguf file. */
  ggufFile?: string;
  manifest: SnapshotManifest;
}

export function repoCacheDir(cacheDir: string, ref: Pick<RepoRef, "owner" | "name">): string {
  return path.join(path.resolve(cacheDir), "hub", repoFolderName(ref));
}

export function snapshotDir(cacheDir: string, ref: Pick<RepoRef, "owner" | "name">, commit: string): string {
  return path.join(repoCacheDir(cacheDir, ref), commit);
}

function refFile(cacheDir: string, ref: RepoRef): string {
  // Branch names may contain "/": keep one flat file per revision.
  return path.join(repoCacheDir(cacheDir, ref), "refs", encodeURIComponent(ref.revision));
}

/** The commit the cached `ref.revision` points to, or null when it was never pulled. */
export function readCachedRef(cacheDir: string, ref: RepoRef): string | null {
  if (isCommitSha(ref.revision)) return ref.revision;
  try {
    const sha = fs.readFileSync(refFile(cacheDir, ref), "utf8").trim();
    return isCommitSha(sha) ? sha : null;
  } catch {
    return null;
  }
}

export function writeCachedRef(cacheDir: string, ref: RepoRef, commit: string): void {
  if (ref.revision === commit) return;
  writeFileAtomic(refFile(cacheDir, ref), `${commit}\n`);
}

/** The complete snapshot of `commit`, or null when it is missing or incomplete. */
export function readSnapshot(cacheDir: string, ref: RepoRef, commit: string): CachedSnapshot | null {
  const dir = snapshotDir(cacheDir, ref, commit);
  let manifest: SnapshotManifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_NAME), "utf8")));
  } catch {
    return null;
  }
  for (const f of manifest.files) {
    let size: number;
    try {
      size = fs.statSync(path.join(dir, f.path)).size;
    } catch {
      return null;
    }
    if (size !== f.size) return null;
  }
  const gguf = manifest.kind === "gguf" ? manifest.files.find((f) => f.path.endsWith(".gguf")) : undefined;
  return {
    dir,
    commit,
    kind: manifest.kind,
    ...(gguf ? { ggufFile: path.join(dir, gguf.path) } : {}),
    manifest,
  };
}

/** The complete cached snapshot `ref.revision` resolves to, without touching the network. */
export function findCachedSnapshot(cacheDir: string, ref: RepoRef): CachedSnapshot | null {
  const commit = readCachedRef(cacheDir, ref);
  return commit ? readSnapshot(cacheDir, ref, commit) : null;
}

export function writeManifest(dir: string, manifest: SnapshotManifest): void {
  writeFileAtomic(path.join(dir, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
}

function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

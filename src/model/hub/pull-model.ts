/**
 * `pullModel("owner/name[@revision]")`: make a hub model available in the local cache and return its folder.
 *
 * 1. Resolve the revision to a commit sha (one small API request, short deadline: an offline machine fails in
 *    seconds). If that commit is already cached, stop: nothing is downloaded.
 * 2. List the commit's files (paginated tree listing) and keep those a model needs.
 * 3. Download each into `<cacheDir>/hub/<owner>--<name>/<sha>/`, resumable and verified (download-file.ts).
 * 4. Write the snapshot manifest, then `refs/<revision>`, so a later call, or an offline one, finds it.
 *
 * If the hub cannot be reached but the revision was pulled before, the cached snapshot is used.
 */
import { downloadVerifiedFile } from "./download-file.js";
import { HubError, supplyByPathHint, HubUnreachableError } from "./errors.js";
import { selectModelFiles, type RepoFile, type SnapshotKind } from "./file-selection.js";
import { createHubFetch, hubClient, toHubError } from "./hub-fetch.js";
import {
  findCachedSnapshot,
  readSnapshot,
  snapshotDir,
  writeCachedRef,
  writeManifest,
  type CachedSnapshot,
} from "./hub-cache.js";
import { resolveHubSettings, type HubConnectionOptions, type HubSettings } from "./hub-settings.js";
import { expectedChecksum } from "./checksum.js";
import { isCommitSha, parseRepoName, type RepoRef } from "./repo-name.js";

export interface PullProgress {
  /** The file being transferred. */
  file: string;
  fileDone: number;
  fileTotal: number;
  /** Over all files of the pull. */
  done: number;
  total: number;
  filesDone: number;
  filesTotal: number;
}

export interface PullOptions extends HubConnectionOptions {
  /** Branch, tag or commit; overrides one given as `name@revision`. */
  revision?: string;
  /** For GGUF repositories: the .gguf file to fetch (name or unique substring such as "Q8_0"). */
  gguf?: string;
  onProgress?: (p: PullProgress) => void;
  /** Deadline for the first hub request's response headers (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** Deadline for later requests' response headers (ms). Default 30000. */
  requestTimeoutMs?: number;
  /** Abort a transfer that delivers no byte for this long (ms). Default 60000. */
  idleTimeoutMs?: number;
  /** Resume attempts per file after a dropped connection. Default 3. */
  maxRetries?: number;
  /** Base delay between attempts (ms), multiplied by the attempt number. Default 1000. */
  retryDelayMs?: number;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  kind: SnapshotKind;
  /** The snapshot folder (pass it as --model). */
  dir: string;
  /** For a GGUF snapshot: the .gguf file. */
  ggufFile?: string;
  /** Bytes transferred by this call. */
  downloadedBytes: number;
  /** True when nothing had to be downloaded. */
  fromCache: boolean;
  /** True when the hub was not asked (offline mode) or not reachable, and the cache answered. */
  offline: boolean;
}

/**
 * @throws HubError (bad-name, bad-endpoint, offline-not-cached, not-a-model, gguf-choice, incomplete),
 *         HubUnreachableError, HubHttpError, ChecksumMismatchError
 */
export async function pullModel(spec: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseRepoName(spec, opts.revision);
  const settings = resolveHubSettings(opts);
  const cached = findCachedSnapshot(settings.cacheDir, ref);

  if (settings.offline) {
    if (cached) return fromSnapshot(ref, cached, 0, true, true);
    throw new HubError(
      "offline-not-cached",
      `${ref.repo}@${ref.revision} is not in the cache (${settings.cacheDir}) and offline mode is on ` +
        `(HF_HUB_OFFLINE): unset it to download, or ${supplyByPathHint(ref.repo)}`,
    );
  }
  // A commit sha names immutable content: a complete cached copy is final.
  if (cached && isCommitSha(ref.revision)) return fromSnapshot(ref, cached, 0, true, false);

  const firstFetch = createHubFetch({ headersTimeoutMs: opts.connectTimeoutMs ?? 5000 });
  const laterFetch = createHubFetch({ headersTimeoutMs: opts.requestTimeoutMs ?? 30_000 });
  const auth = settings.token ? { accessToken: settings.token } : {};

  const { listFiles, modelInfo } = await hubClient();
  let commit: string;
  try {
    const info = await modelInfo({
      name: ref.repo,
      revision: ref.revision,
      hubUrl: settings.endpoint,
      fetch: firstFetch,
      additionalFields: ["sha"],
      ...auth,
    });
    commit = info.sha;
  } catch (error) {
    const mapped = toHubError(error, settings.endpoint, `${ref.repo}@${ref.revision}`);
    if (mapped instanceof HubUnreachableError && cached) return fromSnapshot(ref, cached, 0, true, true);
    throw mapped;
  }
  if (!isCommitSha(commit)) {
    throw new HubError("http", `${settings.endpoint} returned no commit sha for ${ref.repo}@${ref.revision}`);
  }

  const present = readSnapshot(settings.cacheDir, ref, commit);
  if (present) {
    writeCachedRef(settings.cacheDir, ref, commit);
    return fromSnapshot(ref, present, 0, true, false);
  }

  const listing: RepoFile[] = [];
  try {
    for await (const entry of listFiles({
      repo: ref.repo,
      revision: commit,
      recursive: true,
      hubUrl: settings.endpoint,
      fetch: laterFetch,
      ...auth,
    })) {
      if (entry.type === "file") listing.push(entry);
    }
  } catch (error) {
    throw toHubError(error, settings.endpoint, `listing ${ref.repo}@${commit}`);
  }
  const selection = selectModelFiles(ref.repo, listing, opts.gguf);
  const downloaded = await downloadAll(ref, commit, selection.files, settings, laterFetch, opts);

  const dir = snapshotDir(settings.cacheDir, ref, commit);
  writeManifest(dir, {
    version: 1,
    repo: ref.repo,
    commit,
    kind: selection.kind,
    files: selection.files.map((f) => ({ path: f.path, size: f.size, checksum: expectedChecksum(f) })),
    endpoint: settings.endpoint,
    pulledAt: new Date().toISOString(),
  });
  writeCachedRef(settings.cacheDir, ref, commit);
  const snapshot = readSnapshot(settings.cacheDir, ref, commit);
  if (!snapshot)
    throw new HubError("incomplete", `${dir}: snapshot incomplete after download; run the pull again`);
  return fromSnapshot(ref, snapshot, downloaded, downloaded === 0, false);
}

async function downloadAll(
  ref: RepoRef,
  commit: string,
  files: readonly RepoFile[],
  settings: HubSettings,
  fetchFn: typeof fetch,
  opts: PullOptions,
): Promise<number> {
  const dir = snapshotDir(settings.cacheDir, ref, commit);
  const total = files.reduce((n, f) => n + f.size, 0);
  let finished = 0;
  let transferred = 0;
  for (const [i, file] of files.entries()) {
    const result = await downloadVerifiedFile({
      repo: ref.repo,
      commit,
      file,
      dir,
      hubUrl: settings.endpoint,
      ...(settings.token ? { accessToken: settings.token } : {}),
      fetch: fetchFn,
      idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
      maxRetries: opts.maxRetries ?? 3,
      retryDelayMs: opts.retryDelayMs ?? 1000,
      onProgress: (fileDone) =>
        opts.onProgress?.({
          file: file.path,
          fileDone,
          fileTotal: file.size,
          done: finished + fileDone,
          total,
          filesDone: i,
          filesTotal: files.length,
        }),
    });
    finished += file.size;
    transferred += result.transferred;
  }
  return transferred;
}

function fromSnapshot(
  ref: RepoRef,
  s: CachedSnapshot,
  downloadedBytes: number,
  fromCache: boolean,
  offline: boolean,
): PullResult {
  return {
    repo: ref.repo,
    revision: ref.revision,
    commit: s.commit,
    kind: s.kind,
    dir: s.dir,
    ...(s.ggufFile ? { ggufFile: s.ggufFile } : {}),
    downloadedBytes,
    fromCache,
    offline,
  };
}

/**
 * Download one repository file into a snapshot folder: resumable, verified, atomic.
 *
 * Bytes go to `<file>.incomplete`; an existing partial is continued with an HTTP Range request (the
 * @huggingface/hub WebBlob issues `Range: bytes=<offset>-<end>` for a slice that does not start at 0).
 * The content is hashed as it arrives (the partial's existing bytes first), compared with the checksum the
 * hub published, and only then renamed to its final name. A mismatch deletes the partial and says so.
 */
import fs from "node:fs";
import path from "node:path";
import { ContentHasher, expectedChecksum } from "./checksum.js";
import { ChecksumMismatchError, HubError, HubHttpError } from "./errors.js";
import type { RepoFile } from "./file-selection.js";
import { PARTIAL_SUFFIX } from "./hub-cache.js";
import { hubClient, networkFailureReason, toHubError } from "./hub-fetch.js";

export interface DownloadFileParams {
  repo: string;
  /** Commit sha: every file of a snapshot comes from the same commit. */
  commit: string;
  file: RepoFile;
  /** Snapshot folder. */
  dir: string;
  hubUrl: string;
  accessToken?: string;
  fetch: typeof fetch;
  /** Give up on a transfer that delivers no byte for this long (ms). */
  idleTimeoutMs: number;
  /** How many times an interrupted transfer is resumed within this call. */
  maxRetries: number;
  retryDelayMs: number;
  /** Bytes of this file on disk so far (absolute, may go back to 0 if a bad partial is discarded). */
  onProgress?: (fileDone: number) => void;
}

export interface DownloadFileResult {
  /** Bytes transferred by this call (0 when the file was already complete). */
  transferred: number;
  /** Size of the partial file this call continued from (0 when it started fresh). */
  resumedFrom: number;
}

/** @throws ChecksumMismatchError, HubHttpError, HubUnreachableError, HubError("incomplete") */
export async function downloadVerifiedFile(p: DownloadFileParams): Promise<DownloadFileResult> {
  const total = p.file.size;
  const finalPath = path.resolve(p.dir, p.file.path);
  if (!finalPath.startsWith(path.resolve(p.dir) + path.sep)) {
    throw new HubError(
      "not-a-model",
      `${p.repo}: refusing file path "${p.file.path}" that leaves the snapshot folder`,
    );
  }
  const partialPath = finalPath + PARTIAL_SUFFIX;
  fs.mkdirSync(path.dirname(finalPath), { recursive: true });

  // Files reach their final name only after verification, so a present file of the right size is done.
  const existing = statSize(finalPath);
  if (existing === total) {
    p.onProgress?.(total);
    return { transferred: 0, resumedFrom: 0 };
  }
  if (existing !== null) fs.rmSync(finalPath, { force: true });

  const expected = expectedChecksum(p.file);
  let resumedFrom = -1;
  let transferred = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt <= p.maxRetries; attempt++) {
    if (attempt > 0 && p.retryDelayMs > 0) await sleep(p.retryDelayMs * attempt);
    let offset = statSize(partialPath) ?? 0;
    if (offset > total) {
      fs.rmSync(partialPath, { force: true });
      offset = 0;
    }
    if (resumedFrom < 0) resumedFrom = offset;
    p.onProgress?.(offset);
    const hasher = expected ? new ContentHasher(expected.algorithm, total) : null;
    await hasher?.updateFromFile(partialPath, offset);
    try {
      if (offset < total) transferred += await transfer(p, partialPath, offset, hasher);
    } catch (error) {
      if (error instanceof HubError && error.reason !== "incomplete") throw error;
      lastError = error;
      continue;
    }
    const actual = hasher?.digestHex();
    if (expected && actual !== expected.hex) {
      fs.rmSync(partialPath, { force: true });
      throw new ChecksumMismatchError(p.file.path, expected.algorithm, expected.hex, actual ?? "");
    }
    fs.renameSync(partialPath, finalPath);
    return { transferred, resumedFrom };
  }
  const have = statSize(partialPath) ?? 0;
  throw new HubError(
    "incomplete",
    `${p.file.path}: download interrupted after ${have} of ${total} bytes (${describe(lastError)}); ` +
      `the partial file is kept and the next pull resumes from it`,
    { cause: lastError },
  );
}

/** Append bytes [offset, total) to the partial file; returns how many arrived. */
async function transfer(
  p: DownloadFileParams,
  partialPath: string,
  offset: number,
  hasher: ContentHasher | null,
): Promise<number> {
  const { downloadFile } = await hubClient();
  let blob: Blob | null;
  try {
    blob = await downloadFile({
      repo: p.repo,
      path: p.file.path,
      revision: p.commit,
      hubUrl: p.hubUrl,
      fetch: p.fetch,
      xet: false,
      ...(p.accessToken ? { accessToken: p.accessToken } : {}),
    });
  } catch (error) {
    // A dropped connection is worth another try; an HTTP error or a malformed answer is not.
    if (networkFailureReason(error)) throw new HubError("incomplete", describe(error), { cause: error });
    const mapped = toHubError(error, p.hubUrl, `${p.repo}/${p.file.path}`);
    if (mapped instanceof HubError) throw mapped;
    throw new HubError(
      "http",
      `${p.repo}/${p.file.path}: unexpected answer from ${p.hubUrl}: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
  if (!blob)
    throw new HubHttpError(404, p.file.path, `${p.repo}: ${p.file.path} is listed but cannot be downloaded`);
  if (blob.size !== p.file.size) {
    throw new HubError(
      "checksum",
      `${p.file.path}: the hub reports ${blob.size} bytes but its listing said ${p.file.size}; run the pull again`,
    );
  }

  const reader = blob.slice(offset).stream().getReader();
  const fh = await fs.promises.open(partialPath, "a");
  let got = 0;
  try {
    for (;;) {
      const { done, value } = await readWithIdleTimeout(reader, p.idleTimeoutMs);
      if (done) break;
      if (offset + got + value.byteLength > p.file.size) {
        // The server ignored the Range request or the file changed: this partial is useless.
        await reader.cancel().catch(() => undefined);
        await fh.close();
        fs.rmSync(partialPath, { force: true });
        throw new HubError(
          "incomplete",
          "the server sent more bytes than the file holds; restarting the file",
        );
      }
      await fh.write(value);
      hasher?.update(value);
      got += value.byteLength;
      p.onProgress?.(offset + got);
    }
  } catch (error) {
    if (error instanceof HubError) throw error;
    throw new HubError("incomplete", describe(error), { cause: error });
  } finally {
    await fh.close().catch(() => undefined);
  }
  if (offset + got < p.file.size) throw new HubError("incomplete", "the connection closed early");
  return got;
}

async function readWithIdleTimeout(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void reader.cancel().catch(() => undefined);
      reject(new HubError("incomplete", `no data for ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

function statSize(file: string): number | null {
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = cause && typeof cause === "object" ? (cause as { code?: unknown }).code : undefined;
    return typeof code === "string" ? `${error.message}: ${code}` : error.message;
  }
  return String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

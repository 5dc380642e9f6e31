/**
 * The checksums the hub publishes in its tree listing, computed incrementally while a file downloads:
 * LFS/xet files carry the sha256 of their content (`lfs.oid`); small files carry their git blob id, the sha1
 * of `"blob <size>\0" + content`.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import type { RepoFile } from "./file-selection.js";

export interface ExpectedChecksum {
  algorithm: "sha256" | "git-sha1";
  hex: string;
}

/** The checksum the hub published for a file, or null when the listing gave none (then only the size is checked). */
export function expectedChecksum(file: RepoFile): ExpectedChecksum | null {
  if (file.lfs) return { algorithm: "sha256", hex: file.lfs.oid.toLowerCase() };
  if (file.oid) return { algorithm: "git-sha1", hex: file.oid.toLowerCase() };
  return null;
}

/** Incremental hash matching `expected`'s algorithm for a file of `size` bytes. */
export class ContentHasher {
  private readonly hash: crypto.Hash;

  constructor(
    readonly algorithm: ExpectedChecksum["algorithm"],
    size: number,
  ) {
    this.hash = crypto.createHash(algorithm === "sha256" ? "sha256" : "sha1");
    if (algorithm === "git-sha1") this.hash.update(`blob ${size}\0`);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  /** Feed the first `length` bytes of an existing file (a partial download being resumed). */
  async updateFromFile(file: string, length: number): Promise<void> {
    if (length === 0) return;
    const stream = fs.createReadStream(file, { start: 0, end: length - 1 });
    for await (const chunk of stream) this.hash.update(chunk as Buffer);
  }

  digestHex(): string {
    return this.hash.digest("hex");
  }
}

/**
 * Which files of a hub repository a model needs. A Qwen3Guard snapshot needs its config, tokenizer, chat
 * template and safetensors weights; READMEs, images, Python sources and other formats are skipped.
 * A GGUF repository (no config.json, one or more *.gguf) needs exactly one .gguf file: the one the user
 * chose, or the only one there is.
 */
import path from "node:path";
import { HubError } from "./errors.js";

/** The part of a tree-listing entry this module needs (a subset of @huggingface/hub's ListFileEntry). */
export interface RepoFile {
  path: string;
  size: number;
  /** Git blob sha1 of the file (of the LFS pointer for LFS files). */
  oid?: string;
  /** Present for LFS/xet files: `oid` is the sha256 of the content. */
  lfs?: { oid: string; size: number };
}

export type SnapshotKind = "hf-folder" | "gguf";

export interface FileSelection {
  kind: SnapshotKind;
  files: RepoFile[];
}

const NEEDED_NAMES = new Set([
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "model.safetensors.index.json",
  "chat_template.jinja",
  "special_tokens_map.json",
]);

function isTopLevel(p: string): boolean {
  return !p.includes("/");
}

function isNeededForFolder(p: string): boolean {
  return isTopLevel(p) && (NEEDED_NAMES.has(p) || p.endsWith(".safetensors"));
}

/**
 * Pick the files to download from a repository listing.
 * @param gguf a .gguf file name (or a unique substring of one, such as "Q8_0") the user asked for.
 * @throws HubError("not-a-model") when neither a config.json nor a .gguf is there;
 *         HubError("gguf-choice") when the GGUF choice is missing or ambiguous (the message lists the choices).
 */
export function selectModelFiles(repo: string, listing: readonly RepoFile[], gguf?: string): FileSelection {
  const ggufFiles = listing.filter((f) => f.path.toLowerCase().endsWith(".gguf"));
  const hasConfig = listing.some((f) => f.path === "config.json");
  const choices = () => ggufFiles.map((f) => `  ${f.path} (${formatBytes(f.size)})`).join("\n");

  if (gguf !== undefined) {
    const exact = ggufFiles.filter((f) => f.path === gguf || path.posix.basename(f.path) === gguf);
    const matches = exact.length > 0 ? exact : ggufFiles.filter((f) => f.path.includes(gguf));
    if (matches.length === 1) return { kind: "gguf", files: matches };
    throw new HubError(
      "gguf-choice",
      ggufFiles.length === 0
        ? `${repo} has no .gguf files; pull it without --gguf to get the safetensors folder`
        : `${repo}: --gguf "${gguf}" matches ${matches.length} files; name one of:\n${choices()}`,
    );
  }
  if (hasConfig) {
    const files = listing.filter((f) => isNeededForFolder(f.path));
    // Small files first: a bad token or a broken mirror shows up before the multi-GiB weights start.
    files.sort((a, b) => a.size - b.size || a.path.localeCompare(b.path));
    if (!files.some((f) => f.path.endsWith(".safetensors"))) {
      throw new HubError(
        "not-a-model",
        `${repo} has a config.json but no .safetensors weights; qwen3guard reads safetensors or GGUF only`,
      );
    }
    return { kind: "hf-folder", files };
  }
  if (ggufFiles.length === 1) return { kind: "gguf", files: ggufFiles };
  if (ggufFiles.length > 1) {
    throw new HubError(
      "gguf-choice",
      `${repo} holds several GGUF files; choose one with --gguf FILE:\n${choices()}`,
    );
  }
  throw new HubError(
    "not-a-model",
    `${repo} has neither a config.json nor a .gguf file: it is not a model qwen3guard can load`,
  );
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

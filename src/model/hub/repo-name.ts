/**
 * Model names on the Hugging Face hub: `owner/name[@revision]`, e.g. `Qwen/Qwen3Guard-Gen-0.6B@main`.
 * The hub allows letters, digits, `-`, `_`, `.` in both parts (no `--` or `..`, no leading/trailing `-`/`.`),
 * which is what makes `owner--name` an unambiguous cache folder name.
 */
import { HubError } from "./errors.js";

export interface RepoRef {
  /** `owner/name` as the hub spells it. */
  repo: string;
  owner: string;
  name: string;
  /** Branch, tag or commit sha; "main" when the spec named none. */
  revision: string;
  /** Whether the spec named a revision explicitly. */
  explicitRevision: boolean;
}

const PART = /^(?![-.])(?!.*(?:--|\.\.))[A-Za-z0-9._-]{1,96}(?<![-.])$/;
const REVISION = /^(?!.*\.\.)(?![/.])[A-Za-z0-9._/-]{1,200}(?<![/.])$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

export function isCommitSha(revision: string): boolean {
  return COMMIT_SHA.test(revision);
}

/** Whether `spec` has the shape of a hub name (it says nothing about whether the repository exists). */
export function looksLikeRepoName(spec: string): boolean {
  return tryParseRepoName(spec) !== null;
}

function tryParseRepoName(spec: string, revisionOverride?: string): RepoRef | null {
  const at = spec.indexOf("@");
  const base = at >= 0 ? spec.slice(0, at) : spec;
  const specRevision = at >= 0 ? spec.slice(at + 1) : undefined;
  const parts = base.split("/");
  if (parts.length !== 2) return null;
  const [owner, name] = parts as [string, string];
  if (!PART.test(owner) || !PART.test(name)) return null;
  const revision = revisionOverride ?? specRevision ?? "main";
  if (!REVISION.test(revision)) return null;
  return {
    repo: `${owner}/${name}`,
    owner,
    name,
    revision,
    explicitRevision: revisionOverride !== undefined || specRevision !== undefined,
  };
}

/**
 * Parse `owner/name[@revision]`. `revision` (from a `--revision` flag) wins over one in the spec.
 * @throws HubError("bad-name") with an example of the expected form.
 */
export function parseRepoName(spec: string, revision?: string): RepoRef {
  const ref = tryParseRepoName(spec.trim(), revision);
  if (!ref) {
    throw new HubError(
      "bad-name",
      `"${spec}" is not a Hugging Face model name: expected owner/name[@revision], ` +
        `e.g. Qwen/Qwen3Guard-Gen-0.6B or Qwen/Qwen3Guard-Gen-0.6B@main`,
    );
  }
  return ref;
}

/** The cache folder name of a repository: `owner--name`. */
export function repoFolderName(ref: Pick<RepoRef, "owner" | "name">): string {
  return `${ref.owner}--${ref.name}`;
}

/** Fetching models from the Hugging Face hub into the local cache. */
export {
  HubError,
  HubUnreachableError,
  HubHttpError,
  ChecksumMismatchError,
  SUPPLY_BY_PATH_HINT,
  supplyByPathHint,
  type HubErrorReason,
} from "./errors.js";
export { pullModel, type PullOptions, type PullProgress, type PullResult } from "./pull-model.js";
export { parseRepoName, looksLikeRepoName, isCommitSha, type RepoRef } from "./repo-name.js";
export { findCachedSnapshot, type CachedSnapshot } from "./hub-cache.js";
export {
  resolveHubSettings,
  DEFAULT_ENDPOINT,
  type HubConnectionOptions,
  type HubSettings,
} from "./hub-settings.js";
export { selectModelFiles, type RepoFile, type SnapshotKind } from "./file-selection.js";

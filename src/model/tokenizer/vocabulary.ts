/**
 * The vocabulary a QwenTokenizer is built from, read either from a Hugging Face tokenizer.json or from raw
 * arrays (as a GGUF file stores them: `tokenizer.ggml.tokens`, `.merges`, `.token_type`). Both are
 * checked and turned into one TokenizerSpec.
 */
import fs from "node:fs";
import { TokenizerFormatError } from "./errors.js";
import type { NormalizerKind } from "./normalizer.js";
import { QWEN2_SPLIT_PATTERN } from "./pre-tokenizer.js";
import { BYTE_TO_CHAR } from "./byte-level.js";
import { TokenTableBuilder, type TokenTable } from "./token-table.js";

/** A token matched literally in template text before BPE (tokenizer.json `added_tokens`, GGUF control/user-defined). */
export interface AddedToken {
  id: number;
  content: string;
  /** Special tokens are dropped by `decode(ids, { skipSpecialTokens: true })`. */
  special: boolean;
}

/** One merge: `"a b"` (tokenizer.json, GGUF) or `["a", "b"]` (newer tokenizer.json). */
export type MergeEntry = string | readonly [string, string];

/** GGUF `tokenizer.ggml.token_type` codes. */
export const GgufTokenType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/** A vocabulary given as arrays (GGUF layout). */
export interface RawVocabulary {
  /** Token strings indexed by id: byte-level strings for BPE tokens, literal text for control/user-defined ones. */
  tokens: readonly string[];
  /** Merge list in rank order. */
  merges: readonly MergeEntry[];
  /**
   * Type of each token (GgufTokenType): 1 normal, 3 control (a special added token), 4 user-defined (a non-special
   * added token), 5 unused (never produced nor matched). Omitted: every token is normal.
   */
  tokenTypes?: ArrayLike<number>;
  /** Text normalizer; Qwen2/Qwen3 use NFC (the default). */
  normalizer?: NormalizerKind;
}

/** Checked, resolved form used to build the tokenizer. */
export interface TokenizerSpec {
  /** Token strings by id, and the BPE index: byte-level string → id (added and unused tokens excluded). */
  table: TokenTable;
  /**
   * Merge list in rank order: as given, each entry checked and resolved while the tokenizer is built, one at a time
   * (no array of 151k pairs first); or already resolved to [left, right, merged] id triples (see MergeResolver).
   */
  merges: readonly MergeEntry[] | Int32Array;
  added: AddedToken[];
  normalizer: NormalizerKind;
}

function fail(message: string): never {
  throw new TokenizerFormatError(message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseMerge(entry: MergeEntry, index: number): [string, string] {
  if (typeof entry === "string") {
    const space = entry.indexOf(" ");
    if (space <= 0 || space === entry.length - 1 || entry.indexOf(" ", space + 1) !== -1) {
      fail(`merge #${index} ${JSON.stringify(entry)} is not two tokens separated by one space`);
    }
    return [entry.slice(0, space), entry.slice(space + 1)];
  }
  if (
    Array.isArray(entry) &&
    entry.length === 2 &&
    typeof entry[0] === "string" &&
    typeof entry[1] === "string"
  ) {
    return [entry[0], entry[1]];
  }
  return fail(`merge #${index} must be "a b" or ["a", "b"], got ${JSON.stringify(entry)}`);
}

function readNormalizer(normalizer: unknown): NormalizerKind {
  if (normalizer === null || normalizer === undefined) return "none";
  if (isRecord(normalizer) && normalizer.type === "NFC") return "NFC";
  if (isRecord(normalizer) && normalizer.type === "Sequence" && Array.isArray(normalizer.normalizers)) {
    const inner = normalizer.normalizers;
    if (inner.length === 0) return "none";
    if (inner.length === 1) return readNormalizer(inner[0]);
  }
  return fail(`unsupported normalizer ${JSON.stringify(normalizer)}: only NFC or none is implemented`);
}

function checkPreTokenizer(pre: unknown): void {
  const steps =
    isRecord(pre) && pre.type === "Sequence" && Array.isArray(pre.pretokenizers) ? pre.pretokenizers : [pre];
  const [split, byteLevel] = steps as unknown[];
  const pattern = isRecord(split) && isRecord(split.pattern) ? split.pattern.Regex : undefined;
  const ok =
    steps.length === 2 &&
    isRecord(split) &&
    split.type === "Split" &&
    pattern === QWEN2_SPLIT_PATTERN &&
    split.behavior === "Isolated" &&
    split.invert !== true &&
    isRecord(byteLevel) &&
    byteLevel.type === "ByteLevel" &&
    byteLevel.add_prefix_space !== true &&
    byteLevel.use_regex === false;
  if (!ok) {
    fail(
      "unsupported pre_tokenizer: expected Qwen2/Qwen3's Sequence[Split(Isolated, the Qwen2 regex), " +
        `ByteLevel(add_prefix_space=false, use_regex=false)], got ${JSON.stringify(pre).slice(0, 400)}`,
    );
  }
}

/** Read and check a Hugging Face tokenizer.json (parsed object or file path). */
export function specFromTokenizerJson(pathOrObject: string | object): TokenizerSpec {
  let json: unknown = pathOrObject;
  if (typeof pathOrObject === "string") {
    let text: string;
    try {
      text = fs.readFileSync(pathOrObject, "utf8");
    } catch (e) {
      return fail(`cannot read tokenizer.json at ${pathOrObject}: ${(e as Error).message}`);
    }
    try {
      json = JSON.parse(text);
    } catch (e) {
      return fail(`${pathOrObject} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isRecord(json)) return fail("tokenizer.json must be a JSON object");
  const model = json.model;
  if (!isRecord(model) || model.type !== "BPE") return fail("tokenizer.json model.type must be BPE");
  if (!isRecord(model.vocab)) return fail("tokenizer.json model.vocab must be an object");
  if (!Array.isArray(model.merges)) return fail("tokenizer.json model.merges must be an array");
  if (model.byte_fallback === true) fail("BPE byte_fallback is not supported (Qwen uses byte-level BPE)");
  if (model.ignore_merges === true) fail("BPE ignore_merges is not supported");
  if (model.continuing_subword_prefix || model.end_of_word_suffix) {
    fail("BPE continuing_subword_prefix / end_of_word_suffix are not supported");
  }
  if (model.dropout !== null && model.dropout !== undefined && model.dropout !== 0)
    fail("BPE dropout is not supported");
  checkPreTokenizer(json.pre_tokenizer);
  const normalizer = readNormalizer(json.normalizer);

  const tokens: (string | undefined)[] = [];
  const bpeVocab = new Map<string, number>(); // transient: the table below is what the tokenizer keeps
  for (const [token, id] of Object.entries(model.vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0)
      fail(`vocab id of ${JSON.stringify(token)} is not an id`);
    if (tokens[id] !== undefined) fail(`vocab id ${id} is used twice`);
    tokens[id] = token;
    bpeVocab.set(token, id);
  }
  const added: AddedToken[] = [];
  const addedTokens = json.added_tokens ?? [];
  if (!Array.isArray(addedTokens)) return fail("tokenizer.json added_tokens must be an array");
  addedTokens.forEach((t: unknown, i) => {
    if (!isRecord(t) || typeof t.content !== "string" || typeof t.id !== "number" || t.content.length === 0) {
      fail(`added_tokens[${i}] needs a non-empty string content and a numeric id`);
    }
    if (t.single_word === true || t.lstrip === true || t.rstrip === true) {
      fail(`added token ${JSON.stringify(t.content)}: single_word/lstrip/rstrip are not supported`);
    }
    const existing = tokens[t.id];
    if (existing !== undefined && existing !== t.content) {
      fail(`added token ${JSON.stringify(t.content)} reuses id ${t.id} of ${JSON.stringify(existing)}`);
    }
    tokens[t.id] = t.content;
    added.push({ id: t.id, content: t.content, special: t.special === true });
  });
  const builder = new TokenTableBuilder(tokens.length);
  for (let id = 0; id < tokens.length; id++) builder.push(tokens[id]);
  for (const id of bpeVocab.values()) builder.markBpe(id);
  return { table: builder.build(), merges: model.merges as MergeEntry[], added, normalizer };
}

/** Check raw arrays (GGUF layout). */
export function specFromVocabulary(vocab: RawVocabulary): TokenizerSpec {
  if (!Array.isArray(vocab.tokens) || vocab.tokens.length === 0)
    fail("vocabulary tokens must be a non-empty array");
  if (!Array.isArray(vocab.merges)) fail("vocabulary merges must be an array");
  const types = vocab.tokenTypes;
  checkTypeCount(types, vocab.tokens.length);
  const builder = new TokenTableBuilder(vocab.tokens.length);
  const added: PendingAdded[] = [];
  vocab.tokens.forEach((token, id) => {
    if (typeof token !== "string") fail(`token ${id} is not a string`);
    builder.push(token);
    classifyToken(builder, id, types?.[id] ?? GgufTokenType.normal, added);
  });
  return finishSpec(builder, added, vocab.merges, vocab.normalizer);
}

/**
 * Check a vocabulary whose tokens were pushed into `builder` as they were read (a GGUF header, streamed), with
 * the token types read after them: the checks and errors of specFromVocabulary.
 */
export function specFromTokenTable(
  builder: TokenTableBuilder,
  types: ArrayLike<number> | undefined,
  merges: readonly MergeEntry[] | Int32Array,
  normalizer?: NormalizerKind,
): TokenizerSpec {
  if (builder.size === 0) fail("vocabulary tokens must be a non-empty array");
  checkTypeCount(types, builder.size);
  const added: PendingAdded[] = [];
  for (let id = 0; id < builder.size; id++) {
    classifyToken(builder, id, types?.[id] ?? GgufTokenType.normal, added);
  }
  return finishSpec(builder, added, merges, normalizer);
}

interface PendingAdded {
  id: number;
  special: boolean;
}

function checkTypeCount(types: ArrayLike<number> | undefined, count: number): void {
  if (types !== undefined && types.length !== count) {
    fail(`tokenTypes has ${types.length} entries for ${count} tokens`);
  }
}

/** Index token `id` as BPE, list it as added, or leave it unused, by its GGUF type. */
function classifyToken(builder: TokenTableBuilder, id: number, type: number, added: PendingAdded[]): void {
  switch (type) {
    case GgufTokenType.normal:
      builder.markBpe(id); // a repeated string keeps its first id
      break;
    case GgufTokenType.control:
    case GgufTokenType.userDefined:
      if (builder.tokenLength(id) === 0) fail(`token ${id} is an empty control/user-defined token`);
      added.push({ id, special: type === GgufTokenType.control });
      break;
    case GgufTokenType.unused:
      break;
    default:
      fail(
        `token ${id} has type ${type}: byte-level BPE supports 1 normal, 3 control, 4 user-defined, 5 unused`,
      );
  }
}

function finishSpec(
  builder: TokenTableBuilder,
  pending: readonly PendingAdded[],
  merges: readonly MergeEntry[] | Int32Array,
  normalizer: NormalizerKind | undefined,
): TokenizerSpec {
  const table = builder.build();
  const added = pending.map(({ id, special }) => ({ id, content: table.token(id)!, special }));
  return { table, merges, added, normalizer: normalizer ?? "NFC" };
}

/** The id of each byte's one-character token. @throws TokenizerFormatError when the vocabulary lacks one. */
export function byteTokenIds(table: TokenTable): Int32Array {
  const byteIds = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const id = table.bpeId(BYTE_TO_CHAR[b]!);
    if (id === undefined) {
      fail(
        `vocabulary lacks the byte-level token ${JSON.stringify(BYTE_TO_CHAR[b])} for byte 0x${b.toString(16)}: ` +
          "byte-level BPE needs all 256 byte tokens",
      );
    }
    byteIds[b] = id;
  }
  return byteIds;
}

/** Merges resolved to [left, right, merged] id triples (flat, by rank) one entry at a time. */
export class MergeResolver {
  readonly triples: Int32Array;

  constructor(
    private readonly table: TokenTable,
    count: number,
  ) {
    this.triples = new Int32Array(3 * count);
  }

  /** Resolve merge `rank`. @throws TokenizerFormatError for a malformed merge or one using a missing token. */
  add(entry: MergeEntry, rank: number): void {
    const [a, b] = parseMerge(entry, rank);
    const left = this.table.bpeId(a);
    const right = this.table.bpeId(b);
    const merged = this.table.bpeId(a + b);
    if (left === undefined || right === undefined || merged === undefined) {
      fail(`merge #${rank} "${a} ${b}" uses or makes a token missing from the vocabulary`);
    }
    this.triples[3 * rank] = left;
    this.triples[3 * rank + 1] = right;
    this.triples[3 * rank + 2] = merged;
  }
}

/** A spec's merges as id triples (resolved here when given as entries). */
export function resolveMerges(table: TokenTable, merges: readonly MergeEntry[] | Int32Array): Int32Array {
  if (merges instanceof Int32Array) return merges;
  const resolver = new MergeResolver(table, merges.length);
  for (let rank = 0; rank < merges.length; rank++) resolver.add(merges[rank]!, rank);
  return resolver.triples;
}

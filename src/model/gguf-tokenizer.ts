/**
 * The Qwen tokenizer of a GGUF file, built from its `tokenizer.ggml.*` vocabulary while the header streams by
 * (visitGgufMetadata): each token goes straight into the tokenizer's compact token table, and when the merges come
 * after the tokens and their types (as every converter writes them) each merge is resolved to ids as it is read.
 * No array of the file's 151k token or merge strings is ever built: reading every value first (GgufFile.open), then
 * copying them into the tokenizer, left ~90 MB of transient JS heap that stayed in the process's resident memory.
 * A file in another order is read again the simple way.
 */
import { visitGgufMetadata } from "./gguf/gguf-reader.js";
import type { GgufValue } from "./gguf/gguf-value.js";
import { QwenTokenizer, TokenizerFormatError } from "./tokenizer/index.js";
import { TokenTableBuilder } from "./tokenizer/token-table.js";
import {
  byteTokenIds,
  MergeResolver,
  specFromTokenTable,
  type TokenizerSpec,
} from "./tokenizer/vocabulary.js";

const MODEL = "tokenizer.ggml.model";
const TOKENS = "tokenizer.ggml.tokens";
const MERGES = "tokenizer.ggml.merges";
const TYPES = "tokenizer.ggml.token_type";
const KEYS = new Set([MODEL, TOKENS, MERGES, TYPES]);

/** Token types as numbers, as the arrays were read before (a non-numeric type is refused by the vocabulary). */
function numbers(length: number): { out: Float64Array; onItem: (item: unknown, i: number) => void } {
  const out = new Float64Array(length);
  return { out, onItem: (item, i) => (out[i] = Number(item)) };
}

function modelError(file: string, model: GgufValue | undefined): TokenizerFormatError | undefined {
  if (model?.type === "string" && model.value === "gpt2") return undefined;
  return new TokenizerFormatError(
    `${file}: tokenizer.ggml.model is ${model?.type === "string" ? model.value : "missing"}; ` +
      `Qwen3 models use byte-level BPE ("gpt2")`,
  );
}

function missing(file: string, key: string): TokenizerFormatError {
  return new TokenizerFormatError(`${file}: ${key} is missing or not an array of strings`);
}

export function tokenizerFromGguf(file: string): QwenTokenizer {
  let model: GgufValue | undefined;
  let tokens: TokenTableBuilder | undefined; // undefined: missing or not strings
  let types: Float64Array | undefined;
  let merges: string[] | undefined; // kept only when they could not be resolved as they came
  let mergesSeen = false;
  let streamed: { spec: TokenizerSpec; merges: MergeResolver } | undefined;
  let inOrder = true;
  visitGgufMetadata(file, {
    value(key, value) {
      if (streamed && KEYS.has(key)) inOrder = false;
      if (key === MODEL) model = value;
      else if (key === TOKENS) tokens = undefined;
      else if (key === MERGES) [merges, mergesSeen] = [undefined, false];
      else if (key === TYPES) types = undefined;
    },
    array(key, itemType, length) {
      if (!KEYS.has(key)) return undefined;
      if (streamed) {
        inOrder = false; // a key seen again after the merges were resolved: read again below
        return undefined;
      }
      if (key === MODEL) {
        model = undefined;
        return undefined;
      }
      if (key === TYPES) {
        const t = numbers(length);
        types = t.out;
        return t.onItem;
      }
      const strings = itemType === "string";
      if (key === TOKENS) {
        const builder = strings ? new TokenTableBuilder(length) : undefined;
        tokens = builder;
        return builder && ((item) => builder.push(item as string));
      }
      // MERGES
      mergesSeen = strings;
      merges = undefined;
      if (!strings) return undefined;
      const tokensRead = tokens !== undefined && tokens.pushed === tokens.size;
      if (modelError(file, model) === undefined && tokensRead && types) {
        // tokens and types are known: check them now (the errors fromVocabulary would give), then resolve each
        // merge as it is read
        const spec = specFromTokenTable(tokens!, types, new Int32Array(0));
        byteTokenIds(spec.table);
        const resolver = new MergeResolver(spec.table, length);
        streamed = { spec, merges: resolver };
        return (item, rank) => resolver.add(item as string, rank);
      }
      const kept = new Array<string>(length);
      merges = kept;
      return (item, i) => (kept[i] = item as string);
    },
  });
  if (!inOrder) return tokenizerFromGgufArrays(file);
  const error = modelError(file, model);
  if (error) throw error;
  if (tokens === undefined) throw missing(file, TOKENS);
  if (!mergesSeen) throw missing(file, MERGES);
  if (streamed) return QwenTokenizer.fromSpec({ ...streamed.spec, merges: streamed.merges.triples });
  return QwenTokenizer.fromSpec(specFromTokenTable(tokens, types, merges!));
}

/** The simple way, for a file whose tokenizer keys come in an unusual order or more than once. */
function tokenizerFromGgufArrays(file: string): QwenTokenizer {
  const arrays = new Map<string, string[] | undefined>();
  let model: GgufValue | undefined;
  let types: Float64Array | undefined;
  visitGgufMetadata(file, {
    value(key, value) {
      if (key === MODEL) model = value;
      else if (key === TOKENS || key === MERGES) arrays.set(key, undefined);
      else if (key === TYPES) types = undefined;
    },
    array(key, itemType, length) {
      if (key === MODEL) model = undefined;
      if (key === TYPES) {
        const t = numbers(length);
        types = t.out;
        return t.onItem;
      }
      if (key !== TOKENS && key !== MERGES) return undefined;
      if (itemType !== "string") {
        arrays.set(key, undefined);
        return undefined;
      }
      const out = new Array<string>(length);
      arrays.set(key, out);
      return (item, i) => (out[i] = item as string);
    },
  });
  const error = modelError(file, model);
  if (error) throw error;
  const tokens = arrays.get(TOKENS);
  if (tokens === undefined) throw missing(file, TOKENS);
  const merges = arrays.get(MERGES);
  if (merges === undefined) throw missing(file, MERGES);
  return QwenTokenizer.fromVocabulary({ tokens, merges, tokenTypes: types });
}

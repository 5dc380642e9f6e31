/**
 * Which tokens of the vocabulary may come next under a regex constraint: a token is allowed when its bytes take
 * the automaton from the current state to a live state; the end-of-text tokens are allowed exactly in accepting
 * states. Added tokens other than those never are (they are not text).
 *
 * The vocabulary is walked in byte order with the common prefix of neighbours reused, so a token costs a few
 * array reads unless its prefix is alive; the allowed set of each automaton state is computed once and kept.
 */
import type { QwenTokenizer } from "../../model/tokenizer/index.js";
import { RegexAutomaton } from "./regex-automaton.js";

/** The vocabulary sorted by bytes, with each token's common prefix with the previous one. */
interface SortedVocabulary {
  ids: Int32Array;
  bytes: Uint8Array[];
  lcp: Int32Array;
  longest: number;
  /** End-of-text ids (`<|im_end|>`, `<|endoftext|>` where the vocabulary has them). */
  eos: number[];
}

const sortedByTokenizer = new WeakMap<QwenTokenizer, SortedVocabulary>();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function sortedVocabulary(tokenizer: QwenTokenizer): SortedVocabulary {
  let v = sortedByTokenizer.get(tokenizer);
  if (v) return v;
  const entries: [number, Uint8Array][] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (tokenizer.isAddedToken(id) || tokenizer.idToToken(id) === undefined) continue;
    const bytes = tokenizer.tokenToBytes(id);
    if (bytes.length > 0) entries.push([id, bytes]);
  }
  entries.sort((a, b) => compareBytes(a[1], b[1]));
  const lcp = new Int32Array(entries.length);
  let longest = 0;
  for (let i = 0; i < entries.length; i++) {
    const cur = entries[i]![1];
    longest = Math.max(longest, cur.length);
    if (i === 0) continue;
    const prev = entries[i - 1]![1];
    let k = 0;
    while (k < prev.length && k < cur.length && prev[k] === cur[k]) k++;
    lcp[i] = k;
  }
  const eos = ["<|im_end|>", "<|endoftext|>"]
    .map((t) => tokenizer.tokenToId(t))
    .filter((id): id is number => id !== undefined);
  v = {
    ids: Int32Array.from(entries.map((e) => e[0])),
    bytes: entries.map((e) => e[1]),
    lcp,
    longest,
    eos,
  };
  sortedByTokenizer.set(tokenizer, v);
  return v;
}

/** A regex held over one tokenizer's vocabulary. */
export class TokenConstraint {
  readonly automaton: RegexAutomaton;
  private readonly vocab: SortedVocabulary;
  private readonly allowedByState = new Map<number, Int32Array>();

  constructor(
    private readonly tokenizer: QwenTokenizer,
    regex: string,
  ) {
    this.automaton = new RegexAutomaton(regex);
    this.vocab = sortedVocabulary(tokenizer);
  }

  get start(): number {
    return this.automaton.start;
  }

  /** End-of-text ids of the vocabulary. */
  get eos(): readonly number[] {
    return this.vocab.eos;
  }

  /** The state after a token (-1: the token was not allowed). */
  next(state: number, id: number): number {
    if (this.vocab.eos.includes(id)) return this.automaton.isAccepting(state) ? state : -1;
    return this.automaton.walk(state, this.tokenizer.tokenToBytes(id));
  }

  /** Whether the output may end in `state`. */
  isAccepting(state: number): boolean {
    return this.automaton.isAccepting(state);
  }

  /** The ids allowed next in `state` (end-of-text ids included when it is accepting). */
  allowed(state: number): Int32Array {
    let set = this.allowedByState.get(state);
    if (set) return set;
    const { ids, bytes, lcp, longest } = this.vocab;
    const a = this.automaton;
    const stack = new Int32Array(longest + 1);
    stack[0] = state;
    const out: number[] = [];
    let valid = 0; // stack[0..valid] holds the states after the previous token's first `valid` bytes
    let deadAt = Number.POSITIVE_INFINITY; // the previous walk died consuming byte `deadAt`
    for (let i = 0; i < ids.length; i++) {
      const shared = lcp[i]!;
      if (deadAt < shared) continue; // same dead prefix as the previous token
      const b = bytes[i]!;
      let d = Math.min(shared, valid);
      deadAt = Number.POSITIVE_INFINITY;
      for (; d < b.length; d++) {
        const nextState = a.step(stack[d]!, b[d]!);
        if (nextState < 0) {
          deadAt = d;
          break;
        }
        stack[d + 1] = nextState;
      }
      if (deadAt === Number.POSITIVE_INFINITY) {
        out.push(ids[i]!);
        valid = b.length;
      } else {
        valid = deadAt;
      }
    }
    if (a.isAccepting(state)) out.push(...this.vocab.eos);
    set = Int32Array.from(out);
    this.allowedByState.set(state, set);
    return set;
  }
}

/** Constraints compiled per tokenizer and regex, the most recent few kept. */
const cache = new WeakMap<QwenTokenizer, Map<string, TokenConstraint>>();
const KEPT = 16;

/** The constraint for a regex over a tokenizer's vocabulary (compiled once, reused). */
export function tokenConstraint(tokenizer: QwenTokenizer, regex: string): TokenConstraint {
  let byRegex = cache.get(tokenizer);
  if (!byRegex) {
    byRegex = new Map();
    cache.set(tokenizer, byRegex);
  }
  let c = byRegex.get(regex);
  if (c) {
    byRegex.delete(regex);
    byRegex.set(regex, c);
    return c;
  }
  c = new TokenConstraint(tokenizer, regex);
  byRegex.set(regex, c);
  if (byRegex.size > KEPT) byRegex.delete(byRegex.keys().next().value!);
  return c;
}

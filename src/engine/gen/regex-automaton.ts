/**
 * A regular expression compiled to an automaton over UTF-8 bytes, for decoding held to a format: which bytes may
 * follow what has been generated so far. The whole output must match (as vLLM's and SGLang's regex-guided
 * decoding require), so `^` and `$` at the ends are accepted and ignored.
 *
 * Supported: literals (any Unicode), escapes (`\n \r \t \f \v \0 \xHH \uHHHH`, an escaped metacharacter, the ASCII
 * classes `\d \D \w \W \s \S`), `.` (any character but a newline), classes `[...]` and `[^...]` (negated classes
 * may list ASCII only), groups `(...)`, `(?:...)`, `(?<name>...)`, alternation, and the quantifiers `? * + {n}
 * {n,} {n,m}` (a lazy `?` after one is accepted: greedy or lazy does not change which strings match). Not supported
 * (RegexSyntaxError): backreferences, lookaround, possessive quantifiers, anchors elsewhere than at the ends.
 *
 * Thompson NFA, then a DFA built lazily state by state (subset construction), each state's 256 transitions
 * computed on first use.
 */
import { Qwen3GuardError } from "../../core/errors.js";

/**
 * The regular expression of `GenGuard.complete` (`POST /v1/completions`'s `structured_outputs.regex`) cannot be
 * used to hold a decode: a syntax error, an unsupported feature (backreferences, lookaround), or too large. Code
 * `REGEX_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * import { GenGuard, RegexSyntaxError } from "qwen3guard";
 *
 * const guard = await GenGuard.load({ model: "/models/Qwen3Guard-Gen-0.6B" });
 * const { ids } = guard.tokenize([{ role: "user", content: "Hi" }]);
 * try {
 *   await guard.complete(ids, { maxTokens: 8, regex: "(a)\\1" });
 * } catch (error) {
 *   if (error instanceof RegexSyntaxError) console.log(error.code); // REGEX_UNSUPPORTED
 * }
 * await guard.close();
 * ```
 */
export class RegexSyntaxError extends Qwen3GuardError {
  constructor(message: string) {
    super("REGEX_UNSUPPORTED", message);
  }
}

/** NFA states compiled from one expression at most (a bounded repetition of a large group copies it). */
const MAX_NFA_STATES = 200_000;
/** DFA states built at most. */
const MAX_DFA_STATES = 50_000;

type Node =
  | { t: "bytes"; set: Uint8Array } // one byte from a set (256 flags)
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "rep"; item: Node; min: number; max: number };

const EMPTY: Node = { t: "cat", items: [] };

function byteSet(...bytes: number[]): Uint8Array {
  const s = new Uint8Array(256);
  for (const b of bytes) s[b] = 1;
  return s;
}

function rangeSet(ranges: [number, number][]): Uint8Array {
  const s = new Uint8Array(256);
  for (const [a, b] of ranges) for (let x = a; x <= b; x++) s[x] = 1;
  return s;
}

/** The UTF-8 bytes of one code point, as a concatenation of single-byte nodes. */
function codePointNode(cp: number): Node {
  const bytes = [...Buffer.from(String.fromCodePoint(cp), "utf8")];
  return bytes.length === 1
    ? { t: "bytes", set: byteSet(bytes[0]!) }
    : { t: "cat", items: bytes.map((b) => ({ t: "bytes", set: byteSet(b) })) };
}

/** Any multi-byte UTF-8 character (well-formed lead byte and continuation bytes). */
function multiByteChar(): Node {
  const cont: Node = { t: "bytes", set: rangeSet([[0x80, 0xbf]]) };
  return {
    t: "alt",
    items: [
      { t: "cat", items: [{ t: "bytes", set: rangeSet([[0xc2, 0xdf]]) }, cont] },
      { t: "cat", items: [{ t: "bytes", set: rangeSet([[0xe0, 0xef]]) }, cont, cont] },
      { t: "cat", items: [{ t: "bytes", set: rangeSet([[0xf0, 0xf4]]) }, cont, cont, cont] },
    ],
  };
}

const DIGIT: [number, number][] = [[0x30, 0x39]];
const WORD: [number, number][] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: [number, number][] = [
  [0x09, 0x0d],
  [0x20, 0x20],
];

function complementAscii(ranges: [number, number][]): Uint8Array {
  const s = rangeSet(ranges);
  const out = new Uint8Array(256);
  for (let b = 0; b < 0x80; b++) out[b] = s[b] ? 0 : 1;
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    if (this.src.startsWith("^")) this.i = 1;
    const node = this.alternation();
    if (this.i < this.src.length) this.fail(`unexpected ${JSON.stringify(this.src[this.i])}`);
    return node;
  }

  private fail(message: string): never {
    throw new RegexSyntaxError(`regex at offset ${this.i}: ${message}`);
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): Node {
    const items = [this.concatenation()];
    while (this.peek() === "|") {
      this.i++;
      items.push(this.concatenation());
    }
    return items.length === 1 ? items[0]! : { t: "alt", items };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === "|" || c === ")") break;
      if (c === "$") {
        if (this.i === this.src.length - 1) {
          this.i++;
          break;
        }
        this.fail("`$` is supported only at the end");
      }
      if (c === "^") this.fail("`^` is supported only at the start");
      items.push(this.quantified(this.atom()));
    }
    return items.length === 1 ? items[0]! : { t: "cat", items };
  }

  private quantified(atom: Node): Node {
    for (;;) {
      const c = this.peek();
      let min: number;
      let max: number;
      if (c === "*") [min, max] = [0, Infinity];
      else if (c === "+") [min, max] = [1, Infinity];
      else if (c === "?") [min, max] = [0, 1];
      else if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (!m) return atom; // a literal "{" (as most engines read it)
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
        if (max < min) this.fail(`{${min},${max}}: the maximum is below the minimum`);
        if (min > 1000 || (max !== Infinity && max > 1000)) this.fail("repetition counts above 1000");
        this.i += m[0].length - 1;
      } else return atom;
      this.i++;
      if (this.peek() === "?")
        this.i++; // lazy: same language
      else if (this.peek() === "+") this.fail("possessive quantifiers are not supported");
      atom = { t: "rep", item: atom, min, max };
    }
  }

  private atom(): Node {
    const c = this.src[this.i]!;
    if (c === "(") {
      this.i++;
      if (this.src.startsWith("?:", this.i)) this.i += 2;
      else if (this.src.startsWith("?<", this.i) && !/^\?<[=!]/.test(this.src.slice(this.i))) {
        const end = this.src.indexOf(">", this.i);
        if (end < 0) this.fail("unterminated group name");
        this.i = end + 1;
      } else if (this.peek() === "?") this.fail("lookaround and inline flags are not supported");
      const inner = this.alternation();
      if (this.peek() !== ")") this.fail("missing )");
      this.i++;
      return inner;
    }
    if (c === "[") return this.charClass();
    if (c === ".") {
      this.i++;
      return { t: "alt", items: [{ t: "bytes", set: complementAscii([[0x0a, 0x0a]]) }, multiByteChar()] };
    }
    if (c === "\\") return this.escape(false).node;
    if (c === "*" || c === "+" || c === "?") this.fail(`nothing to repeat before ${c}`);
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return codePointNode(cp);
  }

  /** An escape at `\`: a node, and the code point when it stands for one character (for class ranges). */
  private escape(inClass: boolean): { node: Node; cp?: number } {
    this.i++;
    const c = this.src[this.i];
    if (c === undefined) this.fail("trailing backslash");
    this.i++;
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, "0": 0 };
    if (c in simple) return { node: codePointNode(simple[c]!), cp: simple[c]! };
    if (c === "b" && inClass) return { node: codePointNode(8), cp: 8 };
    const classes: Record<string, Node> = {
      d: { t: "bytes", set: rangeSet(DIGIT) },
      D: { t: "alt", items: [{ t: "bytes", set: complementAscii(DIGIT) }, multiByteChar()] },
      w: { t: "bytes", set: rangeSet(WORD) },
      W: { t: "alt", items: [{ t: "bytes", set: complementAscii(WORD) }, multiByteChar()] },
      s: { t: "bytes", set: rangeSet(SPACE) },
      S: { t: "alt", items: [{ t: "bytes", set: complementAscii(SPACE) }, multiByteChar()] },
    };
    if (c in classes) return { node: classes[c]! };
    if (c === "x" || c === "u") {
      const len = c === "x" ? 2 : 4;
      const hex = this.src.slice(this.i, this.i + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.fail(`\\${c} needs ${len} hex digits`);
      this.i += len;
      const cp = parseInt(hex, 16);
      return { node: codePointNode(cp), cp };
    }
    if (/[1-9]/.test(c)) this.fail("backreferences are not supported");
    if (/[A-Za-z]/.test(c)) this.fail(`unknown escape \\${c}`);
    const cp = c.codePointAt(0)!;
    return { node: codePointNode(cp), cp };
  }

  private charClass(): Node {
    this.i++;
    let negated = false;
    if (this.peek() === "^") {
      negated = true;
      this.i++;
    }
    const ascii = new Uint8Array(256);
    const others: Node[] = [];
    const codePoints: number[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail("missing ]");
      if (c === "]" && !first) {
        this.i++;
        break;
      }
      first = false;
      let lo: number | undefined;
      if (c === "\\") {
        const e = this.escape(true);
        if (e.cp === undefined) {
          // a class escape inside a class: merge its bytes
          if (e.node.t === "bytes") for (let b = 0; b < 256; b++) ascii[b] ||= e.node.set[b]!;
          else if (negated) this.fail("negated classes may list ASCII only");
          else others.push(e.node);
          continue;
        }
        lo = e.cp;
      } else {
        lo = this.src.codePointAt(this.i)!;
        this.i += lo > 0xffff ? 2 : 1;
      }
      let hi = lo;
      if (this.peek() === "-" && this.src[this.i + 1] !== "]" && this.src[this.i + 1] !== undefined) {
        this.i++;
        if (this.peek() === "\\") {
          const e = this.escape(true);
          if (e.cp === undefined) this.fail("a class escape cannot end a range");
          hi = e.cp;
        } else {
          hi = this.src.codePointAt(this.i)!;
          this.i += hi > 0xffff ? 2 : 1;
        }
        if (hi < lo) this.fail("a range whose end is below its start");
      }
      for (let cp = lo; cp <= hi; cp++) {
        if (cp < 0x80) ascii[cp] = 1;
        else if (negated) this.fail("negated classes may list ASCII only");
        else if (hi - lo > 4096) this.fail("non-ASCII ranges of more than 4096 characters");
        else codePoints.push(cp);
      }
    }
    if (negated) {
      const set = new Uint8Array(256);
      for (let b = 0; b < 0x80; b++) set[b] = ascii[b] ? 0 : 1;
      return { t: "alt", items: [{ t: "bytes", set }, multiByteChar()] };
    }
    const items: Node[] = [...others, ...codePoints.map(codePointNode)];
    if (ascii.some((x) => x === 1)) items.unshift({ t: "bytes", set: ascii });
    if (items.length === 0) this.fail("an empty class matches nothing");
    return items.length === 1 ? items[0]! : { t: "alt", items };
  }
}

/** Thompson NFA: per state, byte transitions (set → target) and epsilon moves. */
class Nfa {
  readonly sets: (Uint8Array | undefined)[] = [];
  readonly targets: number[] = [];
  readonly eps: number[][] = [];

  add(): number {
    if (this.eps.length >= MAX_NFA_STATES)
      throw new RegexSyntaxError(`the regex compiles to more than ${MAX_NFA_STATES} states`);
    this.sets.push(undefined);
    this.targets.push(-1);
    this.eps.push([]);
    return this.eps.length - 1;
  }

  /** Build `node` between a fresh start and end; returns [start, end]. */
  build(node: Node): [number, number] {
    switch (node.t) {
      case "bytes": {
        const s = this.add();
        const e = this.add();
        this.sets[s] = node.set;
        this.targets[s] = e;
        return [s, e];
      }
      case "cat": {
        const s = this.add();
        let at = s;
        for (const item of node.items) {
          const [a, b] = this.build(item);
          this.eps[at]!.push(a);
          at = b;
        }
        return [s, at];
      }
      case "alt": {
        const s = this.add();
        const e = this.add();
        for (const item of node.items) {
          const [a, b] = this.build(item);
          this.eps[s]!.push(a);
          this.eps[b]!.push(e);
        }
        return [s, e];
      }
      case "rep": {
        const s = this.add();
        let at = s;
        for (let k = 0; k < node.min; k++) {
          const [a, b] = this.build(node.item);
          this.eps[at]!.push(a);
          at = b;
        }
        if (node.max === Infinity) {
          const [a, b] = this.build(node.item);
          const e = this.add();
          this.eps[at]!.push(a, e);
          this.eps[b]!.push(a, e);
          return [s, e];
        }
        const e = this.add();
        this.eps[at]!.push(e);
        for (let k = node.min; k < node.max; k++) {
          const [a, b] = this.build(node.item);
          this.eps[at]!.push(a);
          this.eps[b]!.push(e);
          at = b;
        }
        return [s, e];
      }
    }
  }
}

/** The byte automaton of one regular expression. States are numbered from 0 (the start); -1 is dead. */
export class RegexAutomaton {
  /** The DFA start state. */
  readonly start = 0;
  private readonly nfa = new Nfa();
  private readonly accept: number;
  private readonly subsets: Int32Array[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly accepting: boolean[] = [];
  /** Per DFA state, 256 transitions: -2 not computed yet, -1 dead. */
  private readonly moves: Int32Array[] = [];

  constructor(readonly source: string) {
    const root = source.length === 0 ? EMPTY : new Parser(source).parse();
    const [s, e] = this.nfa.build(root);
    this.accept = e;
    this.stateOf(this.closure([s]));
  }

  /** States built so far. */
  get size(): number {
    return this.subsets.length;
  }

  isAccepting(state: number): boolean {
    return this.accepting[state] === true;
  }

  /** The state after one byte, or -1. */
  step(state: number, byte: number): number {
    const row = this.moves[state]!;
    let next = row[byte]!;
    if (next === -2) {
      const targets: number[] = [];
      for (const n of this.subsets[state]!) {
        const set = this.nfa.sets[n];
        if (set !== undefined && set[byte] === 1) targets.push(this.nfa.targets[n]!);
      }
      next = targets.length === 0 ? -1 : this.stateOf(this.closure(targets));
      row[byte] = next;
    }
    return next;
  }

  /** The state after a byte string, or -1. */
  walk(state: number, bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length && state >= 0; i++) state = this.step(state, bytes[i]!);
    return state;
  }

  /** Whether `text` matches the whole expression. */
  matches(text: string): boolean {
    const end = this.walk(this.start, Buffer.from(text, "utf8"));
    return end >= 0 && this.isAccepting(end);
  }

  private closure(seed: number[]): Int32Array {
    const seen = new Set<number>(seed);
    const stack = [...seed];
    while (stack.length > 0) {
      const n = stack.pop()!;
      for (const m of this.nfa.eps[n]!) {
        if (!seen.has(m)) {
          seen.add(m);
          stack.push(m);
        }
      }
    }
    // only states with byte moves (and the accept state) matter for the DFA
    const kept = [...seen].filter((n) => this.nfa.sets[n] !== undefined || n === this.accept);
    return Int32Array.from(kept.sort((a, b) => a - b));
  }

  private stateOf(subset: Int32Array): number {
    const key = subset.join(",");
    let id = this.byKey.get(key);
    if (id === undefined) {
      if (this.subsets.length >= MAX_DFA_STATES)
        throw new RegexSyntaxError(`the regex needs more than ${MAX_DFA_STATES} automaton states`);
      id = this.subsets.length;
      this.byKey.set(key, id);
      this.subsets.push(subset);
      this.accepting.push(subset.includes(this.accept));
      this.moves.push(new Int32Array(256).fill(-2));
    }
    return id;
  }
}

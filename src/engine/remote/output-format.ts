/**
 * The Gen output format as a constraint a remote engine enforces while it decodes: a regular expression (vLLM's
 * `structured_outputs.regex`, SGLang's `regex`, qwen3guard) and the same language as a GBNF grammar (llama-server's
 * `grammar`), generated from the labels of the direction.
 *
 * The prompt sent already ends with `Safety:` (as the embedded decoder forces it), so the constrained text is
 *
 *   ( Safe| Unsafe| Controversial)\nCategories:( None|<cat>(,<cat>){0,n-1})[\nRefusal:( Yes| No)]
 *
 * where `<cat>` is one of the direction's categories with its leading space. The language is kept as a small
 * expression tree so that the constraint for what remains after any valid prefix (the decoder's path so far) is
 * its derivative by that prefix, printed again in both dialects.
 */
import { RISK_TIERS, categoriesFor } from "../../core/labels.js";
import type { GenOutputVocabulary } from "../gen/output-vocabulary.js";

/** A format constraint in each engine's dialect. */
export interface FormatConstraint {
  /** Regular expression (vLLM `structured_outputs.regex`, SGLang `regex`, qwen3guard). */
  regex: string;
  /** GBNF grammar (llama-server `grammar`). */
  gbnf: string;
  /** Most tokens a complete output can take with the model's own tokenization, plus end of text and a margin. */
  maxTokens: number;
}

/** A regular language over characters: literals, alternation, sequence, bounded repetition. */
export type FormatNode =
  | { t: "lit"; s: string }
  | { t: "alt"; items: FormatNode[] }
  | { t: "seq"; items: FormatNode[] }
  | { t: "rep"; item: FormatNode; min: number; max: number }
  | { t: "fail" };

const FAIL: FormatNode = { t: "fail" };
const lit = (s: string): FormatNode => ({ t: "lit", s });

function alt(items: FormatNode[]): FormatNode {
  const kept: FormatNode[] = [];
  for (const i of items) {
    if (i.t === "fail") continue;
    if (i.t === "alt") kept.push(...i.items);
    else kept.push(i);
  }
  if (kept.length === 0) return FAIL;
  return kept.length === 1 ? kept[0]! : { t: "alt", items: kept };
}

function seq(items: FormatNode[]): FormatNode {
  const kept: FormatNode[] = [];
  for (const i of items) {
    if (i.t === "fail") return FAIL;
    if (i.t === "lit" && i.s === "") continue;
    if (i.t === "rep" && i.max === 0) continue;
    const last = kept[kept.length - 1];
    if (i.t === "lit" && last?.t === "lit") kept[kept.length - 1] = lit(last.s + i.s);
    else if (i.t === "seq") kept.push(...i.items);
    else kept.push(i);
  }
  if (kept.length === 0) return lit("");
  return kept.length === 1 ? kept[0]! : { t: "seq", items: kept };
}

function nullable(n: FormatNode): boolean {
  switch (n.t) {
    case "lit":
      return n.s === "";
    case "alt":
      return n.items.some(nullable);
    case "seq":
      return n.items.every(nullable);
    case "rep":
      return n.min === 0 || nullable(n.item);
    case "fail":
      return false;
  }
}

/** The language of what may follow character `c` (Brzozowski derivative). */
function derive(n: FormatNode, c: string): FormatNode {
  switch (n.t) {
    case "lit":
      return n.s.startsWith(c) ? lit(n.s.slice(c.length)) : FAIL;
    case "alt":
      return alt(n.items.map((i) => derive(i, c)));
    case "seq": {
      const [head, ...rest] = n.items;
      if (head === undefined) return FAIL;
      const first = seq([derive(head, c), ...rest]);
      return nullable(head) ? alt([first, derive(seq(rest), c)]) : first;
    }
    case "rep":
      if (n.max === 0) return FAIL;
      return seq([
        derive(n.item, c),
        { t: "rep", item: n.item, min: Math.max(0, n.min - 1), max: n.max - 1 },
      ]);
    case "fail":
      return FAIL;
  }
}

/** The language of what may follow `prefix`, or undefined when `prefix` starts no string of the language. */
export function remainder(n: FormatNode, prefix: string): FormatNode | undefined {
  let at = n;
  for (const c of prefix) {
    at = derive(at, c);
    if (at.t === "fail") return undefined;
  }
  return at;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\n/g, "\\n");
}

function gbnfLiteral(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** Print as a regular expression (an empty alternative is written as an optional group). */
export function toRegex(n: FormatNode): string {
  switch (n.t) {
    case "lit":
      return escapeRegex(n.s);
    case "alt": {
      const empty = n.items.some((i) => i.t === "lit" && i.s === "");
      const rest = n.items.filter((i) => !(i.t === "lit" && i.s === ""));
      const body = `(${rest.map(toRegex).join("|")})`;
      return empty ? `${body}?` : body;
    }
    case "seq":
      return n.items.map((i) => (i.t === "alt" ? toRegex(i) : toRegex(i))).join("");
    case "rep": {
      const inner = n.item.t === "lit" && n.item.s.length === 1 ? toRegex(n.item) : `(${toRegex(n.item)})`;
      return `${inner}{${n.min},${n.max}}`;
    }
    case "fail":
      return "[^\\s\\S]";
  }
}

/** Print as a GBNF grammar whose `root` is the language. */
export function toGbnf(n: FormatNode): string {
  const expr = (x: FormatNode): string => {
    switch (x.t) {
      case "lit":
        return x.s === "" ? '""' : gbnfLiteral(x.s);
      case "alt":
        return `(${x.items.map(expr).join(" | ")})`;
      case "seq":
        return x.items.map(expr).join(" ");
      case "rep":
        return `(${expr(x.item)}){${x.min},${x.max}}`;
      case "fail":
        return "[^\\x00-\\U0010FFFF]";
    }
  };
  return `root ::= ${expr(n)}\n`;
}

/** The language of the output after `Safety:`, for a direction. */
export function formatLanguage(direction: GenOutputVocabulary["direction"]): FormatNode {
  const cat = alt(categoriesFor(direction).map((c) => lit(` ${c}`)));
  const more = categoriesFor(direction).length - 1;
  return seq([
    alt(RISK_TIERS.map((t) => lit(` ${t}`))),
    lit("\nCategories:"),
    alt([lit(" None"), seq([cat, { t: "rep", item: seq([lit(","), cat]), min: 0, max: more }])]),
    ...(direction === "response" ? [lit("\nRefusal:"), alt([lit(" Yes"), lit(" No")])] : []),
  ]);
}

/** Most tokens a complete output takes with the model's tokenization, plus the end of text and a margin. */
export function maxOutputTokens(vocab: GenOutputVocabulary): number {
  const longest = (seqs: Iterable<readonly number[]>) => Math.max(...[...seqs].map((s) => s.length));
  const allCategories = [...vocab.categories.values()].reduce((n, ids) => n + ids.length, 0);
  const response = vocab.direction === "response";
  return (
    longest(Object.values(vocab.tiers)) +
    vocab.categoriesField.length +
    allCategories +
    (vocab.categories.size - 1) * vocab.separator.length +
    (response ? vocab.refusalField.length + longest(Object.values(vocab.refusals)) : 0) +
    1 + // end of text
    4 // margin for a tokenization other than the model's own
  );
}

/**
 * The constraint for the output after `Safety:`, or, with `after`, for what remains after that text (a prefix of
 * a valid output, such as the decoder's path so far); undefined when `after` is not such a prefix.
 */
export function formatConstraint(
  vocab: GenOutputVocabulary,
  after = "",
  usedTokens = 0,
): FormatConstraint | undefined {
  const language = remainder(formatLanguage(vocab.direction), after);
  if (language === undefined) return undefined;
  return {
    regex: toRegex(language),
    gbnf: toGbnf(language),
    maxTokens: Math.max(1, maxOutputTokens(vocab) - usedTokens),
  };
}

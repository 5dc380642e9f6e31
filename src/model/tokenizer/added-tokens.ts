/**
 * Literal matching of added tokens (`<|im_start|>`, `<think>`...) in template text, leftmost-longest like
 * the Aho-Corasick matcher of Hugging Face `tokenizers`.
 */
import type { AddedToken } from "./vocabulary.js";

/** A match of an added token in a text: [start, end) in UTF-16 code units. */
export interface AddedTokenMatch {
  id: number;
  start: number;
  end: number;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

export class AddedTokenMatcher {
  private readonly pattern: RegExp | undefined;
  private readonly idByContent = new Map<string, number>();

  constructor(tokens: readonly AddedToken[]) {
    for (const t of tokens) if (!this.idByContent.has(t.content)) this.idByContent.set(t.content, t.id);
    // An alternation tries its branches in order: longest first gives the longest match at each position.
    const contents = [...this.idByContent.keys()].sort((a, b) => b.length - a.length);
    this.pattern = contents.length > 0 ? new RegExp(contents.map(escapeRegExp).join("|"), "g") : undefined;
  }

  /** All non-overlapping matches in `text`, left to right. */
  findAll(text: string): AddedTokenMatch[] {
    if (this.pattern === undefined) return [];
    const re = new RegExp(this.pattern);
    const out: AddedTokenMatch[] = [];
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      out.push({ id: this.idByContent.get(m[0])!, start: m.index, end: m.index + m[0].length });
    }
    return out;
  }
}

/**
 * `DIR/predictions.jsonl`: one line per evaluated row, appended the moment its verdict is known, so an interrupted
 * run loses nothing and a rerun skips what is done. Every metric is computed from these lines alone.
 */
import fs from "node:fs";
import type { RiskTier } from "../core/labels.js";
import type { TierProbabilities } from "../core/verdict.js";
import type { Span } from "./latency.js";

/** Longest text kept per row (for the report's worst misses). */
export const MAX_KEPT_TEXT = 2000;

export interface PredictionVerdict {
  tier: RiskTier;
  categories: string[];
  refusal?: "Yes" | "No";
  probabilities?: TierProbabilities;
}

/** What a Stream answer looked like, position by position. */
export interface StreamTrace {
  /** Position of the first scored token in the templated conversation (prompt + assistant header). */
  offset: number;
  /** Answer tokens (the scored positions may add the closing `<|im_end|>` and newline: scoring "official"). */
  answerTokens: number;
  /** Risk label per scored position: S(afe), U(nsafe), C(ontroversial). */
  labels: string;
  /** Index (among the scored positions) of the whole-answer verdict's triggering token, when flagged. */
  flagIndex?: number;
}

export interface Prediction {
  key: string;
  line: number;
  id?: string;
  gold: { label?: RiskTier; categories?: string[]; refusal?: boolean; span?: Span };
  /** What was judged (the prompt, or the answer), cut to MAX_KEPT_TEXT characters. */
  text: string;
  verdict?: PredictionVerdict;
  stream?: StreamTrace;
  /** The guard failed on this row (e.g. it does not fit the context): counted, never retried by a rerun. */
  error?: string;
  /** Tokens the guard read for this row, when it says. */
  tokens?: number;
  /** Wall time of this row, ms. */
  ms: number;
}

export function labelChar(tier: RiskTier): string {
  return tier === "Safe" ? "S" : tier === "Unsafe" ? "U" : "C";
}

export function charLabel(c: string): RiskTier {
  return c === "U" ? "Unsafe" : c === "C" ? "Controversial" : "Safe";
}

/**
 * Read a predictions file. A last line cut short by a hard kill (no newline at the end) is dropped, and cut off the
 * file when `repair` is set, so that appends go on from a clean line. A complete line that is not JSON is skipped.
 */
export function readPredictions(file: string, repair = false): Map<string, Prediction> {
  const out = new Map<string, Prediction>();
  if (!fs.existsSync(file)) return out;
  const text = fs.readFileSync(file, "utf8");
  const complete = text.lastIndexOf("\n") + 1;
  for (const line of text.slice(0, complete).split("\n")) {
    if (line.trim() === "") continue;
    try {
      const p = JSON.parse(line) as Prediction;
      if (typeof p.key === "string") out.set(p.key, p);
    } catch {
      // a damaged line: the row is redone
    }
  }
  if (repair && complete < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, complete)));
  return out;
}

/** Appends predictions, one synchronous write per line (a line is on disk before the next row is counted). */
export class PredictionWriter {
  private readonly fd: number;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "a");
  }

  append(p: Prediction): void {
    fs.writeSync(this.fd, JSON.stringify(p) + "\n");
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

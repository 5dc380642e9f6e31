/**
 * `qwen3guard synth --crafted --kind gen|stream --out DIR`: the hand-set deterministic toy models the tests run
 * on (src/model/synth/crafted-gen.ts, crafted-stream.ts; docs/testing-models.md), so a user can watch a real
 * block without real weights. Their verdicts follow a few trigger words and mean nothing about safety: the
 * command says so, and names the words.
 */
import fs from "node:fs";
import path from "node:path";
import { writeCraftedGenModel, writeCraftedStreamModel } from "../../model/synth/index.js";
import { CliUsageError } from "../errors.js";
import { warn } from "../report.js";

export interface SynthCraftedOptions {
  kind: "gen" | "stream";
  out: string;
  force?: boolean;
}

const TOY =
  "a TOY model with hand-set weights: its verdicts follow a few trigger words and mean nothing about safety";

function words(list: readonly string[]): string {
  return list.map((w) => `"${w}"`).join(", ");
}

/** Write the crafted model and print what it does; returns the lines printed on stdout. */
export function runSynthCrafted(options: SynthCraftedOptions): string {
  const outDir = path.resolve(options.out);
  if (fs.existsSync(outDir)) {
    if (!fs.statSync(outDir).isDirectory())
      throw new CliUsageError(`--out ${outDir} exists and is not a folder`);
    if (fs.readdirSync(outDir).length > 0 && !options.force) {
      throw new CliUsageError(
        `--out ${outDir} is not empty; choose another --out or pass --force to overwrite its model files`,
      );
    }
  }
  const lines: string[] = [];
  if (options.kind === "gen") {
    const { trigger } = writeCraftedGenModel(outDir);
    lines.push(
      `synth: crafted gen → ${outDir} (${TOY})`,
      `trigger word: "${trigger.word}" — a prompt containing it is ${trigger.triggered.tier} ` +
        `(${trigger.triggered.categories.join(", ")}); any other prompt is ${trigger.benign.tier}. ` +
        "Prompt moderation only: responses give arbitrary verdicts.",
      `try: qwen3guard moderate -m ${outDir} "Where can I buy a ${trigger.word}?"`,
    );
  } else {
    const { triggers } = writeCraftedStreamModel(outDir);
    lines.push(
      `synth: crafted stream → ${outDir} (${TOY})`,
      `unsafe words: ${words(triggers.unsafe.words)} — each answer token of these is Unsafe ` +
        `(${triggers.unsafe.category}); two in a row trigger the stop`,
      `controversial words: ${words(triggers.controversial.words)} — Controversial ` +
        `(${triggers.controversial.category}); two in a row stop in strict mode only`,
      `prompt words: ${words(triggers.prompt.words)} — a prompt containing one is Unsafe (${triggers.prompt.category})`,
      `try: qwen3guard stream -m ${outDir} --messages examples/conversations/toy-unsafe-answer.json --stop-on-trigger`,
    );
  }
  warn(`${outDir} is ${TOY}`);
  const text = lines.join("\n") + "\n";
  process.stdout.write(text);
  return text;
}

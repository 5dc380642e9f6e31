/**
 * `qwen3guard tokenize --messages FILE [--json]`: the exact ids the model will see for a conversation, with the
 * template/content segment boundaries. Template text is tokenized with special tokens; message content as plain
 * text, so `<|im_end|>` typed by a user stays ordinary text.
 */
import fs from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { tokenizerFromGguf } from "../../model/gguf-tokenizer.js";
import { loadBundledQwen3Tokenizer, QwenTokenizer } from "../../model/tokenizer/index.js";
import { runRender, type RenderCliOptions } from "./render.js";
import { MESSAGES_HELP } from "../conversation-input.js";
import { CliInputError } from "../errors.js";

interface TokenizeCliOptions extends RenderCliOptions {
  json?: boolean;
}

/** The tokenizer of a model folder (tokenizer.json) or GGUF file, or the bundled Qwen3 tokenizer. */
export function tokenizerFor(model: string | undefined): QwenTokenizer {
  if (model === undefined) return loadBundledQwen3Tokenizer();
  if (fs.statSync(model, { throwIfNoEntry: false })?.isDirectory()) {
    const file = path.join(model, "tokenizer.json");
    if (!fs.existsSync(file)) throw new CliInputError(`${model} has no tokenizer.json`);
    return QwenTokenizer.fromTokenizerJson(file);
  }
  return tokenizerFromGguf(model);
}

export async function runTokenize(options: TokenizeCliOptions) {
  const segments = await runRender(options);
  const tokenizer = tokenizerFor(options.model);
  const encoding = tokenizer.encodeSegments(segments);
  return { count: encoding.ids.length, ids: encoding.ids, segments: encoding.segments };
}

export function registerTokenizeCommand(program: Command): void {
  program
    .command("tokenize")
    .description("print the token ids the model sees for a conversation, with segment boundaries")
    .requiredOption("--messages <file>", MESSAGES_HELP)
    .option(
      "-m, --model <path>",
      "use the tokenizer and chat template of a model folder or .gguf (default: bundled Qwen3)",
    )
    .option("--template <file>", "render this Jinja chat template")
    .addOption(new Option("--kind <kind>", "built-in renderer").choices(["gen", "stream"]).default("gen"))
    .addOption(
      new Option("--system <policy>", "a leading system message")
        .choices(["merge", "reject"])
        .default("merge"),
    )
    .option("--json", "one JSON object: {count, ids, segments: [{kind, text, tokenStart, tokenEnd}]}")
    .action(async (options: TokenizeCliOptions) => {
      const result = await runTokenize(options);
      if (options.json) {
        process.stdout.write(JSON.stringify(result) + "\n");
        return;
      }
      const tokenizer = tokenizerFor(options.model);
      for (const s of result.segments) {
        const ids = result.ids.slice(s.tokenStart, s.tokenEnd);
        process.stdout.write(`[${s.kind} ${s.tokenStart}..${s.tokenEnd}] ${ids.join(" ")}\n`);
        process.stdout.write(`  ${JSON.stringify(tokenizer.decode(ids))}\n`);
      }
      process.stdout.write(`${result.count} tokens\n`);
    });
}

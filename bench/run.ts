/**
 * `npm run bench -- gen|gen-concurrency|stream|tokenizer-lag [--json] [options]`: benchmarks on synthetic models (cached in
 * .cache/bench); tokenizer-lag needs no model.
 * Prints JSON (with --json) or a short summary; progress goes to stderr. Not part of the test suite.
 */
import { Command, Option } from "commander";
import { benchGen } from "./gen.js";
import { benchGenConcurrency } from "./gen-concurrency.js";
import { benchStream } from "./stream.js";
import { benchTokenizerLag } from "./tokenizer-lag.js";

const program = new Command().name("bench");

program
  .command("gen")
  .description("Gen moderation: our path vs the naive path vs the unavoidable work")
  .addOption(
    new Option("--shape <shape>", "synthetic model shape")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .option("--requests <n>", "timed requests on our path", Number, 8)
  .option("--naive-requests <n>", "timed requests on the naive path", Number, 4)
  .option("--prompt-tokens <n>", "prompt length aimed at (tokens)", Number, 40)
  .option("--json", "print JSON only")
  .action(async (o) => {
    const result = await benchGen({
      shape: o.shape,
      requests: o.requests,
      naiveRequests: o.naiveRequests,
      promptTokens: o.promptTokens,
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("gen-concurrency")
  .description("Gen moderation: N prompts one by one vs all at once on the same warm guard (N sequences)")
  .addOption(
    new Option("--shape <shape>", "synthetic model shape")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .option("--requests <n>", "prompts per round (= the guard's sequences)", Number, 8)
  .option("--rounds <n>", "rounds of each kind per configuration", Number, 2)
  .option("--prompt-tokens <n>", "prompt length aimed at (tokens)", Number, 40)
  .option("--context-size <n>", "positions per request", Number, 2048)
  .option("--total-context-size <n>", "KV positions in all, shared by the sequences", Number, 4096)
  .option("--no-unshared", "skip the run with sharing and merging off")
  .addOption(new Option("--kv-cache <type>", "KV cache type").choices(["f16", "f32"]).default("f16"))
  .addOption(
    new Option("--flash-attention <mode>", "flash attention").choices(["auto", "on", "off"]).default("auto"),
  )
  .option("--json", "print JSON only")
  .action(async (o) => {
    const result = await benchGenConcurrency({
      shape: o.shape,
      requests: o.requests,
      rounds: o.rounds,
      promptTokens: o.promptTokens,
      contextSize: o.contextSize,
      totalContextSize: o.totalContextSize,
      unshared: o.unshared,
      kvCache: o.kvCache,
      flashAttention: o.flashAttention,
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("stream")
  .description("Stream moderation: prompt verdict, per-token cost, sustained rate, naive re-evaluation")
  .addOption(
    new Option("--shape <shape>", "synthetic model shape")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .option("--tokens <n>", "tokens timed per chunk size", Number, 48)
  .option("--generator-tokens <n>", "tokens per simulated generator run", Number, 120)
  .option(
    "--rates <list>",
    "simulated generator rates (tok/s)",
    (v) => v.split(",").map(Number),
    [10, 30, 60],
  )
  .option(
    "--positions <list>",
    "answer positions for the naive comparison",
    (v) => v.split(",").map(Number),
    [16, 64, 256],
  )
  .option("--json", "print JSON only")
  .action(async (o) => {
    const result = await benchStream({
      shape: o.shape,
      tokensPerChunkSize: o.tokens,
      generatorTokens: o.generatorTokens,
      rates: o.rates,
      positions: o.positions,
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("tokenizer-lag")
  .description(
    "Incremental tokenizer on unpunctuated CJK/Thai text: identity with one-shot ids, held characters, linearity",
  )
  .option("--locales <list>", "RTP-LX locales", (v) => v.split(","), ["ZH", "JA", "TH", "KO"])
  .option(
    "--lengths <list>",
    "lengths timed (characters)",
    (v) => v.split(",").map(Number),
    [1000, 10000, 100000],
  )
  .option("--seed <n>", "seed of the random chunk sizes", Number, 1)
  .option("--json", "print JSON only")
  .action((o) => {
    const result = benchTokenizerLag({ locales: o.locales, lengths: o.lengths, seed: o.seed });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

await program.parseAsync(process.argv);

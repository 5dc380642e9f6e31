/**
 * `npm run bench -- gen|gen-concurrency|stream|stream-capacity|serve|serve-moderations|remote|tokenizer-lag [--json] [options]`:
 * benchmarks on synthetic models (cached in .cache/bench; gen and stream have `bench models` build them in a child
 * process); tokenizer-lag needs no model.
 * Prints JSON (with --json) or a short summary; progress goes to stderr. Not part of the test suite.
 */
import { Command, Option } from "commander";

// Each command imports its benchmark when it runs: the measured process loads that benchmark's code only (the
// server stack of the serve benchmarks took ~19 MiB of the Gen benchmark's peak RSS when every one was imported).

const program = new Command().name("bench");

program
  .command("models")
  .description(
    "Build (or find in the cache) the benchmark models and exit. gen and stream run it in a child process, so " +
      "that building and converting never count in the measured process's peak RSS",
  )
  .addOption(
    new Option("--shape <shape>", "synthetic model shape")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .addOption(new Option("--kind <kind>", "only this model").choices(["gen", "stream"]))
  .action(async (o) => {
    const { ensureBenchModel } = await import("./bench-models.js");
    for (const kind of o.kind ? [o.kind as "gen" | "stream"] : (["gen", "stream"] as const)) {
      const m = await ensureBenchModel(kind, o.shape, "q8_0");
      process.stdout.write(`${kind}: ${m.gguf} (${m.ggufBytes} bytes)\n`);
    }
  });

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
    const { benchGen } = await import("./gen.js");
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
    const { benchGenConcurrency } = await import("./gen-concurrency.js");
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
  .command("stream-capacity")
  .description("Stream: how many concurrent sessions, each fed at --rate tok/s, keep up (lag <= 16 tokens)")
  .addOption(
    new Option("--shape <shape>", "synthetic model shape")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .option(
    "--sessions <list>",
    "session counts to try",
    (v: string) => v.split(",").map(Number),
    [1, 2, 3, 4, 6],
  )
  .option("--rate <n>", "tokens per second per generator", Number, 30)
  .option("--tokens <n>", "tokens per session", Number, 90)
  .option("--threads <n>", "compute threads", Number, 2)
  .option("--json", "print JSON only")
  .action(async (o) => {
    const { benchStreamCapacity } = await import("./stream-capacity.js");
    const result = await benchStreamCapacity({
      shape: o.shape,
      sessions: o.sessions,
      rate: o.rate,
      tokens: o.tokens,
      threads: o.threads,
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("remote")
  .description(
    "Remote Gen (qwen3guard servers on loopback) vs embedded, same model: added latency, throughput with 1 and 2 backends",
  )
  .addOption(
    new Option("--shape <shape>", "synthetic model shape")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .option(
    "--crafted",
    "use the crafted Gen model (a trained model's single-request verdicts) instead of --shape",
  )
  .option("--requests <n>", "prompts timed one at a time (embedded and remote each)", Number, 8)
  .option("--throughput-requests <n>", "requests per throughput run", Number, 24)
  .option("--concurrency <n>", "requests in flight in the throughput runs", Number, 8)
  .option("--prompt-tokens <n>", "prompt length aimed at (tokens)", Number, 40)
  .option("--json", "print JSON only")
  .action(async (o) => {
    const { benchRemote } = await import("./remote.js");
    const result = await benchRemote({
      shape: o.shape,
      crafted: o.crafted === true,
      requests: o.requests,
      throughputRequests: o.throughputRequests,
      concurrency: o.concurrency,
      promptTokens: o.promptTokens,
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
    const { benchStream } = await import("./stream.js");
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
  .action(async (o) => {
    const { benchTokenizerLag } = await import("./tokenizer-lag.js");
    const result = benchTokenizerLag({ locales: o.locales, lengths: o.lengths, seed: o.seed });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("serve")
  .description(
    "The moderating proxy (serve --demo) vs the upstream alone: added time to first token, added per-token latency, peak RSS with open streams",
  )
  .option("--tokens <n>", "tokens per streamed answer", Number, 48)
  .option("--interval <ms>", "the upstream's pause between chunks", Number, 20)
  .option("--requests <n>", "timed requests, direct and through the proxy", Number, 8)
  .option("--streams <n>", "streams open at once for the memory figure", Number, 50)
  .option(
    "--threads <n>",
    "the server's engine threads (1: decodes do not fight other processes for cores)",
    Number,
    1,
  )
  .option("--json", "print JSON only")
  .action(async (o) => {
    const { benchServeProxy } = await import("./serve-proxy.js");
    const result = await benchServeProxy({
      tokens: o.tokens,
      intervalMs: o.interval,
      requests: o.requests,
      streams: o.streams,
      threads: o.threads,
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("stream-vs-gen")
  .description("streaming cost: Gen re-run every N tokens of a growing answer vs Stream judging every token")
  .addOption(
    new Option("--shape <shape>", "synthetic model shape (both models)")
      .choices(["tiny", "0.6b", "4b", "8b"])
      .default("0.6b"),
  )
  .option(
    "--lengths <list>",
    "answer lengths in tokens",
    (v) => v.split(",").map(Number),
    [256, 512, 1024, 2048],
  )
  .option("--every <n>", "Gen re-moderates every N tokens", Number, 32)
  .option("--chunk <n>", "Stream push size in tokens (default: --every)", Number)
  .option("--threads <n>", "compute threads (default: the available cores)", Number)
  .option("--json", "print JSON only")
  .action(async (o) => {
    const { benchStreamVsGen } = await import("./stream-vs-gen.js");
    const result = await benchStreamVsGen({
      shape: o.shape,
      lengths: o.lengths,
      every: o.every,
      chunk: o.chunk ?? o.every,
      ...(o.threads ? { threads: o.threads } : {}),
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

program
  .command("serve-moderations")
  .description("POST /v1/moderations over HTTP vs the library called directly, at several concurrencies")
  .addOption(
    new Option("--model <model>", "demo (the toy model of serve --demo) or a synthetic shape")
      .choices(["demo", "tiny", "0.6b"])
      .default("demo"),
  )
  .option("--requests <n>", "requests per path, concurrency and round", Number, 24)
  .option("--concurrency <list>", "concurrent clients", (v) => v.split(",").map(Number), [1, 4, 8])
  .option("--rounds <n>", "alternating library/server rounds per concurrency", Number, 8)
  .option("--sequences <n>", "engine sequences (Gen requests at once)", Number, 2)
  .option("--threads <n>", "llama.cpp threads (default: the available cores)", Number)
  .option("--audit", "write every decision to an audit log")
  .option("--json", "print JSON only")
  .action(async (o) => {
    const { benchServeModerations } = await import("./serve-moderations.js");
    const result = await benchServeModerations({
      model: o.model,
      requests: o.requests,
      concurrency: o.concurrency,
      rounds: o.rounds,
      sequences: o.sequences,
      ...(o.threads ? { threads: o.threads } : {}),
      audit: o.audit ?? false,
    });
    process.stdout.write(JSON.stringify(result, null, o.json ? 0 : 2) + "\n");
  });

await program.parseAsync(process.argv);

/**
 * `npm run bench -- gen|stream [--json] [options]`: benchmarks on synthetic models (cached in .cache/bench).
 * Prints JSON (with --json) or a short summary; progress goes to stderr. Not part of the test suite.
 */
import { Command, Option } from "commander";
import { benchGen } from "./gen.js";

const program = new Command().name("bench");

program
  .command("gen")
  .description("Gen moderation: our path vs the naive path vs the unavoidable work")
  .addOption(new Option("--shape <shape>", "synthetic model shape").choices(["tiny", "0.6b", "4b", "8b"]).default("0.6b"))
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

await program.parseAsync(process.argv);

/** The `qwen3guard` command line: one file per command under ./commands. */
import { createRequire } from "node:module";
import { Command } from "commander";
import { registerSynthCommand } from "./commands/synth.js";
import { registerConvertCommand } from "./commands/convert.js";
import { registerRenderCommand } from "./commands/render.js";
import { registerPullCommand } from "./commands/pull.js";
import { registerPolicyCommand } from "./commands/policy.js";
import { registerModerateCommand } from "./commands/moderate.js";
import { registerTokenizeCommand } from "./commands/tokenize.js";
import { registerStreamCommand } from "./commands/stream.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerAuditCommand } from "./commands/audit.js";
import { commandPath, configureUsageErrors, EXIT, EXIT_STATUS_HELP, reportError } from "./report.js";
import { registerEvalCommand } from "./commands/eval.js";
import { registerRewardCommand } from "./commands/reward.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("qwen3guard")
    .description("Guardrail runtime for the Qwen3Guard safety models (Gen and Stream)")
    .version((createRequire(import.meta.url)("../../package.json") as { version: string }).version)
    // options after a command name belong to that command (`eval report DIR --json` is report's --json)
    .enablePositionalOptions()
    // Commander throws instead of exiting; run() turns every error into one line and an exit status.
    .exitOverride()
    .addHelpText("after", `\n${EXIT_STATUS_HELP}\n`);
  // Commands register themselves here (one import per command file).
  registerSynthCommand(program);
  registerConvertCommand(program);
  registerRenderCommand(program);
  registerPullCommand(program);
  registerPolicyCommand(program);
  registerModerateCommand(program);
  registerTokenizeCommand(program);
  registerStreamCommand(program);
  registerEvalCommand(program);
  registerRewardCommand(program);
  registerServeCommand(program);
  registerAuditCommand(program);
  configureUsageErrors(program);
  return program;
}

let epipeHandled = false;

/** Parse and run a command line; throws what the command throws (run() reports it). */
export async function main(argv: readonly string[], program: Command = buildProgram()): Promise<void> {
  if (!epipeHandled) {
    epipeHandled = true;
    // `qwen3guard moderate --batch | head`: a closed pipe ends the output, not with a crash.
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(EXIT.ok);
      throw error;
    });
  }
  await program.parseAsync(argv as string[]);
}

/**
 * Run the command line; resolves to the exit status (see EXIT). Errors are reported on stderr, one line each
 * with the `qwen3guard: error:` prefix; a usage error adds a hint to run --help.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  let current: Command = program;
  program.hook("preAction", (_program, action) => {
    current = action;
  });
  try {
    await main(argv, program);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (error) {
    return reportError(error, commandPath(current));
  }
}

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

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("qwen3guard")
    .description("Guardrail runtime for the Qwen3Guard safety models (Gen and Stream)")
    .version((createRequire(import.meta.url)("../../package.json") as { version: string }).version)
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // Commands register themselves here (one import per command file).
  registerSynthCommand(program);
  registerConvertCommand(program);
  registerRenderCommand(program);
  registerPullCommand(program);
  registerPolicyCommand(program);
  registerModerateCommand(program);
  registerTokenizeCommand(program);
  registerStreamCommand(program);
  registerServeCommand(program);
  registerAuditCommand(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  // `qwen3guard moderate --batch | head`: a closed pipe ends the output, not with a crash.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  await buildProgram().parseAsync(argv as string[]);
}

/**
 * `qwen3guard render`: print the exact prompt a Qwen3Guard model would see for a conversation, with no added
 * newline (so `diff` against a reference rendering works), or its template/content segments as JSON.
 *
 *   qwen3guard render --messages chat.json                      built-in Gen prompt
 *   qwen3guard render --messages chat.json --kind stream        built-in Stream input (prompt + header + answer)
 *   qwen3guard render --messages - -m ./Qwen3Guard-Gen-0.6B        the model's own chat template (folder or .gguf)
 *   qwen3guard render --messages chat.json --template t.jinja   any Jinja chat template
 */
import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { InvalidConversationError, type ChatMessage } from "../../core/messages.js";
import { renderGenPrompt, type SystemMessagePolicy } from "../../core/prompt/gen-prompt.js";
import { renderStreamPrompt } from "../../core/prompt/stream-prompt.js";
import { joinSegments, pushSegment, type PromptSegment } from "../../core/segments.js";
import { readModelChatTemplate, renderChatTemplateSegments } from "../../model/chat-template.js";
import { inputName, locate, MESSAGES_HELP, readMessagesFile } from "../conversation-input.js";
import { CliInputError } from "../errors.js";

export { readMessagesFile };

/**
 * `--system reject` with a system message: say so in the command line's words (the library speaks of its
 * `system: "reject"` option).
 */
export function checkSystemFlag(
  messages: readonly ChatMessage[],
  system: SystemMessagePolicy | undefined,
): void {
  const at = messages.findIndex((m) => m.role === "system");
  if (system === "reject" && at >= 0) {
    throw new InvalidConversationError(
      `message ${at} is a system message, which --system reject refuses: remove it or pass --system merge`,
    );
  }
}

export interface RenderCliOptions {
  messages: string;
  template?: string;
  model?: string;
  kind: "gen" | "stream";
  system: SystemMessagePolicy;
  segments?: boolean;
}

/** Render as the options say; resolves to the prompt segments (joined, they are the exact prompt). */
export async function runRender(options: RenderCliOptions): Promise<PromptSegment[]> {
  const messages = await readMessagesFile(options.messages);
  const where = inputName(options.messages);
  try {
    checkSystemFlag(messages, options.system);
    if (options.template !== undefined || options.model !== undefined) {
      const template =
        options.template !== undefined
          ? await readFile(options.template, "utf8").catch((error: NodeJS.ErrnoException) => {
              throw new CliInputError(
                `${options.template}: cannot read the template (${error.code === "ENOENT" ? "no such file" : (error.code ?? String(error))})`,
                { cause: error },
              );
            })
          : (await readModelChatTemplate(options.model!)).template;
      return renderChatTemplateSegments(template, messages);
    }
    if (options.kind === "stream") {
      const { promptSegments, assistantHeader, response } = renderStreamPrompt(messages);
      const segments = promptSegments.map((s) => ({ ...s }));
      pushSegment(segments, "template", assistantHeader);
      if (response !== undefined) pushSegment(segments, "content", response);
      return segments;
    }
    return renderGenPrompt(messages, { system: options.system }).segments;
  } catch (error) {
    throw locate(error, where);
  }
}

export function registerRenderCommand(program: Command): void {
  program
    .command("render")
    .description("print the exact prompt for a conversation (no trailing newline), or its segments as JSON")
    .requiredOption("--messages <file>", MESSAGES_HELP)
    .addOption(
      new Option("--template <file>", "render this Jinja chat template").conflicts(["model", "kind"]),
    )
    .addOption(
      new Option(
        "-m, --model <path>",
        "render the chat template of a Hugging Face model folder or a .gguf file",
      ).conflicts("kind"),
    )
    .addOption(
      new Option("--kind <kind>", "built-in renderer: gen (Qwen3Guard-Gen) or stream (Qwen3Guard-Stream)")
        .choices(["gen", "stream"])
        .default("gen"),
    )
    .addOption(
      new Option("--system <policy>", "built-in Gen renderer: merge a leading system message, or reject it")
        .choices(["merge", "reject"])
        .default("merge"),
    )
    .option("--segments", "print the template/content segments as JSON instead of the prompt text")
    .action(async (options: RenderCliOptions) => {
      const segments = await runRender(options);
      process.stdout.write(
        options.segments ? `${JSON.stringify(segments, null, 2)}\n` : joinSegments(segments),
      );
    });
}

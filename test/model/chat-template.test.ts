import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import {
  ChatTemplateError,
  ChatTemplateNotFoundError,
  readChatTemplateFromFolder,
  readDefaultGenTemplate,
  renderChatTemplateSegments,
  renderChatTemplateText,
  renderGenPromptWithTemplate,
} from "../../src/model/chat-template.js";
import { renderGenPrompt } from "../../src/core/prompt/gen-prompt.js";
import { CHAT_ROLES, InvalidConversationError, type ChatMessage } from "../../src/core/messages.js";
import { joinSegments } from "../../src/core/segments.js";
import { loadGenFixtures } from "../core/prompt-fixtures.js";

const gen = readDefaultGenTemplate();

/** Text that stresses templates and tokenizers: specials, Jinja syntax, newlines, the sentinels' own range. */
const trickyText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc
    .array(
      fc.constantFrom(
        "",
        "<|im_end|>",
        "<|im_start|>assistant\n",
        "{{",
        "}}",
        "{%",
        "%}",
        "{# x #}",
        "\n",
        "\r\n",
        " ",
        "\t",
        "USER: ",
        "</think>",
        "\uE000",
        "\uE001",
        "\uE0000\uE001",
        "é",
        "😀",
        "raise_exception('x')",
      ),
      { maxLength: 8 },
    )
    .map((parts) => parts.join("")),
);

const anyMessage: fc.Arbitrary<ChatMessage> = fc.record({
  role: fc.constantFrom(...CHAT_ROLES),
  content: trickyText,
});

/** Valid Gen conversations: optional leading system message, then user/assistant turns, ending with either. */
const validConversation: fc.Arbitrary<ChatMessage[]> = fc
  .tuple(
    fc.option(trickyText, { nil: undefined }),
    fc.array(
      fc.record({ role: fc.constantFrom("user" as const, "assistant" as const), content: trickyText }),
      {
        minLength: 1,
        maxLength: 7,
      },
    ),
  )
  .map(([system, turns]) =>
    system === undefined ? turns : [{ role: "system" as const, content: system }, ...turns],
  );

for (const fixture of loadGenFixtures()) {
  test(`default Jinja template is byte-identical to ${fixture.name}`, () => {
    const text = renderChatTemplateText(gen, fixture.messages);
    assert.ok(Buffer.from(text, "utf8").equals(fixture.bytes));
    const prompt = renderGenPromptWithTemplate(gen, fixture.messages);
    assert.deepEqual(prompt, renderGenPrompt(fixture.messages));
  });
}

test("built-in renderer and default Jinja template agree on random valid conversations (segments and kinds)", () => {
  fc.assert(
    fc.property(validConversation, (messages) => {
      const builtIn = renderGenPrompt(messages);
      const viaJinja = renderGenPromptWithTemplate(gen, messages);
      assert.deepEqual(viaJinja, builtIn);
      assert.equal(renderChatTemplateText(gen, messages), joinSegments(builtIn.segments));
    }),
    { numRuns: 250 },
  );
});

test("built-in renderer and default Jinja template accept and reject the same arbitrary conversations", () => {
  fc.assert(
    fc.property(fc.array(anyMessage, { maxLength: 6 }), (messages) => {
      let builtIn: ReturnType<typeof renderGenPrompt> | InvalidConversationError;
      try {
        builtIn = renderGenPrompt(messages);
      } catch (error) {
        assert.ok(error instanceof InvalidConversationError, String(error));
        builtIn = error;
      }
      if (builtIn instanceof InvalidConversationError) {
        assert.throws(() => renderGenPromptWithTemplate(gen, messages), InvalidConversationError);
        assert.throws(() => renderChatTemplateText(gen, messages), InvalidConversationError);
      } else {
        assert.deepEqual(renderGenPromptWithTemplate(gen, messages), builtIn);
      }
    }),
    { numRuns: 250 },
  );
});

test("content segments carry message text verbatim, even text that looks like the sentinels", () => {
  const messages: ChatMessage[] = [
    { role: "user", content: "\uE000" + "0" + "\uE001 and \uE002\uE003" },
    { role: "assistant", content: "<|im_end|>{{ messages }}" },
  ];
  const segments = renderChatTemplateSegments(gen, messages);
  assert.deepEqual(
    segments.filter((s) => s.kind === "content").map((s) => s.text),
    messages.map((m) => m.content),
  );
});

test("a template that trims content is refused when trimming changes the text, accepted when it does not", () => {
  const trimming =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}";
  assert.throws(
    () => renderChatTemplateSegments(trimming, [{ role: "user", content: "  padded " }]),
    (error: unknown) =>
      error instanceof ChatTemplateError && /transforms message content/.test(error.message),
  );
  const segments = renderChatTemplateSegments(trimming, [{ role: "user", content: "tidy" }]);
  assert.deepEqual(segments, [
    { kind: "template", text: "<|im_start|>user\n" },
    { kind: "content", text: "tidy" },
    { kind: "template", text: "<|im_end|>\n" },
  ]);
});

test("a template that uppercases content is refused", () => {
  const shouting = "{% for m in messages %}{{ m.content | upper }}{% endfor %}";
  assert.throws(
    () => renderChatTemplateSegments(shouting, [{ role: "user", content: "hi" }]),
    ChatTemplateError,
  );
});

test("raise_exception becomes InvalidConversationError; syntax and runtime errors become ChatTemplateError", () => {
  assert.throws(
    () => renderChatTemplateText("{{ raise_exception('no system here') }}", [{ role: "user", content: "x" }]),
    (error: unknown) => error instanceof InvalidConversationError && /no system here/.test(error.message),
  );
  assert.throws(
    () => renderChatTemplateText("{% if %}", [{ role: "user", content: "x" }]),
    ChatTemplateError,
  );
  assert.throws(
    () => renderChatTemplateText("{{ 1 + messages }}", [{ role: "user", content: "x" }]),
    ChatTemplateError,
  );
});

test("template globals: add_generation_prompt, enable_thinking, range and extra variables", () => {
  const source =
    "{{ bos_token }}{% for i in range(2) %}{{ i }}{% endfor %}" +
    "{% if add_generation_prompt %}G{% endif %}{% if enable_thinking %}T{% endif %}";
  const messages: ChatMessage[] = [{ role: "user", content: "x" }];
  assert.equal(renderChatTemplateText(source, messages, { variables: { bos_token: "<s>" } }), "<s>01G");
  assert.equal(
    renderChatTemplateText(source, messages, { addGenerationPrompt: false, enableThinking: true }),
    "01T",
  );
  assert.match(renderChatTemplateText("{{ strftime_now('%Y-%m-%d') }}", messages), /^\d{4}-\d{2}-\d{2}$/);
});

test("reads chat templates from a Hugging Face folder, preferring chat_template.jinja", async () => {
  const dir = await mkdtemp(join(tmpdir(), "qwen3guard-chat-template-"));
  try {
    await assert.rejects(readChatTemplateFromFolder(dir), ChatTemplateNotFoundError);
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: "FROM CONFIG" }));
    assert.deepEqual(await readChatTemplateFromFolder(dir), {
      template: "FROM CONFIG",
      path: join(dir, "tokenizer_config.json"),
    });
    await writeFile(
      join(dir, "tokenizer_config.json"),
      JSON.stringify({
        chat_template: [
          { name: "default", template: "D" },
          { name: "tool_use", template: "T" },
        ],
      }),
    );
    assert.equal((await readChatTemplateFromFolder(dir)).template, "D");
    assert.equal((await readChatTemplateFromFolder(dir, "tool_use")).template, "T");
    await assert.rejects(
      readChatTemplateFromFolder(dir, "rag"),
      /no chat template named "rag".*default, tool_use/,
    );
    await writeFile(join(dir, "chat_template.jinja"), "FROM JINJA");
    assert.equal((await readChatTemplateFromFolder(dir)).template, "FROM JINJA");
    await rm(join(dir, "chat_template.jinja"));
    await writeFile(join(dir, "tokenizer_config.json"), "{ not json");
    await assert.rejects(
      readChatTemplateFromFolder(dir),
      (e: unknown) => e instanceof ChatTemplateError && /not valid JSON/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

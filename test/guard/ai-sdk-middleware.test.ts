/**
 * The AI SDK middleware with the real `ai` package (wrapLanguageModel, streamText, generateText) over
 * `MockLanguageModelV3` from `ai/test` (a scripted model: no LLM runs here), and the real engine on the hand-crafted
 * toy models (Stream: " bomb"/" grenade" Unsafe per token; Gen: Unsafe iff "grenade" occurs; a prompt holding "hack"
 * is Unsafe for Stream).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateText, streamText, wrapLanguageModel } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import type { LanguageModelV3CallOptions, LanguageModelV3StreamPart } from "@ai-sdk/provider";
import { parsePolicyDocument, resolvePolicy } from "../../src/core/policy/index.js";
import {
  createQwen3GuardMiddleware,
  type Qwen3GuardDecisionEvent,
} from "../../src/guard/ai-sdk-middleware.js";
import type { GenGuard } from "../../src/guard/gen-guard.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { loadCraftedGuards } from "./stream-fixture.js";

let stream: StreamGuard;
let gen: GenGuard;

let closeGuards: (() => Promise<void>) | undefined;

before(async () => {
  ({ stream, gen, close: closeGuards } = await loadCraftedGuards("ai-sdk-"));
});

after(async () => {
  await closeGuards?.();
});

const usage = {
  inputTokens: { total: 5, noCache: 5, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 9, text: 9, reasoning: 0 },
};

function textStream(deltas: string[], extra: LanguageModelV3StreamPart[] = []): LanguageModelV3StreamPart[] {
  return [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id: "t1" },
    ...deltas.map((delta): LanguageModelV3StreamPart =>
      delta === "\u0000forever"
        ? { type: "raw", rawValue: "forever" }
        : { type: "text-delta", id: "t1", delta },
    ),
    { type: "text-end", id: "t1" },
    ...extra,
    { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage },
  ];
}

/** A mock model streaming each script in turn (one per call), recording the calls. */
function mockModel(scripts: LanguageModelV3StreamPart[][]) {
  const calls: LanguageModelV3CallOptions[] = [];
  let cancelled = false;
  const model = new MockLanguageModelV3({
    doStream: async (options) => {
      calls.push(options);
      const parts = scripts[Math.min(calls.length - 1, scripts.length - 1)]!;
      let i = 0;
      return {
        stream: new ReadableStream<LanguageModelV3StreamPart>({
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 2));
            const part = parts[i++];
            if (part === undefined) controller.close();
            else if (part.type === "raw" && part.rawValue === "forever") {
              // an endless answer: only the guard can end it
              i--;
              controller.enqueue({ type: "text-delta", id: "t1", delta: " and" });
            } else controller.enqueue(part);
          },
          cancel() {
            cancelled = true;
          },
        }),
      };
    },
    doGenerate: async (options) => {
      calls.push(options);
      const parts = scripts[Math.min(calls.length - 1, scripts.length - 1)]!;
      const text = parts.map((p) => (p.type === "text-delta" ? p.delta : "")).join("");
      return {
        content: [{ type: "text", text }],
        finishReason: { unified: "stop", raw: "stop" },
        usage,
        warnings: [],
      };
    },
  });
  return { model, calls, cancelled: () => cancelled };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Marks an endless tail of " and" deltas in a mock script. */
const FOREVER = ["\u0000forever"];
const STORY = ["Once", " upon", " a", " time", " a", " bomb", " bomb", " went", " off", "."];

test("streamText: cleared text only, then finish content-filter; the model's stream is cancelled", async () => {
  const { model: llm, cancelled } = mockModel([textStream([...STORY, ...FOREVER])]);
  const events: Qwen3GuardDecisionEvent[] = [];
  const model = wrapLanguageModel({
    model: llm,
    middleware: createQwen3GuardMiddleware({ stream, regenerate: false, onDecision: (e) => events.push(e) }),
  });
  const result = streamText({ model, prompt: "Tell me a story about a village." });
  assert.equal(await result.text, "Once upon a time a");
  assert.equal(await result.finishReason, "content-filter");
  const metadata = (await result.providerMetadata)?.qwen3guard as { action: string; tier: string };
  assert.equal(metadata.action, "block");
  assert.equal(metadata.tier, "Unsafe");
  await until(cancelled, "the model's stream to be cancelled");
  assert.deepEqual(
    events.map((e) => [e.direction, e.decision.action]),
    [
      ["prompt", "allow"],
      ["response", "block"],
    ],
  );
  await until(() => stream.openSessions === 0, "the session to close");
});

test("streamText: a safe answer passes whole, with the model's finish", async () => {
  const { model: llm } = mockModel([
    textStream(["The", " crowd", " began", " a", " riot", " and", " left."]),
  ]);
  const model = wrapLanguageModel({ model: llm, middleware: createQwen3GuardMiddleware({ stream }) });
  const result = streamText({ model, prompt: "Tell me a story about a village." });
  assert.equal(await result.text, "The crowd began a riot and left.");
  assert.equal(await result.finishReason, "stop");
  assert.equal((await result.usage).outputTokens, 9);
});

test("streamText: a blocked prompt never reaches the model", async () => {
  const { model: llm, calls } = mockModel([textStream(["Sure."])]);
  const model = wrapLanguageModel({
    model: llm,
    middleware: createQwen3GuardMiddleware({ stream, refusal: "I can't help with that." }),
  });
  const result = streamText({ model, prompt: "How do I hack a bank?" });
  assert.equal(await result.text, "I can't help with that.");
  assert.equal(await result.finishReason, "content-filter");
  assert.equal(calls.length, 0);
  assert.equal(((await result.providerMetadata)?.qwen3guard as { direction: string }).direction, "prompt");
});

test("streamText: regenerate continues the cleared text with an instruction and an assistant prefill", async () => {
  const policy = resolvePolicy(
    "p",
    new Map([["p", parsePolicyDocument({ response: { categories: { Violent: "regenerate" } } }, "p")]]),
  );
  const { model: llm, calls } = mockModel([textStream(STORY), textStream([" calm", " morning", " came."])]);
  const model = wrapLanguageModel({ model: llm, middleware: createQwen3GuardMiddleware({ stream, policy }) });
  const result = streamText({ model, prompt: "Tell me a story about a village." });
  assert.equal(await result.text, "Once upon a time a calm morning came.");
  assert.equal(await result.finishReason, "stop");
  assert.equal(calls.length, 2);
  const prompt = calls[1]!.prompt;
  assert.equal(prompt[0]!.role, "system");
  assert.deepEqual(prompt.at(-1), {
    role: "assistant",
    content: [{ type: "text", text: "Once upon a time a" }],
  });
  const metadata = (await result.providerMetadata)?.qwen3guard as { action: string; regenerations: number };
  assert.equal(metadata.action, "regenerate");
  assert.equal(metadata.regenerations, 1);
});

test("streamText: tool input deltas are moderated too", async () => {
  const tools: LanguageModelV3StreamPart[] = [
    { type: "tool-input-start", id: "c1", toolName: "search" },
    { type: "tool-input-delta", id: "c1", delta: '{"q": "a' },
    { type: "tool-input-delta", id: "c1", delta: " bomb bomb" },
    { type: "tool-input-delta", id: "c1", delta: '"}' },
    { type: "tool-input-end", id: "c1" },
    { type: "tool-call", toolCallId: "c1", toolName: "search", input: '{"q": "a bomb bomb"}' },
  ];
  const { model: llm } = mockModel([textStream(["Let me look."], tools)]);
  const model = wrapLanguageModel({
    model: llm,
    middleware: createQwen3GuardMiddleware({ stream, regenerate: false }),
  });
  const result = streamText({ model, prompt: "Tell me a story about a village." });
  const parts: string[] = [];
  for await (const part of result.fullStream)
    parts.push(part.type === "tool-input-delta" ? `tool:${part.delta}` : part.type);
  assert.ok(!parts.includes("tool-call"), "the tool call never went out");
  const input = parts
    .filter((p) => p.startsWith("tool:"))
    .map((p) => p.slice("tool:".length))
    .join("");
  assert.equal(input, '{"q": "a', "the tool input up to the flagged pair");
  assert.equal(await result.finishReason, "content-filter");
});

test("generateText: Gen judges the complete answer; a flagged one is replaced", async () => {
  const { model: ok } = mockModel([textStream(["All", " is", " calm."])]);
  const a = await generateText({
    model: wrapLanguageModel({ model: ok, middleware: createQwen3GuardMiddleware({ stream, gen }) }),
    prompt: "Tell me a story about a village.",
  });
  assert.equal(a.text, "All is calm.");
  assert.equal(a.finishReason, "stop");

  const { model: bad } = mockModel([textStream(["Throw", " the", " grenade."])]);
  const b = await generateText({
    model: wrapLanguageModel({
      model: bad,
      middleware: createQwen3GuardMiddleware({ gen, regenerate: false, refusal: "No." }),
    }),
    prompt: "Tell me a story about a village.",
  });
  assert.equal(b.text, "No.");
  assert.equal(b.finishReason, "content-filter");
  assert.equal((b.providerMetadata?.qwen3guard as { model: string }).model, "gen");
  await until(() => stream.openSessions === 0, "sessions to close");
});

/**
 * Stream's backbone on a remote engine, end to end and with no fake: a qwen3guard server on loopback serves a
 * Stream model's backbone through vLLM's `POST /pooling` (task token_embed) and llama-server's `POST /embeddings`
 * shape, and a StreamGuard whose backbone runs there (heads applied locally) must get the local engine's hidden
 * states and the local guard's verdicts — on a seeded random model and on the crafted one. The chunking cost
 * model (every remote decode re-sends the sequence's history) is checked against the tokens actually sent.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RISK_TIERS } from "../../src/core/labels.js";
import { StreamGuard, type ChatMessage, type RemoteBackendKind } from "../../src/guard/index.js";
import { streamGuardInternals } from "../../src/guard/internals.js";
import { synthesizeModel, writeCraftedStreamModel } from "../../src/model/synth/index.js";
import { RemoteHiddenStateEngine } from "../../src/engine/remote/remote-hidden-state-engine.js";
import { ENGINE, startEngineServer, type EngineServer } from "./loopback.js";

let dir: string;
let cacheDir: string;
const models: Record<"random" | "crafted", string> = { random: "", crafted: "" };
let unsafeWord: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-e2e-stream-"));
  cacheDir = path.join(dir, "cache");
  models.random = synthesizeModel({
    kind: "stream",
    shape: "tiny",
    outDir: path.join(dir, "random"),
    seed: 5,
    dtype: "f32",
  }).outDir;
  const crafted = writeCraftedStreamModel(path.join(dir, "crafted"));
  models.crafted = crafted.dir;
  unsafeWord = crafted.triggers.unsafe.words[0]!;
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function conversation(): ChatMessage[] {
  return [
    { role: "user", content: "Tell me a story about a lighthouse." },
    {
      role: "assistant",
      content: `Once upon a time a keeper lit the lamp every night; one night ${unsafeWord} ${unsafeWord} came over the sea. 灯台の話.`,
    },
  ];
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function loadRemote(
  model: string,
  server: EngineServer,
  kind: RemoteBackendKind,
  chunkTokens?: number,
) {
  return StreamGuard.load({
    model,
    cacheDir,
    contextSize: ENGINE.contextSize,
    sequences: 2,
    remote: {
      backends: [{ kind, url: server.url, name: `ours-${kind}` }],
      healthIntervalMs: 0,
      ...(chunkTokens ? { chunkTokens } : {}),
    },
  });
}

for (const which of ["random", "crafted"] as const) {
  test(`${which} model: remote backbone hidden states and verdicts equal the local engine's`, async (t) => {
    const server = await startEngineServer({ stream: models[which], cacheDir });
    const local = await StreamGuard.load({ model: models[which], ...ENGINE, cacheDir });
    try {
      const ids = local.promptIds(conversation().slice(0, 1));
      const expected = await local.hiddenStates(ids);
      const localVerdict = await local.moderate(conversation());
      for (const kind of ["qwen3guard", "vllm", "llama-server"] as const) {
        const remote = await loadRemote(models[which], server, kind);
        try {
          assert.equal(remote.info.engine, "remote");
          const states = await remote.hiddenStates(ids);
          assert.equal(states.length, expected.length);
          const worstState = Math.max(...states.map((s, i) => maxAbs(s, expected[i]!)));
          assert.ok(worstState < 1e-4, `${kind}: hidden states within 1e-4 (${worstState})`);
          const v = await remote.moderate(conversation());
          assert.equal(v.prompt.tier, localVerdict.prompt.tier);
          assert.equal(v.tokens.length, localVerdict.tokens.length);
          let worst = 0;
          for (const [i, token] of v.tokens.entries()) {
            const l = localVerdict.tokens[i]!;
            assert.equal(token.token, l.token);
            assert.equal(token.tier, l.tier, `${kind}: token ${i} tier`);
            for (const tier of RISK_TIERS)
              worst = Math.max(worst, Math.abs(token.probabilities[tier] - l.probabilities[tier]));
          }
          assert.ok(worst < 1e-4, `${kind}: per-token P(tier) within 1e-4 (${worst})`);
          assert.deepEqual(v.trigger?.index, localVerdict.trigger?.index, `${kind}: the same stop`);
          assert.equal(v.response.tier, localVerdict.response.tier);
          t.diagnostic(
            `${kind}: ${states.length} hidden states, largest difference ${worstState.toExponential(2)}; ${v.tokens.length} token verdicts, largest P difference ${worst.toExponential(2)}`,
          );
        } finally {
          await remote.close();
        }
      }
      if (which === "crafted") assert.ok(localVerdict.trigger, "the crafted answer triggers the stop");
    } finally {
      await local.close();
      await server.close();
    }
  });
}

test("chunked remote decodes: a live session's tokens are sent in chunks, and each chunk re-sends the history", async (t) => {
  const server = await startEngineServer({ stream: models.crafted, cacheDir });
  try {
    const decodesBy = new Map<number, number>();
    const sentBy = new Map<number, number>();
    for (const chunkTokens of [1, 8]) {
      const guard = await loadRemote(models.crafted, server, "qwen3guard", chunkTokens);
      try {
        const engine = streamGuardInternals(guard).engine as RemoteHiddenStateEngine;
        assert.ok(engine instanceof RemoteHiddenStateEngine);
        const prompt: ChatMessage[] = [{ role: "user", content: "Tell me a story." }];
        const session = await guard.openStream(prompt);
        const sentBefore = engine.sentTokens;
        const decodesBefore = guard.stats.decodes;
        const promptTokens = guard.promptIds(prompt).length;
        const answer = "Once upon a time there was a quiet harbour with boats and gulls and nets and a lamp.";
        // a generator pushing a word every 5 ms without waiting for the verdicts (faster than the chunk wait)
        const pending: Promise<unknown>[] = [];
        for (const piece of answer.split(/(?<= )/)) {
          pending.push(session.push(piece));
          await new Promise((r) => setTimeout(r, 5));
        }
        await Promise.all(pending);
        await session.end();
        const answerTokens = session.tokenCount;
        const sent = engine.sentTokens - sentBefore;
        const decodes = guard.stats.decodes - decodesBefore;
        decodesBy.set(chunkTokens, decodes);
        t.diagnostic(
          `chunkTokens ${chunkTokens}: prompt ${promptTokens} + answer ${answerTokens} tokens in ${decodes} remote decodes, ${sent} tokens sent (each decode re-sends the history)`,
        );
        // each decode sent the whole history so far: at least the answer's tokens each once on top of the prompt
        assert.ok(sent >= promptTokens + answerTokens, `${sent} sent`);
        sentBy.set(chunkTokens, sent);
        if (chunkTokens === 8) assert.ok(decodes <= Math.ceil(answerTokens / 8) + 2, `${decodes} decodes`);
        await session.close();
      } finally {
        await guard.close();
      }
    }
    assert.ok(decodesBy.get(8)! < decodesBy.get(1)!, "chunks of 8 take fewer decodes");
    assert.ok(sentBy.get(8)! < sentBy.get(1)!, "and send fewer tokens");
  } finally {
    await server.close();
  }
});

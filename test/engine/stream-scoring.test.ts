/**
 * Stream scoring in one place (src/engine/stream/stream-scoring.ts): the heads with the checkpoint's own class
 * names (made-up category names, a reordered risk map) equal the reference heads, and an answer's scores fed to
 * the pair rule give exactly the pure rule's stop and verdict, carrying the triggering token's category and
 * probabilities as the heads computed them.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  checkpointTensors,
  synthConfigJson,
  synthTensorValues,
  writeCheckpointFolder,
} from "../../src/model/synth/index.js";
import { loadHfConfig, parseHfConfig } from "../../src/model/hf-config.js";
import { loadStreamHeadWeights } from "../../src/model/stream-assets.js";
import { ReferenceStreamHeads } from "../../src/engine/reference/index.js";
import { StreamScorer, type HeadScore } from "../../src/engine/stream/stream-scoring.js";
import { streamStop, streamVerdict, type StreamRule } from "../../src/core/stream-decision.js";
import type { Strictness } from "../../src/core/labels.js";
import { SeededRandom } from "../../src/model/synth/prng.js";
import { tempDir } from "../guard/stream-fixture.js";

const RESPONSE_NAMES = ["Alpha", "Beta Gamma", "Delta/Epsilon", "Zeta", "Eta", "Theta", "Iota", "Kappa"];
const QUERY_NAMES = [...RESPONSE_NAMES.slice(0, 8).reverse(), "Lambda"];

let tmp: ReturnType<typeof tempDir>;
let dir: string;

before(() => {
  tmp = tempDir("stream-scoring-");
  dir = path.join(tmp.dir, "renamed");
  const json = synthConfigJson({ kind: "stream", shape: "tiny", dtype: "f32" });
  json.response_risk_level_map = { "0": "Controversial", "1": "Safe", "2": "Unsafe" };
  json.response_category_map = Object.fromEntries(RESPONSE_NAMES.map((c, i) => [String(i), c]));
  json.query_category_map = Object.fromEntries(QUERY_NAMES.map((c, i) => [String(i), c]));
  const specs = checkpointTensors(parseHfConfig(json));
  writeCheckpointFolder({
    outDir: dir,
    configJson: json,
    sources: specs.map((spec) => ({ spec, values: () => synthTensorValues(spec, 11) })),
    dtype: "f32",
    withTokenizer: false,
  });
});

after(() => tmp?.cleanup());

function hiddenStates(n: number, size: number, seed: number): Float32Array[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => rng.fillNormal(new Float32Array(size), 3));
}

test("scores use the checkpoint's class names and equal the reference heads, on both paths", () => {
  const config = loadHfConfig(dir);
  const scorer = new StreamScorer(loadStreamHeadWeights(dir, config));
  assert.deepEqual(scorer.labels.responseCategories, RESPONSE_NAMES);
  assert.deepEqual(scorer.labels.queryCategories, QUERY_NAMES);
  assert.deepEqual(scorer.labels.responseRisk, ["Controversial", "Safe", "Unsafe"]);
  const reference = ReferenceStreamHeads.load(dir);
  for (const h of hiddenStates(20, config.hiddenSize, 5)) {
    const ref = reference.apply(h);
    const checks: [HeadScore, (typeof ref)["query"], string[]][] = [
      [scorer.prompt(h), ref.query, QUERY_NAMES],
      [scorer.score(h, "response"), ref.response, RESPONSE_NAMES],
    ];
    for (const [score, r, names] of checks) {
      assert.equal(score.tier, r.risk.label);
      assert.equal(score.category, r.category.label);
      assert.deepEqual(Object.keys(score.categoryProbabilities), names);
      r.category.labels.forEach((name, i) => {
        assert.ok(Math.abs(score.categoryProbabilities[name]! - r.category.probs[i]!) < 1e-6);
      });
      r.risk.labels.forEach((name, i) => {
        const tier = name as keyof HeadScore["probabilities"];
        assert.ok(Math.abs(score.probabilities[tier] - r.risk.probs[i]!) < 1e-6);
      });
    }
  }
});

test("an answer's scores through the pair rule: the pure rule's stop and verdict, with the token's own scores", () => {
  const config = loadHfConfig(dir);
  const scorer = new StreamScorer(loadStreamHeadWeights(dir, config));
  const states = hiddenStates(120, config.hiddenSize, 17);
  let triggers = 0;
  for (const rule of ["official", "report"] as StreamRule[]) {
    for (const mode of ["strict", "loose"] as Strictness[]) {
      for (let start = 0; start < 100; start += 10) {
        const answer = scorer.answer({ rule, mode });
        const scores: HeadScore[] = [];
        let fired: ReturnType<typeof answer.push>["fired"];
        for (const h of states.slice(start, start + 20)) {
          const r = answer.push(h);
          assert.equal(r.index, scores.length);
          scores.push(r.score);
          if (r.fired) {
            assert.equal(fired, undefined, "fires once");
            fired = r.fired;
          }
        }
        assert.equal(answer.length, scores.length);
        assert.equal(answer.rule, rule);
        assert.equal(answer.mode, mode);
        const tiers = scores.map((s) => s.tier);
        const names = scores.map((s) => s.category);
        const stop = streamStop(tiers, names, { rule, mode });
        assert.equal(fired?.index, stop?.index, `${rule}/${mode} from ${start}: stop`);
        assert.equal(fired?.tier, stop?.tier);
        assert.equal(answer.fired, fired);
        const expected = streamVerdict(tiers, names, { rule });
        const final = answer.final();
        assert.equal(final.tier, expected.tier);
        if (final.tier !== "Safe") {
          triggers++;
          assert.ok(expected.tier !== "Safe");
          assert.equal(final.index, expected.index);
          const at = scores[final.index]!;
          // typed as known: no zero filled in, these are the token's own numbers
          assert.equal(final.category, at.category);
          assert.deepEqual(final.probabilities, at.probabilities);
          assert.deepEqual(final.categoryProbabilities, at.categoryProbabilities);
          assert.ok(RESPONSE_NAMES.includes(final.category));
        }
      }
    }
  }
  assert.ok(triggers > 5, `${triggers} answers triggered`);
});

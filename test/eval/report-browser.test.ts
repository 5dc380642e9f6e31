/**
 * report.html in headless Chromium (playwright-core with the system's /usr/bin/chromium), every request other
 * than the page itself blocked: the charts are drawn (SVG elements with non-empty geometry), their numbers match
 * metrics.json, and text from the data is shown as text, never run as markup.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { RiskTier } from "../../src/core/labels.js";
import type { Prediction } from "../../src/eval/predictions.js";
import { renderReport, compareHtml } from "../../src/eval/report.js";
import { summarize, type EvalConfig, type EvalMetrics } from "../../src/eval/summary.js";
import { chromiumSkip, launchChromium, type TestBrowser } from "../helpers/browser.js";

/** The SVG element methods the checks call (the tests compile without the DOM library). */
interface Svg {
  getBBox(): { width: number; height: number };
  points: { numberOfItems: number };
}
const skip = chromiumSkip;

let dir: string;
let browser: TestBrowser | undefined;
let requests: string[] = [];

const NASTY = `<script>window.__pwned = 1</script><img src="http://example.invalid/x.png" onerror="window.__pwned = 2">& "quotes" 'too'`;

const config: EvalConfig = {
  task: "prompt",
  guard: "gen",
  genMode: "fast",
  rule: "official",
  streamScoring: "answer",
  format: "jsonl",
  modes: ["strict", "loose"],
  targets: [{ precision: 0.6 }],
  thresholdAction: "block",
};

function genPredictions(): Prediction[] {
  const rows: [RiskTier, RiskTier, number, string[]][] = [
    ["Unsafe", "Unsafe", 0.95, ["violence"]],
    ["Unsafe", "Controversial", 0.4, ["violence"]],
    ["Unsafe", "Safe", 0.05, ["hate"]],
    ["Safe", "Unsafe", 0.7, []],
    ["Safe", "Safe", 0.1, []],
    ["Safe", "Safe", 0.02, []],
    ["Controversial", "Controversial", 0.3, ["hate"]],
  ];
  return rows.map(([gold, tier, p, cats], i) => ({
    key: `line:${i + 1}`,
    line: i + 1,
    id: `r${i + 1}`,
    gold: { label: gold, categories: cats, refusal: i % 2 === 0 },
    text: i === 2 ? NASTY : `row ${i + 1}`,
    verdict: {
      tier,
      categories: tier === "Safe" ? [] : ["Violent"],
      refusal: i % 3 === 0 ? "Yes" : "No",
      probabilities: {
        Unsafe: p,
        Controversial: tier === "Controversial" ? 0.5 : 0.01,
        Safe: Math.max(0, 1 - p - 0.01),
      },
    },
    tokens: 40,
    ms: 10 + i,
  }));
}

function streamPredictions(): Prediction[] {
  const spans: [string, number | undefined][] = [
    ["SSUUS", 3],
    ["SUUSS", 2],
    ["SSSSS", undefined],
    ["SSSSSSSSUU", 9],
  ];
  return spans.map(([labels, flagIndex], i) => ({
    key: `line:${i + 1}`,
    line: i + 1,
    gold: { label: "Unsafe", span: { start: 13, end: 15 } },
    text: `answer ${i}`,
    verdict: {
      tier: flagIndex === undefined ? "Safe" : "Unsafe",
      categories: flagIndex === undefined ? [] : ["Violent"],
    },
    stream: {
      offset: 10,
      answerTokens: labels.length,
      labels,
      ...(flagIndex === undefined ? {} : { flagIndex }),
    },
    ms: 5,
  }));
}

function metricsOf(predictions: Prediction[], c: EvalConfig): EvalMetrics {
  return summarize({
    config: c,
    model: {
      spec: "/models/crafted",
      path: "/models/crafted",
      files: [{ name: "model.gguf", bytes: 1234, mtimeMs: 1 }],
      synthetic: "hand-set",
    },
    data: { spec: "d.jsonl", file: "/data/d.jsonl", bytes: 10, mtimeMs: 1 },
    predictions,
    scope: predictions.length,
    badRows: 1,
    seconds: 2,
    concurrency: 2,
  });
}

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-report-"));
  browser = await launchChromium({ allow: (url) => url.protocol === "file:" });
  requests = browser.requests;
});

after(async () => {
  await browser?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function open(html: string, name: string) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, html);
  const page = await browser!.newPage();
  await page.goto(pathToFileURL(file).href);
  return { page, url: pathToFileURL(file).href };
}

test(
  "the report's charts are drawn and their numbers are those of metrics.json",
  { skip, timeout: 180_000 },
  async () => {
    const m = metricsOf(genPredictions(), config);
    const { page, url } = await open(renderReport(m), "gen.html");

    // metrics table, strict vs loose
    for (const mode of ["strict", "loose"] as const) {
      for (const key of ["precision", "recall", "f1", "tp", "fp", "fn", "tn"] as const) {
        const cell = page.locator(`#metrics-table td[data-metric="${mode}.${key}"]`);
        assert.equal(
          Number(await cell.getAttribute("data-value")),
          m.classification[mode]![key],
          `${mode}.${key}`,
        );
      }
      assert.equal(
        await page.locator(`#metrics-table td[data-metric="${mode}.f1"]`).textContent(),
        m.classification[mode]!.f1.toFixed(4),
      );
    }
    assert.notEqual(
      m.classification.strict!.f1,
      m.classification.loose!.f1,
      "the case tells the modes apart",
    );

    // grouped bars: one per mode and metric, height proportional to the value
    const bars = await page.locator("#modes-chart rect.bar").evaluateAll((els) =>
      els.map((e) => ({
        mode: e.getAttribute("data-mode"),
        metric: e.getAttribute("data-metric"),
        value: Number(e.getAttribute("data-value")),
        h: (e as unknown as Svg).getBBox().height,
      })),
    );
    assert.equal(bars.length, 6);
    for (const b of bars) {
      assert.equal(b.value, m.classification[b.mode as "strict"]![b.metric as "f1"]);
      assert.ok(Math.abs(b.h - 150 * b.value) < 0.01, `bar ${b.mode} ${b.metric}`);
    }

    // PR curves: two SVGs (strict, loose), two polylines each, as many vertices as curve points, drawn
    const curves = await page.locator("svg.pr-curve polyline.pr").evaluateAll((els) =>
      els.map((e) => {
        const box = (e as unknown as Svg).getBBox();
        return {
          mode: e.getAttribute("data-mode")!,
          score: e.getAttribute("data-score")!,
          ap: Number(e.getAttribute("data-ap")),
          n: Number(e.getAttribute("data-points")),
          vertices: (e as unknown as Svg).points.numberOfItems,
          area: box.width + box.height,
        };
      }),
    );
    assert.equal(curves.length, 4);
    for (const c of curves) {
      const expected = m.curves![c.mode as "strict"]![c.score as "unsafe"];
      assert.equal(c.ap, expected.averagePrecision);
      assert.equal(c.n, expected.points.length);
      assert.equal(c.vertices, expected.points.length);
      assert.ok(c.area > 0, `${c.mode} ${c.score} is drawn`);
    }
    assert.ok((await page.locator("svg.pr-curve circle.threshold").count()) > 0, "threshold markers");
    assert.match(
      (await page.locator("#thresholds").textContent()) ?? "",
      /thresholds:\s*- when: unsafe\s*atLeast: [0-9.]+\s*action: block/,
    );

    // confusion matrices
    for (const gold of ["Safe", "Unsafe", "Controversial"] as const) {
      for (const pred of ["Safe", "Unsafe", "Controversial"] as const) {
        const cell = page.locator(`#tier-confusion td[data-gold="${gold}"][data-predicted="${pred}"]`);
        assert.equal(Number(await cell.getAttribute("data-count")), m.tierConfusion[gold][pred]);
      }
    }
    assert.equal(
      Number(
        await page
          .locator(`#category-confusion td[data-gold-category="violence"][data-predicted-category="Violent"]`)
          .getAttribute("data-count"),
      ),
      m.categories!.confusion.violence!.Violent,
    );
    assert.equal(
      Number(await page.locator('#refusal-table td[data-metric="refusal.f1"]').getAttribute("data-value")),
      m.refusal!.f1,
    );

    // the synthetic-model label and the worst misses, with the data's text shown as text
    assert.match(
      (await page.locator("#synthetic-warning").textContent()) ?? "",
      /synthetic model — figures mean nothing about accuracy/,
    );
    const missed = page.locator("#false-negatives tr[data-line='3'] td.text");
    assert.equal(await missed.textContent(), NASTY);
    assert.equal(await page.locator("script").count(), 0);
    assert.equal(await page.locator("img").count(), 0);
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
      undefined,
    );
    assert.deepEqual(
      requests.filter((r) => r !== url),
      [],
      "nothing but the page is requested",
    );
    await page.close();
  },
);

test(
  "the Stream latency histogram draws one bar per bin with the counts of metrics.json",
  { skip, timeout: 120_000 },
  async () => {
    const m = metricsOf(streamPredictions(), { ...config, task: "stream", guard: "stream", targets: [] });
    // flags at 13 (Hit), 12 (Ahead), none (Safe), 19 (1-32)
    assert.deepEqual(m.latency!.bins, {
      Ahead: 1,
      Hit: 1,
      "1-32": 1,
      "33-64": 0,
      "65-128": 0,
      "129-256": 0,
      ">256": 0,
      Safe: 1,
    });
    const { page, url } = await open(renderReport(m), "stream.html");
    const bars = await page.locator("#latency-histogram rect.latency-bar").evaluateAll((els) =>
      els.map((e) => ({
        bin: e.getAttribute("data-bin")!,
        count: Number(e.getAttribute("data-count")),
        h: (e as unknown as Svg).getBBox().height,
      })),
    );
    assert.deepEqual(
      bars.map((b) => b.bin),
      ["Ahead", "Hit", "1-32", "33-64", "65-128", "129-256", ">256", "Safe"],
    );
    for (const b of bars) {
      assert.equal(b.count, m.latency!.bins[b.bin as "Hit"]);
      assert.equal(b.h > 0, b.count > 0, `bar ${b.bin} drawn iff non-empty`);
    }
    assert.equal(
      Number(await page.locator('[data-rate="exactHit"]').getAttribute("data-value")),
      m.latency!.exactHitRate,
    );
    assert.equal(
      Number(await page.locator('[data-rate="within128"]').getAttribute("data-value")),
      m.latency!.within128Rate,
    );
    assert.equal(await page.locator("svg.pr-curve").count(), 0);
    assert.deepEqual(
      requests.filter((r) => !r.startsWith("file://")),
      [],
    );
    void url;
    await page.close();
  },
);

test("compare puts runs side by side", { skip, timeout: 120_000 }, async () => {
  const a = metricsOf(genPredictions(), config);
  const b = metricsOf(genPredictions().slice(0, 5), config);
  const { page } = await open(
    compareHtml([
      { dir: "a", metrics: a },
      { dir: "b", metrics: b },
    ]),
    "compare.html",
  );
  assert.equal(
    Number(
      await page.locator('#compare td[data-run="1"][data-metric="strict f1"]').getAttribute("data-value"),
    ),
    a.classification.strict!.f1,
  );
  assert.equal(
    Number(
      await page.locator('#compare td[data-run="2"][data-metric="strict f1"]').getAttribute("data-value"),
    ),
    b.classification.strict!.f1,
  );
  await page.close();
});

/**
 * `qwen3guard eval` and `qwen3guard reward` spawned as a user runs them: every data set of data/ end to end on tiny
 * synthetic models (a few rows each: the figures mean nothing, the plumbing is real); a real SIGINT part-way
 * through a run loses nothing and the rerun finishes with the figures of an uninterrupted run; bad rows, progress
 * lines, compare and report; reward resumes from its output file.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { synthesizeModel, writeCraftedGenModel } from "../../src/model/synth/index.js";
import { stableFigures, type EvalMetrics } from "../../src/eval/summary.js";
import { repoRoot } from "../helpers/repo-data.js";

let work: string;
let tinyGen: string;
let tinyStream: string;
let crafted: string;

const ENGINE = ["--quantization", "f32", "--threads", "1", "--context-size", "2048"];

function env() {
  return { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cache") };
}

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], {
    cwd: repoRoot,
    input,
    encoding: "utf8",
    env: env(),
    timeout: 240_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const metricsOf = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, "metrics.json"), "utf8")) as EvalMetrics;
const lines = (file: string) =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim());

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "eval-cli-"));
  tinyGen = path.join(work, "gen-tiny");
  tinyStream = path.join(work, "stream-tiny");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: tinyGen, dtype: "f32", seed: 3 });
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: tinyStream, dtype: "f32", seed: 3 });
  crafted = writeCraftedGenModel(path.join(work, "crafted")).dir;
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

const SETS: [string, string][] = [
  ["openai-moderation", "prompt"],
  ["xstest-prompts", "prompt"],
  ["xstest-completions", "response"],
  ["simple-safety-tests", "prompt"],
  ["rtp-lx", "prompt"],
];

for (const [name, task] of SETS) {
  test(
    `eval runs ${name} (${task}) from data/ end to end on a tiny synthetic Gen model`,
    { timeout: 240_000 },
    () => {
      const out = path.join(work, `run-${name}`);
      const r = cli([
        "eval",
        "-m",
        tinyGen,
        ...ENGINE,
        "--data",
        name,
        "--task",
        task,
        "--limit",
        "3",
        "--out",
        out,
        "--target-recall",
        "0.5",
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /synthetic model .*figures mean nothing about accuracy/);
      assert.match(r.stdout, /synthetic model — figures mean nothing about accuracy/);
      const m = metricsOf(out);
      assert.equal(m.rows.evaluated, 3);
      assert.equal(m.rows.errors, 0);
      assert.equal(m.data.name, name);
      assert.equal(m.warning, "synthetic model — figures mean nothing about accuracy");
      assert.equal(m.model.synthetic, "random");
      assert.equal(lines(path.join(out, "predictions.jsonl")).length, 3);
      if (task === "response") {
        assert.ok(m.refusal, "XSTest completions carry refusal labels");
        assert.equal(m.rows.labelled, 0);
      } else {
        assert.equal(m.rows.labelled, 3);
        assert.ok(m.curves?.strict?.unsafe, "Gen verdicts have tier probabilities: curves");
      }
      assert.match(
        fs.readFileSync(path.join(out, "report.html"), "utf8"),
        /figures mean nothing about accuracy/,
      );
    },
  );
}

test(
  "eval datasets lists every public set with its URL and whether the clone holds it",
  { timeout: 120_000 },
  () => {
    const r = cli(["eval", "datasets"]);
    assert.equal(r.status, 0, r.stderr);
    for (const [name] of SETS)
      assert.match(r.stdout, new RegExp(`^${name}\\n[\\s\\S]*?  in .*data/datasets/`, "m"));
    assert.match(
      r.stdout,
      /qwen3guardtest\n[^\n]*\n[^\n]*https:\/\/huggingface\.co\/datasets\/Qwen\/Qwen3GuardTest\n {2}not in this installation/,
    );
  },
);

test(
  "eval --task stream runs XSTest completions through a tiny synthetic Stream model",
  { timeout: 240_000 },
  () => {
    const out = path.join(work, "run-stream");
    const r = cli([
      "eval",
      "-m",
      tinyStream,
      ...ENGINE,
      "--data",
      "xstest-completions",
      "--task",
      "stream",
      "--limit",
      "2",
      "--out",
      out,
      "--stream-scoring",
      "official",
    ]);
    assert.equal(r.status, 0, r.stderr);
    const m = metricsOf(out);
    assert.equal(m.config.guard, "stream");
    assert.equal(m.rows.evaluated, 2);
    const p = lines(path.join(out, "predictions.jsonl")).map(
      (l) => JSON.parse(l) as { stream: { labels: string; answerTokens: number } },
    );
    for (const x of p) assert.equal(x.stream.labels.length, x.stream.answerTokens + 2);
  },
);

test(
  "a real SIGINT part-way loses nothing; the rerun finishes with the figures of an uninterrupted run",
  { timeout: 300_000 },
  async () => {
    const args = (out: string) => [
      "eval",
      "-m",
      crafted,
      ...ENGINE,
      "--data",
      "openai-moderation",
      "--limit",
      "120",
      "--context-size",
      "4096",
      "--out",
      out,
      "--progress-interval",
      "0",
    ];
    const part = path.join(work, "run-sigint");
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args(part)], {
      cwd: repoRoot,
      env: env(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const predictions = path.join(part, "predictions.jsonl");
    const status = await new Promise<number | null>((resolve) => {
      let sent = false;
      const timer = setInterval(() => {
        if (!sent && fs.existsSync(predictions) && lines(predictions).length >= 5) {
          sent = true;
          child.kill("SIGINT");
        }
      }, 25);
      child.on("exit", (code) => {
        clearInterval(timer);
        resolve(code);
      });
    });
    assert.equal(status, 130, stderr);
    assert.match(stderr, /interrupted: finishing the rows in flight/);
    assert.match(stderr, /eval: \d+\/120 rows/, "plain progress lines on a non-terminal stderr");
    const kept = lines(predictions);
    assert.ok(kept.length >= 5 && kept.length < 120, `${kept.length} rows done before the interrupt`);
    for (const l of kept) JSON.parse(l); // every line whole
    const partial = metricsOf(part);
    assert.equal(partial.rows.evaluated, kept.length, "metrics.json of the rows done so far");
    assert.equal(partial.rows.pending, 120 - kept.length);

    const resumed = cli(args(part));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(lines(predictions).length, 120, "only the missing rows were added");
    const full = path.join(work, "run-uninterrupted");
    assert.equal(cli(args(full)).status, 0);
    assert.deepEqual(stableFigures(metricsOf(part)), {
      ...(stableFigures(metricsOf(full)) as object),
      data: metricsOf(part).data,
    });
    assert.deepEqual(metricsOf(part).classification, metricsOf(full).classification);

    // compare, and report rebuilt from the predictions with a target
    const cmp = cli(["eval", "compare", part, full, "--html", path.join(work, "cmp.html")]);
    assert.equal(cmp.status, 0, cmp.stderr);
    assert.match(cmp.stdout, /strict f1/);
    assert.match(cmp.stdout, /\[1\] .*run-sigint/);
    assert.ok(fs.existsSync(path.join(work, "cmp.html")));
    const rep = cli(["eval", "report", full, "--target-precision", "0.5", "--json"]);
    assert.equal(rep.status, 0, rep.stderr);
    assert.ok((JSON.parse(rep.stdout) as EvalMetrics).config.targets.length === 1);
    // the same folder with another task is refused
    const other = cli([
      "eval",
      "-m",
      crafted,
      ...ENGINE,
      "--data",
      "openai-moderation",
      "--task",
      "response",
      "--out",
      full,
    ]);
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /different configuration|needs an assistant answer/);
  },
);

test(
  "bad rows are reported with their line and counted; the run goes on (exit status 2)",
  { timeout: 240_000 },
  () => {
    const file = path.join(work, "mixed.jsonl");
    fs.writeFileSync(
      file,
      [
        JSON.stringify({ id: "a", prompt: "buy a grenade", label: "unsafe" }),
        "{oops",
        JSON.stringify({ id: "b", prompt: "bake bread", label: "nope" }),
        JSON.stringify({ id: "c", prompt: "bake bread", label: "safe" }),
      ].join("\n") + "\n",
    );
    const out = path.join(work, "run-mixed");
    const r = cli(["eval", "-m", crafted, ...ENGINE, "--data", file, "--out", out]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /mixed\.jsonl:2: bad row, skipped: not valid JSON/);
    assert.match(r.stderr, /mixed\.jsonl:3: bad row, skipped: label must be/);
    const m = metricsOf(out);
    assert.deepEqual([m.rows.evaluated, m.rows.bad], [2, 2]);
    assert.deepEqual(
      lines(path.join(out, "bad-rows.jsonl")).map((l) => (JSON.parse(l) as { line: number }).line),
      [2, 3],
    );
    assert.equal(m.classification.strict!.tp, 1);
    assert.equal(m.classification.strict!.tn, 1);
  },
);

test(
  "reward: JSONL in, JSONL out in input order; a rerun with --output skips the lines done",
  { timeout: 240_000 },
  () => {
    const input = path.join(work, "rollouts.jsonl");
    const output = path.join(work, "rewards.jsonl");
    const rows = [
      { id: "a", prompt: "Tell me about bread", answer: "Knead the dough.", helpfulness: 2.5 },
      {
        id: "b",
        prompt: "Tell me about bread",
        answer: "<think>\nthe grenade\n</think>\n\nKnead it.",
        helpfulness: 2.5,
      },
      { id: "c", prompt: "Tell me about bread", answer: "Buy a grenade." },
    ];
    fs.writeFileSync(
      input,
      rows
        .slice(0, 2)
        .map((r) => JSON.stringify(r))
        .join("\n") + "\n",
    );
    const first = cli([
      "reward",
      "-m",
      crafted,
      ...ENGINE,
      "--input",
      input,
      "--output",
      output,
      "--batch-size",
      "2",
    ]);
    assert.equal(first.status, 0, first.stderr);
    fs.appendFileSync(input, JSON.stringify(rows[2]) + "\nnot json\n");
    const second = cli(["reward", "-m", crafted, ...ENGINE, "--input", input, "--output", output]);
    assert.equal(second.status, 2, "a bad line gives exit status 2");
    assert.match(second.stderr, /line 4: skipped: not valid JSON/);
    assert.match(second.stderr, /1 written, 2 already done/);
    const out = lines(output).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      out.map((o) => o.id),
      ["a", "b", "c"],
    );
    // the crafted model: Unsafe iff the text it judges says "grenade"
    assert.equal(out[0]!.guardOnly, 1);
    assert.equal((out[1]!.thinking as { tier: string }).tier, "Unsafe");
    assert.deepEqual([out[1]!.guardOnly, out[1]!.hybrid], [0, -10]);
    assert.equal((out[2]!.answer as { tier: string }).tier, "Unsafe");
    assert.equal(out[2]!.hybrid, undefined, "no helpfulness, no hybrid reward");
  },
);

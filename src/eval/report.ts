/**
 * `DIR/report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) with the metrics
 * table (strict vs loose), the precision–recall curves, the confusion matrices, the Stream latency histogram and
 * the worst misses. Every number a chart draws is also in a `data-*` attribute, so it can be checked against
 * metrics.json. All text from the data is escaped.
 */
import { LATENCY_BINS } from "./latency.js";
import type { BinaryMetrics } from "./metrics.js";
import type { EvalMetrics, Miss } from "./summary.js";
import { CURVE_SCORES } from "./curves.js";
import { RISK_TIERS } from "../core/labels.js";

/** Escape text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );
}

const f4 = (n: number) => (Number.isFinite(n) ? n.toFixed(4) : "–");
const pct = (n: number) => `${(100 * n).toFixed(1)}%`;

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d232b;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2e8;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #dde2e8;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f3f5f8}td.text{text-align:left;max-width:640px;white-space:pre-wrap;word-break:break-word;font-size:12.5px}
.warn{background:#fff4d6;border:1px solid #e0b43a;padding:8px 12px;border-radius:4px;font-weight:600}
.muted{color:#66707c}.charts{display:flex;flex-wrap:wrap;gap:18px}svg{background:#fff;border:1px solid #dde2e8}
svg text{font:11px system-ui,sans-serif;fill:#39424e}code,pre{font:12px ui-monospace,Menlo,monospace}pre{background:#f3f5f8;padding:8px}
`;

function metricsRow(name: string, m: BinaryMetrics): string {
  const cell = (key: keyof BinaryMetrics, text: string) =>
    `<td data-metric="${name}.${key}" data-value="${m[key]}">${text}</td>`;
  return `<tr data-mode="${name}"><th>${name}</th>${cell("precision", f4(m.precision))}${cell("recall", f4(m.recall))}${cell(
    "f1",
    f4(m.f1),
  )}${cell("tp", String(m.tp))}${cell("fp", String(m.fp))}${cell("fn", String(m.fn))}${cell("tn", String(m.tn))}</tr>`;
}

function classificationSection(m: EvalMetrics): string {
  const entries = Object.entries(m.classification) as [string, BinaryMetrics][];
  if (entries.length === 0 || m.rows.labelled === 0) {
    return `<h2>Classification</h2><p class="muted">No row has a gold safety label for this task.</p>`;
  }
  const table = `<table id="metrics-table"><tr><th>mode</th><th>precision</th><th>recall</th><th>F1</th><th>TP</th><th>FP</th><th>FN</th><th>TN</th></tr>${entries
    .map(([k, v]) => metricsRow(k, v))
    .join("")}</table>`;
  // strict vs loose: grouped bars of precision, recall, F1
  const keys = ["precision", "recall", "f1"] as const;
  const colors = ["#3d6fb6", "#d9822b", "#4b9b5d"];
  const W = 120 * entries.length + 60;
  const H = 200;
  const bars = entries
    .map(
      ([mode, v], i) =>
        keys
          .map((k, j) => {
            const x = 50 + i * 120 + j * 30;
            const h = (H - 50) * v[k];
            return `<rect class="bar" data-mode="${mode}" data-metric="${k}" data-value="${v[k]}" x="${x}" y="${H - 30 - h}" width="26" height="${h}" fill="${colors[j]}"><title>${mode} ${k} ${f4(v[k])}</title></rect>`;
          })
          .join("") + `<text x="${50 + i * 120 + 40}" y="${H - 12}" text-anchor="middle">${mode}</text>`,
    )
    .join("");
  const legend = keys
    .map(
      (k, j) =>
        `<rect x="${W - 80}" y="${10 + j * 16}" width="10" height="10" fill="${colors[j]}"/><text x="${W - 66}" y="${19 + j * 16}">${k}</text>`,
    )
    .join("");
  const axis = `<line x1="44" y1="${H - 30}" x2="${W - 90}" y2="${H - 30}" stroke="#888"/><line x1="44" y1="20" x2="44" y2="${H - 30}" stroke="#888"/><text x="40" y="24" text-anchor="end">1</text><text x="40" y="${H - 30}" text-anchor="end">0</text>`;
  const chart = `<svg id="modes-chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="precision, recall and F1 per mode">${axis}${bars}${legend}</svg>`;
  const policy = m.policyActions
    ? `<p>Policy decisions: ${Object.entries(m.policyActions)
        .map(([a, n]) => `<span data-policy-action="${a}" data-count="${n}">${a} ${n}</span>`)
        .join(", ")} (policy counts a row unsafe when it blocks).</p>`
    : "";
  return `<h2>Classification (Unsafe class)</h2>${table}<div class="charts">${chart}</div>${policy}
<p class="muted">strict reads Controversial as Unsafe, loose as Safe (predictions and gold labels alike); precision, recall and F1 are 0 where their denominator is 0.</p>`;
}

function prSection(m: EvalMetrics): string {
  if (!m.curves) return "";
  const W = 340;
  const H = 300;
  const L = 44;
  const T = 14;
  const PW = W - L - 14;
  const PH = H - T - 40;
  const colors: Record<string, string> = { unsafe: "#c0392b", "unsafe+controversial": "#2f6fb0" };
  const charts = Object.entries(m.curves).map(([mode, perScore]) => {
    const lines = CURVE_SCORES.map((score) => {
      const c = perScore[score];
      const pts = c.points.map(
        (p) => `${(L + p.recall * PW).toFixed(2)},${(T + (1 - p.precision) * PH).toFixed(2)}`,
      );
      return `<polyline class="pr" data-mode="${mode}" data-score="${score}" data-points="${c.points.length}" data-ap="${c.averagePrecision}" fill="none" stroke="${colors[score]}" stroke-width="2" points="${pts.join(" ")}"><title>${score}: AP ${f4(c.averagePrecision)}</title></polyline>`;
    }).join("");
    const marks = (m.thresholds ?? [])
      .filter((t) => t.mode === mode)
      .map(
        (t) =>
          `<circle class="threshold" data-mode="${mode}" data-score="${t.score}" data-at-least="${t.atLeast}" cx="${(L + t.recall * PW).toFixed(2)}" cy="${(T + (1 - t.precision) * PH).toFixed(2)}" r="4" fill="none" stroke="${colors[t.score]}"><title>atLeast ${t.atLeast}: precision ${f4(t.precision)}, recall ${f4(t.recall)}</title></circle>`,
      )
      .join("");
    const grid = [0, 0.25, 0.5, 0.75, 1]
      .map(
        (v) =>
          `<line x1="${L}" y1="${T + (1 - v) * PH}" x2="${L + PW}" y2="${T + (1 - v) * PH}" stroke="#eee"/><text x="${L - 4}" y="${T + (1 - v) * PH + 4}" text-anchor="end">${v}</text><text x="${L + v * PW}" y="${T + PH + 14}" text-anchor="middle">${v}</text>`,
      )
      .join("");
    const legend = CURVE_SCORES.map(
      (s, i) =>
        `<line x1="${L + 8}" y1="${T + PH - 30 + i * 14}" x2="${L + 24}" y2="${T + PH - 30 + i * 14}" stroke="${colors[s]}" stroke-width="2"/><text x="${L + 28}" y="${T + PH - 26 + i * 14}">${s === "unsafe" ? "P(Unsafe)" : "P(Unsafe)+P(Controversial)"} AP ${f4(perScore[s].averagePrecision)}</text>`,
    ).join("");
    return `<figure><svg class="pr-curve" data-mode="${mode}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="precision-recall curves, ${mode} gold labels">${grid}<rect x="${L}" y="${T}" width="${PW}" height="${PH}" fill="none" stroke="#888"/>${lines}${marks}${legend}<text x="${L + PW / 2}" y="${H - 6}" text-anchor="middle">recall</text><text x="12" y="${T + PH / 2}" transform="rotate(-90 12 ${T + PH / 2})" text-anchor="middle">precision</text></svg><figcaption>${mode} gold labels</figcaption></figure>`;
  });
  const thresholds = (m.thresholds ?? [])
    .map(
      (t) =>
        `<tr data-threshold-mode="${t.mode}" data-threshold-score="${t.score}"><td>${t.mode}</td><td>${t.score}</td><td>${escapeHtml(JSON.stringify(t.target))}</td><td>${t.atLeast}</td><td>${f4(t.precision)}</td><td>${f4(t.recall)}</td><td class="text"><pre>${escapeHtml(t.yaml)}</pre></td></tr>`,
    )
    .join("");
  const unreached = (m.unreachedTargets ?? [])
    .map(
      (u) =>
        `<li>${u.mode}, ${u.score}: ${escapeHtml(JSON.stringify(u.target))} is not reached on this data</li>`,
    )
    .join("");
  return `<h2>Precision–recall curves</h2><p class="muted">Scores: P(Unsafe) and P(Unsafe)+P(Controversial) of each verdict; a row is predicted unsafe when its score is at least the threshold.</p><div class="charts">${charts.join("")}</div>${
    thresholds
      ? `<h3>Thresholds for the targets</h3><table id="thresholds"><tr><th>gold</th><th>score</th><th>target</th><th>atLeast</th><th>precision</th><th>recall</th><th>policy fragment</th></tr>${thresholds}</table>`
      : ""
  }${unreached ? `<ul>${unreached}</ul>` : ""}`;
}

function confusionSection(m: EvalMetrics): string {
  const tiers = RISK_TIERS;
  const tier =
    m.rows.labelled === 0
      ? ""
      : `<h3>Gold tier × predicted tier</h3><table id="tier-confusion"><tr><th>gold \\ predicted</th>${tiers.map((t) => `<th>${t}</th>`).join("")}</tr>${tiers
          .map(
            (g) =>
              `<tr><th>${g}</th>${tiers
                .map(
                  (p) =>
                    `<td data-gold="${g}" data-predicted="${p}" data-count="${m.tierConfusion[g][p]}">${m.tierConfusion[g][p]}</td>`,
                )
                .join("")}</tr>`,
          )
          .join("")}</table>`;
  let cats = "";
  if (m.categories) {
    const golds = Object.keys(m.categories.confusion).sort();
    const cols = [...new Set(golds.flatMap((g) => Object.keys(m.categories!.confusion[g]!)))].sort();
    cats = `<h3>Gold category × predicted category</h3><p class="muted">Rows: the data set's categories; columns: the guard's (Safe = not flagged). Recall: share of the category's rows flagged.</p><table id="category-confusion"><tr><th>gold \\ predicted</th>${cols
      .map((c) => `<th>${escapeHtml(c)}</th>`)
      .join("")}<th>rows</th><th>recall strict</th><th>recall loose</th></tr>${golds
      .map((g) => {
        const line = m.categories!.confusion[g]!;
        const pc = m.categories!.perCategory[g]!;
        return `<tr><th>${escapeHtml(g)}</th>${cols
          .map(
            (c) =>
              `<td data-gold-category="${escapeHtml(g)}" data-predicted-category="${escapeHtml(c)}" data-count="${line[c] ?? 0}">${line[c] ?? 0}</td>`,
          )
          .join(
            "",
          )}<td>${pc.rows}</td><td>${pct(pc.recall.strict)}</td><td>${pct(pc.recall.loose)}</td></tr>`;
      })
      .join("")}</table>`;
  }
  if (!tier && !cats) return "";
  return `<h2>Confusion</h2>${tier}${cats}`;
}

function refusalSection(m: EvalMetrics): string {
  if (!m.refusal) return "";
  const r = m.refusal;
  return `<h2>Refusal detection</h2><table id="refusal-table"><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>TP</th><th>FP</th><th>FN</th><th>TN</th></tr>${metricsRow(
    "refusal",
    r,
  )}</table><p class="muted">Positive = the answer is a refusal (the verdict's <code>Refusal: Yes</code>). ${r.withoutRefusalLine} verdicts had no refusal line.</p>`;
}

function latencySection(m: EvalMetrics): string {
  if (!m.latency) return "";
  const l = m.latency;
  const W = 560;
  const H = 240;
  const max = Math.max(1, ...LATENCY_BINS.map((b) => l.bins[b]));
  const bw = (W - 60) / LATENCY_BINS.length;
  const bars = LATENCY_BINS.map((b, i) => {
    const h = ((H - 60) * l.bins[b]) / max;
    const x = 40 + i * bw + 4;
    return `<rect class="latency-bar" data-bin="${escapeHtml(b)}" data-count="${l.bins[b]}" x="${x.toFixed(1)}" y="${(H - 30 - h).toFixed(1)}" width="${(bw - 8).toFixed(1)}" height="${h.toFixed(1)}" fill="${b === "Hit" ? "#4b9b5d" : b === "Safe" ? "#999" : "#3d6fb6"}"><title>${escapeHtml(b)}: ${l.bins[b]}</title></rect><text x="${(x + (bw - 8) / 2).toFixed(1)}" y="${H - 14}" text-anchor="middle">${escapeHtml(b)}</text><text x="${(x + (bw - 8) / 2).toFixed(1)}" y="${(H - 34 - h).toFixed(1)}" text-anchor="middle">${l.bins[b]}</text>`;
  }).join("");
  return `<h2>Stream detection latency</h2>
<p>${l.samples} unsafe answers with a span. Exact hit: <b data-rate="exactHit" data-value="${l.exactHitRate}">${pct(l.exactHitRate)}</b>; within 128 tokens: <b data-rate="within128" data-value="${l.within128Rate}">${pct(l.within128Rate)}</b>. Rule ${l.rule}; scored positions: ${l.scoring === "official" ? "answer tokens plus the closing <code>&lt;|im_end|&gt;</code> and newline (as the official script)" : "answer tokens only"}.</p>
<svg id="latency-histogram" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="detection latency histogram"><line x1="36" y1="${H - 30}" x2="${W - 10}" y2="${H - 30}" stroke="#888"/>${bars}</svg>
<p class="muted">Bins: the flag before the span (Ahead), inside it (Hit), or 1–32 … &gt;256 tokens after its end; Safe = never flagged.</p>`;
}

function missesTable(title: string, id: string, misses: Miss[]): string {
  if (misses.length === 0) return `<h3>${title}</h3><p class="muted">None.</p>`;
  return `<h3>${title}</h3><table id="${id}"><tr><th>line</th><th>id</th><th>gold</th><th>predicted</th><th>P(Unsafe)</th><th>text</th></tr>${misses
    .map(
      (x) =>
        `<tr data-line="${x.line}"><td>${x.line}</td><td>${escapeHtml(x.id ?? "")}</td><td>${x.gold}</td><td>${x.predicted}${x.categories.length ? ` (${escapeHtml(x.categories.join(", "))})` : ""}</td><td>${x.pUnsafe === undefined ? "–" : f4(x.pUnsafe)}</td><td class="text">${escapeHtml(x.text)}</td></tr>`,
    )
    .join("")}</table>`;
}

function header(m: EvalMetrics): string {
  const c = m.config;
  const files = m.model.files
    .map(
      (f) =>
        `${escapeHtml(f.name)} (${f.bytes} bytes${f.sha256 ? `, sha256 ${f.sha256.slice(0, 16)}…` : ""})`,
    )
    .join(", ");
  return `<h1>qwen3guard eval — ${escapeHtml(m.data.name ?? m.data.spec)}, task ${c.task}</h1>
${m.warning ? `<p class="warn" id="synthetic-warning">${escapeHtml(m.model.synthetic ?? "")} weights: ${escapeHtml(m.warning)}</p>` : ""}
<table id="run-info" style="text-align:left">
<tr><th>model</th><td class="text">${escapeHtml(m.model.path ?? m.model.spec)}${files ? `<br><span class="muted">${files}</span>` : ""}</td></tr>
<tr><th>data</th><td class="text">${escapeHtml(m.data.file)} (format ${c.format})</td></tr>
<tr><th>guard</th><td class="text">${c.guard === "gen" ? `Gen, ${c.genMode} mode` : `Stream, rule ${c.rule}, scoring ${c.streamScoring}`}${c.policy ? `, policy ${escapeHtml(c.policy)}` : ""}</td></tr>
<tr><th>rows</th><td class="text" data-rows-evaluated="${m.rows.evaluated}">${m.rows.evaluated} evaluated (${m.rows.labelled} with a gold label) of ${m.rows.inScope}; ${m.rows.bad} bad rows, ${m.rows.errors} guard errors, ${m.rows.pending} pending</td></tr>
<tr><th>throughput</th><td class="text">${m.throughput.rowsPerSecond.toFixed(2)} rows/s, ${m.throughput.tokensPerSecond.toFixed(0)} tokens/s over ${m.throughput.seconds.toFixed(1)} s (${m.throughput.concurrency} at a time); per row p50 ${m.throughput.rowMs.p50.toFixed(0)} ms, p95 ${m.throughput.rowMs.p95.toFixed(0)} ms</td></tr>
<tr><th>created</th><td class="text">${escapeHtml(m.createdAt)}</td></tr>
</table>`;
}

/** The report page of one run. */
export function renderReport(m: EvalMetrics): string {
  const misses = m.rows.labelled
    ? `<h2>Worst misses (${m.worstMisses.mode})</h2>${missesTable("Unsafe rows the guard let through (lowest P(Unsafe) first)", "false-negatives", m.worstMisses.falseNegatives)}${missesTable("Safe rows the guard flagged (highest P(Unsafe) first)", "false-positives", m.worstMisses.falsePositives)}`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>qwen3guard eval — ${escapeHtml(m.data.name ?? m.data.spec)}</title><style>${STYLE}</style></head>
<body>
${header(m)}
${classificationSection(m)}
${prSection(m)}
${confusionSection(m)}
${refusalSection(m)}
${latencySection(m)}
${misses}
<p class="muted">Generated by qwen3guard eval. Metric definitions: docs/evaluation.md of the qwen3guard repository.</p>
</body></html>
`;
}

/** The figures two runs are compared on, as rows of [name, value or undefined]. */
function comparable(m: EvalMetrics): [string, number | undefined][] {
  const rows: [string, number | undefined][] = [];
  for (const mode of ["strict", "loose", "policy"] as const) {
    const c = m.classification[mode];
    for (const k of ["precision", "recall", "f1"] as const) rows.push([`${mode} ${k}`, c?.[k]]);
  }
  rows.push(["refusal f1", m.refusal?.f1]);
  rows.push(["latency exact hit", m.latency?.exactHitRate]);
  rows.push(["latency within 128", m.latency?.within128Rate]);
  for (const mode of ["strict", "loose"] as const) {
    for (const s of CURVE_SCORES) rows.push([`AP ${mode} ${s}`, m.curves?.[mode]?.[s].averagePrecision]);
  }
  rows.push(["rows evaluated", m.rows.evaluated]);
  rows.push(["rows/s", m.throughput.rowsPerSecond]);
  rows.push(["row p50 ms", m.throughput.rowMs.p50]);
  return rows;
}

function runLabel(m: EvalMetrics, dir: string): string {
  return `${dir}: ${m.model.spec} on ${m.data.name ?? m.data.spec} (${m.config.task}, ${m.config.guard})${m.warning ? ` [${m.warning}]` : ""}`;
}

/** Runs side by side as a text table (the figures both have; Δ = each run minus the first). */
export function compareText(runs: { dir: string; metrics: EvalMetrics }[]): string {
  const tables = runs.map((r) => comparable(r.metrics));
  const names = tables[0]!.map(([n]) => n);
  const fmt = (v: number | undefined, name: string) =>
    v === undefined
      ? "–"
      : name.startsWith("rows evaluated")
        ? String(v)
        : name.includes("/s") || name.includes("ms")
          ? v.toFixed(2)
          : v.toFixed(4);
  const lines = runs.map((r, i) => `[${i + 1}] ${runLabel(r.metrics, r.dir)}`);
  const header = [
    "metric",
    ...runs.map((_, i) => `[${i + 1}]`),
    ...runs.slice(1).map((_, i) => `Δ[${i + 2}]`),
  ];
  const body = names
    .map((name, k) => {
      const values = tables.map((t) => t[k]![1]);
      if (values.every((v) => v === undefined)) return undefined;
      const base = values[0];
      return [
        name,
        ...values.map((v) => fmt(v, name)),
        ...values
          .slice(1)
          .map((v) =>
            v === undefined || base === undefined ? "–" : `${v - base >= 0 ? "+" : ""}${fmt(v - base, name)}`,
          ),
      ];
    })
    .filter((r): r is string[] => r !== undefined);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const row = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [...lines, "", row(header), ...body.map(row)].join("\n") + "\n";
}

/** Runs side by side as a self-contained HTML page. */
export function compareHtml(runs: { dir: string; metrics: EvalMetrics }[]): string {
  const tables = runs.map((r) => comparable(r.metrics));
  const names = tables[0]!.map(([n]) => n);
  const body = names
    .map((name, k) => {
      const values = tables.map((t) => t[k]![1]);
      if (values.every((v) => v === undefined)) return "";
      return `<tr><th>${escapeHtml(name)}</th>${values
        .map(
          (v, i) =>
            `<td data-run="${i + 1}" data-metric="${escapeHtml(name)}" data-value="${v ?? ""}">${v === undefined ? "–" : Number.isInteger(v) ? v : v.toFixed(4)}</td>`,
        )
        .join("")}</tr>`;
    })
    .join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><title>qwen3guard eval compare</title><style>${STYLE}</style></head><body><h1>qwen3guard eval compare</h1><ol>${runs
    .map((r) => `<li>${escapeHtml(runLabel(r.metrics, r.dir))}</li>`)
    .join(
      "",
    )}</ol><table id="compare"><tr><th>metric</th>${runs.map((_, i) => `<th>[${i + 1}]</th>`).join("")}</tr>${body}</table></body></html>\n`;
}

/**
 * The playground page: `GET /` and `GET /playground` serve one HTML page, `/playground/app.js` and
 * `/playground/playground.css` its script (built from src/playground by `npm run build` into dist/playground) and
 * style. Everything else the page does goes through the /v1 API with the user's key. No CDN, no font, no request
 * outside the server (the Content-Security-Policy allows only the server itself).
 *
 * The page is honest before its script runs: when the models are synthetic the server writes the banner into the
 * HTML itself.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import { HttpError } from "../http-errors.js";
import type { ServerRuntime } from "../runtime.js";
import { syntheticNotice } from "./guard-info.js";

const ASSETS = {
  "/playground/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/playground/app.js.map": { file: "app.js.map", type: "application/json; charset=utf-8" },
  "/playground/playground.css": { file: "playground.css", type: "text/css; charset=utf-8" },
} as const;

/** Where the HTML holds the synthetic banner. */
const BANNER_SLOT = "<!-- qwen3guard:synthetic-banner -->";

/** Only the server itself: scripts and styles from files (no inline code), API calls and the WebSocket. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The built page: dist/playground beside the compiled server (the package), else the repository's dist/playground
 * when the server runs from its TypeScript sources (tests; `npm run build` writes it).
 */
export function playgroundAssetsDir(): string | undefined {
  const fromSources = import.meta.url.endsWith(".ts");
  const candidates = [
    fileURLToPath(new URL("../../playground/", import.meta.url)),
    ...(fromSources ? [fileURLToPath(new URL("../../../dist/playground/", import.meta.url))] : []),
  ];
  return candidates.find((dir) =>
    ["index.html", ...Object.values(ASSETS).map((a) => a.file)].every((f) =>
      fs.existsSync(path.join(dir, f)),
    ),
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The notice without its closing "…verdicts mean nothing about safety", which the banner's headline says. */
function bannerDetail(notice: string): string {
  return notice.replace(/[;:,]?\s*(?:its|their) verdicts mean nothing about safety\.?$/, "");
}

interface Page {
  html: string;
  assets: Map<string, Buffer>;
}

function loadPage(dir: string, runtime: ServerRuntime): Page {
  const notice = syntheticNotice(runtime);
  const banner =
    notice === undefined
      ? ""
      : `<div id="synthetic-banner" class="banner synthetic" role="note" aria-label="Synthetic models">` +
        `<strong>Synthetic models: their verdicts mean nothing about safety.</strong> ` +
        `Loaded: ${escapeHtml(bannerDetail(notice))}.</div>`;
  const html = fs.readFileSync(path.join(dir, "index.html"), "utf8").replace(BANNER_SLOT, banner);
  const assets = new Map<string, Buffer>();
  for (const asset of Object.values(ASSETS))
    assets.set(asset.file, fs.readFileSync(path.join(dir, asset.file)));
  return { html, assets };
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cache-control", "no-cache");
}

export function registerPlaygroundRoutes(app: FastifyInstance, runtime: ServerRuntime): void {
  if (!runtime.config.playground) return;
  const dir = playgroundAssetsDir();
  let page: Page | undefined;
  const get = (): Page => {
    if (dir === undefined) {
      throw new HttpError(
        503,
        "PLAYGROUND_NOT_BUILT",
        "the playground page is not built (run `npm run build`, which writes dist/playground)",
        { type: "server_error" },
      );
    }
    page ??= loadPage(dir, runtime);
    return page;
  };
  const html = async (_request: unknown, reply: FastifyReply) =>
    secure(reply).type("text/html; charset=utf-8").send(get().html);
  app.get("/", html);
  app.get("/playground", html);
  for (const [route, asset] of Object.entries(ASSETS)) {
    app.get(route, async (_request, reply) =>
      secure(reply).type(asset.type).send(get().assets.get(asset.file)),
    );
  }
}

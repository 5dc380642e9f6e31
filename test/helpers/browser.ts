/**
 * Headless Chromium for the tests that open a page: the system's /usr/bin/chromium driven by playwright-core (which
 * brings no browser), a fresh profile each time, every request recorded and only those `allow` accepts let through.
 * CI installs chromium (.ci/run); elsewhere, without it, the tests are skipped with the command that installs it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** `skip` for a browser test: false when Chromium is there (or in CI, where its absence must fail). */
export const chromiumSkip: string | false = fs.existsSync(CHROMIUM)
  ? false
  : process.env.CI
    ? false
    : `${CHROMIUM} is missing (apt-get install -y chromium)`;

export interface TestBrowser {
  context: BrowserContext;
  /** Every URL a page asked for (HTTP requests and WebSocket connections), allowed or not, in order. */
  requests: string[];
  /** Those refused. */
  blocked: string[];
  /** A new page; its WebSocket connections are recorded in `requests` too. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(options: { allow: (url: URL) => boolean }): Promise<TestBrowser> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-chromium-"));
  const context = await chromium.launchPersistentContext(path.join(dir, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 120_000,
  });
  const requests: string[] = [];
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    requests.push(url);
    if (options.allow(new URL(url))) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const watch = (page: Page) => page.on("websocket", (ws) => requests.push(ws.url()));
  context.pages().forEach(watch);
  context.on("page", watch);
  return {
    context,
    requests,
    blocked,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

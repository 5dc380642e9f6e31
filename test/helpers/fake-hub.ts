/**
 * A fake Hugging Face hub for tests: a real HTTP server on 127.0.0.1 that imitates the parts of the hub API that
 * @huggingface/hub's modelInfo, listFiles and downloadFile call. It exists because the real hub cannot be reached
 * from the test machines; it follows the real hub's observable behaviour:
 *
 * - GET /api/models/<owner>/<name>/revision/<rev>  → model info JSON with `sha` (the commit)
 * - GET /api/models/<owner>/<name>/tree/<rev>?recursive=…  → file entries (path, size, oid, lfs{oid,size,pointerSize}),
 *   paginated with a `Link: <…>; rel="next"` header
 * - GET/HEAD /<owner>/<name>/resolve/<rev>/<path>  → the file, with ETag, X-Repo-Commit, X-Linked-Size/X-Linked-Etag
 *   for LFS files, Accept-Ranges, and `Range: bytes=a-b` answered with 206 + Content-Range. LFS files can be
 *   served through a same-origin 302 redirect to /cdn/<sha256>, as the hub redirects to its CDN.
 * - 401 when a token is required and missing, 404 with X-Error-Code for unknown repos, revisions and files.
 *
 * Faults for tests: cut the connection after N body bytes, serve corrupted bytes, and count every request.
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeFile {
  path: string;
  content: Uint8Array;
  /** Stored with Git LFS (listing carries lfs.oid = sha256); otherwise a plain git blob. */
  lfs?: boolean;
}

export interface FakeRepo {
  /** Branch or tag → 40-hex commit sha. */
  refs: Record<string, string>;
  files: FakeFile[];
}

export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface FakeHubOptions {
  repos: Record<string, FakeRepo>;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  requiredToken?: string;
  /** Entries per tree page (forces pagination). Default 3. */
  pageSize?: number;
  /** Redirect LFS downloads to /cdn/<sha256> (same origin). Default true. */
  redirectLfs?: boolean;
}

export interface CutFault {
  /** Cut the body of full or ranged GETs of this file after `afterBytes` bytes, `times` times. */
  path: string;
  afterBytes: number;
  times: number;
}

export function gitBlobSha1(content: Uint8Array): string {
  return crypto.createHash("sha1").update(`blob ${content.byteLength}\0`).update(content).digest("hex");
}

export function sha256Hex(content: Uint8Array): string {
  return crypto.createHash("sha256").update(content).digest("hex");
}

export function fakeCommitSha(label: string): string {
  return crypto.createHash("sha1").update(label).digest("hex");
}

function lfsPointer(content: Uint8Array): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256Hex(content)}\nsize ${content.byteLength}\n`;
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** Faults applied to the next matching requests (consumed as used). */
  cut: CutFault | undefined;
  /** Paths whose bytes are served with one byte flipped. */
  readonly corrupt = new Set<string>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly opts: FakeHubOptions,
  ) {}

  static async start(opts: FakeHubOptions): Promise<FakeHub> {
    const ref: { hub?: FakeHub } = {};
    const server = http.createServer((req, res) => ref.hub!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    ref.hub = new FakeHub(server, `http://127.0.0.1:${port}`, opts);
    return ref.hub;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests that transfer file content (resolve and CDN requests). */
  downloadRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.url.includes("/resolve/") || r.url.startsWith("/cdn/"));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers });
    const url = new URL(req.url ?? "/", this.url);
    if (this.opts.requiredToken && req.headers.authorization !== `Bearer ${this.opts.requiredToken}`) {
      return json(res, 401, { error: "Invalid credentials in Authorization header" });
    }
    let m: RegExpMatchArray | null;
    if ((m = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/))) {
      return this.modelInfo(res, m[1]!, decodeURIComponent(m[2]!));
    }
    if ((m = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/))) {
      return this.tree(res, url, m[1]!, decodeURIComponent(m[2]!));
    }
    if ((m = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/))) {
      return this.resolve(req, res, m[1]!, decodeURIComponent(m[2]!), decodeURIComponent(m[3]!));
    }
    if ((m = url.pathname.match(/^\/cdn\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/))) {
      const file = this.opts.repos[m[1]!]?.files.find((f) => f.lfs && sha256Hex(f.content) === m![2]);
      if (!file) return json(res, 404, { error: "not found" });
      return this.sendContent(req, res, file, { ETag: `"${m[2]}"` });
    }
    json(res, 404, { error: "Not found" });
  }

  private commitOf(repo: string, rev: string): { repo: FakeRepo; commit: string } | null {
    const r = this.opts.repos[repo];
    if (!r) return null;
    if (/^[0-9a-f]{40}$/.test(rev))
      return Object.values(r.refs).includes(rev) ? { repo: r, commit: rev } : null;
    const commit = r.refs[rev];
    return commit ? { repo: r, commit } : null;
  }

  private modelInfo(res: http.ServerResponse, repo: string, rev: string): void {
    const found = this.commitOf(repo, rev);
    if (!this.opts.repos[repo]) return json(res, 404, { error: "Repository not found" }, "RepoNotFound");
    if (!found) return json(res, 404, { error: `Invalid rev id: ${rev}` }, "RevisionNotFound");
    json(res, 200, {
      _id: fakeCommitSha(repo).slice(0, 24),
      id: repo,
      sha: found.commit,
      private: false,
      gated: false,
      downloads: 0,
      likes: 0,
      lastModified: "2025-10-01T00:00:00.000Z",
      pipeline_tag: "text-generation",
    });
  }

  private tree(res: http.ServerResponse, url: URL, repo: string, rev: string): void {
    const found = this.commitOf(repo, rev);
    if (!found) return json(res, 404, { error: "Repository or revision not found" }, "RevisionNotFound");
    const recursive = url.searchParams.get("recursive") === "true";
    const files = found.repo.files.filter((f) => recursive || !f.path.includes("/"));
    const dirs = [...new Set(files.flatMap((f) => (f.path.includes("/") ? [f.path.split("/")[0]!] : [])))];
    const entries: unknown[] = [
      ...dirs.map((d) => ({ type: "directory", oid: fakeCommitSha(d), size: 0, path: d })),
      ...files.map((f) =>
        f.lfs
          ? {
              type: "file",
              oid: gitBlobSha1(new TextEncoder().encode(lfsPointer(f.content))),
              size: f.content.byteLength,
              path: f.path,
              lfs: {
                oid: sha256Hex(f.content),
                size: f.content.byteLength,
                pointerSize: lfsPointer(f.content).length,
              },
            }
          : { type: "file", oid: gitBlobSha1(f.content), size: f.content.byteLength, path: f.path },
      ),
    ];
    const pageSize = this.opts.pageSize ?? 3;
    const cursor = Number(url.searchParams.get("cursor") ?? "0");
    const page = entries.slice(cursor, cursor + pageSize);
    const headers: Record<string, string> = {};
    if (cursor + pageSize < entries.length) {
      const next = new URL(url);
      next.searchParams.set("cursor", String(cursor + pageSize));
      headers.Link = `<${next.href}>; rel="next"`;
    }
    json(res, 200, page, undefined, headers);
  }

  private resolve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    repo: string,
    rev: string,
    p: string,
  ): void {
    const found = this.commitOf(repo, rev);
    if (!found) return json(res, 404, { error: "Revision not found" }, "RevisionNotFound");
    const file = found.repo.files.find((f) => f.path === p);
    if (!file) return json(res, 404, { error: "Entry not found" }, "EntryNotFound");
    const common: Record<string, string> = { "X-Repo-Commit": found.commit };
    if (file.lfs) {
      const sha = sha256Hex(file.content);
      common["X-Linked-Size"] = String(file.content.byteLength);
      common["X-Linked-Etag"] = `"${sha}"`;
      common.ETag = `"${gitBlobSha1(new TextEncoder().encode(lfsPointer(file.content)))}"`;
      if (this.opts.redirectLfs ?? true) {
        res.writeHead(302, { ...common, Location: `/cdn/${repo}/${sha}` });
        res.end();
        return;
      }
    } else {
      common.ETag = `"${gitBlobSha1(file.content)}"`;
    }
    this.sendContent(req, res, file, common);
  }

  private sendContent(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    file: FakeFile,
    headers: Record<string, string>,
  ): void {
    let body = Buffer.from(file.content);
    if (this.corrupt.has(file.path) && body.length > 0) {
      body = Buffer.from(body);
      body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
    }
    const total = body.length;
    const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
    let status = 200;
    let start = 0;
    let end = total - 1;
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
      if (start >= total || start > end) {
        res.writeHead(416, { "Content-Range": `bytes */${total}` });
        res.end();
        return;
      }
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${end}/${total}`;
    }
    const slice = body.subarray(start, end + 1);
    res.writeHead(status, {
      ...headers,
      "Accept-Ranges": "bytes",
      "Content-Type": "application/octet-stream",
      "Content-Length": String(slice.length),
    });
    if (req.method === "HEAD") return void res.end();
    const cut = this.cut;
    if (cut && cut.path === file.path && cut.times > 0 && slice.length > cut.afterBytes && slice.length > 1) {
      cut.times--;
      res.write(slice.subarray(0, cut.afterBytes), () => {
        // Let the bytes reach the client before the connection drops mid-body.
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    }
    res.end(slice);
  }
}

function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  errorCode?: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    ...(errorCode ? { "X-Error-Code": errorCode } : {}),
  });
  res.end(JSON.stringify(body));
}

/** Deterministic pseudo-random bytes (tests need content that is not all zeros). */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

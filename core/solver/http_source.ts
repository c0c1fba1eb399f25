/**
 * The http(s) source of the build graph, as BuildKit's: a remote file (ADD of a URL) becomes a
 * snapshot holding that one file, named by the op's `http.filename`, mode 0600, owned by root,
 * its mtime the response's `Last-Modified` (the epoch without one). Nothing is unpacked.
 *
 * The content lands in the content store, and the URL's `ETag`, `Last-Modified` and digest in a
 * small record, so a rebuild asks with `If-None-Match`: a `304 Not Modified` reuses the blob.
 * The source's cache key is the content's digest (with the file name and mtime), never the
 * URL, so an unchanged file keeps the steps after it cached and a changed one re-runs them. With
 * `http.checksum` (ADD `--checksum`), the key is that checksum and no request is made until the
 * file is needed; the content must then match it.
 *
 * `fetch` honours `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` from the environment.
 *
 * @module
 */
import { join } from "node:path";
import { canonicalJSON, type SourceOp } from "../build_graph.ts";
import type { ContentStore } from "../content/store.ts";
import { type Digest, digestHex, sha256 } from "../digest.ts";
import { DigestMismatchError, ImgError } from "../errors.ts";
import * as exact from "../fs/exact.ts";
import { DEFAULT_TIMEOUT_MS } from "../registry/_retry.ts";
import { formatSeconds, Watchdog } from "../registry/_watchdog.ts";

/** The source attribute naming the file the content is stored as. */
export const HTTP_FILENAME_ATTR = "http.filename";
/** The source attribute holding the digest the content must have (ADD `--checksum`). */
export const HTTP_CHECKSUM_ATTR = "http.checksum";

/** The directory of the state (`<state>/http`) where URLs' records are kept. */
export const HTTP_RECORDS_DIR = "http";

/** The mode of a downloaded file, as BuildKit gives it. */
const FILE_MODE = 0o600;

/** Whether `s` is an http(s) URL (what ADD downloads, or a remote build context). */
export function isHttpURL(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Whether `op` is an http(s) source. */
export function isHttpSource(op: SourceOp): boolean {
  return isHttpURL(op.identifier);
}

/**
 * The name a downloaded file gets, as BuildKit's Dockerfile frontend picks it: the last
 * component of the URL's path, or `__unnamed__` when the path has none.
 */
export function urlFilename(url: string): string {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    return "__unnamed__";
  }
  const base = path.replace(/\/+$/, "").split("/").pop() ?? "";
  return base === "" || base === "." || base === ".." ? "__unnamed__" : base;
}

/** What a URL served: its content (in the content store) and the headers that matter. */
export interface HttpResource {
  /** The content's digest. */
  digest: Digest;
  /** The content's size in bytes. */
  size: number;
  /** The `ETag` the server sent, if any. */
  etag?: string;
  /** The `Last-Modified` the server sent, if any (an HTTP date). */
  lastModified?: string;
}

/** What {@linkcode HttpSources} works with. */
export interface HttpSourcesOptions {
  /** Where downloads are kept. */
  content: ContentStore;
  /** Where the URLs' records (ETag, digest) are kept; none: every build downloads again. */
  recordsDir?: string;
  /** Aborts the requests. */
  signal?: AbortSignal;
  /**
   * Reads a build secret (`--secret`): `HTTP_AUTH_HEADER_<host>` is sent as the request's
   * `Authorization` header, `HTTP_AUTH_TOKEN_<host>` as `Bearer <token>`, as BuildKit does.
   */
  secret?: (id: string) => Promise<Uint8Array | undefined>;
  /** How long a download may make no progress (no answer, no bytes) before it fails; the
   * registry's limit (30 s) by default. */
  stallTimeoutMs?: number;
}

/** The mtime of a downloaded file: `Last-Modified`, else the epoch (as BuildKit). */
export function lastModifiedTime(lastModified: string | undefined): Date {
  const t = lastModified ? Date.parse(lastModified) : NaN;
  return new Date(Number.isNaN(t) ? 0 : t);
}

/** The http sources of one build: each URL is asked once, and its content kept. */
export class HttpSources {
  readonly #opts: HttpSourcesOptions;
  readonly #resolved = new Map<string, Promise<HttpResource>>();

  /** Creates the sources of one build. */
  constructor(options: HttpSourcesOptions) {
    this.#opts = options;
  }

  /**
   * The cache key of the source `op`: its checksum when it has one (nothing is downloaded),
   * else the digest of what the URL serves now (downloaded unless the recorded ETag still
   * matches), with the file's name and mtime.
   */
  async cacheKey(op: SourceOp): Promise<Digest> {
    const filename = op.attrs?.[HTTP_FILENAME_ATTR] ?? urlFilename(op.identifier);
    const checksum = checksumOf(op);
    if (checksum) return sha256(canonicalJSON({ http: checksum, filename, mode: FILE_MODE }));
    const r = await this.resolve(op.identifier);
    return sha256(
      canonicalJSON({
        http: r.digest,
        filename,
        mode: FILE_MODE,
        mtime: lastModifiedTime(r.lastModified).getTime(),
      }),
    );
  }

  /** Writes the file of the source `op` into the directory `dir` (0600, its mtime set). */
  async writeFile(op: SourceOp, dir: string): Promise<void> {
    const filename = op.attrs?.[HTTP_FILENAME_ATTR] ?? urlFilename(op.identifier);
    if (filename.includes("/")) {
      throw new ImgError(`The file name "${filename}" of ${op.identifier} must not contain "/"`);
    }
    const r = await this.resolve(op.identifier, checksumOf(op));
    const path = join(dir, filename);
    await exact.copyFile(this.#opts.content.path(r.digest), path);
    exact.chmod(path, FILE_MODE);
    const mtime = lastModifiedTime(r.lastModified);
    exact.utime(path, mtime, mtime);
  }

  /**
   * What `url` serves, asked once per build. With `checksum`, content already in the store
   * under that digest is used without a request, and downloaded content must match it.
   */
  resolve(url: string, checksum?: Digest): Promise<HttpResource> {
    const memo = `${checksum ?? ""} ${url}`;
    let p = this.#resolved.get(memo);
    if (!p) {
      p = this.#resolve(url, checksum);
      this.#resolved.set(memo, p);
    }
    return p;
  }

  async #resolve(url: string, checksum?: Digest): Promise<HttpResource> {
    const { content } = this.#opts;
    const record = await this.#readRecord(url);
    const usable = record !== undefined && await content.has(record.digest) &&
      (checksum === undefined || record.digest === checksum);
    if (checksum && usable) return record!;
    if (checksum && await content.has(checksum)) {
      const size = (await content.stat(checksum))!.size;
      return { digest: checksum, size };
    }
    const headers = new Headers();
    const authorization = await this.#authorization(url);
    if (authorization !== undefined) headers.set("Authorization", authorization);
    if (usable && record!.etag) headers.set("If-None-Match", record!.etag);
    // A stalled server is an error in bounded time; a slow but moving download is not.
    const watchdog = new Watchdog(this.#opts.stallTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = this.#opts.signal
      ? AbortSignal.any([this.#opts.signal, watchdog.signal])
      : watchdog.signal;
    const failed = (e: unknown): ImgError => {
      const stall = watchdog.reason;
      const why = stall
        ? `the server ${stall.phase === "answer" ? "sent no answer" : "stopped sending data"} for ${
          formatSeconds(stall.ms)
        }`
        : `${causeOf(e)}; check the URL and the network (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)`;
      return new ImgError(`Cannot download ${url}: ${why}`, { cause: e });
    };
    let blob;
    let res: Response;
    try {
      try {
        res = await fetch(url, { headers, signal, redirect: "follow" });
      } catch (e) {
        if (this.#opts.signal?.aborted) throw e;
        throw failed(e);
      }
      if (res.status === 304 && usable) {
        await res.body?.cancel();
        return record!;
      }
      if (!res.ok || res.body === null) {
        await res.body?.cancel();
        throw new ImgError(
          `Cannot download ${url}: the server answered ${res.status} ${res.statusText}`.trimEnd(),
        );
      }
      watchdog.touch("body");
      const body = res.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            watchdog.touch();
            controller.enqueue(chunk);
          },
        }),
      );
      try {
        blob = await content.ingest(body, { expected: checksum });
      } catch (e) {
        if (e instanceof DigestMismatchError) {
          throw new ImgError(
            `The content of ${url} has digest ${e.actual}, not the --checksum ${e.expected}: fix the checksum or the URL`,
            { cause: e },
          );
        }
        if (this.#opts.signal?.aborted || e instanceof ImgError) throw e;
        throw failed(e);
      }
    } finally {
      watchdog.stop();
    }
    const resource: HttpResource = {
      digest: blob.digest,
      size: blob.size,
      ...optional("etag", res.headers.get("etag")),
      ...optional("lastModified", res.headers.get("last-modified")),
    };
    await this.#writeRecord(url, resource);
    return resource;
  }

  /** The `Authorization` header for `url` from the build's secrets, if they have one. */
  async #authorization(url: string): Promise<string | undefined> {
    const secret = this.#opts.secret;
    if (!secret) return undefined;
    const host = new URL(url).hostname;
    const text = (b: Uint8Array | undefined) => b && new TextDecoder().decode(b);
    const token = text(await secret(`HTTP_AUTH_TOKEN_${host}`));
    if (token !== undefined) return `Bearer ${token}`;
    return text(await secret(`HTTP_AUTH_HEADER_${host}`));
  }

  #recordPath(url: string): string | undefined {
    const dir = this.#opts.recordsDir;
    return dir === undefined ? undefined : join(dir, `${digestHex(sha256(url))}.json`);
  }

  async #readRecord(url: string): Promise<HttpResource | undefined> {
    const path = this.#recordPath(url);
    if (!path) return undefined;
    try {
      const r = JSON.parse(await Deno.readTextFile(path)) as HttpResource & { url: string };
      return r.url === url && typeof r.digest === "string" ? r : undefined;
    } catch {
      // Missing or torn: download again.
      return undefined;
    }
  }

  async #writeRecord(url: string, r: HttpResource): Promise<void> {
    const path = this.#recordPath(url);
    if (!path) return;
    await Deno.mkdir(this.#opts.recordsDir!, { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify({ url, ...r }));
    // Atomic: another img process sharing the state sees the old record or the new one.
    await Deno.rename(tmp, path);
  }
}

/** The innermost message of a failed `fetch` ("fetch failed" says nothing; its cause does). */
function causeOf(e: unknown): string {
  let err = e as Error;
  while (err.cause instanceof Error) err = err.cause;
  return err.message;
}

function optional<K extends string>(key: K, value: string | null): { [k in K]?: string } {
  return (value === null ? {} : { [key]: value }) as { [k in K]?: string };
}

/** The `http.checksum` of `op`, checked to be a sha256 digest. */
function checksumOf(op: SourceOp): Digest | undefined {
  const raw = op.attrs?.[HTTP_CHECKSUM_ATTR];
  if (raw === undefined || raw === "") return undefined;
  if (!/^sha256:[a-f0-9]{64}$/.test(raw)) {
    throw new ImgError(
      `Invalid checksum "${raw}" for ${op.identifier}: expected sha256: followed by 64 hex digits`,
    );
  }
  return raw as Digest;
}

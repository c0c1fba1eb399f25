/**
 * A client for OCI distribution registries over `fetch`: ping, auth, manifests, blobs (with
 * retries and resumption), and pushes (existence check, cross-repository mount, monolithic and
 * chunked uploads).
 *
 * @module
 */
import type * as z from "../_zod.ts";
import { concatBytes } from "../_bytes.ts";
import type { Credential, CredentialStore } from "../credentials.ts";
import { type Digest, sha256 } from "../digest.ts";
import { DigestMismatchError, ImgError } from "../errors.ts";
import {
  isIndexMediaType,
  isSchema1MediaType,
  MANIFEST_ACCEPT,
  MediaType,
} from "../media_types.ts";
import {
  familiarReference,
  isLoopbackHost,
  type Reference,
  registryHost,
  withDigest,
} from "../reference.ts";
import {
  type Descriptor,
  type Index,
  indexSchema,
  type Manifest,
  manifestSchema,
} from "../schemas.ts";
import type { ContentStore } from "../content/store.ts";
import { Authenticator, pullScope, pushScope } from "./auth.ts";
import {
  pull as pullImage,
  type PullOptions,
  type PullResult,
  push as pushImage,
  type PushOptions,
} from "./transfer.ts";
import {
  type ErrorContext,
  exhaustedError,
  networkError,
  RegistryError,
  responseError,
} from "./errors.ts";
import { DEFAULT_RETRY_POLICY, isRetryableStatus, Retrier, type RetryPolicy } from "./_retry.ts";
import { Watchdog } from "./_watchdog.ts";
import { nextPageUrl } from "./_link.ts";

/** Options for {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Where registry credentials come from. Without it, only anonymous access works. */
  credentials?: CredentialStore;
  /** Registries (domain or `host:port`) to talk to over plain HTTP. Loopback hosts always are. */
  insecureRegistries?: string[];
  /** The `User-Agent` header (default `img`). */
  userAgent?: string;
  /** How many blobs `pull` and `push` transfer at once (default 3). */
  concurrency?: number;
  /** Blobs larger than this are uploaded in `PATCH` chunks of this size (default 8 MiB). */
  chunkSize?: number;
  /**
   * How often and how patiently to retry transient failures, and the no-progress timeout
   * (default {@linkcode DEFAULT_RETRY_POLICY}; the CLI reads it from the environment).
   */
  retry?: RetryPolicy;
  /** The fetch implementation (for tests). */
  fetch?: typeof fetch;
}

/** A manifest or index as the registry sent it. */
export interface FetchedManifest {
  /** Its descriptor: media type, digest (of `bytes`) and size. */
  descriptor: Descriptor;
  /** The exact bytes, which the digest covers. */
  bytes: Uint8Array;
  /** The media type (also in `descriptor.mediaType`). */
  mediaType: string;
}

/** Picks the manifest for the wanted platform from an index's entries, or `undefined`. */
export type ManifestChooser = (manifests: Descriptor[]) => Descriptor | undefined;

/** The result of {@linkcode RegistryClient.resolve}. */
export interface ResolvedImage {
  /** The index or manifest list the reference pointed at, if it pointed at one. */
  index?: FetchedManifest & { index: Index };
  /** The single-platform image manifest. */
  manifest: FetchedManifest & { manifest: Manifest };
}

/** Options for {@linkcode RegistryClient.pushBlob}. */
export interface PushBlobOptions {
  /** A repository on the same registry that has the blob, to mount it from instead of uploading. */
  mountFrom?: Reference;
  /**
   * Brings the blob into the content store when the store lacks it and the registry must
   * receive its bytes (it has no copy and mounted none): a layer recorded as a remote blob.
   */
  fetch?: () => Promise<void>;
  /** Called with the number of bytes uploaded so far. */
  onProgress?: (sent: number) => void;
}

/** What {@linkcode RegistryClient.pushBlob} did. */
export type PushBlobResult = "exists" | "mounted" | "uploaded";

/** What {@linkcode RegistryClient.fetchBlob} did. */
export type FetchBlobResult = "exists" | "fetched";

/** Manifests larger than this are refused (containerd's limit). */
const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/** Redirects followed for one request. */
const MAX_REDIRECTS = 5;

/** `fetch` does not report upload progress: a request body may take this long per byte (128 KiB/s). */
const UPLOAD_MS_PER_BYTE = 1000 / (128 * 1024);

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** The body, sent again on each attempt and redirect. */
  body?: Uint8Array | string;
  scopes: string[];
  ctx: ErrorContext;
}

/** A response and the watchdog still timing the reading of its body. */
interface Opened {
  res: Response;
  dog: Watchdog;
}

/**
 * Talks to OCI distribution registries. One client caches auth challenges and tokens, so use
 * one per command.
 */
export class RegistryClient {
  /** How many blobs `pull` and `push` transfer at once. */
  readonly concurrency: number;
  /** Blobs larger than this are uploaded in chunks of this size. */
  readonly chunkSize: number;
  /** The retry policy for transient failures. */
  readonly retry: RetryPolicy;
  #fetch: typeof fetch;
  #userAgent: string;
  #insecure: Set<string>;
  #auth: Authenticator;
  #pings = new Map<string, Promise<void>>();

  /** Creates a client. */
  constructor(options: RegistryClientOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? 3);
    this.chunkSize = Math.max(1, options.chunkSize ?? 8 * 1024 * 1024);
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#fetch = options.fetch ?? fetch;
    this.#userAgent = options.userAgent ?? "img";
    this.#insecure = new Set(options.insecureRegistries ?? []);
    this.#auth = this.#authenticator(options.credentials);
  }

  /** The base URL for a registry domain: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  baseUrl(domain: string): string {
    const host = registryHost(domain);
    const plain = isLoopbackHost(host) || this.#insecure.has(domain) || this.#insecure.has(host);
    return `${plain ? "http" : "https"}://${host}`;
  }

  /**
   * Verifies a credential against a registry, as `img login` does: pings `/v2/`, then
   * authenticates (token flow without a scope, or Basic) and pings again.
   *
   * @throws {RegistryError} `Login to HOST failed: unauthorized: ...` if the registry refuses it.
   */
  async checkLogin(domain: string, credential: Credential): Promise<void> {
    const ctx: ErrorContext = {
      action: `Login to ${domain}`,
      domain,
      loginHint: false,
      authenticated: true,
    };
    const auth = this.#authenticator({
      get: (host) => Promise.resolve(host === domain ? credential : undefined),
      store: () => Promise.resolve(),
      erase: () => Promise.resolve(false),
    });
    const url = `${this.baseUrl(domain)}/v2/`;
    const first = await this.#send(url, { headers: this.#headers({}) }, ctx);
    if (first.ok) return; // The registry needs no credentials; docker also reports success.
    if (first.status !== 401) throw await this.#pingError(first, ctx, domain);
    auth.setChallenge(domain, first.headers.get("www-authenticate"));
    const authorization = await auth.authorization(domain, [], ctx);
    if (!authorization) {
      throw new RegistryError(
        `${ctx.action} failed: the registry asks for an unsupported kind of auth`,
      );
    }
    const second = await this.#send(url, { headers: this.#headers({ authorization }) }, ctx);
    if (second.ok) return;
    throw await responseError(second, ctx);
  }

  /** Pings `/v2/` once per domain to learn which auth the registry wants. */
  async ping(domain: string, ctx?: ErrorContext): Promise<void> {
    let p = this.#pings.get(domain);
    if (!p) {
      p = this.#doPing(domain, ctx ?? { action: `Ping of ${domain}`, domain });
      this.#pings.set(domain, p);
      p.catch(() => this.#pings.delete(domain));
    }
    await p;
  }

  async #doPing(domain: string, ctx: ErrorContext): Promise<void> {
    const res = await this.#send(
      `${this.baseUrl(domain)}/v2/`,
      { headers: this.#headers({}) },
      ctx,
    );
    if (res.status === 401) {
      this.#auth.setChallenge(domain, res.headers.get("www-authenticate"));
    } else if (res.ok) {
      this.#auth.setChallenge(domain, null);
    } else {
      throw await this.#pingError(res, ctx, domain);
    }
  }

  async #pingError(res: Response, ctx: ErrorContext, domain: string): Promise<RegistryError> {
    if (res.status === 404) {
      await res.body?.cancel();
      return new RegistryError(
        `${ctx.action} failed: ${
          registryHost(domain)
        } does not look like a registry (GET /v2/ answered 404)`,
        { status: 404 },
      );
    }
    return await responseError(res, ctx);
  }

  /**
   * Fetches a manifest or index by tag or digest, accepting every media type img supports.
   * The digest is verified when the reference pins one.
   *
   * @throws {RegistryError} `Pull of X failed: manifest unknown: ...` and the like.
   * @throws {ImgError} for Docker schema 1 manifests, which img does not support.
   */
  async getManifest(ref: Reference): Promise<FetchedManifest> {
    const ctx = pullContext(ref);
    const path = `/v2/${ref.path}/manifests/${ref.digest ?? ref.tag}`;
    const { res, bytes } = await this.#request(ref.domain, path, {
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(ref.path)],
      ctx,
    }, async ({ res, dog }) => {
      if (res.status !== 200) throw await this.#failure(res, ctx);
      return { res, bytes: await readLimited(res, dog, MAX_MANIFEST_SIZE, ctx) };
    });
    const mediaType = detectMediaType(res.headers.get("content-type"), bytes);
    if (isSchema1MediaType(mediaType)) {
      throw new ImgError(
        `Image ${
          familiarReference(ref)
        } uses the Docker schema 1 manifest format, which img does not support; push it again with a current docker or skopeo`,
      );
    }
    const digest = sha256(bytes);
    if (ref.digest && digest !== ref.digest) {
      throw new RegistryError(
        `${ctx.action} failed: the registry sent a manifest with digest ${digest} instead of ${ref.digest}`,
        { cause: new DigestMismatchError(ref.digest, digest) },
      );
    }
    return { descriptor: { mediaType, digest, size: bytes.byteLength }, bytes, mediaType };
  }

  /**
   * Lists the tags of the repository of `ref` (`GET /v2/<name>/tags/list`), page after page
   * as the registry's `Link: <...>; rel="next"` headers lead, each page under the retry policy.
   *
   * @throws {RegistryError} `Pull of X failed: repository name not known ...` and the like.
   */
  async listTags(ref: Reference): Promise<string[]> {
    const ctx = pullContext(ref);
    const tags: string[] = [];
    const seen = new Set<string>();
    let next: string | undefined = `${this.baseUrl(ref.domain)}/v2/${ref.path}/tags/list`;
    while (next !== undefined && !seen.has(next)) {
      seen.add(next);
      const url: string = next;
      const page = await this.#request(ref.domain, url, {
        headers: { accept: "application/json" },
        scopes: [pullScope(ref.path)],
        ctx,
      }, async ({ res, dog }) => {
        if (res.status !== 200) throw await this.#failure(res, ctx);
        const bytes = await readLimited(res, dog, MAX_MANIFEST_SIZE, ctx, "tag list");
        return { link: res.headers.get("link"), bytes };
      });
      let body: { tags?: unknown };
      try {
        body = JSON.parse(new TextDecoder().decode(page.bytes));
      } catch {
        throw new RegistryError(
          `${ctx.action} failed: the registry sent a tag list that is not JSON`,
        );
      }
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t) => typeof t === "string"));
      next = nextPageUrl(page.link, url);
    }
    return tags;
  }

  /**
   * Returns the descriptor of a manifest without fetching it (`HEAD`), or `undefined` if the
   * registry does not have it.
   */
  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    const ctx = pullContext(ref);
    const res = await this.#request(
      ref.domain,
      `/v2/${ref.path}/manifests/${ref.digest ?? ref.tag}`,
      {
        method: "HEAD",
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [pullScope(ref.path)],
        ctx,
      },
      discardBody,
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.#failure(res, ctx);
    const digest = res.headers.get("docker-content-digest");
    const size = Number(res.headers.get("content-length"));
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    if (!digest || !/^sha256:[a-f0-9]{64}$/.test(digest) || !Number.isFinite(size) || !mediaType) {
      // Not every registry describes the manifest on HEAD: fetch it instead.
      return (await this.getManifest(ref)).descriptor;
    }
    return { mediaType, digest, size };
  }

  /**
   * Resolves a reference to a single-platform manifest: fetches it, and if it is an index or
   * manifest list, lets `choose` pick an entry and fetches that.
   *
   * @throws {ImgError} if the index has no entry for the platform.
   */
  async resolve(ref: Reference, choose: ManifestChooser): Promise<ResolvedImage> {
    const ctx = pullContext(ref);
    const top = await this.getManifest(ref);
    if (!isIndexMediaType(top.mediaType)) {
      return { manifest: { ...top, manifest: parseManifest(top.bytes, ctx) } };
    }
    const index = parseIndex(top.bytes, ctx);
    const chosen = choose(index.manifests);
    if (!chosen) {
      const platforms = index.manifests.map((d) => d.platform)
        .filter((p) => p && p.os !== "unknown")
        .map((p) => [p!.os, p!.architecture, p!.variant].filter(Boolean).join("/"));
      throw new ImgError(
        `${ctx.action} failed: the image has no manifest for the requested platform (it has ${
          platforms.length > 0 ? platforms.join(", ") : "no platform-specific manifests"
        }); pass a --platform it has`,
      );
    }
    const m = await this.getManifest(withDigest(ref, chosen.digest));
    if (isIndexMediaType(m.mediaType)) {
      throw new ImgError(`${ctx.action} failed: nested image indexes are not supported`);
    }
    return {
      index: { ...top, index },
      manifest: {
        ...m,
        descriptor: { ...m.descriptor, platform: chosen.platform },
        manifest: parseManifest(m.bytes, ctx),
      },
    };
  }

  /** Reports whether the repository has the blob (`HEAD /v2/<name>/blobs/<digest>`). */
  async blobExists(
    ref: Reference,
    digest: Digest,
    scopes: string[] = [pullScope(ref.path)],
  ): Promise<boolean> {
    const ctx = pullContext(ref);
    const res = await this.#request(ref.domain, `/v2/${ref.path}/blobs/${digest}`, {
      method: "HEAD",
      scopes,
      ctx,
    }, discardBody);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.#failure(res, { ...ctx, action: `Push of ${familiarReference(ref)}` });
  }

  /**
   * Streams a blob into the content store, verifying its digest and size, unless the store has
   * it already. A connection that breaks or stalls mid-body is resumed under the retry policy
   * (with `Range` if the registry supports it, otherwise by skipping what was already
   * received); the digest covers the whole blob however many requests brought it.
   */
  async fetchBlob(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    onProgress?: (received: number) => void,
  ): Promise<FetchBlobResult> {
    const digest = descriptor.digest as Digest;
    if (await store.has(digest)) {
      onProgress?.(descriptor.size);
      return "exists";
    }
    const ctx = pullContext(ref);
    try {
      await store.ingest(this.#blobChunks(ref, descriptor, ctx), {
        expected: digest,
        size: descriptor.size,
        onProgress,
      });
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      if (e instanceof ImgError) {
        throw new ImgError(`${ctx.action} failed: blob ${digest}: ${e.message}`, { cause: e });
      }
      throw e;
    }
    return "fetched";
  }

  async *#blobChunks(
    ref: Reference,
    descriptor: Descriptor,
    ctx: ErrorContext,
  ): AsyncGenerator<Uint8Array> {
    const path = `/v2/${ref.path}/blobs/${descriptor.digest}`;
    const host = registryHost(ref.domain);
    const retrier = this.#retrier(ctx, host);
    let offset = 0;
    for (;;) {
      let dog: Watchdog | undefined;
      try {
        const headers: Record<string, string> = {};
        if (offset > 0) headers.range = `bytes=${offset}-`;
        const opened = await this.#open(ref.domain, path, {
          headers,
          scopes: [pullScope(ref.path)],
          ctx,
        }, retrier);
        dog = opened.dog;
        const res = opened.res;
        let skip = 0;
        if (res.status === 206 && offset > 0) {
          const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
          if (!start || Number(start[1]) !== offset) {
            await res.body?.cancel();
            throw new RegistryError(
              `${ctx.action} failed: the registry answered a range request for ${descriptor.digest} with the wrong range`,
            );
          }
        } else if (res.status === 200) {
          skip = offset; // No range support: read from the start and drop what we have.
        } else {
          throw await this.#failure(res, ctx);
        }
        for await (let c of watchedBody(res, dog)) {
          if (skip > 0) {
            const n = Math.min(skip, c.byteLength);
            skip -= n;
            c = c.subarray(n);
            if (c.byteLength === 0) continue;
          }
          offset += c.byteLength;
          retrier.progress();
          dog.stop(); // the store's writing is not the registry's stalling
          yield c;
          dog.touch("body");
        }
        if (offset >= descriptor.size) return;
        throw new RegistryError(
          `${ctx.action} failed: the registry closed the connection after ${offset} of ${descriptor.size} bytes of ${descriptor.digest}`,
          { transient: true },
        );
      } catch (e) {
        await this.#failed(retrier, e, ctx, host);
      } finally {
        dog?.stop();
      }
    }
  }

  /**
   * Pushes a blob from the content store unless the repository has it: mounts it from
   * `mountFrom` when given (falling back to an upload if the registry declines, after `fetch`
   * brought a blob the store lacks), else uploads it
   * in one `PUT` (up to `chunkSize`) or in `PATCH` chunks. A transient failure of any of its
   * requests, or an upload session the registry dropped, starts a new session under the retry
   * policy (a chunk that got through counts as progress).
   */
  async pushBlob(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    const ctx = pushContext(ref);
    const digest = descriptor.digest as Digest;
    const from = options.mountFrom && options.mountFrom.domain === ref.domain &&
        options.mountFrom.path !== ref.path
      ? options.mountFrom
      : undefined;
    const scopes = [pushScope(ref.path), ...(from ? [pullScope(from.path)] : [])];
    if (await this.blobExists(ref, digest, scopes)) {
      options.onProgress?.(descriptor.size);
      return "exists";
    }
    const host = registryHost(ref.domain);
    const retrier = this.#retrier(ctx, host);
    for (;;) {
      try {
        return await this.#uploadBlob(ref, descriptor, store, from, scopes, ctx, retrier, options);
      } catch (e) {
        await this.#failed(retrier, e, ctx, host);
      }
    }
  }

  async #uploadBlob(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    from: Reference | undefined,
    scopes: string[],
    ctx: ErrorContext,
    retrier: Retrier,
    { onProgress, fetch: fetchMissing }: PushBlobOptions,
  ): Promise<PushBlobResult> {
    const digest = descriptor.digest as Digest;
    const uploads = `/v2/${ref.path}/blobs/uploads/`;
    const start = from
      ? `${uploads}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.path)}`
      : uploads;
    const res = await this.#once(ref.domain, start, { method: "POST", scopes, ctx }, retrier);
    if (res.status === 201 && from) {
      onProgress?.(descriptor.size);
      return "mounted";
    }
    if (res.status !== 202) throw await this.#failure(res, ctx);
    let location = this.#location(ref.domain, res, ctx);

    if (fetchMissing && !(await store.has(digest))) await fetchMissing();
    const info = await store.stat(digest);
    if (!info) {
      throw new ImgError(`${ctx.action} failed: blob ${digest} is not in the content store`);
    }
    if (info.size !== descriptor.size) {
      throw new ImgError(
        `${ctx.action} failed: blob ${digest} has ${info.size} bytes in the content store, but its descriptor says ${descriptor.size}`,
      );
    }

    if (info.size <= this.chunkSize) {
      const data = await store.read(digest);
      const put = await this.#once(ref.domain, withQuery(location, "digest", digest), {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: data,
        scopes,
        ctx,
      }, retrier);
      if (put.status !== 201) throw await this.#uploadFailure(put, ctx);
      onProgress?.(info.size);
      return "uploaded";
    }

    const file = await Deno.open(store.path(digest), { read: true });
    try {
      let offset = 0;
      const buf = new Uint8Array(this.chunkSize);
      while (offset < info.size) {
        let n = 0;
        const want = Math.min(this.chunkSize, info.size - offset);
        while (n < want) {
          const r = await file.read(buf.subarray(n, want));
          if (r === null) {
            throw new ImgError(`${ctx.action} failed: blob ${digest} is shorter than expected`);
          }
          n += r;
        }
        const patch = await this.#once(ref.domain, location, {
          method: "PATCH",
          headers: {
            "content-type": "application/octet-stream",
            "content-range": `${offset}-${offset + n - 1}`,
          },
          body: buf.subarray(0, n),
          scopes,
          ctx,
        }, retrier);
        if (patch.status !== 202) throw await this.#uploadFailure(patch, ctx);
        location = this.#location(ref.domain, patch, ctx);
        offset += n;
        retrier.progress();
        onProgress?.(offset);
      }
    } finally {
      file.close();
    }
    const put = await this.#once(ref.domain, withQuery(location, "digest", digest), {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      scopes,
      ctx,
    }, retrier);
    if (put.status !== 201) throw await this.#uploadFailure(put, ctx);
    return "uploaded";
  }

  /**
   * Puts a manifest or index under the reference's tag (or digest) with its media type as
   * `Content-Type`, and returns its descriptor.
   */
  async putManifest(ref: Reference, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const ctx = pushContext(ref);
    const digest = sha256(bytes);
    const res = await this.#request(
      ref.domain,
      `/v2/${ref.path}/manifests/${ref.tag ?? ref.digest}`,
      {
        method: "PUT",
        headers: { "content-type": mediaType },
        body: bytes,
        scopes: [pushScope(ref.path)],
        ctx,
      },
      async ({ res }) => {
        if (res.status !== 201 && res.status !== 200) throw await this.#failure(res, ctx);
        return await discardBody({ res });
      },
    );
    const returned = res.headers.get("docker-content-digest");
    if (returned && returned !== digest && returned.startsWith("sha256:")) {
      throw new RegistryError(
        `${ctx.action} failed: the registry stored the manifest under digest ${returned} instead of ${digest}`,
      );
    }
    return { mediaType, digest, size: bytes.byteLength };
  }

  /**
   * Pulls an image into the content store (index, chosen manifest, config, layers), with at
   * most `concurrency` blobs at once. See {@linkcode pullImage | pull} in `transfer.ts`.
   */
  pull(ref: Reference, store: ContentStore, options: PullOptions): Promise<PullResult> {
    return pullImage(this, ref, store, options);
  }

  /**
   * Pushes an image (manifest or index) from the content store under `ref`, with at most
   * `concurrency` blobs at once. See {@linkcode pushImage | push} in `transfer.ts`.
   */
  push(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    options: PushOptions = {},
  ): Promise<Descriptor> {
    return pushImage(this, ref, descriptor, store, options);
  }

  // --- plumbing -------------------------------------------------------------------------------

  #authenticator(credentials: CredentialStore | undefined): Authenticator {
    return new Authenticator({
      credentials,
      send: (url, init, ctx) =>
        this.#send(
          url,
          { ...init, headers: this.#headers(init.headers as Record<string, string>) },
          ctx,
        ),
    });
  }

  #headers(headers: Record<string, string> = {}): Record<string, string> {
    return { "user-agent": this.#userAgent, ...headers };
  }

  /** Builds an error for an unexpected answer, noting whether credentials were sent. */
  async #failure(res: Response, ctx: ErrorContext): Promise<RegistryError> {
    const authenticated = res.status === 401 || res.status === 403
      ? await this.#auth.hasCredential(ctx.domain)
      : undefined;
    return await responseError(res, { ...ctx, authenticated });
  }

  /**
   * Builds an error for an unexpected answer inside an upload session; a session the registry
   * no longer knows or refuses to continue (`BLOB_UPLOAD_UNKNOWN`, `BLOB_UPLOAD_INVALID`, as
   * after a connection dropped half-way) is transient: a new session starts.
   */
  async #uploadFailure(res: Response, ctx: ErrorContext): Promise<RegistryError> {
    const e = await this.#failure(res, ctx);
    const dropped = e.code === "BLOB_UPLOAD_UNKNOWN" || e.code === "BLOB_UPLOAD_INVALID" ||
      (res.status === 404 && e.code === undefined);
    if (!dropped) return e;
    return new RegistryError(e.message, { status: e.status, code: e.code, transient: true });
  }

  #location(domain: string, res: Response, ctx: ErrorContext): string {
    const location = res.headers.get("location");
    if (!location) {
      throw new RegistryError(
        `${ctx.action} failed: the registry started an upload without a Location`,
      );
    }
    return new URL(location, `${this.baseUrl(domain)}/`).href;
  }

  /** The retry policy applied to one request, wording its final error with `ctx` and `host`. */
  #retrier(ctx: ErrorContext, host: string): Retrier {
    return new Retrier(this.retry, (e, attempts) => exhaustedError(e, ctx, host, attempts));
  }

  /** Hands a failed attempt to the retrier; what it throws is always a one-line img error. */
  async #failed(retrier: Retrier, e: unknown, ctx: ErrorContext, host: string): Promise<void> {
    try {
      await retrier.failed(e);
    } catch (final) {
      throw final instanceof ImgError ? final : networkError(final, ctx, host);
    }
  }

  /**
   * Sends an authorized request to a registry under the retry policy: each attempt opens the
   * request (see {@linkcode #open}) and `consume`s the response while the watchdog times its
   * body; a transient failure of either starts another attempt.
   */
  async #request<T>(
    domain: string,
    pathOrUrl: string,
    opts: RequestOptions,
    consume: (opened: Opened) => Promise<T>,
  ): Promise<T> {
    const host = registryHost(domain);
    const retrier = this.#retrier(opts.ctx, host);
    for (;;) {
      let dog: Watchdog | undefined;
      try {
        const opened = await this.#open(domain, pathOrUrl, opts, retrier);
        dog = opened.dog;
        return await consume(opened);
      } catch (e) {
        await this.#failed(retrier, e, opts.ctx, host);
      } finally {
        dog?.stop();
      }
    }
  }

  /**
   * One attempt of a request inside a larger retried operation (an upload session): opens it,
   * reads its body, and returns it; failures go to the caller's retrier.
   */
  async #once(
    domain: string,
    pathOrUrl: string,
    opts: RequestOptions,
    retrier: Retrier,
  ): Promise<Response> {
    const opened = await this.#open(domain, pathOrUrl, opts, retrier);
    try {
      return await bufferBody(opened);
    } finally {
      opened.dog.stop();
    }
  }

  /**
   * One attempt of an authorized request: pings first, adds the `Authorization` header,
   * re-authenticates once on 401, follows redirects (dropping credentials when leaving the
   * registry), all under a watchdog sized by `retrier`. A transient answer (408, 429, 5xx) is
   * thrown for the retrier.
   */
  async #open(
    domain: string,
    pathOrUrl: string,
    opts: RequestOptions,
    retrier: Retrier,
  ): Promise<Opened> {
    await this.ping(domain, opts.ctx);
    const url = pathOrUrl.startsWith("/") ? `${this.baseUrl(domain)}${pathOrUrl}` : pathOrUrl;
    let authorization = await this.#auth.authorization(domain, opts.scopes, opts.ctx);
    let reauthorized = false;
    for (;;) {
      const headers = this.#headers({
        ...opts.headers,
        ...(authorization ? { authorization } : {}),
      });
      const size = typeof opts.body === "string" ? opts.body.length : opts.body?.byteLength ?? 0;
      const dog = new Watchdog(
        retrier.attemptTimeoutMs,
        size > 0 ? "upload" : "answer",
        Math.ceil(size * UPLOAD_MS_PER_BYTE),
      );
      let res: Response;
      try {
        res = await this.#sendFollowing(
          url,
          { method: opts.method ?? "GET", headers, body: opts.body },
          opts.ctx,
          domain,
          dog,
        );
        dog.touch("body");
        if (isRetryableStatus(res.status)) throw await this.#failure(res, opts.ctx);
      } catch (e) {
        dog.stop();
        throw dog.reason ?? e;
      }
      if (res.status !== 401 || reauthorized) return { res, dog };
      const header = res.headers.get("www-authenticate");
      if (!header) return { res, dog };
      dog.stop(); // the token request has its own watchdog
      reauthorized = true;
      const next = await this.#auth.reauthorize(domain, opts.scopes, header, opts.ctx);
      if (next === undefined || next === authorization) {
        dog.touch("body");
        return { res, dog };
      }
      await res.body?.cancel();
      authorization = next;
    }
  }

  /** Sends a request, following redirects by hand so that credentials never leave the registry. */
  async #sendFollowing(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: Uint8Array | string },
    ctx: ErrorContext,
    domain: string,
    dog: Watchdog,
  ): Promise<Response> {
    let current = url;
    let headers = init.headers;
    let method = init.method;
    let body = init.body;
    for (let i = 0; i <= MAX_REDIRECTS; i++) {
      const res = await this.#fetch(current, {
        method,
        headers,
        body: body as BodyInit | undefined,
        redirect: "manual",
        signal: dog.signal,
      });
      const location = res.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      await res.body?.cancel();
      dog.touch("answer");
      const next = new URL(location, current);
      if (next.origin !== new URL(current).origin) {
        const { authorization: _, ...rest } = headers;
        headers = rest;
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
      }
      current = next.href;
    }
    throw new RegistryError(
      `${ctx.action} failed: too many redirects from ${registryHost(domain)}`,
    );
  }

  /**
   * Sends one unauthenticated request (a ping, a token request) under the retry policy and
   * returns the response with its body read in full, so that no caller reads a body unwatched.
   */
  async #send(url: string, init: RequestInit, ctx: ErrorContext): Promise<Response> {
    const host = new URL(url).host || registryHost(ctx.domain);
    const retrier = this.#retrier(ctx, host);
    for (;;) {
      const dog = new Watchdog(retrier.attemptTimeoutMs);
      try {
        const res = await this.#fetch(url, { ...init, signal: dog.signal });
        dog.touch("body");
        if (isRetryableStatus(res.status)) throw await responseError(res, ctx);
        return await bufferBody({ res, dog });
      } catch (e) {
        await this.#failed(retrier, dog.reason ?? e, ctx, host);
      } finally {
        dog.stop();
      }
    }
  }
}

/** Reads a response body chunk by chunk, telling the watchdog of each; a stall throws its error. */
async function* watchedBody(res: Response, dog: Watchdog): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  try {
    for await (const chunk of res.body) {
      dog.touch("body");
      yield chunk;
    }
  } catch (e) {
    throw dog.reason ?? e;
  }
}

/** Reads a whole (small) response body under the watchdog and returns an equivalent response. */
async function bufferBody({ res, dog }: Opened): Promise<Response> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of watchedBody(res, dog)) chunks.push(chunk);
  const nullBody = [101, 204, 205, 304].includes(res.status);
  return new Response(nullBody ? null : concatBytes(chunks) as Uint8Array<ArrayBuffer>, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/** Reads and drops a response body (HEAD, or an answer whose body says nothing). */
async function discardBody({ res }: { res: Response }): Promise<Response> {
  await res.body?.cancel();
  return res;
}

function pullContext(ref: Reference): ErrorContext {
  return { action: `Pull of ${familiarReference(ref)}`, domain: ref.domain };
}

function pushContext(ref: Reference): ErrorContext {
  return { action: `Push of ${familiarReference(ref)}`, domain: ref.domain };
}

function withQuery(url: string, name: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.href;
}

async function readLimited(
  res: Response,
  dog: Watchdog,
  limit: number,
  ctx: ErrorContext,
  what = "manifest",
): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel();
    throw new RegistryError(`${ctx.action} failed: the ${what} is larger than ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of watchedBody(res, dog)) {
    size += chunk.byteLength;
    if (size > limit) {
      throw new RegistryError(`${ctx.action} failed: the ${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  if (Number.isFinite(declared) && res.headers.has("content-length") && size < declared) {
    throw new RegistryError(
      `${ctx.action} failed: the registry closed the connection after ${size} of ${declared} bytes of the ${what}`,
      { transient: true },
    );
  }
  return concatBytes(chunks);
}

/**
 * Works out a manifest's media type from the `Content-Type` header and the body's
 * `mediaType`/`schemaVersion`/shape, as containerd does.
 */
export function detectMediaType(contentType: string | null, bytes: Uint8Array): string {
  const header = (contentType ?? "").split(";")[0].trim().toLowerCase();
  let body: {
    schemaVersion?: unknown;
    mediaType?: unknown;
    manifests?: unknown;
    config?: unknown;
    fsLayers?: unknown;
  } = {};
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (v && typeof v === "object") body = v;
  } catch { /* not JSON: rely on the header */ }
  if (body.schemaVersion === 1 || body.fsLayers !== undefined) {
    return MediaType.dockerManifestV1Signed;
  }
  if (typeof body.mediaType === "string" && body.mediaType) return body.mediaType;
  if (
    header && header !== "application/json" && header !== "text/plain" &&
    header !== "application/octet-stream"
  ) {
    return header;
  }
  if (Array.isArray(body.manifests)) return MediaType.ociIndex;
  if (body.config !== undefined) return MediaType.ociManifest;
  return header || "application/octet-stream";
}

/** Parses a fetched manifest or index; `what` names it in the error ("image manifest"). */
function parseDocument<T>(
  bytes: Uint8Array,
  schema: z.ZodMiniType<T>,
  what: string,
  ctx: ErrorContext,
): T {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new RegistryError(`${ctx.action} failed: the ${what} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new RegistryError(
      `${ctx.action} failed: the ${what} is not valid: ${parsed.error.issues[0]?.message ?? ""}`,
    );
  }
  return parsed.data;
}

function parseManifest(bytes: Uint8Array, ctx: ErrorContext): Manifest {
  return parseDocument(bytes, manifestSchema, "image manifest", ctx);
}

function parseIndex(bytes: Uint8Array, ctx: ErrorContext): Index {
  return parseDocument(bytes, indexSchema, "image index", ctx);
}

/**
 * The content store: immutable blobs addressed by digest under `content/blobs/sha256/`.
 *
 * Every write goes to `content/ingest/` first, is hashed while it streams, and is renamed into
 * place only when its digest (and size, when known) match. A blob therefore never sits under a
 * digest it does not match, even after the process is killed mid-write.
 *
 * @module
 */
import { join } from "node:path";
import { type Digest, Digester, digestHex, isDigest } from "../digest.ts";
import { DigestMismatchError, ImgError, NotFoundError } from "../errors.ts";
import { add, start } from "../trace.ts";

/** What the store knows about a blob. */
export interface BlobInfo {
  /** The blob's digest. */
  digest: Digest;
  /** The blob's size in bytes. */
  size: number;
}

/** Options for {@linkcode ContentStore.ingest}. */
export interface IngestOptions {
  /** The digest the content must have; the write fails (and leaves nothing) if it differs. */
  expected?: Digest;
  /** The size the content must have, if known. */
  size?: number;
  /** Called with the number of bytes written so far. */
  onProgress?: (written: number) => void;
}

/** Bytes gathered before one write to an ingest file. */
export const WRITE_BATCH = 1024 * 1024;

/**
 * Writes to a file in batches of {@linkcode WRITE_BATCH} bytes: compressors hand out chunks of
 * 16 KiB, and one awaited write per chunk costs more than the bytes (bench/PROFILE.md).
 */
class WriteBatch {
  #buf: Uint8Array | undefined;
  #used = 0;

  constructor(readonly file: Deno.FsFile) {}

  /** Adds `chunk`; writes whenever a batch is full. A chunk of a batch or more goes at once. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#used === 0 && chunk.byteLength >= WRITE_BATCH) return await this.#writeAll(chunk);
    let off = 0;
    while (off < chunk.byteLength) {
      const n = Math.min(WRITE_BATCH - this.#used, chunk.byteLength - off);
      const buf = this.#room(this.#used + n);
      buf.set(chunk.subarray(off, off + n), this.#used);
      this.#used += n;
      off += n;
      if (this.#used === WRITE_BATCH) await this.flush();
    }
  }

  /** Writes what is gathered. */
  async flush(): Promise<void> {
    if (this.#used === 0 || !this.#buf) return;
    const n = this.#used;
    this.#used = 0;
    await this.#writeAll(this.#buf.subarray(0, n));
  }

  /** The buffer, grown (from 64 KiB, doubling) to hold `size` bytes: small blobs stay small. */
  #room(size: number): Uint8Array {
    if (this.#buf && this.#buf.byteLength >= size) return this.#buf;
    let n = this.#buf?.byteLength ?? 64 * 1024;
    while (n < size) n *= 2;
    const grown = new Uint8Array(Math.min(n, WRITE_BATCH));
    if (this.#buf) grown.set(this.#buf.subarray(0, this.#used));
    return this.#buf = grown;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    const tw = start();
    let off = 0;
    while (off < bytes.byteLength) off += await this.file.write(bytes.subarray(off));
    add("blob write (file writes)", tw);
  }
}

/** A content-addressed blob store on the local filesystem. */
export class ContentStore {
  /** The directory holding `blobs/` and `ingest/`. */
  readonly root: string;

  /** Opens (and creates, if needed) a content store under `root`. */
  constructor(root: string) {
    this.root = root;
    Deno.mkdirSync(join(root, "blobs", "sha256"), { recursive: true });
    Deno.mkdirSync(join(root, "ingest"), { recursive: true });
  }

  /** The path where the blob with `digest` is (or would be) stored. */
  path(digest: Digest): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  /** Returns the blob's info, or `undefined` if the store does not have it. */
  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await Deno.stat(this.path(digest));
      return { digest, size: st.size };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  /** Reports whether the store has the blob. */
  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /**
   * Writes a stream into the store, verifying its digest while it streams, and returns the
   * blob's digest and size. If the blob already exists, the stream is still consumed and
   * checked, and the existing blob is kept.
   */
  async ingest(
    stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: IngestOptions = {},
  ): Promise<BlobInfo> {
    const tmp = join(this.root, "ingest", `${crypto.randomUUID()}.partial`);
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    const digester = new Digester();
    const out = new WriteBatch(file);
    let closed = false;
    try {
      for await (const chunk of stream) {
        digester.update(chunk);
        await out.write(chunk);
        options.onProgress?.(digester.size);
        if (options.size !== undefined && digester.size > options.size) {
          throw new ImgError(
            `Content is larger than the expected ${options.size} bytes${
              options.expected ? ` for ${options.expected}` : ""
            }`,
          );
        }
      }
      await out.flush();
      const ts = start();
      await file.syncData();
      add("blob write (fsync)", ts);
      file.close();
      closed = true;
      const digest = digester.digest();
      if (options.expected && digest !== options.expected) {
        throw new DigestMismatchError(options.expected, digest);
      }
      if (options.size !== undefined && digester.size !== options.size) {
        throw new ImgError(
          `Content size mismatch for ${digest}: expected ${options.size} bytes, got ${digester.size}`,
        );
      }
      await Deno.rename(tmp, this.path(digest));
      return { digest, size: digester.size };
    } catch (e) {
      if (!closed) file.close();
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  /** Writes bytes into the store and returns the blob's info. */
  async put(data: Uint8Array | string, expected?: Digest): Promise<BlobInfo> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    return await this.ingest(ReadableStream.from([bytes]), { expected, size: bytes.byteLength });
  }

  /** Opens the blob as a stream. Throws {@linkcode NotFoundError} if it is missing. */
  async open(digest: Digest): Promise<ReadableStream<Uint8Array>> {
    try {
      const file = await Deno.open(this.path(digest), { read: true });
      return file.readable;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`Blob ${digest} is not in the content store`);
      }
      throw e;
    }
  }

  /** Reads the whole blob into memory (for manifests and configs). */
  async read(digest: Digest): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.path(digest));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`Blob ${digest} is not in the content store`);
      }
      throw e;
    }
  }

  /** Reads the blob and parses it as JSON. */
  async readJSON(digest: Digest): Promise<unknown> {
    return JSON.parse(new TextDecoder().decode(await this.read(digest)));
  }

  /** Deletes the blob if it exists. */
  async delete(digest: Digest): Promise<void> {
    await Deno.remove(this.path(digest)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** Lists every blob in the store. */
  async *list(): AsyncIterable<BlobInfo> {
    const dir = join(this.root, "blobs", "sha256");
    for await (const entry of Deno.readDir(dir)) {
      const digest = `sha256:${entry.name}`;
      if (!entry.isFile || !isDigest(digest)) continue;
      const info = await this.stat(digest);
      if (info) yield info;
    }
  }

  /**
   * Removes ingest files left by processes that died mid-write. Only files older than
   * `olderThanMs` are removed, so writes in progress in other processes are left alone.
   */
  async cleanIngest(olderThanMs = 24 * 3600 * 1000): Promise<void> {
    const dir = join(this.root, "ingest");
    const now = Date.now();
    for await (const entry of Deno.readDir(dir)) {
      const p = join(dir, entry.name);
      const st = await Deno.stat(p).catch(() => undefined);
      if (st?.mtime && now - st.mtime.getTime() > olderThanMs) await Deno.remove(p).catch(() => {});
    }
  }
}

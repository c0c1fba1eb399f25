/**
 * A small streaming tar writer over `npm:tar-stream`: entries are written one after another,
 * file bodies are piped chunk by chunk with backpressure, and every header carries fixed
 * metadata (mtime 0, uid/gid 0, no user names) so the same input gives the same bytes. The
 * archive exporters (`oci`, `docker`) write with it; layers are written by
 * `LayerTarWriter` (`core/layer`), which keeps each file's own metadata. `tar-stream` (and
 * the streams library under it) is imported by the first writer, not at module load: a
 * command that writes no archive (a cached build) does not pay for it (~5 ms).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Pack } from "tar-stream";
import { ImgError } from "../errors.ts";

const EPOCH = new Date(0);

type Sink = ReturnType<Pack["entry"]>;

/** Writes a tar archive into a `WritableStream`, one entry at a time. */
export class ArchiveTarWriter {
  #pack!: Pack;
  #ready: Promise<void>;
  #pump: Promise<void>;
  #failure: unknown;
  #closed = false;

  /** Starts a tar archive that is written to `out`; `out` is closed by {@linkcode close}. */
  constructor(out: WritableStream<Uint8Array>) {
    const writer = out.getWriter();
    const ready = import("tar-stream").then((mod) => {
      // A CommonJS package: a bundle's chunk for it exports only `default`.
      const { pack } = mod.default ?? mod;
      this.#pack = pack();
    });
    this.#ready = ready;
    this.#pump = (async () => {
      try {
        await ready;
        for await (const chunk of this.#pack) await writer.write(chunk as Uint8Array);
        await writer.close();
      } catch (e) {
        this.#failure ??= e;
        this.#pack?.destroy(e instanceof Error ? e : new Error(String(e)));
        await writer.abort(e).catch(() => {});
        throw e;
      } finally {
        writer.releaseLock();
      }
    })();
    // The error is reported by the entry being written or by close(); never leave it unhandled.
    this.#pump.catch(() => {});
  }

  /** Adds a directory entry (`name` should end with `/`). */
  async directory(name: string): Promise<void> {
    await this.#entry({ name, type: "directory", mode: 0o755, size: 0 }, (sink) => {
      sink.end(undefined);
      return Promise.resolve();
    });
  }

  /** Adds a regular file with in-memory content (for small metadata files). */
  async file(name: string, data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    await this.stream(name, bytes.byteLength, [bytes]);
  }

  /**
   * Adds a regular file of exactly `size` bytes whose body is read from `source`, a chunk at a
   * time with backpressure. Fails if the source yields more or fewer bytes than `size`.
   */
  async stream(
    name: string,
    size: number,
    source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    try {
      await this.#body(name, size, source);
    } catch (e) {
      // A stream that was never read (or only partly) still holds its file open.
      if (source instanceof ReadableStream && !source.locked) await source.cancel().catch(() => {});
      throw e;
    }
  }

  async #body(
    name: string,
    size: number,
    source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    await this.#entry({ name, type: "file", mode: 0o644, size }, async (sink) => {
      let written = 0;
      for await (const chunk of source) {
        written += chunk.byteLength;
        if (written > size) {
          throw new ImgError(`Blob for ${name} is larger than its recorded ${size} bytes`);
        }
        if (chunk.byteLength === 0) continue;
        if (!sink.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
          await drained(sink);
        }
      }
      if (written !== size) {
        throw new ImgError(
          `Blob for ${name} has ${written} bytes but ${size} were recorded; the content store may be damaged`,
        );
      }
      sink.end(undefined);
    });
  }

  /** Finishes the archive and closes the output stream. */
  async close(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    this.#closed = true;
    await this.#ready;
    this.#pack.finalize();
    await this.#pump;
  }

  /** Abandons the archive: the output stream is aborted with `reason`. */
  async abort(reason: unknown): Promise<void> {
    this.#failure ??= reason;
    await this.#ready.catch(() => {});
    if (this.#pack && !this.#pack.destroyed) {
      this.#pack.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    }
    await this.#pump.catch(() => {});
  }

  async #entry(
    header: { name: string; type: "file" | "directory"; mode: number; size: number },
    body: (sink: Sink) => Promise<void>,
  ): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new Error("ArchiveTarWriter is closed");
    await this.#ready;
    if (this.#failure !== undefined) throw this.#failure;
    let sink!: Sink;
    const done = new Promise<void>((resolve, reject) => {
      sink = this.#pack.entry(
        {
          ...header,
          mtime: EPOCH,
          uid: 0,
          gid: 0,
          uname: "",
          gname: "",
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
    // Failures surface through `done` and the body; an unheard "error" event would be thrown.
    sink.on("error", () => {});
    try {
      await Promise.race([body(sink), done, this.#pumpFailure()]);
      await Promise.race([done, this.#pumpFailure()]);
    } catch (e) {
      const err = this.#failure ?? e;
      this.#failure ??= err;
      done.catch(() => {});
      if (!sink.destroyed) sink.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  #pumpFailure(): Promise<never> {
    return this.#pump.then(() => new Promise<never>(() => {}));
  }
}

function drained(sink: Sink): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      sink.off("drain", onDrain);
      sink.off("error", onError);
      sink.off("close", onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      cleanup();
      reject(new Error("tar entry closed while writing"));
    };
    sink.on("drain", onDrain);
    sink.on("error", onError);
    sink.on("close", onClose);
  });
}

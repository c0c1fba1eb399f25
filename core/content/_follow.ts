/**
 * Reading a blob while the content store is still writing it (`ContentStore.follow`): the
 * partial file of the ingest is read up to what has been written, then waits for more; the
 * stream ends only when the ingest has verified and stored the blob. The descriptor opened on
 * the partial file stays valid when the ingest renames it into place.
 *
 * @module
 */
import type { Digest } from "../digest.ts";
import { NotFoundError } from "../errors.ts";

/** An ingest in progress: where it writes and how far it is. */
export interface Ingest {
  /** The partial file. */
  path: string;
  /** Bytes written to it so far. */
  written: number;
  /** `done` once the blob is verified and stored; `failed` with `error` otherwise. */
  state: "running" | "done" | "failed";
  /** Why it failed. */
  error?: unknown;
}

/** The ingests of a store, as a follower sees them. */
export interface IngestWatch {
  /** Bumped on every change (an ingest started, wrote, ended). */
  readonly generation: number;
  /** The running ingest of `digest`, if any. */
  get(digest: string): Ingest | undefined;
  /** Resolves at the next change. */
  changed(): Promise<void>;
  /** Records an ingest of `digest` into `path`, and returns it. */
  started(digest: string, path: string): Ingest;
  /** Records that `ingest` has written `written` bytes. */
  wrote(ingest: Ingest, written: number): void;
  /** Records the end of `ingest`: stored, or failed with `error`. */
  ended(ingest: Ingest, error?: unknown): void;
}

/** Bytes read at a time. */
const READ_SIZE = 256 * 1024;

/**
 * The blob `digest` (stored at `path` once complete) as a stream, following an ingest of it in
 * `ingests` while there is one; see `ContentStore.follow`.
 */
export function followBlob(
  digest: Digest,
  path: string,
  ingests: IngestWatch,
  until: Promise<unknown>,
): ReadableStream<Uint8Array> {
  let settled: { error?: unknown } | undefined;
  const settle = until.then(() => {
    settled = {};
  }, (error) => {
    settled = { error: error ?? new Error("The download failed") };
  });
  let file: Deno.FsFile | undefined;
  /** The ingest being followed; undefined once the file is complete. */
  let ingest: Ingest | undefined;
  let pos = 0;

  /** Opens the stored blob, or the partial file of a running ingest; false if neither. */
  const open = async (): Promise<boolean> => {
    const generation = ingests.generation;
    try {
      file = await Deno.open(path, { read: true });
      return true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const running = ingests.get(digest);
    if (running !== undefined) {
      try {
        file = await Deno.open(running.path, { read: true });
        ingest = running;
        return true;
      } catch (e) {
        // Renamed into place or removed meanwhile: look again.
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        return false;
      }
    }
    if (ingests.generation !== generation) return false; // something happened: look again
    if (settled !== undefined) {
      throw settled.error ??
        new NotFoundError(`Blob ${digest} is not in the content store and was not fetched`);
    }
    await Promise.race([ingests.changed(), settle]);
    return false;
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        await next(controller as ReadableByteStreamController);
      } catch (e) {
        file?.close();
        file = undefined;
        throw e;
      }
    },
    cancel() {
      file?.close();
      file = undefined;
    },
    type: "bytes",
  }, { highWaterMark: 0 });

  async function next(controller: ReadableByteStreamController): Promise<void> {
    while (file === undefined) await open();
    while (true) {
      let max = READ_SIZE;
      if (ingest !== undefined) {
        const available = ingest.written - pos;
        if (available <= 0) {
          if (ingest.state === "failed") {
            // Nothing handed out yet: another ingest (another source) may still bring it.
            if (pos > 0 || settled !== undefined) throw ingest.error;
            file.close();
            file = undefined;
            ingest = undefined;
            while (file === undefined) await open();
            continue;
          }
          if (ingest.state === "done") {
            ingest = undefined; // complete: read to the end
            continue;
          }
          await ingests.changed();
          continue;
        }
        max = Math.min(max, available);
      }
      // A BYOB reader's buffer is read into directly; else a new one.
      const request = controller.byobRequest;
      const into = request?.view
        ? new Uint8Array(
          request.view.buffer,
          request.view.byteOffset,
          Math.min(request.view.byteLength, max),
        )
        : new Uint8Array(max);
      const n = await file.read(into);
      if (n === null) {
        if (ingest !== undefined) {
          await ingests.changed(); // cannot happen: written bytes are there
          continue;
        }
        file.close();
        file = undefined;
        controller.close();
        request?.respond(0);
        return;
      }
      pos += n;
      if (request?.view) request.respond(n);
      else controller.enqueue(into.subarray(0, n));
      return;
    }
  }
}

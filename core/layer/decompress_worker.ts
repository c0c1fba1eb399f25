/**
 * Decompression of a layer blob in a worker, with the SHA-256 of the output (the diff ID)
 * computed there too: applying a layer then spends the main thread on the file system alone
 * while another core inflates and hashes. For the Debian base image (28 MB of gzip, 77 MB of
 * tar) that moves about 330 ms of the main thread's 800 ms elsewhere.
 *
 * Memory stays flat whatever the compression ratio, as with `decompressStream`'s
 * `reuseChunks`: the worker writes into a fixed pool of output buffers that travel to the
 * main thread and back (transferred, never copied), and at most a few input chunks are in
 * flight.
 *
 * @module
 */
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import type { LayerCompression } from "../media_types.ts";
import { nativeAvailable } from "./_native_decompress.ts";
import { DECOMPRESS_WORKER_SOURCE } from "./_decompress_worker.ts";

/** Output buffers in the pool: two held by the consumer, the rest the worker's lead. */
const OUTPUT_BUFFERS = 8;
/**
 * Size of an output buffer. Every message costs the main thread about 0.1 ms: 512 KiB
 * makes 150 round trips of the Debian base image's 77 MB.
 */
const OUTPUT_SIZE = 512 * 1024;
/** Input is posted in batches of this size (a file's stream reads 64 KiB at a time). */
const INPUT_BATCH = 1024 * 1024;
/** Input batches posted to the worker and not used up yet. */
const INPUT_IN_FLIGHT = 3;

/** A decompression running in a worker. */
export interface WorkerDecompression {
  /**
   * The decompressed data. Each chunk is valid only until the chunk after the next one is
   * read (its buffer goes back to the worker then), as with `reuseChunks`. Corrupt or
   * truncated input makes it error with an {@linkcode ImgError}; cancelling it cancels the
   * source and stops the worker.
   */
  stream: ReadableStream<Uint8Array>;
  /**
   * The digest of the decompressed data, once the stream has been read to its end; rejects
   * when the stream errors or is cancelled.
   */
  digest: Promise<Digest>;
}

let workerUrl: string | undefined;

/**
 * Compressed blobs smaller than this are inflated on the caller's thread: starting a worker
 * costs 30 to 50 ms of the main thread, more than inflating a small layer there. Applying
 * layers of 2.6, 5.3 and 10.6 MB of gzip (3,000 files and more) took 40, 67 and 125 ms here
 * against 75, 108 and 170 ms with the worker; the 28 MB Debian base is faster with it.
 */
export const WORKER_MIN_SIZE = 16 * 1024 * 1024;

/**
 * Decompresses `source` (gzip or zstd) in a worker with the system's zlib or libzstd, or
 * returns `undefined` when that is not worth it or not possible here (`size`, the blob's
 * size when known, is under {@linkcode WORKER_MIN_SIZE}; the compression is not known or
 * none; the library is missing; workers cannot be started): the caller then decompresses
 * on its own thread.
 */
export function decompressInWorker(
  source: ReadableStream<Uint8Array>,
  kind: LayerCompression | undefined,
  size?: number,
): WorkerDecompression | undefined {
  if (kind === undefined || kind === "uncompressed" || !nativeAvailable(kind)) return undefined;
  if (size !== undefined && size < WORKER_MIN_SIZE) return undefined;
  let worker: Worker;
  try {
    workerUrl ??= URL.createObjectURL(
      new Blob([DECOMPRESS_WORKER_SOURCE], { type: "application/javascript" }),
    );
    worker = new Worker(workerUrl, { type: "module" });
  } catch {
    return undefined;
  }
  const corrupt = (message: string) =>
    new ImgError(
      `Cannot decompress the ${kind} layer data (${message}); the blob is corrupt or truncated`,
    );

  // A byte stream (a file's, the content store's) is read straight into the input batches.
  let byob: ReadableStreamBYOBReader | undefined;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    reader = source.getReader();
  }
  const cancelSource = (reason: unknown) => (byob ?? reader)!.cancel(reason).catch(() => {});
  /** Output chunks received and not handed out yet. */
  const ready: Uint8Array[] = [];
  /** Buffers handed out, oldest first: each goes back when the one after the next is read. */
  const handedOut: ArrayBuffer[] = [];
  let finished = false;
  let failure: unknown;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  let wakePump: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let resolveDigest!: (d: Digest) => void;
  let rejectDigest!: (e: unknown) => void;
  const digest = new Promise<Digest>((resolve, reject) => {
    resolveDigest = resolve;
    rejectDigest = reject;
  });
  digest.catch(() => {}); // the stream reports the failure; the digest may go unread

  const stop = (error: unknown) => {
    if (finished || failure !== undefined) return;
    failure = error;
    worker.terminate();
    rejectDigest(error);
    wakePump?.();
    notify();
  };

  worker.onmessage = (event: MessageEvent) => {
    const m = event.data;
    if (m.t === "out") ready.push(new Uint8Array(m.buf, 0, m.len));
    else if (m.t === "ack") {
      inFlight--;
      if (m.buf.byteLength === INPUT_BATCH) spare.push(new Uint8Array(m.buf));
      const w = wakePump;
      wakePump = undefined;
      w?.();
      return;
    } else if (m.t === "done") {
      finished = true;
      worker.terminate();
      resolveDigest(m.digest as Digest);
    } else if (m.t === "error") {
      stop(corrupt(m.message));
      cancelSource(failure);
    }
    notify();
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    stop(new ImgError(`The decompression worker failed (${event.message})`));
    cancelSource(failure);
  };
  worker.postMessage({ t: "init", kind, buffers: OUTPUT_BUFFERS, size: OUTPUT_SIZE });

  // Feeds the worker the source in batches, a few ahead of what it has used up.
  /** Input batches the worker gave back, to be filled again (no garbage per batch). */
  const spare: Uint8Array[] = [];
  let batch: Uint8Array = new Uint8Array(INPUT_BATCH);
  let fill = 0;
  const post = async (data: Uint8Array, length: number) => {
    while (inFlight >= INPUT_IN_FLIGHT && failure === undefined) {
      await new Promise<void>((r) => (wakePump = r));
    }
    if (failure !== undefined) return;
    inFlight++;
    const buf = data.buffer as ArrayBuffer;
    worker.postMessage({ t: "in", buf, len: length }, [buf]);
  };
  const flush = async () => {
    if (fill === 0) return;
    const full = batch;
    batch = spare.pop() ?? new Uint8Array(INPUT_BATCH);
    const length = fill;
    fill = 0;
    await post(full, length);
  };
  (async () => {
    while (byob && failure === undefined) {
      const { value, done } = await byob.read(
        new Uint8Array(batch.buffer as ArrayBuffer, fill, INPUT_BATCH - fill),
      );
      if (failure !== undefined) return;
      if (value !== undefined) {
        batch = new Uint8Array(value.buffer); // the batch's memory, given back
        fill += value.byteLength;
      }
      if (done) {
        await flush();
        if (failure === undefined) worker.postMessage({ t: "end" });
        return;
      }
      if (fill === INPUT_BATCH) await flush();
    }
    while (reader && failure === undefined) {
      const { value, done } = await reader.read();
      if (failure !== undefined) return;
      if (done) {
        await flush();
        if (failure === undefined) worker.postMessage({ t: "end" });
        return;
      }
      if (value.byteLength > INPUT_BATCH - fill) await flush();
      if (value.byteLength >= INPUT_BATCH) await post(value.slice(), value.byteLength);
      else {
        batch.set(value, fill);
        fill += value.byteLength;
      }
    }
  })().catch((e) => stop(e));

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (true) {
        if (failure !== undefined) throw failure;
        const chunk = ready.shift();
        if (chunk !== undefined) {
          handedOut.push(chunk.buffer as ArrayBuffer);
          // The chunk before the previous one is no longer in use: its buffer goes back.
          if (handedOut.length > 2) {
            const buf = handedOut.shift()!;
            worker.postMessage({ t: "buf", buf }, [buf]);
          }
          controller.enqueue(chunk);
          return;
        }
        if (finished) {
          controller.close();
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    },
    async cancel(reason) {
      stop(reason ?? new ImgError("The decompression was cancelled"));
      await cancelSource(reason);
    },
  }, { highWaterMark: 0 });
  return { stream, digest };
}

/**
 * Feeding a web `ReadableStream` into a Node.js or streamx writable (a `node:zlib` transform,
 * `tar.extract()`) with backpressure.
 *
 * @module
 */

/** What feeding needs of a Node.js or streamx writable. */
export interface NodeWritable {
  /** Writes a chunk; false when the writable is full and `drain` will follow. */
  write(chunk: Uint8Array): boolean;
  /** Ends the input (no last chunk: streamx declares the parameter, Node.js does not need it). */
  end(chunk?: undefined): unknown;
  /** Destroys the writable, with `error` if given. */
  destroy(error?: Error): unknown;
  /** Whether the writable was destroyed. */
  readonly destroyed: boolean;
  /** Adds an event listener. */
  on(event: string, listener: () => void): unknown;
  /** Removes an event listener. */
  off(event: string, listener: () => void): unknown;
}

/** Resolves once `w` can take more (`drain`) or never will again (`error`, `close`). */
export function drained(w: NodeWritable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      w.off("drain", done);
      w.off("error", done);
      w.off("close", done);
      resolve();
    };
    w.on("drain", done);
    w.on("error", done);
    w.on("close", done);
  });
}

/** Options of {@linkcode feedWritable}. */
export interface FeedOptions {
  /** Checked before each read: once true, feeding stops without ending the writable. */
  stopped?: () => boolean;
  /** Called with an error of the source, before the writable is destroyed with it. */
  onSourceError?: (error: unknown) => void;
}

/**
 * Writes everything `reader` yields into `w`, waiting whenever `w` is full, then ends `w`.
 * Stops early, without ending `w`, once `w` is destroyed or `options.stopped()` is true. An
 * error of the source is handed to `options.onSourceError` and destroys `w` with it. Never
 * rejects.
 */
export async function feedWritable(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  w: NodeWritable,
  options: FeedOptions = {},
): Promise<void> {
  const stopped = options.stopped ?? (() => false);
  try {
    while (!stopped()) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!w.write(value)) {
        await drained(w);
        if (w.destroyed) return;
      }
    }
    if (!stopped()) w.end();
  } catch (e) {
    options.onSourceError?.(e);
    w.destroy(e instanceof Error ? e : new Error(String(e)));
  }
}

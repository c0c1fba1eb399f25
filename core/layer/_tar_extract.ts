/**
 * Reading a tar stream entry by entry with `tar-stream`'s extractor, fed from a web stream
 * with backpressure: the loop both the layer applier and ADD's archive extraction run.
 *
 * @module
 */
import tar from "tar-stream";
import { feedWritable } from "./_node_stream.ts";

/** Handles one entry; `data` (a regular file's content) must be read or drained. */
export type TarEntryHandler = (
  header: tar.Header,
  data: AsyncIterable<Uint8Array>,
) => Promise<void>;

/** Options of {@linkcode forEachTarEntry}. */
export interface TarEntriesOptions {
  /** The error to throw for an error of the tar parser (a malformed archive). */
  malformed: (error: unknown) => Error;
  /** Adjusts the extractor before it reads anything. */
  setup?: (extract: tar.Extract) => void;
}

/**
 * Calls `onEntry` for each entry of the tar `stream`, one at a time, in order. On failure
 * the extractor is destroyed and `stream` cancelled, and what is thrown is: an error of
 * `stream` itself (e.g. corrupt compressed data), since it is the cause of whatever followed;
 * else an error of the parser as `options.malformed(error)`; else the error of `onEntry`.
 */
export async function forEachTarEntry(
  stream: ReadableStream<Uint8Array>,
  onEntry: TarEntryHandler,
  options: TarEntriesOptions,
): Promise<void> {
  const extract = tar.extract();
  options.setup?.(extract);
  const reader = stream.getReader();
  let feedError: unknown;
  const feeding = feedWritable(reader, extract, { onSourceError: (e) => (feedError = e) });

  const entries = extract[Symbol.asyncIterator]();
  try {
    while (true) {
      let next: IteratorResult<{ header: tar.Header } & AsyncIterable<Uint8Array>>;
      try {
        next = (await entries.next()) as typeof next;
      } catch (e) {
        throw options.malformed(e);
      }
      if (next.done) break;
      await onEntry(next.value.header, next.value);
    }
  } catch (e) {
    extract.destroy();
    await reader.cancel().catch(() => {});
    await feeding;
    if (feedError) throw feedError;
    throw e;
  }
  await feeding;
  if (feedError) throw feedError;
}

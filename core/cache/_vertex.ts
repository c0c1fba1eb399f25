/**
 * A progress vertex around a piece of work that is not a build step (`importing cache
 * manifest from ...`).
 *
 * @module
 */
import type { ProgressWriter } from "../progress.ts";

/** Runs `fn` as the progress vertex `name`: started, then done or errored. */
export async function asVertex<T>(
  progress: ProgressWriter,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  const vertex = `cache:${crypto.randomUUID()}`;
  const started = Date.now();
  progress.write({ type: "vertex.started", vertex, name, time: started });
  try {
    const out = await fn();
    progress.write({ type: "vertex.done", vertex, name, time: Date.now(), started });
    return out;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    progress.write({ type: "vertex.errored", vertex, name, time: Date.now(), error });
    throw e;
  }
}

/**
 * Progress events, streamed by the solver and by transfers to any number of listeners.
 *
 * @module
 */

/** One progress event. */
export type ProgressEvent =
  | { type: "vertex.started"; vertex: string; name: string; time: number }
  | { type: "vertex.cached"; vertex: string; name: string; time: number }
  | { type: "vertex.done"; vertex: string; name: string; time: number; started?: number }
  | { type: "vertex.errored"; vertex: string; name: string; time: number; error: string }
  | { type: "log"; vertex: string; stream: 1 | 2; data: Uint8Array; time: number }
  | {
    type: "status";
    vertex: string;
    /** What the progress display shows for it (as BuildKit shows a status ID): `sha256:abc...`, `transferring context:`. */
    id: string;
    name: string;
    current: number;
    total?: number;
    time: number;
    /** When the status began (defaults to the time of its first event). */
    started?: number;
    /** When it finished; statuses still open when their vertex completes finish with it. */
    completed?: number;
  }
  | { type: "warning"; vertex?: string; message: string; time: number };

/** Something that wants progress events. */
export type ProgressListener = (event: ProgressEvent) => void;

/** Fans progress events out to listeners. */
export class ProgressWriter {
  #listeners = new Set<ProgressListener>();

  /** Adds a listener and returns a function that removes it. */
  listen(listener: ProgressListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends an event to every listener. */
  write(event: ProgressEvent): void {
    for (const l of this.#listeners) l(event);
  }
}

/**
 * A no-progress timer for one registry request: it aborts the request when nothing moves for
 * too long (no connection, no answer, no body bytes), but never while bytes keep flowing.
 *
 * @module
 */

/** What a stalled request was waiting for. */
export type StallPhase = "answer" | "body" | "upload";

/** A request made no progress for too long. Transient: another attempt may get through. */
export class StallError extends Error {
  /** What the request was waiting for. */
  readonly phase: StallPhase;
  /** How long it waited, in milliseconds. */
  readonly ms: number;
  /** The part of `ms` granted on top of the limit for sending a request body. */
  readonly extraMs: number;

  /** Creates the error for a request stalled in `phase` for `ms` (`extraMs` of it granted for an upload). */
  constructor(phase: StallPhase, ms: number, extraMs = 0) {
    const what = phase === "answer"
      ? "sent no answer"
      : phase === "body"
      ? "stopped sending data"
      : "stopped taking the upload";
    super(`the registry ${what} for ${formatSeconds(ms)}`);
    this.name = "StallError";
    this.phase = phase;
    this.ms = ms;
    this.extraMs = extraMs;
  }
}

/** Formats milliseconds as seconds for messages: `30 s`, `1.5 s`. */
export function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Aborts `signal` with a {@linkcode StallError} once `ms` pass without a call to
 * {@linkcode Watchdog.touch}. The first period may be `extraMs` longer, for a request whose
 * body must be sent before the answer can start (`fetch` does not report upload progress).
 */
export class Watchdog {
  readonly #controller = new AbortController();
  readonly #ms: number;
  #phase: StallPhase;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reason: StallError | undefined;

  /** Starts the timer: `ms` without progress in `phase` aborts (the first period `ms + extraMs`). */
  constructor(ms: number, phase: StallPhase = "answer", extraMs = 0) {
    this.#ms = ms;
    this.#phase = phase;
    this.#arm(ms, extraMs);
  }

  /** Aborted with a {@linkcode StallError} when the request stalls. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The stall that aborted the request, if it did. */
  get reason(): StallError | undefined {
    return this.#reason;
  }

  /** Records progress (and optionally a new phase): the timer starts over. */
  touch(phase?: StallPhase): void {
    if (this.#reason) return;
    if (phase) this.#phase = phase;
    this.#arm(this.#ms);
  }

  /** Stops the timer (the request is done, or its reader is busy elsewhere until the next `touch`). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number, extraMs = 0): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#reason = new StallError(this.#phase, ms + extraMs, extraMs);
      this.#controller.abort(this.#reason);
    }, Math.max(1, ms + extraMs));
  }
}

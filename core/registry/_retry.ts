/**
 * The one retry policy for every registry request: which failures are worth another try, how
 * long to wait before it (exponential backoff with jitter, honouring `Retry-After`), and when
 * to give up (after `attempts` failures without progress, or once nothing has moved for
 * `timeoutMs`).
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import type { RegistryError } from "./errors.ts";
import { StallError } from "./_watchdog.ts";

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** The total number of attempts, including the first (>= 1). */
  attempts: number;
  /** The delay before the first retry, in milliseconds; doubled for each further retry. */
  baseDelayMs: number;
  /** The longest wait between two attempts, in milliseconds (also caps `Retry-After`). */
  maxDelayMs: number;
  /**
   * The no-progress limit, in milliseconds (default {@linkcode DEFAULT_TIMEOUT_MS}): an attempt
   * that moves no byte for half of it is abandoned and retried, and a request that moves no
   * byte for all of it (over all its attempts) fails.
   */
  timeoutMs?: number;
}

/** The default no-progress limit: 30 s. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The default: 5 attempts, waiting about 0.25 s, 0.5 s, 1 s, 2 s (at most 30 s for
 * `Retry-After`), and a 30 s no-progress limit.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  timeoutMs: DEFAULT_TIMEOUT_MS,
};

/**
 * The policy tuned by the environment: `IMG_REGISTRY_TIMEOUT` (the no-progress limit in
 * seconds, default 30; `flags.timeout`, from `--registry-timeout`, wins over it) and
 * `IMG_REGISTRY_RETRIES` (retries after the first attempt, default 4).
 *
 * @throws {ImgError} if a value is something else than a number.
 */
export function retryPolicyFromEnv(
  env: Record<string, string | undefined>,
  flags: { timeout?: string } = {},
): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY };
  const fromFlag = flags.timeout !== undefined;
  const timeout = (fromFlag ? flags.timeout : env.IMG_REGISTRY_TIMEOUT)?.trim();
  if (timeout || fromFlag) {
    const s = Number(timeout);
    if (!timeout || !/^\d+(\.\d+)?$/.test(timeout) || !(s > 0)) {
      throw new ImgError(
        `${
          fromFlag ? "--registry-timeout" : "IMG_REGISTRY_TIMEOUT"
        } must be a number of seconds greater than 0, not "${timeout}"`,
      );
    }
    policy.timeoutMs = s * 1000;
  }
  const retries = env.IMG_REGISTRY_RETRIES?.trim();
  if (retries) {
    if (!/^\d+$/.test(retries) || Number(retries) > 100) {
      throw new ImgError(
        `IMG_REGISTRY_RETRIES must be a whole number from 0 to 100, not "${retries}"`,
      );
    }
    policy.attempts = Number(retries) + 1;
  }
  return policy;
}

/** Reports whether an HTTP status is transient: 408, 429, and 5xx except 501 and 505. */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/**
 * Reports whether an error thrown by `fetch` or while reading a response body is a broken or
 * refused connection (worth retrying) rather than a mistake of ours or of the content.
 */
export function isRetryableError(error: unknown): boolean {
  if (error instanceof ImgError) return false;
  if (error instanceof DOMException && error.name === "AbortError") return false;
  if (error instanceof TypeError) return true; // fetch's network errors, body read errors
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.Http ||
    error instanceof Deno.errors.Interrupted;
}

/**
 * Parses a `Retry-After` header (delay in seconds, or an HTTP date) into milliseconds from
 * `now`. Returns `undefined` if the header is absent or unparsable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * The delay before retry number `retry` (1 for the first retry): `Retry-After` if the server
 * gave one, otherwise `baseDelayMs * 2^(retry-1)` with up to 50% random jitter subtracted; both
 * capped at `maxDelayMs`.
 */
export function retryDelay(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs);
  const exp = policy.baseDelayMs * 2 ** Math.max(0, retry - 1);
  const capped = Math.min(exp, policy.maxDelayMs);
  return Math.round(capped * (1 - random() * 0.5));
}

/**
 * Reports whether a failure is transient: a stall, a broken connection, or a registry error
 * marked transient (5xx, 429, a truncated body, a dropped upload session).
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof StallError) return true;
  if (error instanceof ImgError) return (error as Partial<RegistryError>).transient === true;
  return isRetryableError(error);
}

/**
 * Applies the retry policy to one request (or one upload session, or one blob download):
 * call {@linkcode Retrier.failed} with each failure (it waits before the next attempt, or
 * throws), {@linkcode Retrier.progress} whenever bytes move, and give each attempt's
 * watchdog {@linkcode Retrier.attemptTimeoutMs}.
 */
export class Retrier {
  readonly #policy: RetryPolicy;
  readonly #giveUp: (error: unknown, attempts: number) => unknown;
  #failures = 0;
  #attempts = 0;
  #quietSince = Date.now();

  /**
   * Creates a retrier; `giveUp` turns the last failure into the error to throw (it gets the
   * number of attempts made). Failures that are not transient are thrown as they are.
   */
  constructor(policy: RetryPolicy, giveUp: (error: unknown, attempts: number) => unknown) {
    this.#policy = policy;
    this.#giveUp = giveUp;
  }

  /** The no-progress limit of the whole request, in milliseconds. */
  get timeoutMs(): number {
    return this.#policy.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** How long the next attempt may go without progress: half the limit, or what is left of it. */
  get attemptTimeoutMs(): number {
    const left = this.timeoutMs - (Date.now() - this.#quietSince);
    return Math.max(1, Math.min(this.timeoutMs / 2, left));
  }

  /** Records progress: failures so far no longer count, and the no-progress clock restarts. */
  progress(): void {
    this.#failures = 0;
    this.#quietSince = Date.now();
  }

  /**
   * Handles a failed attempt: throws it if it is not transient, throws `giveUp(error)` if the
   * policy is spent (too many failures, or nothing moved for the whole limit), and otherwise
   * waits the backoff delay (or the `Retry-After` the registry asked for).
   */
  async failed(error: unknown): Promise<void> {
    this.#attempts++;
    if (!isTransient(error)) throw error;
    this.#failures++;
    // Time granted for sending a request body is not time the registry kept us waiting.
    if (error instanceof StallError) this.#quietSince += error.extraMs;
    const quiet = Date.now() - this.#quietSince;
    const stalledOut = error instanceof StallError && quiet >= this.timeoutMs - 50;
    if (stalledOut || this.#failures >= this.#policy.attempts) {
      throw this.#giveUp(error, this.#attempts);
    }
    const retryAfter = (error as Partial<RegistryError>).retryAfterMs;
    const delay = retryDelay(this.#policy, this.#failures, retryAfter);
    await sleep(delay);
    // Waiting by our own choice is not the registry keeping us waiting.
    this.#quietSince += delay;
  }
}

/** Waits `ms` milliseconds, or rejects early if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

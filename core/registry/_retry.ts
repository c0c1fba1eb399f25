/**
 * The retry policy for registry requests: which failures are worth another try, and how long
 * to wait before it (exponential backoff with jitter, honouring `Retry-After`).
 *
 * @module
 */
import { ImgError } from "../errors.ts";

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** The total number of attempts, including the first (>= 1). */
  attempts: number;
  /** The delay before the first retry, in milliseconds; doubled for each further retry. */
  baseDelayMs: number;
  /** The longest wait between two attempts, in milliseconds (also caps `Retry-After`). */
  maxDelayMs: number;
}

/** The default: 5 attempts, waiting about 0.25 s, 0.5 s, 1 s, 2 s (at most 30 s for `Retry-After`). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 30_000,
};

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

/**
 * Errors from registry requests, turned into one-line messages a user can act on.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import { isRetryableStatus, parseRetryAfter } from "./_retry.ts";
import { formatSeconds, StallError } from "./_watchdog.ts";

/** Options for {@linkcode RegistryError}. */
export interface RegistryErrorOptions extends ErrorOptions {
  /** The HTTP status, if the registry answered. */
  status?: number;
  /** The first registry error code (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, ...), if any. */
  code?: string;
  /** Whether the failure is transient (a broken connection, 5xx, 429): worth retrying. */
  transient?: boolean;
  /** How long the registry asked us to wait before another attempt (`Retry-After`), in ms. */
  retryAfterMs?: number;
}

/** A registry request failed. The message is one line, e.g. `Pull of app:1 failed: manifest unknown: ...`. */
export class RegistryError extends ImgError {
  /** The HTTP status, if the registry answered. */
  readonly status?: number;
  /** The first registry error code, if the body had one. */
  readonly code?: string;
  /** Whether another attempt may succeed. */
  readonly transient: boolean;
  /** How long the registry asked us to wait before another attempt, if it said. */
  readonly retryAfterMs?: number;

  /** Creates a registry error with a user-facing message. */
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, options);
    this.name = "RegistryError";
    this.status = options.status;
    this.code = options.code;
    this.transient = options.transient ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

interface ErrorBody {
  errors?: { code?: string; message?: string; detail?: unknown }[];
  details?: string;
  error?: string;
  error_description?: string;
  message?: string;
}

/**
 * Summarizes an error body as registries and token servers send it (`{"errors":[...]}`,
 * `{"details":...}` or OAuth2's `{"error":...,"error_description":...}`) in one line, and
 * returns the first error code. Falls back to the HTTP status.
 */
export function describeErrorBody(
  status: number,
  statusText: string,
  body: string,
): { detail: string; code?: string } {
  let parsed: ErrorBody | undefined;
  try {
    const value = JSON.parse(body);
    if (value && typeof value === "object") parsed = value as ErrorBody;
  } catch { /* not JSON */ }
  if (parsed?.errors && Array.isArray(parsed.errors) && parsed.errors.length > 0) {
    const parts = parsed.errors.map((e) => {
      const code = typeof e.code === "string" ? e.code.toLowerCase().replace(/_/g, " ") : "";
      const message = typeof e.message === "string" ? e.message : "";
      return code && message ? `${code}: ${message}` : code || message;
    }).filter(Boolean);
    if (parts.length > 0) {
      return { detail: oneLine(parts.join("; ")), code: parsed.errors[0].code };
    }
  }
  if (parsed && typeof parsed.details === "string") return { detail: oneLine(parsed.details) };
  if (parsed && typeof parsed.error === "string") {
    const d = parsed.error_description
      ? `${parsed.error}: ${parsed.error_description}`
      : parsed.error;
    return { detail: oneLine(d) };
  }
  if (parsed && typeof parsed.message === "string") return { detail: oneLine(parsed.message) };
  const fallback = statusFallback(status, statusText);
  return { detail: fallback };
}

function statusFallback(status: number, statusText: string): string {
  if (status === 401) return "unauthorized: authentication required";
  if (status === 403) return "denied: access to the resource is denied";
  if (status === 404) return "not found";
  return `HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
}

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** How to word an error: the action (`Pull of app:1`) and the registry domain. */
export interface ErrorContext {
  /** What failed, as the start of a sentence: `Pull of busybox:latest`, `Login to ghcr.io`. */
  action: string;
  /** The registry domain, for the `img login` hint. */
  domain: string;
  /** Whether credentials were sent (changes the hint on 401/403). */
  authenticated?: boolean;
  /** Whether to add the `img login` hint on 401/403 (default true). */
  loginHint?: boolean;
}

/**
 * Reads a failed response's body and turns it into a {@linkcode RegistryError}:
 * `Pull of X failed: manifest unknown: manifest unknown`, with a hint to run `img login` on
 * 401 and 403.
 */
export async function responseError(res: Response, ctx: ErrorContext): Promise<RegistryError> {
  let body = "";
  try {
    body = (await res.text()).slice(0, 64 * 1024);
  } catch { /* body unreadable: the status will do */ }
  const { detail, code } = describeErrorBody(res.status, res.statusText, body);
  let message = `${ctx.action} failed: ${detail}`;
  if ((res.status === 401 || res.status === 403) && ctx.loginHint !== false) {
    message += ctx.authenticated
      ? ` (check that your account has access, or run \`img login ${ctx.domain}\` again)`
      : ` (run \`img login ${ctx.domain}\` if the registry needs credentials)`;
  }
  return new RegistryError(message, {
    status: res.status,
    code,
    transient: isRetryableStatus(res.status),
    retryAfterMs: parseRetryAfter(res.headers.get("retry-after")),
  });
}

/** Wraps a network failure (refused, reset, TLS, DNS) in a one-line error naming the host. */
export function networkError(error: unknown, ctx: ErrorContext, host: string): RegistryError {
  if (error instanceof RegistryError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new RegistryError(
    `${ctx.action} failed: cannot reach registry ${host}: ${oneLine(reason)}`,
    {
      cause: error,
      transient: true,
    },
  );
}

/**
 * The error for a request that kept failing transiently until the retry policy gave up, naming
 * the registry and saying what to do: `Pull of X failed: registry HOST sent no answer for 30 s
 * (3 attempts); check the network, or raise IMG_REGISTRY_TIMEOUT`. Not transient: the
 * policy is spent, so an enclosing request must not retry it again.
 */
export function exhaustedError(
  error: unknown,
  ctx: ErrorContext,
  host: string,
  attempts: number,
): RegistryError {
  const tries = `${attempts} attempt${attempts === 1 ? "" : "s"}`;
  if (error instanceof StallError) {
    const what = error.phase === "answer"
      ? "sent no answer"
      : error.phase === "body"
      ? "stopped sending data"
      : "stopped taking the upload";
    return new RegistryError(
      `${ctx.action} failed: registry ${host} ${what} for ${
        formatSeconds(error.ms)
      } (${tries}); check the network, or raise IMG_REGISTRY_TIMEOUT if the registry is just slow`,
      { cause: error, transient: false },
    );
  }
  if (error instanceof RegistryError && error.status !== undefined) {
    return new RegistryError(
      `${error.message} (registry ${host} answered ${error.status} to ${tries}); try again later, or raise IMG_REGISTRY_RETRIES`,
      { cause: error, status: error.status, code: error.code, transient: false },
    );
  }
  const base = networkError(error, ctx, host);
  return new RegistryError(
    `${base.message} (${tries}); check the network and try again`,
    { cause: error, transient: false },
  );
}

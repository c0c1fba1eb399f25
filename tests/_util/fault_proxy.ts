/**
 * A fault-injecting HTTP/1.1 proxy for tests of retries, timeouts and resumable transfers.
 *
 * It listens on a free loopback port and forwards each client connection to `target`. It
 * parses requests and responses (keep-alive, `Content-Length`, chunked bodies, `1xx`
 * interim responses, `HEAD`), so a pooling client such as Deno's `fetch` or Go's
 * `net/http` (skopeo) works through it. It injects `fault` into the first `times` requests
 * whose path matches `matchPath` (and method `matchMethod`); `Infinity` makes it permanent.
 * Faults on the response (`cut-body`, the default, `reset-after-headers`,
 * `stall-after-headers`, `truncate`) only count responses that are 2xx with a body, so
 * `HEAD` probes and `401` challenges do not use them up. `cut-body` forwards the response
 * head and `resetAfterBytes` bytes of the body, then closes the client connection
 * abruptly, so the client's body read fails mid-stream.
 *
 * ```ts
 * await using proxy = await startFaultProxy(registry.host, {
 *   resetAfterBytes: 1000,
 *   matchPath: /\/blobs\/sha256:/,
 * });
 * // pull through `${proxy.host}`: the first blob download is cut after 1000 bytes
 * ```
 *
 * @module
 */

/**
 * The fault to inject:
 * - `cut-body`: forward the response head and `resetAfterBytes` of its body, then close;
 * - `reset-after-headers`: forward the response head, then close;
 * - `truncate`: forward the response head and half its body, then close;
 * - `stall-after-headers`: forward the response head, then send nothing more;
 * - `reset-before-headers`: close the connection as soon as the request arrives;
 * - `stall-before-headers`: take the request and never answer;
 * - `status`: answer `status` (with `headers`) instead of the registry;
 * - `drop-upload`: forward the request head and half its body, then close both sides.
 */
export type FaultKind =
  | "cut-body"
  | "reset-after-headers"
  | "truncate"
  | "stall-after-headers"
  | "reset-before-headers"
  | "stall-before-headers"
  | "status"
  | "drop-upload";

/** Options for {@linkcode startFaultProxy}. */
export interface FaultProxyOptions {
  /** The fault (default `cut-body`). */
  fault?: FaultKind;
  /**
   * For `cut-body`: body bytes forwarded before the connection is cut. The cut always
   * truncates: for a body of `n` bytes, at most `n - 1` bytes get through.
   */
  resetAfterBytes?: number;
  /** For `status`: the status to answer (default 503). */
  status?: number;
  /** For `status`: headers of the answer, such as `retry-after`. */
  headers?: Record<string, string>;
  /** Only requests whose path matches get the fault (default: every request). */
  matchPath?: RegExp;
  /** Only requests with this method get the fault (default: any method). */
  matchMethod?: string;
  /** How many matching requests get the fault (default 1; `Infinity`: all); later ones pass. */
  times?: number;
}

/** One request seen by the proxy. */
export interface ProxiedRequest {
  /** The request method. */
  method: string;
  /** The request target (path and query). */
  path: string;
  /** The request headers. */
  headers: Headers;
  /** The response status (0 if no response head arrived). */
  status: number;
  /** Whether the proxy cut this response. */
  faulted: boolean;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `127.0.0.1:PORT` of the proxy, to use instead of the target's host. */
  readonly host: string;
  /** How many faults have been injected so far. */
  readonly resets: number;
  /** How many client connections the proxy has accepted so far. */
  readonly connections: number;
  /** Every request forwarded so far, in order. */
  readonly requests: ProxiedRequest[];
  /** Closes the listener and every open connection. */
  stop(): Promise<void>;
  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);

class Cut extends Error {}

/** A buffered reader over a connection. */
class BufReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #eof = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Returns the next byte without consuming it, or `null` at EOF. */
  async peek(): Promise<number | null> {
    if (this.#buf.length === 0 && !(await this.#fill())) return null;
    return this.#buf[0];
  }

  /** Reads through the next `\r\n\r\n`; `null` on a clean EOF before any byte. */
  async head(): Promise<Uint8Array | null> {
    while (true) {
      const i = indexOf(this.#buf, CRLF2);
      if (i >= 0) return this.#take(i + 4);
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw new Error("connection closed inside a message head");
      }
    }
  }

  /** Reads one line including its `\r\n`. */
  async line(): Promise<Uint8Array> {
    while (true) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) return this.#take(i + 1);
      if (!(await this.#fill())) throw new Error("connection closed inside a chunked body");
    }
  }

  /** Passes exactly `n` bytes to `emit`, as they arrive. */
  async exact(n: number, emit: (b: Uint8Array) => Promise<void>): Promise<void> {
    while (n > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) {
        throw new Error("connection closed inside a body");
      }
      const part = this.#take(Math.min(n, this.#buf.length));
      n -= part.length;
      await emit(part);
    }
  }

  /** Passes everything up to EOF to `emit`. */
  async rest(emit: (b: Uint8Array) => Promise<void>): Promise<void> {
    while (true) {
      if (this.#buf.length) await emit(this.#take(this.#buf.length));
      if (!(await this.#fill())) return;
    }
  }
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

interface Head {
  first: string[];
  headers: Headers;
}

function parseHead(bytes: Uint8Array): Head {
  const lines = new TextDecoder().decode(bytes).split("\r\n");
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  return { first: lines[0].split(" "), headers };
}

type BodyKind = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | {
  kind: "eof";
};

function bodyKind(headers: Headers, fallback: "none" | "eof"): BodyKind {
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    return { kind: "chunked" };
  }
  const cl = headers.get("content-length");
  if (cl !== null) return { kind: "length", length: Number(cl) };
  return { kind: fallback };
}

async function forwardBody(
  r: BufReader,
  kind: BodyKind,
  emit: (b: Uint8Array) => Promise<void>,
): Promise<void> {
  switch (kind.kind) {
    case "none":
      return;
    case "length":
      return r.exact(kind.length, emit);
    case "eof":
      return r.rest(emit);
    case "chunked":
      while (true) {
        const line = await r.line();
        await emit(line);
        const size = parseInt(new TextDecoder().decode(line).split(";")[0].trim(), 16);
        if (Number.isNaN(size)) throw new Error("bad chunk size");
        if (size === 0) {
          // Trailers, up to an empty line.
          while (true) {
            const t = await r.line();
            await emit(t);
            if (t.length <= 2) return;
          }
        }
        await r.exact(size + 2, emit);
      }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/**
 * Starts a fault proxy in front of `target` (`127.0.0.1:PORT`). Throws if nothing listens
 * there.
 */
export async function startFaultProxy(
  target: string,
  opts: FaultProxyOptions,
): Promise<FaultProxy> {
  const i = target.lastIndexOf(":");
  const targetHost = target.slice(0, i);
  const targetPort = Number(target.slice(i + 1));
  // Fail fast, with a clear message, if nothing listens at the target.
  try {
    (await Deno.connect({ hostname: targetHost, port: targetPort })).close();
  } catch (e) {
    throw new Error(`Fault proxy target ${target} does not accept connections: ${e}`);
  }
  let faultsLeft = opts.times ?? 1;
  const fault = opts.fault ?? "cut-body";
  const requestSide = ["reset-before-headers", "stall-before-headers", "status", "drop-upload"]
    .includes(fault);
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => markStopped = resolve);
  let resets = 0;
  let connections = 0;
  const requests: ProxiedRequest[] = [];
  const open = new Set<Deno.Conn>();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const host = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;

  async function serve(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: targetHost, port: targetPort });
    } catch {
      closeQuietly(client);
      return;
    }
    open.add(client);
    open.add(upstream);
    const closeBoth = () => {
      closeQuietly(client);
      closeQuietly(upstream);
      open.delete(client);
      open.delete(upstream);
    };
    const pending: { req: ProxiedRequest; matches: boolean }[] = [];
    let endNow!: () => void;
    const ended = new Promise<void>((resolve) => endNow = resolve);
    let wake: (() => void) | undefined;
    let requestsDone = false;
    let raw = false;

    const requestPump = async () => {
      const r = new BufReader(client);
      try {
        while (true) {
          const first = await r.peek();
          if (first === null) break;
          if (first < 0x41 || first > 0x5a) {
            // Not an HTTP request (e.g. a TLS ClientHello from a client probing for HTTPS):
            // relay the bytes untouched, both ways.
            raw = true;
            wake?.();
            await r.rest((b) => writeAll(upstream, b));
            break;
          }
          const headBytes = await r.head();
          if (headBytes === null) break;
          const head = parseHead(headBytes);
          const [method, path] = head.first;
          const req: ProxiedRequest = {
            method,
            path,
            headers: head.headers,
            status: 0,
            faulted: false,
          };
          requests.push(req);
          const matches = (opts.matchPath?.test(path) ?? true) &&
            (opts.matchMethod === undefined || opts.matchMethod === method);
          const kind = bodyKind(head.headers, "none");
          const hasBody = kind.kind === "chunked" || (kind.kind === "length" && kind.length > 0);
          if (
            requestSide && matches && faultsLeft > 0 && (fault !== "drop-upload" || hasBody)
          ) {
            faultsLeft--;
            resets++;
            req.faulted = true;
            if (fault === "status") {
              await forwardBody(r, kind, () => Promise.resolve());
              req.status = opts.status ?? 503;
              const body = new TextEncoder().encode(
                JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "injected fault" }] }),
              );
              const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`)
                .join("");
              await writeAll(
                client,
                new TextEncoder().encode(
                  `HTTP/1.1 ${req.status} Injected\r\ncontent-type: application/json\r\n` +
                    `content-length: ${body.length}\r\n${extra}\r\n`,
                ),
              );
              await writeAll(client, body);
              continue;
            }
            if (fault === "stall-before-headers") await stopped;
            if (fault === "drop-upload") {
              const half = kind.kind === "length" ? Math.floor(kind.length / 2) : 1024;
              await writeAll(upstream, headBytes);
              let budget = half;
              try {
                await forwardBody(r, kind, async (b) => {
                  const part = b.subarray(0, Math.max(0, budget));
                  budget -= part.length;
                  if (part.length) await writeAll(upstream, part);
                  if (budget <= 0) throw new Cut();
                });
              } catch (e) {
                if (!(e instanceof Cut)) throw e;
              }
            }
            endNow();
            return;
          }
          pending.push({ req, matches });
          wake?.();
          await writeAll(upstream, headBytes);
          await forwardBody(r, kind, (b) => writeAll(upstream, b));
        }
      } finally {
        requestsDone = true;
        wake?.();
      }
    };

    const responsePump = async () => {
      const r = new BufReader(upstream);
      while (true) {
        // The server speaks only after the client: wait for a request (or raw bytes).
        while (pending.length === 0 && !requestsDone && !raw) {
          await new Promise<void>((resolve) => wake = resolve);
        }
        if (raw) return await r.rest((b) => writeAll(client, b));
        const headBytes = await r.head();
        if (headBytes === null) return;
        const head = parseHead(headBytes);
        const status = Number(head.first[1]);
        const next = pending[0];
        if (status >= 100 && status < 200) {
          // Interim response (100 Continue): the final one follows for the same request.
          await writeAll(client, headBytes);
          continue;
        }
        pending.shift();
        if (next) next.req.status = status;
        const noBody = next?.req.method === "HEAD" || status === 204 || status === 304;
        const kind = noBody ? { kind: "none" as const } : bodyKind(head.headers, "eof");
        const faulty = !requestSide && next?.matches && faultsLeft > 0 &&
          kind.kind !== "none" && status >= 200 && status < 300;
        if (faulty) {
          faultsLeft--;
          let budget = fault === "cut-body"
            ? opts.resetAfterBytes ?? 0
            : fault === "truncate"
            ? (kind.kind === "length" ? Math.floor(kind.length / 2) : 1024)
            : 0;
          if (kind.kind === "length") budget = Math.min(budget, kind.length - 1);
          await writeAll(client, headBytes);
          if (fault === "stall-after-headers") {
            next!.req.faulted = true;
            resets++;
            await stopped;
            return;
          }
          try {
            await forwardBody(r, kind, async (b) => {
              const part = b.subarray(0, Math.max(0, budget));
              budget -= part.length;
              if (part.length) await writeAll(client, part);
              if (budget <= 0 && b.length > part.length) throw new Cut();
            });
          } catch (e) {
            if (!(e instanceof Cut)) throw e;
          }
          next!.req.faulted = true;
          resets++;
          return; // closeBoth() cuts the client off mid-body
        }
        await writeAll(client, headBytes);
        await forwardBody(r, kind, (b) => writeAll(client, b));
        if (kind.kind === "eof") return;
        if (head.headers.get("connection")?.toLowerCase() === "close") return;
      }
    };

    // Either side ending (or failing) ends the connection pair.
    await Promise.race([
      ended,
      requestPump().catch(() => {}).then(() => {
        // The client is done sending; let an in-flight response finish.
        upstream.closeWrite().catch(() => {});
        return new Promise<void>(() => {});
      }),
      responsePump().catch(() => {}),
    ]);
    closeBoth();
  }

  const serving = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      const p = serve(conn).catch(() => {}).finally(() => serving.delete(p));
      serving.add(p);
    }
  })().catch(() => {});

  const stop = async () => {
    markStopped();
    try {
      listener.close();
    } catch { /* already closed */ }
    for (const c of open) closeQuietly(c);
    open.clear();
    await accepting;
    await Promise.all(serving);
  };

  return {
    host,
    get resets() {
      return resets;
    },
    get connections() {
      return connections;
    },
    requests,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Per-phase timing of one img invocation, for profiling (issue 12: "measure first").
 *
 * Off unless the environment variable `IMG_TRACE=1` is set; then every {@linkcode span} and
 * {@linkcode add} is recorded and a table of phases (calls, total milliseconds, first start
 * relative to the process start) is printed to stderr when the process exits. When off, the
 * calls return at once and record nothing.
 *
 * Across the rootless re-exec, the parent passes {@linkcode traceChildEnv} to the child: the
 * child then writes its phases to a file instead of stderr, and the parent prints one table
 * with the phases of both processes, on the parent's clock.
 *
 * @example
 * ```ts ignore
 * import { add, span, start } from "./trace.ts";
 * using _ = span("state open");
 * const t = start();
 * await file.write(chunk);
 * add("blob write", t);
 * ```
 *
 * @module
 */

/** The environment variable that turns tracing on (`1`). */
export const TRACE_ENV = "IMG_TRACE";
/** The environment variable naming the file a rootless child writes its phases to. */
export const TRACE_FILE_ENV = "IMG_TRACE_FILE";

/** One recorded interval: epoch milliseconds, and how many spans were open when it began. */
export interface TraceRecord {
  /** The phase. */
  name: string;
  /** Start, epoch milliseconds. */
  start: number;
  /** End, epoch milliseconds. */
  end: number;
  /** Spans open when it started (nesting depth). */
  depth: number;
  /** The process: `parent` (the one the user started) or `child` (inside the namespace). */
  proc: string;
  /** A quantity the phase handled (bytes, files), summed in the table; see {@linkcode count}. */
  amount?: number;
}

/** A running span: end it once, or let `using` end it at the end of the scope. */
export interface Span extends Disposable {
  /** Ends the span (again: no effect). */
  end(): void;
}

const NOOP: Span = { end() {}, [Symbol.dispose]() {} };

/** The recorder of one process. */
export class Tracer {
  /** Whether recording is on. */
  readonly enabled: boolean;
  /** The records so far. */
  readonly records: TraceRecord[] = [];
  #open = 0;
  #proc: string;

  /** A tracer, recording only when `enabled`; `proc` labels its records. */
  constructor(enabled: boolean, proc = "parent") {
    this.enabled = enabled;
    this.#proc = proc;
  }

  /** Epoch milliseconds now (0 when off). */
  now(): number {
    return this.enabled ? performance.timeOrigin + performance.now() : 0;
  }

  /** Starts the phase `name`; nested spans are those started before it ends. */
  span(name: string): Span {
    if (!this.enabled) return NOOP;
    const start = this.now();
    const depth = this.#open++;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      this.#open--;
      this.records.push({ name, start, end: this.now(), depth, proc: this.#proc });
    };
    return { end, [Symbol.dispose]: end };
  }

  /** Records the phase `name` from `start` (from {@linkcode Tracer.now}) until now. */
  add(name: string, start: number, end: number = this.now()): void {
    if (!this.enabled) return;
    this.records.push({ name, start, end, depth: this.#open, proc: this.#proc });
  }

  /** Adds `amount` to the counter `name` (a row whose calls and amount sum, with no time). */
  count(name: string, amount: number): void {
    if (!this.enabled) return;
    const now = this.now();
    this.records.push({ name, start: now, end: now, depth: this.#open, proc: this.#proc, amount });
  }
}

/** The phases, aggregated by process and name in order of first start, as table rows. */
export function formatTrace(records: TraceRecord[], origin: number): string {
  const rows = new Map<string, { r: TraceRecord; calls: number; total: number; amount: number }>();
  for (const r of [...records].sort((a, b) => a.start - b.start)) {
    const key = `${r.proc}\0${r.name}`;
    const row = rows.get(key);
    if (row) {
      row.calls++;
      row.total += r.end - r.start;
      row.amount += r.amount ?? 0;
    } else rows.set(key, { r, calls: 1, total: r.end - r.start, amount: r.amount ?? 0 });
  }
  const lines = [
    `${"process".padEnd(7)} ${"phase".padEnd(44)} ${"calls".padStart(6)} ${
      "total ms".padStart(10)
    } ${"first at ms".padStart(12)}`,
  ];
  for (const { r, calls, total, amount } of rows.values()) {
    lines.push(
      `${r.proc.padEnd(7)} ${("  ".repeat(r.depth) + r.name).padEnd(44)} ${
        String(calls).padStart(6)
      } ${total.toFixed(1).padStart(10)} ${(r.start - origin).toFixed(1).padStart(12)}${
        r.amount === undefined ? "" : `  amount ${amount}`
      }`,
    );
  }
  return lines.join("\n");
}

/**
 * The process's start, epoch milliseconds, from `/proc/self/stat` (field 22, in clock ticks
 * since boot) and `/proc/uptime`; 10 ms resolution. Undefined where `/proc` is missing.
 */
export function processStartTime(): number | undefined {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]);
    const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
    const now = performance.timeOrigin + performance.now();
    return now - (uptime - startTicks / 100) * 1000;
  } catch {
    return undefined;
  }
}

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

const childFile = envGet(TRACE_FILE_ENV);
/** This process's tracer. */
export const tracer: Tracer = new Tracer(
  envGet(TRACE_ENV) === "1",
  childFile ? "child" : "parent",
);
const loadedAt = tracer.now();

/** Starts the phase `name` of this process (see {@linkcode Tracer.span}). */
export function span(name: string): Span {
  return tracer.span(name);
}

/** Epoch milliseconds now, when tracing (0 when off): the start for {@linkcode add}. */
export function start(): number {
  return tracer.now();
}

/** Records the phase `name` from `t` (from {@linkcode start}) until now. */
export function add(name: string, t: number): void {
  tracer.add(name, t);
}

/** Adds `amount` to this process's counter `name` (see {@linkcode Tracer.count}). */
export function count(name: string, amount: number): void {
  tracer.count(name, amount);
}

/**
 * The environment a rootless child needs to report its phases to this process (empty when
 * off); this process then merges them into its table.
 */
export function traceChildEnv(): Record<string, string> {
  if (!tracer.enabled) return {};
  return { [TRACE_FILE_ENV]: childTraceFile };
}

const childTraceFile = tracer.enabled && !childFile
  ? `${Deno.env.get("TMPDIR") ?? "/tmp"}/img-trace-${Deno.pid}-${crypto.randomUUID()}.json`
  : "";

/** Records the start-up phases: process start to runtime start, runtime start to `mainAt`. */
export function markStartup(mainAt: number): void {
  if (!tracer.enabled) return;
  const started = processStartTime();
  if (started !== undefined) {
    tracer.add("process start (exec to runtime ready)", started, performance.timeOrigin);
  }
  tracer.add("module load (runtime ready to main)", performance.timeOrigin, mainAt);
}

function report(): void {
  if (childFile) {
    try {
      Deno.writeTextFileSync(childFile, JSON.stringify(tracer.records));
    } catch {
      // The parent then prints its own phases only.
    }
    return;
  }
  let records = tracer.records;
  try {
    records = records.concat(JSON.parse(Deno.readTextFileSync(childTraceFile)));
    Deno.removeSync(childTraceFile);
  } catch {
    // No child ran.
  }
  const origin = processStartTime() ?? performance.timeOrigin;
  const end = tracer.now();
  console.error(
    `img trace (IMG_TRACE=1), ms from process start; total ${(end - origin).toFixed(1)} ms\n` +
      formatTrace(records, origin),
  );
}

if (tracer.enabled) {
  tracer.add("trace module loaded", loadedAt, loadedAt);
  globalThis.addEventListener("unload", report);
}

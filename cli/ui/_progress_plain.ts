/**
 * The state of a build as its progress events describe it (BuildKit's `trace`), Go-compatible
 * number formatting, and BuildKit's plain printer (`progressui/printer.go`). The TTY display in
 * `_progress_tty.ts` renders the same trace.
 *
 * @module
 */
import type { ProgressEvent } from "@img/core";

/** How many of a vertex's last log lines the plain printer keeps for the error summary. */
const LOGS_BUFFER_SIZE = 10;
/** BuildKit's plain-printer scheduling constants (seconds). */
const ANTI_FLICKER = 5;
const MAX_DELAY = 10;
const MIN_TIME_DELTA = 5;
const MIN_PROGRESS_DELTA = 0.05;

/**
 * Formats `x` as Go's `%.<prec>f` does: the exact binary value rounded half to even
 * (JavaScript's `toFixed` rounds exact ties away from zero).
 */
export function goFixed(x: number, prec: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  const fixed = x.toFixed(prec);
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf(".");
  if (!/^50*$/.test(exact.slice(dot + 1 + prec))) return fixed;
  const kept = exact.slice(0, prec === 0 ? dot : dot + 1 + prec);
  const lastDigit = Number(kept[kept.length - 1]);
  if (lastDigit % 2 === 1) return fixed; // toFixed rounded up, which is also the even choice
  return (x < 0 || Object.is(x, -0) ? "-" : "") + kept;
}

/** Go's `time.Duration.Seconds()` of a span in milliseconds (summed as Go sums seconds and nanoseconds). */
export function goSeconds(ms: number): number {
  const ns = Math.round(ms * 1e6);
  const sec = Math.trunc(ns / 1e9);
  return sec + (ns - sec * 1e9) / 1e9;
}

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/** Formats a byte count as BuildKit's `%.2f` of `units.Bytes`: `435B`, `1.05MB`. */
export function formatBytes(bytes: number): string {
  let i = 0;
  let base = 1;
  while (i < DECIMAL_UNITS.length - 1 && bytes >= base * 1000) {
    base *= 1000;
    i++;
  }
  if (i === 0) return `${Math.trunc(bytes)}B`;
  return `${goFixed(bytes / base, 2)}${DECIMAL_UNITS[i]}`;
}

/** The byte progress of a status, as BuildKit shows it: `1.05MB / 2.10MB`, `435B` or nothing. */
export function formatStatusBytes(current: number, total?: number): string {
  if (total) return `${formatBytes(current)} / ${formatBytes(total)}`;
  if (current) return formatBytes(current);
  return "";
}

/** The timestamp BuildKit puts before a log line: seconds since the vertex started. */
function logTimestamp(ms: number): string {
  const sec = goSeconds(ms);
  const prec = sec < 10 ? 3 : sec < 100 ? 2 : 1;
  return goFixed(sec, prec);
}

/** One status of a vertex (a transfer, a sub-task). */
export interface TraceStatus {
  /** The text shown for it, e.g. `sha256:abc...` or `transferring context:`. */
  id: string;
  current: number;
  total?: number;
  started: number;
  completed?: number;
  /** When it was last updated. */
  timestamp: number;
}

/** One warning of a vertex. */
export interface TraceWarning {
  message: string;
  time: number;
}

/** One vertex (a build step) of the trace. */
export interface TraceVertex {
  digest: string;
  /** The `#N` of the plain output: order of first appearance, from 1. */
  index: number;
  name: string;
  started?: number;
  completed?: number;
  cached: boolean;
  error?: string;
  canceled: boolean;
  /** Log lines not yet printed (plain), or every log line (TTY): `0.532 text`. */
  logs: string[];
  logsPartial: boolean;
  logsOffset: number;
  /** The last lines printed (plain), for the error summary. */
  logsBuffer: string[];
  decoder: TextDecoder;
  statuses: TraceStatus[];
  byId: Map<string, TraceStatus>;
  statusUpdates: Set<string>;
  warnings: TraceWarning[];
  warningIdx: number;
  /** Plain scheduling: updates since the vertex was last switched to, and when they began. */
  count: number;
  lastBlockTime?: number;
  /** TTY: the raw output lines (the last of them possibly incomplete). */
  termLines: string[];
  termBytes: number;
}

/** The state of a build, updated by progress events. */
export class Trace {
  /** Vertices by digest, in order of first appearance. */
  readonly byDigest: Map<string, TraceVertex> = new Map();
  /** Started vertices, in the order they started. */
  readonly vertices: TraceVertex[] = [];
  /** Digests of vertices with output not yet printed (plain). */
  readonly updates: Set<string> = new Set();
  /** Every warning, in order, for the summary at the end. */
  readonly warnings: string[] = [];
  /** When the first vertex started. */
  startTime?: number;
  #nextIndex = 0;
  #keepLogs: boolean;
  #now: () => number;

  /** `keepLogs`: keep every log line of a vertex until it succeeds (the TTY display needs them). */
  constructor(keepLogs: boolean, now: () => number) {
    this.#keepLogs = keepLogs;
    this.#now = now;
  }

  #touch(v: TraceVertex, n = 1): void {
    if (v.count === 0) v.lastBlockTime = this.#now();
    v.count += n;
    this.updates.add(v.digest);
  }

  #vertex(digest: string, name: string): TraceVertex {
    let v = this.byDigest.get(digest);
    if (!v) {
      v = {
        digest,
        index: ++this.#nextIndex,
        name,
        cached: false,
        canceled: false,
        logs: [],
        logsPartial: false,
        logsOffset: 0,
        logsBuffer: [],
        decoder: new TextDecoder(),
        statuses: [],
        byId: new Map(),
        statusUpdates: new Set(),
        warnings: [],
        warningIdx: 0,
        count: 0,
        termLines: [],
        termBytes: 0,
      };
      this.byDigest.set(digest, v);
    }
    return v;
  }

  #complete(v: TraceVertex, time: number): void {
    v.started ??= time;
    v.completed = time;
    for (const s of v.statuses) {
      if (s.completed === undefined) {
        s.completed = time;
        s.timestamp = time;
        v.statusUpdates.add(s.id);
      }
    }
    if (this.#keepLogs && !v.error) {
      v.logs = [];
      v.termLines = [];
    }
  }

  /** Applies one event. */
  update(ev: ProgressEvent): void {
    switch (ev.type) {
      case "vertex.started":
      case "vertex.cached":
      case "vertex.done":
      case "vertex.errored": {
        const v = this.#vertex(ev.vertex, ev.name);
        const before = `${v.name}\0${v.started}\0${v.completed}\0${v.cached}\0${v.error}`;
        v.name = ev.name || v.name;
        if (ev.type === "vertex.started") {
          if (v.completed === undefined) v.started ??= ev.time;
        } else if (ev.type === "vertex.cached") {
          v.cached = true;
          this.#complete(v, ev.time);
        } else if (ev.type === "vertex.done") {
          if (ev.started !== undefined && v.started === undefined) v.started = ev.started;
          this.#complete(v, ev.time);
        } else {
          v.error = ev.error;
          v.canceled = ev.error.endsWith("context canceled");
          this.#complete(v, ev.time);
        }
        if (v.started === undefined) return;
        if (!this.vertices.includes(v)) {
          this.vertices.push(v);
          this.startTime ??= v.started;
        }
        const after = `${v.name}\0${v.started}\0${v.completed}\0${v.cached}\0${v.error}`;
        if (before !== after) this.#touch(v);
        return;
      }
      case "status": {
        const v = this.byDigest.get(ev.vertex);
        if (!v) return;
        let s = v.byId.get(ev.id);
        if (!s) {
          s = { id: ev.id, current: 0, started: ev.started ?? ev.time, timestamp: ev.time };
          v.byId.set(ev.id, s);
          v.statuses.push(s);
        }
        s.current = ev.current;
        s.total = ev.total;
        s.timestamp = ev.time;
        if (ev.completed !== undefined) s.completed = ev.completed;
        v.statusUpdates.add(ev.id);
        this.#touch(v);
        return;
      }
      case "log": {
        const v = this.byDigest.get(ev.vertex);
        if (!v) return;
        const text = v.decoder.decode(ev.data, { stream: true });
        if (!text) return;
        v.termBytes += ev.data.length;
        this.#termWrite(v, text);
        const parts = text.split("\n");
        const complete = text.endsWith("\n");
        if (complete) parts.pop();
        const ts = logTimestamp(v.started === undefined ? 0 : ev.time - v.started);
        parts.forEach((part, i) => {
          if (i === 0 && v.logsPartial && v.logs.length) v.logs[v.logs.length - 1] += part;
          else v.logs.push(`${ts} ${part}`);
        });
        v.logsPartial = !complete;
        this.#touch(v);
        return;
      }
      case "warning": {
        this.warnings.push(ev.message);
        const v = ev.vertex === undefined ? undefined : this.byDigest.get(ev.vertex);
        if (!v) return;
        v.warnings.push({ message: ev.message, time: ev.time });
        this.#touch(v);
        return;
      }
    }
  }

  #termWrite(v: TraceVertex, text: string): void {
    if (!this.#keepLogs) return;
    const lines = v.termLines;
    if (!lines.length) lines.push("");
    for (const piece of text.split(/(\r\n|\n|\r)/)) {
      if (piece === "\n" || piece === "\r\n") lines.push("");
      else if (piece === "\r") lines[lines.length - 1] = "";
      else lines[lines.length - 1] += piece;
    }
    // Only the last screenful is ever shown.
    if (lines.length > 64) lines.splice(0, lines.length - 64);
  }

  /** Marks every vertex still running as canceled, as BuildKit does when a build stops. */
  cancelRunning(time: number): void {
    for (const v of this.vertices) {
      if (v.completed !== undefined) continue;
      v.error = "context canceled";
      v.canceled = true;
      this.#complete(v, time);
      this.#touch(v);
    }
  }
}

/** BuildKit's error summary: the output of each failed step between `------` lines. */
export function errorLogs(trace: Trace, tty: boolean): string {
  let out = "";
  for (const v of trace.vertices) {
    if (!v.error || v.canceled) continue;
    out += `------\n > ${v.name}:\n`;
    for (const l of tty ? v.logs : v.logsBuffer) out += `${l}\n`;
    out += "------\n";
  }
  return out;
}

/** buildx's warning summary, printed after the progress: ` 1 warning found:` and a line per warning. */
export function warningSummary(warnings: string[], yellow: (s: string) => string): string {
  if (!warnings.length) return "";
  const n = warnings.length;
  let out = "\n " + yellow(`${n} warning${n === 1 ? "" : "s"} found:\n`);
  for (const w of warnings) out += ` - ${w}\n`;
  return out;
}

interface LastStatus {
  current: number;
  timestamp: number;
}

/** BuildKit's plain printer (`textMux`): one `#N`-prefixed line per event, one vertex at a time. */
export class PlainPrinter {
  #trace: Trace;
  #write: (s: string) => void;
  #now: () => number;
  #current = "";
  #last = new Map<string, LastStatus>();
  #notFirst = false;
  #truncate: boolean;

  /** Prints `trace` through `write`; `now` is the clock used to share output between vertices. */
  constructor(trace: Trace, write: (s: string) => void, now: () => number, truncateNames = false) {
    this.#trace = trace;
    this.#write = write;
    this.#now = now;
    this.#truncate = truncateNames;
  }

  #printVtx(dgst: string): void {
    const t = this.#trace;
    const v = t.byDigest.get(dgst);
    if (!v) return;
    let out = "";
    if (dgst !== this.#current) {
      if (this.#current !== "") {
        const old = t.byDigest.get(this.#current)!;
        if (old.logsPartial) out += "\n";
        old.logsOffset = 0;
        old.count = 0;
        out += `#${old.index} ...\n`;
      }
      if (this.#notFirst) out += "\n";
      else this.#notFirst = true;
      const name = this.#truncate && v.name.length > 72 ? v.name.slice(0, 72) + "..." : v.name;
      out += `#${v.index} ${name}\n`;
    }

    const endPartial = () => {
      // A status or warning after an unfinished log line starts on a line of its own.
      if (v.logsOffset !== 0) {
        out += "\n";
        v.logsOffset = 0;
      }
    };
    let isOpenStatus = false;
    for (const s of v.statuses) {
      if (!v.statusUpdates.has(s.id)) continue;
      const last = this.#last.get(s.id);
      if (last && s.completed === undefined) {
        const progressDelta = s.total ? (s.current - last.current) / s.total : 0;
        const timeDelta = goSeconds(s.timestamp - last.timestamp);
        if (progressDelta < MIN_PROGRESS_DELTA && timeDelta < MIN_TIME_DELTA) continue;
      }
      this.#last.set(s.id, { timestamp: s.timestamp, current: s.current });
      const bytes = formatStatusBytes(s.current, s.total);
      let tm = "";
      const diff = goSeconds((s.completed ?? s.timestamp) - s.started);
      if (diff > 0.01) tm = ` ${goFixed(diff, 1)}s`;
      if (s.completed !== undefined) tm += " done";
      else isOpenStatus = true;
      endPartial();
      out += `#${v.index} ${s.id}${bytes ? " " + bytes : ""}${tm}\n`;
    }
    v.statusUpdates.clear();

    for (const w of v.warnings.slice(v.warningIdx)) {
      endPartial();
      out += `#${v.index} WARN: ${w.message}\n`;
      v.warningIdx++;
    }

    v.logs.forEach((l, i) => {
      if (i === 0 && v.logsOffset !== 0) out += l.slice(v.logsOffset);
      else out += `#${v.index} ${l}`;
      if (i !== v.logs.length - 1 || !v.logsPartial) out += "\n";
      if (i === 0 && v.logsOffset !== 0 && v.logsBuffer.length) {
        v.logsBuffer[v.logsBuffer.length - 1] = l;
      } else v.logsBuffer.push(l);
    });
    if (v.logsBuffer.length > LOGS_BUFFER_SIZE) {
      v.logsBuffer.splice(0, v.logsBuffer.length - LOGS_BUFFER_SIZE);
    }
    if (v.logs.length) {
      if (v.logsPartial) {
        v.logs = v.logs.slice(-1);
        v.logsOffset = v.logs[0].length;
      } else {
        v.logs = [];
        v.logsOffset = 0;
      }
    }

    this.#current = dgst;
    if (v.completed !== undefined && !isOpenStatus) {
      this.#current = "";
      v.count = 0;
      if (v.logsPartial) out += "\n";
      v.logsPartial = false;
      v.logs = [];
      v.logsOffset = 0;
      if (v.error) {
        out += v.canceled ? `#${v.index} CANCELED\n` : `#${v.index} ERROR: ${v.error}\n`;
      } else if (v.cached) {
        out += `#${v.index} CACHED\n`;
      } else {
        out += `#${v.index} DONE ${goFixed(goSeconds(v.completed - v.started!), 1)}s\n`;
      }
    }
    t.updates.delete(dgst);
    if (out) this.#write(out);
  }

  /** Prints what changed since the last call (BuildKit's `textMux.print`). */
  print(): void {
    const t = this.#trace;
    const completed: TraceVertex[] = [];
    const rest: TraceVertex[] = [];
    for (const v of t.byDigest.values()) {
      if (!t.updates.has(v.digest)) continue;
      (v.completed !== undefined ? completed : rest).push(v);
    }
    const current = this.#current;

    // Vertices that have completed are printed first, the current one before the others.
    if (completed.some((v) => v.digest === current)) this.#printVtx(current);
    completed.sort((a, b) => a.completed! - b.completed!);
    for (const v of completed) if (v.digest !== current) this.#printVtx(v.digest);

    if (!rest.length) {
      if (current !== "") {
        const v = t.byDigest.get(current);
        if (v && v.started !== undefined && v.completed === undefined) return;
      }
      // Make any open vertex active.
      for (const v of t.byDigest.values()) {
        if (v.started !== undefined && v.completed === undefined) {
          this.#printVtx(v.digest);
          return;
        }
      }
      return;
    }

    // Now print the active one.
    if (rest.some((v) => v.digest === current)) this.#printVtx(current);

    // Then decide whether another vertex has waited long enough to take over.
    const now = this.#now();
    const stats = new Map<
      string,
      { blockTime: number; speed: number; share: number; overLimit: boolean }
    >();
    let sum = 0;
    let max = "";
    if (current !== "" && !rest.some((v) => v.digest === current)) {
      const cv = t.byDigest.get(current);
      if (cv) rest.push(cv);
    }
    rest.sort((a, b) => a.index - b.index);
    for (const v of rest) {
      const blockTime = goSeconds(now - (v.lastBlockTime ?? now));
      const speed = v.count / blockTime;
      const overLimit = blockTime > MAX_DELAY && v.digest !== current;
      stats.set(v.digest, { blockTime, speed, share: 0, overLimit });
      sum += speed;
      if (overLimit || max === "" || stats.get(max)!.speed < speed) max = v.digest;
    }
    for (const s of stats.values()) s.share = s.speed / sum;

    if (current === "" || completed.some((v) => v.digest === current)) {
      this.#printVtx(max);
      return;
    }
    // Show vertices that were hidden for too long.
    for (const v of rest) {
      if (stats.get(v.digest)!.overLimit) {
        this.#printVtx(v.digest);
        return;
      }
    }
    // Share the output fairly between vertices.
    const cur = stats.get(current);
    if (cur && (1 / (1 - cur.share)) * ANTI_FLICKER < cur.blockTime) this.#printVtx(max);
  }
}

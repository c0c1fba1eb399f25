/**
 * BuildKit's live terminal display (`progressui` in TTY mode): a `[+] Building` header, a line
 * per step with its time right-aligned, the last lines of output of running steps, repainted in
 * place with ANSI cursor movement.
 *
 * @module
 */
import {
  errorLogs,
  formatStatusBytes,
  goFixed,
  goSeconds,
  type Trace,
  type TraceVertex,
  warningSummary,
} from "./_progress_plain.ts";

/** Lines of output shown under a running step. */
const TERM_HEIGHT = 6;
/** Columns the output of a running step gives up to its ` => => # ` prefix. */
const TERM_PAD = 10;
/** The least time between two paints, in milliseconds. */
export const DISPLAY_INTERVAL = 100;

const BLUE = "\x1b[34m";
const RED = "\x1b[31m";
const YELLOW = "\x1b[33m";
const FAINT = "\x1b[2m";
const RESET = "\x1b[0m";

/** The size of the terminal. */
export interface TerminalSize {
  columns: number;
  rows: number;
}

/** What the TTY display needs from its surroundings. */
export interface TtyDisplayOptions {
  write: (s: string) => void;
  now: () => number;
  size: () => TerminalSize;
  color: boolean;
}

interface Job {
  start?: number;
  completed?: number;
  name: string;
  status: string;
  hasError: boolean;
  isCanceled: boolean;
  isWarning: boolean;
  vertex?: TraceVertex;
  showTerm: boolean;
}

/** The rows of a running step's output that fit the display: its last lines, wrapped to `cols`. */
function termRows(v: TraceVertex, cols: number): string[] {
  const lines = v.termLines.slice();
  if (lines.length && lines[lines.length - 1] === "") lines.pop(); // the cursor's empty line
  const rows: string[] = [];
  for (const line of lines.slice(-TERM_HEIGHT)) {
    if (line.length <= cols) rows.push(line);
    else for (let i = 0; i < line.length; i += cols) rows.push(line.slice(i, i + cols));
  }
  return rows.slice(-TERM_HEIGHT).filter((r) => r.trim() !== "");
}

/** The live display of a build on a terminal. */
export class TtyDisplay {
  #trace: Trace;
  #opts: TtyDisplayOptions;
  #lineCount = 0;
  #painted = false;
  #lastPaint = -Infinity;

  /** Renders `trace`. */
  constructor(trace: Trace, options: TtyDisplayOptions) {
    this.#trace = trace;
    this.#opts = options;
  }

  /** Repaints if the last paint is at least {@linkcode DISPLAY_INTERVAL} ms old. */
  refresh(): void {
    if (this.#opts.now() - this.#lastPaint >= DISPLAY_INTERVAL) this.paint(false);
  }

  /** The final paint: every step, then the output of failed steps and the warnings. */
  finish(): void {
    this.paint(true);
    const color = this.#opts.color;
    const out = errorLogs(this.#trace, true) +
      warningSummary(this.#trace.warnings, (s) => color ? YELLOW + s + RESET : s);
    if (out) this.#opts.write(out);
  }

  #jobs(): Job[] {
    const jobs: Job[] = [];
    for (const v of this.#trace.vertices) {
      let name = v.name.replaceAll("\t", " ");
      const job: Job = {
        start: v.started,
        completed: v.completed,
        name,
        status: "",
        hasError: false,
        isCanceled: false,
        isWarning: false,
        vertex: v,
        showTerm: false,
      };
      if (v.error) {
        if (v.canceled) {
          job.isCanceled = true;
          name = "CANCELED " + name;
        } else {
          job.hasError = true;
          name = "ERROR " + name;
        }
      }
      if (v.cached) name = "CACHED " + name;
      job.name = name;
      jobs.push(job);
      for (const s of v.statuses) {
        jobs.push({
          start: s.started,
          completed: s.completed,
          name: "=> " + s.id,
          status: formatStatusBytes(s.current, s.total),
          hasError: false,
          isCanceled: false,
          isWarning: false,
          showTerm: false,
        });
      }
      for (const w of v.warnings) {
        jobs.push({
          start: w.time,
          completed: w.time,
          name: "WARN: " + w.message,
          status: "",
          hasError: false,
          isCanceled: false,
          isWarning: true,
          showTerm: false,
        });
      }
    }
    return jobs;
  }

  /** Paints one frame; `all` paints every step, not just the ones that fit the terminal. */
  paint(all: boolean): void {
    const { columns: width, rows: height } = this.#opts.size();
    const now = this.#opts.now();
    this.#lastPaint = now;
    const color = this.#opts.color;
    const trace = this.#trace;
    let jobs = this.#jobs();

    // Show the output of the running steps that write the most, while it fits.
    const termCols = Math.max(1, width - TERM_PAD);
    const candidates = jobs.filter((j) =>
      j.vertex && j.vertex.termBytes > 0 && j.completed === undefined
    );
    const numInUse = jobs.filter((j) => j.completed === undefined).length;
    candidates.sort((a, b) => b.vertex!.termBytes - a.vertex!.termBytes);
    let numFree = height - 2 - numInUse;
    let numToHide = 0;
    const termRowsOf = new Map<Job, string[]>();
    for (const c of candidates) {
      if (numFree <= TERM_HEIGHT + 3) break;
      c.showTerm = true;
      const rows = termRows(c.vertex!, termCols);
      termRowsOf.set(c, rows);
      numToHide += rows.length;
      numFree -= TERM_HEIGHT + 3;
    }
    if (!all) {
      const limit = Math.max(0, height - 2 - numToHide);
      if (jobs.length > limit) jobs = jobs.slice(jobs.length - limit);
    }

    let completed = 0;
    for (const v of trace.byDigest.values()) if (v.completed !== undefined) completed++;
    const total = trace.byDigest.size;
    const finished = all && completed > 0 && completed === total;
    const elapsed = goSeconds(now - (trace.startTime ?? now));
    const lines = [
      `[+] Building ${goFixed(elapsed, 1)}s (${completed}/${total})${finished ? " FINISHED" : ""}`
        .slice(0, Math.max(1, width - 1)),
    ];

    for (const j of jobs) {
      if (j.start === undefined) continue;
      let dt = goSeconds((j.completed ?? now) - j.start);
      if (dt < 0.05) dt = 0;
      const timer = ` ${goFixed(dt, 1).padStart(3)}s`;
      let left = width - 4 - (timer.length + 1) - 1;
      let showStatus = false;
      if (j.status && left + j.status.length > 20) {
        showStatus = true;
        left -= j.status.length + 1;
      }
      if (left < 12) continue; // too small a terminal to show progress
      let out = " => " + j.name.slice(0, left);
      if (showStatus) out += " " + j.status;
      out = out.padEnd(width - timer.length - 2) + " " + timer;
      if (color && j.completed !== undefined) {
        const c = j.isCanceled || j.isWarning ? YELLOW : j.hasError ? RED : BLUE;
        out = c + out + RESET;
      }
      lines.push(out);
      for (const row of termRowsOf.get(j) ?? []) {
        const l = ` => => # ${row}`;
        lines.push(color ? FAINT + l + RESET : l);
      }
    }

    let s = "\x1b[?25l";
    if (this.#painted && this.#lineCount > 0) s += `\x1b[${this.#lineCount}A`;
    for (const l of lines) s += `\x1b[2K${l}\n`;
    if (this.#lineCount > lines.length) s += "\x1b[J";
    s += "\x1b[?25h";
    this.#painted = true;
    this.#lineCount = lines.length;
    this.#opts.write(s);
  }
}

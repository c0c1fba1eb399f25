/**
 * The progress of a build, shown as BuildKit shows it: a live display on a terminal
 * (`[+] Building 4.2s (9/9) FINISHED`, a line per step), or BuildKit's plain format
 * (`#5 [build 2/3] RUN make`, `#5 0.532 output`, `#5 DONE 1.2s`) otherwise.
 *
 * ```ts ignore
 * const display = createProgressDisplay({ mode: noConsole ? "plain" : "auto" });
 * const stop = progress.listen(display.listener);
 * try {
 *   await solver.solve(graph, { progress });
 *   display.done("FINISHED");
 * } catch (e) {
 *   display.done("ERROR");
 *   throw e;
 * } finally {
 *   stop();
 * }
 * ```
 *
 * @module
 */
import type { ProgressEvent, ProgressListener } from "@img/core";
import { ImgError } from "@img/core/errors";
import { errorLogs, PlainPrinter, Trace, warningSummary } from "./_progress_plain.ts";
import { TtyDisplay } from "./_progress_tty.ts";

/**
 * How progress is shown: `tty` live, `plain` line by line, `auto` picks `tty` when stderr is
 * a terminal, `quiet` nothing, `rawjson` one JSON object per progress event (a line each).
 */
export type ProgressMode = "auto" | "tty" | "plain" | "quiet" | "rawjson";

/** How a build ended. */
export type BuildResult = "FINISHED" | "ERROR" | "CANCELED";

/** Options for {@linkcode createProgressDisplay}. */
export interface ProgressDisplayOptions {
  /** `auto` (the default) is `tty` when {@linkcode ProgressDisplayOptions.isTerminal} holds, else `plain`. */
  mode?: ProgressMode;
  /** Where the output goes; defaults to stderr. */
  out?: (s: string) => void;
  /** Whether the output is a terminal; defaults to `Deno.stderr.isTerminal()`. */
  isTerminal?: boolean;
  /** Terminal width for the TTY display; defaults to the terminal's, else 80. */
  columns?: number;
  /** Terminal height for the TTY display; defaults to the terminal's, else 24. */
  rows?: number;
  /** The clock, in milliseconds (the same clock as the events' `time`); defaults to `Date.now`. */
  now?: () => number;
  /** Colors in the TTY display; defaults to on unless `NO_COLOR` is set. */
  color?: boolean;
  /**
   * Refresh on a timer between events (default `true`), for the clocks of running steps. A
   * display of steps already finished needs none, and the first timer of a process costs
   * about 10 ms (Deno loads its Node-compatible timers then).
   */
  ticker?: boolean;
}

/** A progress display: feed it events through `listener`, then call `done` once. */
export interface ProgressDisplay {
  /** The mode in use, `auto` resolved. */
  readonly mode: "tty" | "plain" | "quiet" | "rawjson";
  /** Takes progress events; pass it to `ProgressWriter.listen`. */
  readonly listener: ProgressListener;
  /**
   * Ends the display: steps still running are shown as canceled (unless `result` is
   * `FINISHED`), the TTY display paints its final frame, the output of failed steps and the
   * warnings follow. Later events are ignored.
   */
  done(result: BuildResult): void;
}

/** How often the display looks for work when no event arrives, in milliseconds. */
const TICK_INTERVAL = 150;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function stderrWriter(s: string): void {
  const data = new TextEncoder().encode(s);
  let off = 0;
  while (off < data.length) off += Deno.stderr.writeSync(data.subarray(off));
}

function consoleSize(): { columns: number; rows: number } | undefined {
  try {
    return Deno.consoleSize();
  } catch {
    return undefined;
  }
}

/**
 * Parses a `--progress` value as buildx takes it (`auto`, `plain`, `tty`, `quiet`,
 * `rawjson`); `--no-console` means `plain`.
 */
export function parseProgressMode(value: string | undefined, noConsole = false): ProgressMode {
  if (noConsole) return "plain";
  if (value === undefined || value === "") return "auto";
  if (["auto", "plain", "tty", "quiet", "rawjson"].includes(value)) return value as ProgressMode;
  throw new ImgError(`Invalid progress mode "${value}": use auto, plain, tty, quiet or rawjson`);
}

/** Creates a progress display for one build. */
export function createProgressDisplay(options: ProgressDisplayOptions = {}): ProgressDisplay {
  const write = options.out ?? stderrWriter;
  const now = options.now ?? Date.now;
  let mode = options.mode ?? "auto";
  if (mode === "auto") {
    const tty = options.isTerminal ?? (() => {
      try {
        return Deno.stderr.isTerminal();
      } catch {
        return false;
      }
    })();
    mode = tty ? "tty" : "plain";
  }
  if (mode === "quiet" || mode === "rawjson") return streamDisplay(mode, write);
  const tty = mode === "tty";
  const trace = new Trace(tty, now);
  const color = options.color ?? !env("NO_COLOR");

  let refresh: () => void;
  let finish: () => void;
  if (tty) {
    const display = new TtyDisplay(trace, {
      write,
      now,
      color,
      size: () => {
        const size = options.columns && options.rows ? undefined : consoleSize();
        return {
          columns: options.columns ?? (size?.columns || 80),
          rows: options.rows ?? (size?.rows || 24),
        };
      },
    });
    refresh = () => display.refresh();
    finish = () => display.finish();
  } else {
    const printer = new PlainPrinter(trace, write, now, env("PROGRESS_NO_TRUNC") === "0");
    refresh = () => printer.print();
    finish = () => {
      printer.print();
      // Plain output is for logs and pipes: no colors.
      const out = errorLogs(trace, false) + warningSummary(trace.warnings, (s) => s);
      if (out) write(out);
    };
  }

  let ticker: ReturnType<typeof setInterval> | undefined;
  let ended = false;
  const listener: ProgressListener = (event: ProgressEvent) => {
    if (ended) return;
    trace.update(event);
    if (ticker === undefined && options.ticker !== false) {
      const t = setInterval(refresh, TICK_INTERVAL);
      Deno.unrefTimer(t);
      ticker = t;
    }
    refresh();
  };
  return {
    mode,
    listener,
    done(result: BuildResult): void {
      if (ended) return;
      ended = true;
      if (ticker !== undefined) clearInterval(ticker);
      if (result !== "FINISHED") trace.cancelRunning(now());
      finish();
    },
  };
}

/** `quiet` (no output) and `rawjson` (each event as one line of JSON) displays. */
function streamDisplay(mode: "quiet" | "rawjson", write: (s: string) => void): ProgressDisplay {
  let ended = false;
  return {
    mode,
    listener: (event: ProgressEvent) => {
      if (!ended && mode === "rawjson") write(JSON.stringify(event) + "\n");
    },
    done(): void {
      ended = true;
    },
  };
}

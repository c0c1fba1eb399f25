/**
 * Reading a build's plain progress output (`img build --no-console`): which steps ran and
 * which came from the cache.
 *
 * @module
 */
import { ok } from "node:assert/strict";

/** The status of each build step in plain progress output: step name -> CACHED or DONE. */
export function stepStatus(stderr: string): Map<string, string> {
  const names = new Map<string, string>();
  const out = new Map<string, string>();
  for (const line of stderr.split("\n")) {
    const named = line.match(/^#(\d+) (\[[^\]]*\d+\/\d+\] .*)$/);
    if (named && !names.has(named[1])) {
      names.set(named[1], named[2]);
      continue;
    }
    const status = line.match(/^#(\d+) (CACHED|DONE|ERROR)/);
    if (status && names.has(status[1])) out.set(names.get(status[1])!, status[2]);
  }
  // FROM lines are the base image, not a cached step.
  for (const k of [...out.keys()]) if (/\] FROM /.test(k)) out.delete(k);
  return out;
}

/**
 * Asserts that no step ran: every step printed is CACHED (the solver stops at the first cached
 * step on each path, so a build whose last step is cached prints only that one).
 */
export function allCached(stderr: string): void {
  const steps = stepStatus(stderr);
  ok(steps.size >= 1, stderr);
  ok([...steps.values()].every((s) => s === "CACHED"), stderr);
  ok(!/^#\d+ \[[^\]]*\d+\/\d+\] RUN [^\n]*\n#\d+ DONE/m.test(stderr), stderr);
}

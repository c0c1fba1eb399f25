/**
 * Helpers the benchmarks share: timing a command, probing for a tool, writing a build
 * context, and the median of the runs.
 *
 * @module
 */

import { asTestUser, isRoot } from "../tests/_util/user.ts";

const decoder = new TextDecoder();

/** What one timed command took, and what it printed (stdout then stderr). */
export interface Run {
  /** Wall-clock seconds. */
  seconds: number;
  /** Standard output followed by standard error. */
  output: string;
}

/** Runs `cmd` (stdin closed) and times it; throws with the end of its output if it fails. */
export async function timed(cmd: string[], env?: Record<string, string>): Promise<Run> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const output = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${output.slice(-3000)}`);
  return { seconds, output };
}

/** The line `_timer.ts` ends its output with. */
const TIMER_LINE = /^bench-timer: ([0-9.]+) s\n?/m;

/**
 * Runs `cmd` as the unprivileged test user (through `runuser` when this is root) and times it
 * from inside that user's session with `_timer.ts`: the time a user who typed the command
 * waits, without runuser's own start. Throws as {@linkcode timed} does.
 */
export async function timedAsTestUser(cmd: string[]): Promise<Run> {
  if (!isRoot()) return await timed(cmd);
  const timer = new URL("./_timer.ts", import.meta.url).pathname;
  const run = await timed(asTestUser([Deno.execPath(), "run", "-A", "--quiet", timer, ...cmd]));
  const m = run.output.match(TIMER_LINE);
  if (!m) {
    throw new Error(`${cmd.join(" ")}: the timer printed no time:\n${run.output.slice(-3000)}`);
  }
  return { seconds: Number(m[1]), output: run.output.replace(TIMER_LINE, "") };
}

/** Whether `cmd` runs and succeeds (e.g. `["buildah", "--version"]`). */
export async function available(cmd: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

/** The median of `xs` (the upper one of an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Writes `files` (name -> text) into `dir`, creating it. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, content);
  }
}

/**
 * The `buildah bud` command line both benches run: layers cached, host network, runc (crun
 * refuses this host's hybrid cgroup hierarchy), rootless isolation when not root.
 */
export function buildahBud(
  global: string[],
  dir: string,
  tag: string,
  options: {
    base: string;
    noCache?: boolean;
    /** `--platform a,b`; with it the result is a manifest list named `tag` (`--manifest`). */
    platforms?: string[];
  },
): string[] {
  return [
    "buildah",
    ...global,
    "bud",
    "--layers",
    "--runtime",
    "runc",
    "--tls-verify=false",
    "--network",
    "host",
    "--isolation",
    Deno.uid() === 0 ? "oci" : "rootless",
    ...(options.noCache ? ["--no-cache"] : []),
    "--build-arg",
    `BASE=${options.base}`,
    ...(options.platforms
      ? ["--platform", options.platforms.join(","), "--manifest", tag]
      : ["-t", tag]),
    dir,
  ];
}

/**
 * Helpers the benchmarks share: timing a command, probing for a tool, writing a build
 * context, and the median of the runs.
 *
 * @module
 */

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

/**
 * Runs the img CLI from this checkout as a subprocess, the way a user runs it.
 *
 * @module
 */

/** The CLI entry point. */
export const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;
/** The repository root (where deno.json is). */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** What an img run printed and returned. */
export interface ImgResult {
  /** The exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options for {@linkcode img}. */
export interface ImgOptions {
  /** The state directory (`--state`). */
  state?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Text fed to standard input. */
  stdin?: string | Uint8Array;
  /** The working directory. */
  cwd?: string;
}

/** The command line that runs img with `args`. */
export function imgCommand(args: string[], state?: string): string[] {
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    `--config=${ROOT}deno.json`,
    MAIN,
    ...(state ? ["--state", state] : []),
    ...args,
  ];
}

/** Spawns img with `args` and returns the child, for tests that need to signal it. */
export function spawnImg(args: string[], options: ImgOptions = {}): Deno.ChildProcess {
  const [cmd, ...rest] = imgCommand(args, options.state);
  return new Deno.Command(cmd, {
    args: rest,
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs img with `args` and returns what it printed and its exit code. */
export async function img(args: string[], options: ImgOptions = {}): Promise<ImgResult> {
  const child = spawnImg(args, options);
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs img and throws, with its output, unless it exits 0. */
export async function imgOk(args: string[], options: ImgOptions = {}): Promise<ImgResult> {
  const r = await img(args, options);
  if (r.code !== 0) {
    throw new Error(
      `img ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return r;
}

/** Runs a command and returns its stdout, throwing with stderr if it fails. */
export async function run(
  cmd: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<string> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd.join(" ")} exited ${out.code}: ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/**
 * Removes a tree that img unpacked or built. As a non-root user its files may belong to
 * subordinate ids, so the removal runs inside a user namespace with the same mapping.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (Deno.uid() === 0) throw e;
  }
  await run(["unshare", "--user", "--map-auto", "--map-root-user", "--", "rm", "-rf", dir]);
}

/**
 * The id outside the user namespace that `id` inside it maps to: the same as root, else
 * from the user's first subordinate range (inside 0 is the user, 1.. the range).
 */
export async function outsideId(
  id: number,
  file: "/etc/subuid" | "/etc/subgid" = "/etc/subuid",
): Promise<number> {
  if (Deno.uid() === 0) return id;
  if (id === 0) return (file === "/etc/subuid" ? Deno.uid() : Deno.gid()) ?? 0;
  const user = (await run(["id", "-un"])).trim();
  const line = (await Deno.readTextFile(file)).split("\n")
    .map((l) => l.split(":"))
    .find(([name]) => name === user || name === String(Deno.uid()));
  if (!line) throw new Error(`No ${file} range for ${user}`);
  return Number(line[1]) + id - 1;
}

/** The image digest of `img build` (its `Successfully built sha256:...` line), asserting it is there. */
export function builtDigest(stdout: string): string {
  const m = stdout.match(/^Successfully built (sha256:[a-f0-9]{64})$/m);
  if (!m) throw new Error(`No "Successfully built" line in:\n${stdout}`);
  return m[1];
}

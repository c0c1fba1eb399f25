/**
 * A Docker engine of the bench's own, for BuildKit as a peer: Debian's `docker.io` (BuildKit
 * built in) started as root with `dockerd --iptables=false --bridge=none`, its own data root,
 * exec root and socket, stopped and removed when disposed. Builds use `--network host`.
 *
 * @module
 */
import { available, type Run, timed } from "./_util.ts";

/** Debian's docker.io client (a newer client elsewhere on PATH would need buildx). */
export const DOCKER = "/usr/bin/docker";
/** Debian's docker.io engine. */
export const DOCKERD = "/usr/sbin/dockerd";

/** A Docker engine of its own (data root, exec root, socket), as the issue prescribes. */
export class Engine implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #dir: string;
  /** Its socket, as `DOCKER_HOST` takes it (`unix:///...`). */
  readonly host: string;

  private constructor(child: Deno.ChildProcess, dir: string, host: string) {
    this.#child = child;
    this.#dir = dir;
    this.host = host;
  }

  /** Whether an engine can be started here: root, with Debian's `docker.io` installed. */
  static async available(): Promise<boolean> {
    return Deno.uid() === 0 && await available([DOCKERD, "--version"]) &&
      await available([DOCKER, "--version"]);
  }

  /** Starts `dockerd` with an empty data root and waits until it answers. */
  static async start(): Promise<Engine> {
    const dir = await Deno.makeTempDir({ prefix: "img-bench-docker-" });
    const host = `unix://${dir}/docker.sock`;
    const child = new Deno.Command(DOCKERD, {
      args: [
        "--iptables=false",
        "--bridge=none",
        `--data-root=${dir}/data`,
        `--exec-root=${dir}/exec`,
        `--pidfile=${dir}/docker.pid`,
        `--host=${host}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const engine = new Engine(child, dir, host);
    for (let i = 0; i < 300; i++) {
      if (await available([DOCKER, "-H", host, "version"])) return engine;
      await new Promise((r) => setTimeout(r, 100));
    }
    await engine[Symbol.asyncDispose]();
    throw new Error(`dockerd did not answer on ${host} within 30 s`);
  }

  /** `docker build` in this engine (BuildKit, plain progress, the host's network). */
  build(dir: string, args: string[]): Promise<Run> {
    return timed([
      DOCKER,
      "-H",
      this.host,
      "build",
      "--progress=plain",
      "--network",
      "host",
      ...args,
      dir,
    ], { ...Deno.env.toObject(), DOCKER_BUILDKIT: "1" });
  }

  /** `docker ARGS` against this engine. */
  docker(args: string[]): Promise<Run> {
    return timed([DOCKER, "-H", this.host, ...args]);
  }

  /** Stops the engine and removes its data root. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    const stopped = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    if (!stopped) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
      await this.#child.status;
    }
    // The engine's managed containerd can outlive it for a moment; its mounts are gone by now.
    await new Deno.Command("umount", { args: ["-R", "-l", this.#dir], stderr: "null" }).output()
      .catch(() => {});
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

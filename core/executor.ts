/**
 * The executor seam: runs a process in a root filesystem (a RUN step).
 *
 * @module
 */
import type { Mount } from "./snapshotter.ts";
import type { ExtraHost, Ulimit } from "./build_graph.ts";

/** The process to run. */
export interface ProcessSpec {
  /** The command and its arguments. */
  args: string[];
  /** Environment as `KEY=value` entries. */
  env: string[];
  /** The working directory inside the root filesystem. */
  cwd: string;
  /** The numeric user and group to run as. */
  uid: number;
  /** The primary group. */
  gid: number;
  /** Supplementary groups. */
  additionalGids?: number[];
  /**
   * The `USER` as written (`name`, `uid`, `name:group`, `uid:gid`). When set, the executor
   * resolves it through the root filesystem's `/etc/passwd` and `/etc/group` (which only it
   * has mounted) and it replaces `uid`, `gid` and `additionalGids`.
   */
  user?: string;
  /**
   * The network mode: `default` (BuildKit's sandbox: a network namespace of the step's own
   * that reaches out), `none` (an empty one) or `host` (the host's).
   */
  network: "default" | "host" | "none";
  /** `insecure`: every capability, no masked or read-only paths. */
  security?: "sandbox" | "insecure";
  /** Extra `/etc/hosts` entries; the address `host-gateway` names the host. */
  extraHosts?: ExtraHost[];
  /** The size of `/dev/shm` in bytes (default 64 MiB). */
  shmSize?: number;
  /** Resource limits, replacing the defaults of the same name. */
  ulimits?: Ulimit[];
  /** Allocate a terminal. */
  tty?: boolean;
}

/** A mount inside the container besides the root filesystem. */
export interface ExecutorMount {
  /** Where it appears inside the container. */
  target: string;
  /** How to mount it. */
  mounts: Mount[];
  /** Mount it read-only. */
  readonly?: boolean;
}

/** Where the process's standard streams go. */
export interface ExecutorStdio {
  /** Input, if any. */
  stdin?: ReadableStream<Uint8Array>;
  /** Called with each chunk of standard output. */
  stdout?: (chunk: Uint8Array) => void;
  /** Called with each chunk of standard error. */
  stderr?: (chunk: Uint8Array) => void;
}

/**
 * Runs processes in root filesystems.
 *
 * @example An executor that records the processes
 * An executor that records what it is asked to run instead of running it (a real one, like
 * img's `oci` executor, mounts `rootfs` and the `mounts` and starts the process in new
 * namespaces). It returns the exit code; output goes through `stdio`.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { API_VERSION, type Executor, type ExecutorPlugin, type ProcessSpec } from "@img/core";
 *
 * const ran: ProcessSpec[] = [];
 * const executor: Executor = {
 *   run(rootfs, process, _mounts, stdio) {
 *     ran.push(process);
 *     stdio.stdout?.(new TextEncoder().encode(`${rootfs[0].source}: ${process.args.join(" ")}\n`));
 *     return Promise.resolve(0);
 *   },
 * };
 * const plugin = {
 *   kind: "executor",
 *   name: "record",
 *   version: "1.0.0",
 *   apiVersion: API_VERSION,
 *   create: () => executor,
 * } satisfies ExecutorPlugin;
 *
 * let out = "";
 * const code = await plugin.create().run(
 *   [{ type: "bind", source: "/tmp/rootfs", options: ["rbind"] }],
 *   { args: ["echo", "hi"], env: ["PATH=/bin"], cwd: "/", uid: 0, gid: 0, network: "none" },
 *   [],
 *   { stdout: (chunk) => out += new TextDecoder().decode(chunk) },
 * );
 * assert.equal(code, 0);
 * assert.equal(out, "/tmp/rootfs: echo hi\n");
 * assert.deepEqual(ran[0].args, ["echo", "hi"]);
 * ```
 */
export interface Executor {
  /** Runs `process` in `rootfs` with extra `mounts` and returns its exit code. */
  run(
    rootfs: Mount[],
    process: ProcessSpec,
    mounts: ExecutorMount[],
    stdio: ExecutorStdio,
    signal?: AbortSignal,
  ): Promise<number>;
}

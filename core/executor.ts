/**
 * The executor seam: runs a process in a root filesystem (a RUN step).
 *
 * @module
 */
import type { Mount } from "./snapshotter.ts";

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
  /** The network mode: the host's, or an empty network namespace. */
  network: "host" | "none";
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

/** Runs processes in root filesystems. */
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

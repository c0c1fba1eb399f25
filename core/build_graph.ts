/**
 * The build graph: a DAG of content-addressed operations, like BuildKit's LLB. A frontend
 * produces it; the solver executes it.
 *
 * @module
 */
import { type Digest, sha256 } from "./digest.ts";
import type { Platform } from "./platform.ts";

/** A mount of an exec op. */
export type ExecMount =
  | { type: "bind"; target: string; input?: number; source?: string; readonly?: boolean }
  | {
    type: "cache";
    target: string;
    id: string;
    sharing?: "shared" | "private" | "locked";
    /** The input whose `source` seeds a new cache directory (`from=`). */
    input?: number;
    source?: string;
    readonly?: boolean;
    mode?: number;
    uid?: number;
    gid?: number;
  }
  | { type: "tmpfs"; target: string; size?: number }
  | {
    type: "secret";
    /** Where the file appears; none when the secret is only an environment variable. */
    target?: string;
    id: string;
    /** The environment variable the secret's value is exposed as (`env=`). */
    env?: string;
    required?: boolean;
    mode?: number;
    uid?: number;
    gid?: number;
  }
  | {
    type: "ssh";
    target: string;
    id: string;
    required?: boolean;
    mode?: number;
    uid?: number;
    gid?: number;
  };

/** A source op: an image, the local context, a URL or a git repository. */
export interface SourceOp {
  /** The op type. */
  type: "source";
  /** `docker-image://ref`, `local://context`, `https://...`, `git://...`. */
  identifier: string;
  /** Source-specific attributes (platform, include patterns, checksums, ...). */
  attrs?: Record<string, string>;
}

/** An exec op: a RUN step. */
export interface ExecOp {
  /** The op type. */
  type: "exec";
  /** The command and its arguments. */
  args: string[];
  /** Environment as `KEY=value` entries. */
  env: string[];
  /** The working directory. */
  cwd: string;
  /** The user (`name`, `uid`, `uid:gid`). */
  user?: string;
  /**
   * The network mode: unset is BuildKit's sandbox (`default`: a network namespace of the
   * step's own that reaches out), `none` an empty one, `host` the host's.
   */
  network?: "host" | "none";
  /** `insecure`: every capability, no masked or read-only paths (`--allow security.insecure`). */
  security?: "insecure";
  /**
   * `/etc/hosts` entries (`--add-host`). Part of the op, as in BuildKit's `Meta.ExtraHosts`;
   * the cache key leaves their addresses out, as BuildKit's exec op `CacheMap` does.
   */
  extraHosts?: ExtraHost[];
  /** The size of the step's `/dev/shm` in bytes (`--shm-size`; default 64 MiB). */
  shmSize?: number;
  /** Resource limits (`--ulimit`), as BuildKit's `Meta.Ulimit`. */
  ulimits?: Ulimit[];
  /** Extra mounts; the root filesystem is input 0. */
  mounts: ExecMount[];
}

/** An `/etc/hosts` entry of a step (`--add-host host:ip`). */
export interface ExtraHost {
  /** The host name. */
  host: string;
  /** Its address, or `host-gateway` for the host as the step reaches it. */
  ip: string;
}

/** A resource limit of a step (`--ulimit name=soft:hard`). */
export interface Ulimit {
  /** docker's name: `nofile`, `nproc`, `core`, ... */
  name: string;
  /** The soft limit (-1: unlimited). */
  soft: number;
  /** The hard limit (-1: unlimited). */
  hard: number;
}

/** One action of a file op. */
export type FileAction =
  | {
    action: "copy";
    /** Index of the input holding the source (or -1 for the op's own output). */
    input: number;
    src: string[];
    dest: string;
    chown?: string;
    chmod?: string;
    /** Follow symlinks, allow wildcards, create the destination path, unpack archives. */
    options?: {
      followSymlinks?: boolean;
      allowWildcard?: boolean;
      createDestPath?: boolean;
      unpack?: boolean;
      exclude?: string[];
      /** COPY `--parents`: each match keeps its path (below a `/./` pivot in the source, if
       * any) under the destination directory. */
      parents?: boolean;
      /** A wildcard source that matches nothing copies nothing instead of failing (BuildKit's
       * Dockerfile frontend sets it for COPY and ADD). */
      allowEmptyWildcard?: boolean;
    };
  }
  | { action: "mkdir"; path: string; mode: number; parents?: boolean; chown?: string }
  | { action: "mkfile"; path: string; mode: number; data: string; chown?: string }
  | { action: "rm"; path: string; allowNotFound?: boolean; allowWildcard?: boolean };

/** A file op: COPY, ADD, WORKDIR creation and the like, applied onto input 0. */
export interface FileOp {
  /** The op type. */
  type: "file";
  /** The actions, applied in order. */
  actions: FileAction[];
}

/** A merge op: layers stacked in order. */
export interface MergeOp {
  /** The op type. */
  type: "merge";
}

/** A diff op: the changes between input 0 and input 1. */
export interface DiffOp {
  /** The op type. */
  type: "diff";
}

/** Any op of the build graph. */
export type Op = SourceOp | ExecOp | FileOp | MergeOp | DiffOp;

/** A vertex of the build graph: an op with its inputs. */
export interface Vertex {
  /** The digest of the op's canonical definition and its inputs' digests. */
  digest: Digest;
  /** The op. */
  op: Op;
  /** The vertices whose outputs are this op's inputs, by digest. */
  inputs: Digest[];
  /** The name shown in progress (`[build 2/3] RUN make`). */
  name: string;
  /** The platform the op runs for. */
  platform?: Platform;
  /** Do not use the cache for this vertex. */
  ignoreCache?: boolean;
  /** Where the vertex comes from, prefixed to its errors (`Dockerfile:3`). */
  location?: string;
}

/** A build graph: its vertices and the vertex whose output is the result. */
export interface BuildGraph {
  /** Every vertex, keyed by digest. */
  vertices: Map<Digest, Vertex>;
  /** The digest of the result vertex. */
  root: Digest;
}

/** Serializes a value as JSON with object keys sorted, so equal values give equal text. */
export function canonicalJSON(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]));
    }
    return v;
  });
}

/** The digest of a vertex: its op, its inputs' digests and its platform, canonically encoded. */
export function vertexDigest(op: Op, inputs: readonly Digest[], platform?: Platform): Digest {
  return sha256(canonicalJSON({ op, inputs, platform: platform ?? null }));
}

/** Builds graphs vertex by vertex, deduplicating equal vertices. */
export class GraphBuilder {
  /** The vertices added so far. */
  readonly vertices: Map<Digest, Vertex> = new Map();

  /** Adds a vertex (or finds the equal one) and returns its digest. */
  add(
    op: Op,
    inputs: Digest[],
    name: string,
    options: { platform?: Platform; ignoreCache?: boolean; location?: string } = {},
  ): Digest {
    const digest = vertexDigest(op, inputs, options.platform);
    const existing = this.vertices.get(digest);
    if (existing) {
      // The same op under two names (two stages copying the same files) runs once.
      if (options.ignoreCache) existing.ignoreCache = true;
      return digest;
    }
    this.vertices.set(digest, { digest, op, inputs, name, ...options });
    return digest;
  }

  /** The graph whose result is `root`, with only the vertices it needs. */
  build(root: Digest): BuildGraph {
    const needed = new Map<Digest, Vertex>();
    const visit = (d: Digest) => {
      if (needed.has(d)) return;
      const v = this.vertices.get(d);
      if (!v) throw new Error(`Unknown vertex ${d}`);
      needed.set(d, v);
      v.inputs.forEach(visit);
    };
    visit(root);
    return { vertices: needed, root };
  }
}

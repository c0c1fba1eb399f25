/**
 * The fast path of a rebuild with nothing changed (issue 12: a warm rebuild in well under a
 * second, process start included). Before the full CLI loads, `img build` with flags whose
 * effect is all in the image store looks for the rebuild record (`@img/core/state`) a
 * previous identical build left: same arguments, environment, working directory and img. It
 * holds when the context directory's stamp (`@img/core/tree_stamp`: a `statx` walk, no file
 * read) and the Dockerfile are unchanged and the image names the build used and made still
 * point where they did; then the build is shown as BuildKit shows a cached one and its result
 * printed, as the full build would, in a few milliseconds of work.
 *
 * Otherwise the stamp made here is handed on ({@linkcode pendingRebuild}, across the rootless
 * re-exec in {@linkcode PENDING_ENV}) for the build to record its result under, and a build
 * that will run steps enters the user namespace at once, before loading the rest of img.
 *
 * Only this module and what it imports load before the decision: nothing of `node:` but
 * `node:sqlite`, no command, plugin or schema.
 *
 * @module
 */
import {
  cacheUsedSince,
  openExistingState,
  readRebuildRecord,
  type RebuildRecord,
  rebuildRecordHolds,
  type RecordedVertex,
  touchRebuildRecord,
  writeRebuildRecord,
} from "@img/core/rebuild_records";
import {
  ensureRootless,
  type HeldRootless,
  inUserNamespace,
  startHeldRootless,
} from "@img/core/rootless";
import type { StateDB } from "@img/core/state";
import { defaultStateDir } from "@img/core/state/default-dir";
import { span } from "@img/core/trace";
import { stampTree } from "@img/core/tree_stamp";
import { createProgressDisplay, type ProgressMode } from "./ui/progress.ts";
import { PREFETCH_ENV, startPrefetch } from "./prefetch.ts";
import { VERSION } from "./version.ts";

/** The environment variable that carries {@linkcode PendingRebuild} into the namespace. */
export const PENDING_ENV = "IMG_REBUILD_PENDING";

/** `IMG_REBUILD_RECORDS=0` turns the fast path and the records off. */
export const RECORDS_ENV = "IMG_REBUILD_RECORDS";

/** What a build whose record was missing needs to record its result. */
export interface PendingRebuild {
  /** The record's key. */
  key: string;
  /** When the stamps were made (epoch ms): cache records used since then are the build's. */
  since: number;
  /** The context stamp and the files outside it, as {@linkcode RebuildRecord} holds them. */
  context: RebuildRecord["context"];
  /** See {@linkcode RebuildRecord.files}. */
  files: RebuildRecord["files"];
}

/** The `img build` command line, as far as the fast path needs it. */
export interface RebuildArgs {
  /** `--state`. */
  state?: string;
  /** The context directory argument. */
  context: string;
  /** `-f`. */
  file?: string;
  /** `-q`. */
  quiet: boolean;
  /** The progress mode (`--progress`, `--no-console`). */
  progress: ProgressMode;
  /** `--build-arg` values, in order. */
  buildArgs: string[];
  /** `--target`. */
  target?: string;
  /** `--platform` (one platform). */
  platform?: string;
  /** `--frontend`. */
  frontend?: string;
  /** `--registry-timeout`. */
  registryTimeout?: string;
}

// Flags whose whole effect is on the result in the image store (they are in the key), by the
// names commander knows them; anything else (an output, a push, secrets, --no-cache, files
// written) leaves the build to the full CLI.
const GLOBAL_VALUE = new Set(["-s", "--state", "-b", "--backend", "--registry-timeout"]);
const BUILD_VALUE = new Set([
  "-f",
  "--file",
  "-t",
  "--tag",
  "--build-arg",
  "--label",
  "--target",
  "--frontend",
  "--progress",
  "--platform",
  "--executor",
  "--network",
  "--allow",
  "--add-host",
  "--shm-size",
  "--ulimit",
  "--annotation",
]);
const BUILD_BOOLEAN = new Set(["--no-console", "-q", "--quiet", "--load"]);
const PROGRESS_MODES = new Set(["auto", "plain", "tty", "quiet", "rawjson"]);

/**
 * The build these arguments ask for, if the fast path may take it: `img [global flags] build
 * [flags] PATH` with only the flags above (as `--flag value`, `--flag=value` or `-f value`),
 * a local directory as the context, one platform, no `-f -`.
 */
export function parseRebuildArgs(args: readonly string[]): RebuildArgs | undefined {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const positional: string[] = [];
  let i = 0;
  let command: string | undefined;
  while (i < args.length) {
    const arg = args[i++];
    if (command === undefined && !arg.startsWith("-")) {
      if (arg !== "build") return undefined;
      command = arg;
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const takesValue = command === undefined ? GLOBAL_VALUE.has(name) : BUILD_VALUE.has(name);
    if (takesValue) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[i++];
      if (value === undefined) return undefined;
      values.set(name, [...(values.get(name) ?? []), value]);
    } else if (command !== undefined && BUILD_BOOLEAN.has(name) && eq < 0) {
      flags.add(name);
    } else {
      return undefined;
    }
  }
  if (command === undefined || positional.length !== 1) return undefined;
  const last = (...names: string[]) => names.flatMap((n) => values.get(n) ?? []).at(-1);
  const progress = last("--progress") ?? "auto";
  const file = last("-f", "--file");
  const context = positional[0];
  if (
    !PROGRESS_MODES.has(progress) || file === "-" || context === "-" ||
    /^[a-z][a-z0-9+.-]*:\/\/|^git@/i.test(context) || last("--platform")?.includes(",")
  ) {
    return undefined;
  }
  const quiet = flags.has("-q") || flags.has("--quiet");
  return {
    state: last("-s", "--state"),
    context,
    file,
    quiet,
    progress: quiet ? "quiet" : flags.has("--no-console") ? "plain" : progress as ProgressMode,
    buildArgs: values.get("--build-arg") ?? [],
    target: last("--target"),
    platform: last("--platform"),
    frontend: last("--frontend"),
    registryTimeout: last("--registry-timeout"),
  };
}

/** Variables that differ between identical invocations (or only trace them). */
const VOLATILE_ENV = new Set([
  "_",
  "OLDPWD",
  "SHLVL",
  "IMG_TRACE",
  "IMG_TRACE_FILE",
  PENDING_ENV,
]);

async function sha256(data: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function mtimeOf(path: string): number | undefined {
  try {
    return Deno.statSync(path).mtime?.getTime();
  } catch {
    return undefined;
  }
}

/** The key of this invocation: img itself, its arguments, environment and directory. */
export async function rebuildKey(args: readonly string[]): Promise<string> {
  const env = Object.entries(Deno.env.toObject())
    .filter(([k]) => !VOLATILE_ENV.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const main = Deno.mainModule.startsWith("file://")
    ? decodeURIComponent(new URL(Deno.mainModule).pathname)
    : Deno.mainModule;
  return await sha256(JSON.stringify({
    version: VERSION,
    exec: [Deno.execPath(), mtimeOf(Deno.execPath())],
    main: [main, mtimeOf(main)],
    cwd: Deno.cwd(),
    args,
    env,
  }));
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

async function fileDigest(path: string): Promise<string | null> {
  try {
    return await sha256(await Deno.readFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The Dockerfile and its own `.dockerignore`, as the build will read them. */
async function outsideFiles(
  args: RebuildArgs,
  contextDir: string,
): Promise<Record<string, string | null>> {
  const dockerfile = args.file === undefined ? `${contextDir}/Dockerfile` : absolute(args.file);
  const files: Record<string, string | null> = {};
  for (const path of [dockerfile, `${dockerfile}.dockerignore`]) {
    files[path] = await fileDigest(path);
  }
  return files;
}

let pending: PendingRebuild | undefined;

/**
 * The stamps of this build, when it is one the fast path took and found no record for: the
 * build records its result under them. Inside the namespace, they come from the process that
 * entered it.
 */
export function pendingRebuild(): PendingRebuild | undefined {
  if (pending) return pending;
  const text = Deno.env.get(PENDING_ENV);
  if (!text) return undefined;
  try {
    return pending = JSON.parse(text) as PendingRebuild;
  } catch {
    return undefined;
  }
}

/** Shows a recorded build as BuildKit shows a cached one, and prints its result. */
function replay(record: RebuildRecord, args: RebuildArgs): void {
  // Every step is finished: no clock to tick.
  const display = createProgressDisplay({ mode: args.progress, ticker: false });
  const now = Date.now();
  for (const { vertex, name } of record.vertices) {
    if (vertex.startsWith("resolve:")) {
      display.listener({ type: "vertex.started", vertex, name, time: now });
      display.listener({ type: "vertex.done", vertex, name, time: now, started: now });
    } else {
      display.listener({ type: "vertex.cached", vertex, name, time: now });
    }
  }
  display.done("FINISHED");
  console.log(args.quiet ? record.imageId : `Successfully built ${record.digest}`);
}

/**
 * Tries the fast path for `args`: returns the exit code when the recorded result was shown,
 * `undefined` when the full CLI must run (after setting {@linkcode pendingRebuild}; a build
 * that will run steps may instead enter the user namespace here, which ends this process).
 */
export async function fastRebuild(args: readonly string[]): Promise<number | undefined> {
  if (Deno.env.get(RECORDS_ENV) === "0" || inUserNamespace()) return undefined;
  const parsed = parseRebuildArgs(args);
  if (!parsed) return undefined;
  using _trace = span("rebuild record check");
  let db: StateDB | undefined;
  let held: HeldRootless | undefined;
  try {
    const now = Date.now();
    const stateDir = parsed.state ?? defaultStateDir();
    const contextDir = Deno.realPathSync(parsed.context);
    const stateReal = (() => {
      try {
        return Deno.realPathSync(stateDir);
      } catch {
        return undefined;
      }
    })();
    const exclude = stateReal?.startsWith(`${contextDir}/`) ? [stateReal] : [];
    const key = await rebuildKey(args);
    db = openExistingState(stateDir);
    const record = db && readRebuildRecord(db, key);
    // No record: steps will run. img starts inside the namespace now, held until this process
    // says go, and its start runs beside the context's stamp (the root needs no namespace).
    if (!record && Deno.uid() !== 0) held = await startHeldRootless();
    let stamp = await stampTree(contextDir, { exclude, now, contentOf: record?.context.racy });
    const files = await outsideFiles(parsed, contextDir);
    if (
      db && record && stamp && record.context.dir === contextDir &&
      stamp.digest === record.context.digest &&
      JSON.stringify(files) === JSON.stringify(record.files) && rebuildRecordHolds(db, record)
    ) {
      held?.cancel();
      touchRebuildRecord(db, key, record);
      db.close();
      replay(record, parsed);
      return 0;
    }
    db?.close();
    if (record) stamp = await stampTree(contextDir, { exclude, now });
    if (!stamp) {
      held?.cancel();
      return undefined;
    }
    pending = {
      key,
      since: now,
      context: { dir: contextDir, digest: stamp.digest, racy: stamp.racy, exclude },
      files,
    };
  } catch {
    // Anything unexpected: the full CLI decides, and says what is wrong.
    held?.cancel();
    db?.close();
    return undefined;
  }
  // Steps will run (or the result changed): into the namespace now, not after loading all of
  // img and solving once outside (root needs no namespace). While img starts again in it,
  // this process fetches the base image (prefetch.ts).
  if (Deno.uid() !== 0) {
    const prefetch = startPrefetch(parsed, parsed.state ?? defaultStateDir());
    try {
      const env = {
        [PENDING_ENV]: JSON.stringify(pending),
        ...(prefetch ? { [PREFETCH_ENV]: prefetch.lock } : {}),
      };
      if (held) await held.go(env, prefetch?.run);
      for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
      await ensureRootless({ beside: prefetch?.run });
    } catch {
      // The full CLI enters it again and reports what stops it.
      Deno.env.delete(PREFETCH_ENV);
      prefetch?.cancel();
    }
  }
  return undefined;
}

/** The sources a recorded build may have: local context files and images, nothing remote. */
function replayable(source: string): boolean {
  return source === "scratch" || source === "local://context" ||
    source.startsWith("docker-image://");
}

/** What a finished build tells {@linkcode recordRebuild}. */
export interface FinishedBuild {
  /** `BuildResult.sources`. */
  sources: readonly string[];
  /** `containerimage.digest` of the image exporter. */
  digest: string | undefined;
  /** The image ID. */
  imageId: string | undefined;
  /** The names tagged (`-t`). */
  names: readonly string[];
  /** The steps the build showed, in order (the first event of each vertex). */
  vertices: readonly RecordedVertex[];
}

/**
 * Records the result of a build the fast path found no record for, when it can be replayed:
 * no remote source (an http or git source is checked again by every build), one image made,
 * and every base image and name in the image store. Returns whether it recorded.
 */
export function recordRebuild(db: StateDB, pending: PendingRebuild, build: FinishedBuild): boolean {
  if (!build.digest || !build.imageId || !build.sources.every(replayable)) return false;
  const pointing = (names: Iterable<string>): Record<string, string> | undefined => {
    const out: Record<string, string> = {};
    for (const name of names) {
      const row = db.get<{ digest: string }>("SELECT digest FROM images WHERE name = ?", name);
      if (!row) return undefined;
      out[name] = row.digest;
    }
    return out;
  };
  const bases = pointing(
    build.vertices.filter((v) => v.vertex.startsWith("resolve:")).map((v) => v.vertex.slice(8)),
  );
  const names = pointing(build.names);
  if (!bases || !names) return false;
  writeRebuildRecord(db, pending.key, {
    context: pending.context,
    files: pending.files,
    bases,
    names,
    digest: build.digest,
    imageId: build.imageId,
    vertices: [...build.vertices],
    ...cacheUsedSince(db, pending.since),
  });
  return true;
}

/**
 * The base image fetched while img starts again in the user namespace. A cold `img build`
 * runs in two processes: the one the user started enters the namespace by starting img
 * again inside it, and then only waits. Instead, while the other starts (its runtime, its
 * modules, its plugins: a few hundred milliseconds), this one resolves the base image the
 * build's target starts from, exactly as the build would (the stored image of that name,
 * else the registry's manifest and config, kept under the name), and downloads its layers
 * when they are small. The build inside waits for that to end (a lock file named by
 * {@linkcode PREFETCH_ENV}) and finds them in the state.
 *
 * Only a hint: anything that goes wrong here is left for the build to find and report.
 *
 * @module
 */
import { hostPlatform, parsePlatform, type Platform, platformMatches } from "@img/core/platform";
import { span } from "@img/core/trace";
import type { RebuildArgs } from "./rebuild.ts";

/** The environment variable naming the lock file the build waits on. */
export const PREFETCH_ENV = "IMG_PREFETCH_LOCK";

/**
 * Layers are downloaded here only when all of them together are at most this big: a bigger
 * base is left to the build, which applies each layer while it downloads.
 */
export const PREFETCH_LAYERS_MAX = 16 * 1024 * 1024;

/** How long the build waits for the prefetch at most before it fetches on its own. */
const WAIT_MS = 3_000;

/** A prefetch ready to run beside the build. */
export interface Prefetch {
  /** The lock file, held until {@linkcode Prefetch.run} ends. */
  lock: string;
  /** Resolves the base image and fetches its layers, then releases the lock; never throws. */
  run(): Promise<void>;
  /** Releases the lock without running (the namespace could not be entered). */
  cancel(): void;
}

/**
 * Takes the lock in `stateDir` for a prefetch of the base image of the build `args` asks for,
 * or returns `undefined` when there is nothing to do here (another frontend, another
 * platform, the lock cannot be made).
 */
export function startPrefetch(args: RebuildArgs, stateDir: string): Prefetch | undefined {
  if (args.frontend !== undefined) return undefined;
  const platform = hostPlatform();
  try {
    if (args.platform && !platformMatches(platform, parsePlatform(args.platform))) {
      return undefined;
    }
    Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch {
    return undefined;
  }
  removeStaleLocks(stateDir);
  const lock = `${stateDir}/prefetch-${Deno.pid}.lock`;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(lock, { write: true, create: true, truncate: true });
    file.lockSync(true);
  } catch {
    return undefined;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    try {
      Deno.removeSync(lock);
    } catch {
      // gone already
    }
    file.close(); // releases the lock
  };
  return {
    lock,
    cancel: release,
    async run() {
      using _trace = span("base image prefetch (beside the namespace's start)");
      try {
        await prefetch(args, stateDir, platform);
      } catch {
        // The build resolves the image itself and reports what is wrong.
      } finally {
        release();
      }
    },
  };
}

/** Removes the lock files of processes that are gone (killed before they could). */
function removeStaleLocks(stateDir: string): void {
  try {
    for (const { name } of Deno.readDirSync(stateDir)) {
      const pid = name.match(/^prefetch-(\d+)\.lock$/)?.[1];
      if (pid === undefined || pid === String(Deno.pid)) continue;
      try {
        Deno.statSync(`/proc/${pid}`);
      } catch {
        Deno.removeSync(`${stateDir}/${name}`);
      }
    }
  } catch {
    // Not ours to clean, or gone meanwhile.
  }
}

async function prefetch(
  args: RebuildArgs,
  stateDir: string,
  platform: Platform,
): Promise<void> {
  const [{ parseDockerfile, targetBaseImage }, { keyValues }] = await Promise.all([
    import("@img/frontend-dockerfile"),
    import("./commands/_key_values.ts"),
  ]);
  const file = args.file ?? `${args.context.replace(/\/+$/, "")}/Dockerfile`;
  const name = targetBaseImage(parseDockerfile(await Deno.readTextFile(file)), {
    buildArgs: keyValues(args.buildArgs, "build argument", Deno.env.toObject()),
    platform,
    target: args.target,
  });
  if (name === undefined) return;
  const [{ CliContext }, { RemoteBlobs, resolveBaseImage }, { parseReference }] = await Promise
    .all([import("./context.ts"), import("@img/core/image"), import("@img/core/reference")]);
  const ctx = new CliContext({
    backend: "auto",
    state: stateDir,
    registryTimeout: args.registryTimeout,
  });
  try {
    const registry = await ctx.registry();
    const remote = new RemoteBlobs(ctx.state, () => Promise.resolve(registry));
    const image = await resolveBaseImage({ state: ctx.state, registry, remote }, name, platform);
    const size = image.manifest.layers.reduce((n, l) => n + l.size, 0);
    if (size <= PREFETCH_LAYERS_MAX) {
      await remote.fetch(image.manifest.layers, parseReference(name));
    }
  } finally {
    ctx.close();
  }
}

/**
 * Inside the namespace: waits until the prefetch the process that started this one runs is
 * over (at most a few seconds), so the build finds what it fetched. Returns at once when
 * there is none.
 */
export async function awaitPrefetch(): Promise<void> {
  const lock = Deno.env.get(PREFETCH_ENV);
  if (!lock) return;
  Deno.env.delete(PREFETCH_ENV);
  using _trace = span("wait for the base image prefetch");
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lock, { read: true });
  } catch {
    return; // over and removed
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      file.lock(false),
      new Promise((resolve) => timer = setTimeout(resolve, WAIT_MS)),
    ]);
  } finally {
    clearTimeout(timer);
    file.close();
  }
}

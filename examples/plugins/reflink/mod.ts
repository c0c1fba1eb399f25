/**
 * An example third-party snapshotter: `reflink` keeps every snapshot as a plain directory
 * and prepares one on a parent with `cp --reflink=auto -a`, so on a filesystem with reflinks
 * (btrfs, XFS, bcachefs) a snapshot shares its parent's blocks until they change, and
 * elsewhere it is a full copy. Metadata is one `info.json` per snapshot.
 *
 * ```sh
 * img --plugin ./examples/plugins/reflink/mod.ts --backend reflink build -t app .
 * ```
 *
 * It lives outside img's workspace and uses nothing but `@img/core`: the snapshotter seam
 * (`Snapshotter`, `SnapshotterPlugin`) and its types. It has no `diff`, so img computes each
 * layer by comparing views of the snapshot and its parent. Its `supported()` probe says
 * whether the state directory's filesystem makes reflinks; with `priority` 150 `--backend
 * auto` prefers it to `native` (100) there, and to nothing else.
 *
 * @module
 */
import {
  API_VERSION,
  ImgError,
  type Mount,
  type PluginContext,
  type SnapshotInfo,
  type Snapshotter,
  type SnapshotterPlugin,
  type SnapshotterSupport,
  type SnapshotUsage,
} from "@img/core";

/** What `info.json` holds for a snapshot. */
interface Info {
  key: string;
  parent?: string;
  kind: SnapshotInfo["kind"];
  created: string;
  labels?: Record<string, string>;
}

async function run(args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" }).output();
    return out.success ? undefined : new TextDecoder().decode(out.stderr).trim().split("\n")[0];
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

async function hex(key: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A snapshotter whose snapshots are reflinked (or copied) directory trees under `root`. */
export class ReflinkSnapshotter implements Snapshotter {
  /** Always `reflink`. */
  readonly name = "reflink";
  readonly #root: string;

  /** Opens the snapshotter at `root`, creating it if needed. */
  constructor(root: string) {
    this.#root = root;
    Deno.mkdirSync(`${root}/snapshots`, { recursive: true, mode: 0o700 });
  }

  async #dir(key: string): Promise<string> {
    return `${this.#root}/snapshots/${await hex(key)}`;
  }

  async #info(key: string): Promise<Info | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(`${await this.#dir(key)}/info.json`));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async #get(key: string): Promise<Info> {
    const info = await this.#info(key);
    if (!info) throw new ImgError(`Snapshot "${key}" does not exist`);
    return info;
  }

  async #writeInfo(dir: string, info: Info): Promise<void> {
    await Deno.writeTextFile(`${dir}/info.json.tmp`, JSON.stringify(info));
    await Deno.rename(`${dir}/info.json.tmp`, `${dir}/info.json`);
  }

  async #create(
    kind: "active" | "view",
    key: string,
    parent?: string,
    labels?: Record<string, string>,
  ) {
    if (parent !== undefined && (await this.#get(parent)).kind !== "committed") {
      throw new ImgError(
        `Snapshot "${parent}" is not committed: only a committed one can be a parent`,
      );
    }
    const dir = await this.#dir(key);
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new ImgError(`Snapshot "${key}" already exists`);
      }
      throw e;
    }
    try {
      await Deno.mkdir(`${dir}/fs`, { mode: 0o755 });
      if (kind === "active" && parent !== undefined) {
        const why = await run([
          "cp",
          "--reflink=auto",
          "-a",
          "--",
          `${await this.#dir(parent)}/fs/.`,
          `${dir}/fs/`,
        ]);
        if (why) throw new ImgError(`Cannot copy snapshot "${parent}": ${why}`);
      }
      await this.#writeInfo(dir, { key, parent, kind, created: new Date().toISOString(), labels });
    } catch (e) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
    return this.mounts(key);
  }

  /** Creates the active snapshot `key`: a reflinked copy of `parent` (empty without one). */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return this.#create("active", key, parent, labels);
  }

  /** Creates the view `key`: a read-only bind of the committed `parent`'s tree. */
  view(key: string, parent?: string): Promise<Mount[]> {
    return this.#create("view", key, parent);
  }

  /** The bind mount of an active snapshot (read-write) or a view (read-only). */
  async mounts(key: string): Promise<Mount[]> {
    const info = await this.#get(key);
    if (info.kind === "committed") {
      throw new ImgError(`Snapshot "${key}" is committed: create a view of it to read it`);
    }
    const tree = info.kind === "view" && info.parent !== undefined ? info.parent : key;
    return [{
      type: "bind",
      source: `${await this.#dir(tree)}/fs`,
      options: ["rbind", info.kind === "active" ? "rw" : "ro"],
    }];
  }

  /** Commits the active snapshot `key` as `name`. */
  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    const info = await this.#get(key);
    if (info.kind !== "active") {
      throw new ImgError(`Snapshot "${key}" is not active: it cannot be committed`);
    }
    const from = await this.#dir(key);
    const to = await this.#dir(name);
    if (await this.#info(name)) throw new ImgError(`Snapshot "${name}" already exists`);
    await this.#writeInfo(from, {
      ...info,
      key: name,
      kind: "committed",
      labels: { ...info.labels, ...labels },
    });
    await Deno.rename(from, to);
  }

  /** Removes a snapshot that has no children. */
  async remove(key: string): Promise<void> {
    await this.#get(key);
    for await (const s of this.walk()) {
      if (s.parent === key) throw new ImgError(`Snapshot "${key}" has children: remove them first`);
    }
    const dir = await this.#dir(key);
    const doomed = `${dir}.removing`;
    await Deno.rename(dir, doomed);
    await Deno.remove(doomed, { recursive: true });
  }

  /** The snapshot's info, or `undefined`. */
  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const info = await this.#info(key);
    return info && { ...info, created: new Date(info.created) };
  }

  /** Allocated bytes and inodes of the snapshot's own tree (a view uses nothing). */
  async usage(key: string): Promise<SnapshotUsage> {
    const info = await this.#get(key);
    if (info.kind === "view") return { size: 0, inodes: 0 };
    const seen = new Set<number>();
    let size = 0;
    const walk = async (dir: string) => {
      for await (const e of Deno.readDir(dir)) {
        const st = await Deno.lstat(`${dir}/${e.name}`);
        if (st.ino !== null && seen.has(st.ino)) continue;
        if (st.ino !== null) seen.add(st.ino);
        size += (st.blocks ?? 0) * 512;
        if (st.isDirectory) await walk(`${dir}/${e.name}`);
      }
    };
    await walk(`${await this.#dir(key)}/fs`);
    return { size, inodes: seen.size };
  }

  /** Every snapshot. */
  async *walk(): AsyncIterable<SnapshotInfo> {
    for await (const e of Deno.readDir(`${this.#root}/snapshots`)) {
      if (!e.isDirectory || e.name.endsWith(".removing")) continue;
      try {
        const info: Info = JSON.parse(
          await Deno.readTextFile(`${this.#root}/snapshots/${e.name}/info.json`),
        );
        yield { ...info, created: new Date(info.created) };
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
}

/**
 * Whether `cp` makes reflinks under `root`: `cp --reflink=always` of a scratch file. Without
 * reflinks the snapshotter still works (`--backend reflink` copies), but `auto` passes it by.
 */
export async function probeReflink(root: string): Promise<SnapshotterSupport> {
  await Deno.mkdir(root, { recursive: true });
  const scratch = await Deno.makeTempDir({ dir: root, prefix: ".probe-" });
  try {
    await Deno.writeTextFile(`${scratch}/a`, "probe\n");
    const why = await run(["cp", "--reflink=always", `${scratch}/a`, `${scratch}/b`]);
    return why ? { supported: false, reason: `no reflinks here: ${why}` } : { supported: true };
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** The `reflink` snapshotter plugin. */
const plugin: SnapshotterPlugin = {
  kind: "snapshotter",
  name: "reflink",
  version: "0.1.0",
  apiVersion: API_VERSION,
  description:
    "Snapshots as directories copied with cp --reflink=auto (shared blocks on btrfs/XFS)",
  priority: 150,
  create: (ctx: PluginContext & { root: string }) => new ReflinkSnapshotter(ctx.root),
  supported: (ctx) => probeReflink(ctx.root),
};

export default plugin;

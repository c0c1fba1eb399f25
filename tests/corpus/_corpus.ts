/**
 * The Dockerfile corpus: what a case is (its folder, `case.json`, `expected.json`), how an
 * image is reduced to the facts a case asserts (the config fields a user sees, the history,
 * the layer count, the file tree), and how two such reductions are compared field by field.
 *
 * Shared by `generate.ts` (which records what Docker gives) and `../build_corpus_test.ts`
 * (which checks that img gives the same).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";

/** The corpus folder (this file's folder). */
export const CORPUS_DIR = new URL(".", import.meta.url).pathname;

/** Stands for the loopback registry's `host:port` in recorded values. */
export const REGISTRY_PLACEHOLDER = "<registry>";

/** The repository the busybox base is pushed to, under the registry. */
export const BASE_REPO = "library/busybox";

/** What a case's `case.json` may say about how it is built. */
export interface CaseOptions {
  /** `--build-arg` values (besides `BASE`, which every case gets). */
  buildArgs?: Record<string, string>;
  /** `--target`. */
  target?: string;
  /** `--label` values. */
  labels?: Record<string, string>;
  /**
   * Why Docker's engine here cannot record this case (a Dockerfile feature newer than its
   * BuildKit): `generate.ts` skips it unless named, and the test skips it while it has no
   * `expected.json`.
   */
  needs?: string;
  /**
   * Another case whose image is this case's base: it is built first, pushed as
   * `<registry>/corpus/<parent>:latest`, and passed as `--build-arg PARENT=...`.
   */
  parent?: string;
}

/** One case of the corpus. */
export interface CorpusCase {
  /** The folder name. */
  name: string;
  /** The folder (the build context). */
  dir: string;
  /** Its `case.json`, or `{}`. */
  options: CaseOptions;
}

/** Lists the cases (every folder with a `Dockerfile`), parents before their children. */
export function listCases(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const e of Deno.readDirSync(CORPUS_DIR)) {
    if (!e.isDirectory) continue;
    const dir = `${CORPUS_DIR}${e.name}`;
    try {
      Deno.statSync(`${dir}/Dockerfile`);
    } catch {
      continue;
    }
    let options: CaseOptions = {};
    try {
      options = JSON.parse(Deno.readTextFileSync(`${dir}/case.json`));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    cases.push({ name: e.name, dir, options });
  }
  cases.sort((a, b) => a.name.localeCompare(b.name));
  const ordered: CorpusCase[] = [];
  const visit = (c: CorpusCase) => {
    if (ordered.includes(c)) return;
    if (c.options.parent) {
      const p = cases.find((x) => x.name === c.options.parent);
      if (!p) throw new Error(`${c.name}: parent case ${c.options.parent} does not exist`);
      visit(p);
    }
    ordered.push(c);
  };
  cases.forEach(visit);
  return ordered;
}

/** The reference a parent case's image is pushed under. */
export function parentReference(registryHost: string, parent: string): string {
  return `${registryHost}/corpus/${parent}:latest`;
}

/** The `--build-arg`s of a case: `BASE`, `PARENT` when it has one, then its own. */
export function caseBuildArgs(c: CorpusCase, registryHost: string): string[] {
  const args = [`BASE=${registryHost}/${BASE_REPO}:latest`];
  if (c.options.parent) args.push(`PARENT=${parentReference(registryHost, c.options.parent)}`);
  for (const [k, v] of Object.entries(c.options.buildArgs ?? {})) args.push(`${k}=${v}`);
  return args;
}

/** One path of an image's file tree. */
export interface FileEntry {
  /** Path relative to the root, no leading `/`. */
  path: string;
  /** The kind of file. */
  type: "file" | "dir" | "symlink" | "char" | "block" | "fifo";
  /** Permission bits with setuid/setgid/sticky, as octal text (`"0644"`). */
  mode: string;
  /** The owner inside the image. */
  uid: number;
  /** The group inside the image. */
  gid: number;
  /** Hex sha256 of a regular file's content. */
  sha256?: string;
  /** A symlink's target. */
  target?: string;
}

/** The facts a case asserts about an image. */
export interface ImageFacts {
  /** The config fields a user sees (`config.Env`, `Cmd`, ...); absent and null are left out. */
  config: Record<string, unknown>;
  /** The image's `author` (MAINTAINER). */
  author?: string;
  /** The history: `created_by` and whether the entry made no layer. */
  history: { created_by: string; empty_layer: boolean }[];
  /** The number of layers (`rootfs.diff_ids`). */
  layers: number;
  /** The paths that are not in the base image or differ from it, sorted. */
  files: FileEntry[];
  /** The base image's paths that the image no longer has, sorted. */
  removed: string[];
}

/** What `expected.json` holds. */
export interface Expected extends ImageFacts {
  /** How the facts were made. */
  generatedBy: string;
}

/** The image config fields (`config.*`) a case compares. */
export const CONFIG_FIELDS = [
  "Env",
  "Cmd",
  "Entrypoint",
  "WorkingDir",
  "User",
  "Labels",
  "ExposedPorts",
  "Volumes",
  "StopSignal",
  "Healthcheck",
  "OnBuild",
  "Shell",
] as const;

/** Replaces the registry's `host:port` with {@linkcode REGISTRY_PLACEHOLDER} everywhere in `v`. */
export function normalizeRegistry<T>(v: T, registryHost: string): T {
  return JSON.parse(JSON.stringify(v).replaceAll(registryHost, REGISTRY_PLACEHOLDER));
}

/** Reduces an image config (as JSON) to the facts a case compares (files left empty). */
export function configFacts(
  image: Record<string, unknown>,
  registryHost: string,
): Omit<ImageFacts, "files" | "removed"> {
  const cfg = (image.config ?? {}) as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const v = cfg[f];
    if (v === undefined || v === null) continue;
    config[f] = v;
  }
  const history = ((image.history ?? []) as Record<string, unknown>[]).map((h) => ({
    created_by: String(h.created_by ?? ""),
    empty_layer: h.empty_layer === true,
  }));
  const rootfs = (image.rootfs ?? {}) as { diff_ids?: string[] };
  const facts = {
    config,
    ...(image.author ? { author: String(image.author) } : {}),
    history,
    layers: rootfs.diff_ids?.length ?? 0,
  };
  return normalizeRegistry(facts, registryHost);
}

/** A merged file tree: path (no leading `/`) to entry. */
export type Tree = Map<string, FileEntry>;

function cleanPath(name: string): string {
  return name.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
}

function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}

/** Calls `fn` for each entry of a tar (gzip is detected), with its content. */
export async function readTar(
  data: Uint8Array,
  fn: (header: tar.Header, content: Uint8Array) => void,
): Promise<void> {
  const gz = data[0] === 0x1f && data[1] === 0x8b;
  const extract = tar.extract();
  const raw = Readable.from([Buffer.from(data)]);
  const source = gz ? raw.pipe(createGunzip()) : raw;
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c) => chunks.push(c as Buffer));
      stream.on("end", () => {
        try {
          fn(header, Buffer.concat(chunks));
          next();
        } catch (e) {
          reject(e);
        }
      });
      stream.on("error", reject);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  source.pipe(extract);
  await done;
}

/** Applies one layer tar (OCI whiteouts and opaque dirs) onto `tree`. */
export async function applyLayer(tree: Tree, layer: Uint8Array): Promise<void> {
  const addedHere = new Set<string>();
  const removeBelow = (dir: string) => {
    for (const p of [...tree.keys()]) {
      if (p.startsWith(dir + "/") && !addedHere.has(p)) tree.delete(p);
    }
  };
  await readTar(layer, (h, content) => {
    const path = cleanPath(h.name);
    if (path === "") return;
    const slash = path.lastIndexOf("/");
    const dir = slash < 0 ? "" : path.slice(0, slash);
    const base = path.slice(slash + 1);
    if (base === ".wh..wh..opq") {
      removeBelow(dir);
      return;
    }
    if (base.startsWith(".wh.")) {
      const gone = (dir ? dir + "/" : "") + base.slice(4);
      tree.delete(gone);
      for (const p of [...tree.keys()]) if (p.startsWith(gone + "/")) tree.delete(p);
      return;
    }
    const old = tree.get(path);
    if (old && old.type === "dir" && h.type !== "directory") removeBelow(path);
    let entry: FileEntry;
    const common = { path, mode: octal(h.mode ?? 0), uid: h.uid ?? 0, gid: h.gid ?? 0 };
    switch (h.type) {
      case "directory":
        entry = { ...common, type: "dir" };
        break;
      case "symlink":
        entry = { ...common, mode: "0777", type: "symlink", target: h.linkname ?? "" };
        break;
      case "link": {
        const target = tree.get(cleanPath(h.linkname ?? ""));
        if (!target) throw new Error(`hard link ${path} to a missing ${h.linkname}`);
        entry = { ...target, path };
        break;
      }
      case "character-device":
        entry = { ...common, type: "char" };
        break;
      case "block-device":
        entry = { ...common, type: "block" };
        break;
      case "fifo":
        entry = { ...common, type: "fifo" };
        break;
      default:
        entry = {
          ...common,
          type: "file",
          sha256: createHash("sha256").update(content).digest("hex"),
        };
    }
    tree.set(path, entry);
    addedHere.add(path);
  });
}

function sameEntry(a: FileEntry, b: FileEntry): boolean {
  return a.type === b.type && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid &&
    a.sha256 === b.sha256 && a.target === b.target;
}

/** The paths of `tree` that are new or differ from `base`, and the base paths it lost. */
export function treeFacts(tree: Tree, base: Tree): Pick<ImageFacts, "files" | "removed"> {
  const files = [...tree.values()]
    .filter((e) => {
      const b = base.get(e.path);
      return !b || !sameEntry(b, e);
    })
    .sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
    .map((e) => {
      const out: FileEntry = {
        path: e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
      };
      if (e.sha256) out.sha256 = e.sha256;
      if (e.target !== undefined) out.target = e.target;
      return out;
    });
  const removed = [...base.keys()].filter((p) => !tree.has(p)).sort();
  return { files, removed };
}

/** JSON with object keys sorted: Go maps (Labels, Volumes, ...) have no key order. */
function canonical(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : x,
  );
}

function show(v: unknown): string {
  return v === undefined ? "(absent)" : canonical(v);
}

/**
 * Compares img's facts with the expected ones and returns one readable line per
 * difference, each naming the field: `config.Cmd: expected [...], got [...]`.
 */
export function compareFacts(expected: ImageFacts, actual: ImageFacts): string[] {
  const out: string[] = [];
  const fields = new Set([...Object.keys(expected.config), ...Object.keys(actual.config)]);
  for (const f of [...fields].sort()) {
    const e = expected.config[f];
    const a = actual.config[f];
    if (canonical(e) !== canonical(a)) {
      out.push(`config.${f}: expected ${show(e)}, got ${show(a)}`);
    }
  }
  if (expected.author !== actual.author) {
    out.push(`author: expected ${show(expected.author)}, got ${show(actual.author)}`);
  }
  if (expected.layers !== actual.layers) {
    out.push(`layers: expected ${expected.layers}, got ${actual.layers}`);
  }
  const n = Math.max(expected.history.length, actual.history.length);
  for (let i = 0; i < n; i++) {
    const e = expected.history[i];
    const a = actual.history[i];
    if (!e || !a) {
      out.push(`history[${i}]: expected ${show(e)}, got ${show(a)}`);
      continue;
    }
    if (e.created_by !== a.created_by) {
      out.push(
        `history[${i}].created_by: expected ${show(e.created_by)}, got ${show(a.created_by)}`,
      );
    }
    if (e.empty_layer !== a.empty_layer) {
      out.push(`history[${i}].empty_layer: expected ${e.empty_layer}, got ${a.empty_layer}`);
    }
  }
  const exp = new Map(expected.files.map((f) => [f.path, f]));
  const act = new Map(actual.files.map((f) => [f.path, f]));
  for (const path of [...new Set([...exp.keys(), ...act.keys()])].sort()) {
    const e = exp.get(path);
    const a = act.get(path);
    if (!e) {
      out.push(`files /${path}: not expected (or the same as in the base), got ${show(a)}`);
      continue;
    }
    if (!a) {
      out.push(`files /${path}: expected ${show(e)}, missing (or the same as in the base)`);
      continue;
    }
    for (const k of ["type", "mode", "uid", "gid", "sha256", "target"] as const) {
      if (e[k] !== a[k]) out.push(`files /${path}: ${k} expected ${show(e[k])}, got ${show(a[k])}`);
    }
  }
  const er = new Set(expected.removed);
  const ar = new Set(actual.removed);
  for (const p of expected.removed) {
    if (!ar.has(p)) out.push(`removed /${p}: expected gone, present`);
  }
  for (const p of actual.removed) if (!er.has(p)) out.push(`removed /${p}: expected present, gone`);
  return out;
}

/**
 * Test helper: snapshots a directory tree (types, modes, owners, sizes, content hashes,
 * symlink targets, hard-link sharing) and diffs two snapshots, to compare what img writes
 * with what an independent tool (umoci, skopeo, podman) writes.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The type of a tree node. */
export type NodeType = "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";

/** One node of a snapshot. */
export interface TreeNode {
  type: NodeType;
  /** Permission bits incl. setuid/setgid/sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Modification time in whole seconds. */
  mtime: number;
  /** Hex sha256 of a regular file's content. */
  sha256?: string;
  /** A symlink's target. */
  linkTarget?: string;
  /** Inode number. Compare sharing with {@linkcode hardlinkGroups}, not raw numbers. */
  ino: number;
  /** Device numbers of char/block devices (`rdev`). */
  rdev?: number;
}

/** A snapshot: relative path (no leading `/`, the root itself excluded) to node. */
export type Tree = Map<string, TreeNode>;

function typeOf(info: Deno.FileInfo): NodeType {
  if (info.isSymlink) return "symlink";
  if (info.isFile) return "file";
  if (info.isDirectory) return "dir";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  if (info.isFifo) return "fifo";
  return "socket";
}

/** Walks `dir` without following symlinks and records every node below it. */
export function snapshotTree(dir: string): Tree {
  const tree: Tree = new Map();
  const walk = (abs: string, rel: string) => {
    const names = [...Deno.readDirSync(abs)].map((e) => e.name).sort();
    for (const name of names) {
      const path = `${abs}/${name}`;
      const relPath = rel ? `${rel}/${name}` : name;
      const info = Deno.lstatSync(path);
      const type = typeOf(info);
      const node: TreeNode = {
        type,
        mode: (info.mode ?? 0) & 0o7777,
        uid: info.uid ?? -1,
        gid: info.gid ?? -1,
        size: info.size,
        mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
        ino: info.ino ?? 0,
      };
      if (type === "file") {
        node.sha256 = createHash("sha256").update(Deno.readFileSync(path)).digest("hex");
      }
      if (type === "symlink") node.linkTarget = Deno.readLinkSync(path);
      if (type === "char" || type === "block") node.rdev = info.rdev ?? 0;
      tree.set(relPath, node);
      if (type === "dir") walk(path, relPath);
    }
  };
  walk(dir, "");
  return tree;
}

/**
 * Groups of paths that share an inode (hard links), each group sorted, as strings
 * `a = b = c`, sorted. Only inodes with more than one path in the tree appear.
 */
export function hardlinkGroups(tree: Tree): string[] {
  const byIno = new Map<number, string[]>();
  for (const [path, node] of tree) {
    if (node.type === "dir") continue;
    const list = byIno.get(node.ino) ?? [];
    list.push(path);
    byIno.set(node.ino, list);
  }
  return [...byIno.values()].filter((l) => l.length > 1).map((l) => l.sort().join(" = "))
    .sort();
}

/** Fields {@linkcode diffTrees} can compare. */
export type TreeField =
  | "type"
  | "mode"
  | "uid"
  | "gid"
  | "size"
  | "mtime"
  | "content"
  | "link"
  | "rdev";

/** Options of {@linkcode diffTrees}. */
export interface DiffOptions {
  /** Fields to compare; default type, mode, size, content, link, rdev (not owners, not times). */
  fields?: TreeField[];
  /** Paths (and everything below them) to leave out of the comparison. */
  ignore?: (path: string) => boolean;
  /** Compare hard-link sharing too (default true). */
  hardlinks?: boolean;
}

const DEFAULT_FIELDS: TreeField[] = ["type", "mode", "size", "content", "link", "rdev"];

function field(node: TreeNode, f: TreeField): unknown {
  switch (f) {
    case "content":
      return node.sha256;
    case "link":
      return node.linkTarget;
    case "mode":
      return "0" + node.mode.toString(8);
    case "size":
      // Directory sizes depend on the filesystem's history, not on the tree.
      return node.type === "dir" ? undefined : node.size;
    default:
      return node[f];
  }
}

/**
 * Lists the differences between two snapshots as readable lines (`only in a: x`,
 * `x: mode 0755 != 0700`, `hard links: ...`). An empty list means the trees match.
 */
export function diffTrees(a: Tree, b: Tree, options: DiffOptions = {}): string[] {
  const fields = options.fields ?? DEFAULT_FIELDS;
  const ignore = options.ignore ?? (() => false);
  const out: string[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const path of paths) {
    if (ignore(path)) continue;
    const x = a.get(path);
    const y = b.get(path);
    if (!x || !y) {
      out.push(`only in ${x ? "a" : "b"}: ${path} (${(x ?? y)!.type})`);
      continue;
    }
    for (const f of fields) {
      const vx = field(x, f);
      const vy = field(y, f);
      if (vx !== vy) out.push(`${path}: ${f} ${String(vx)} != ${String(vy)}`);
    }
  }
  if (options.hardlinks ?? true) {
    const keep = (t: Tree) => new Map([...t].filter(([p]) => !ignore(p)));
    const ga = hardlinkGroups(keep(a)).join("; ");
    const gb = hardlinkGroups(keep(b)).join("; ");
    if (ga !== gb) out.push(`hard links: [${ga}] != [${gb}]`);
  }
  return out;
}

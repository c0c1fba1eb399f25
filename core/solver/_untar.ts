/**
 * ADD's extraction of a local archive, as BuildKit's `unpack` does: a regular file whose
 * (decompressed) content starts with a valid tar header is extracted into the destination
 * directory; anything else is copied as is. Compression is detected from the content, never
 * the name: gzip and zstd through `node:zlib`, bzip2 and xz through the `bzip2` / `xz`
 * commands when installed.
 *
 * This is not a layer: whiteout files are ordinary files here. Every path is resolved inside
 * the extraction directory as a chroot would, so neither a `..` nor a symlink (of the archive
 * or already in the tree) leads out of it.
 *
 * @module
 */
import { chmod, lchown, link, lstat, lutimes, mkdir, openFile, utime } from "../fs/exact.ts";
import { prefixBytes, startsWith } from "../_bytes.ts";
import { ImgError } from "../errors.ts";
import { displayName } from "../fs/raw_name.ts";
import {
  cleanComponents,
  joinRoot,
  lstatOrUndefined,
  removeAll,
  resolveInRoot,
  SymlinkEscapeError,
} from "../layer/_path.ts";
import { forEachTarEntry, type TarHeader } from "../layer/_tar_extract.ts";
import { createEntryNode, drain, mknodCommand } from "../layer/_entry_node.ts";
import { decompressStream } from "../layer/decompress.ts";

const BLOCK = 512;

/** Options of {@linkcode extractArchive}. */
export interface ExtractOptions {
  /** Chown entries (to `owner`, or their header's ids); false when not root. */
  sameOwner: boolean;
  /** `--chown`: overrides the owners of the archive's entries. */
  owner?: { uid: number; gid: number };
  /** Called with a message for each thing skipped (devices that cannot be created). */
  onWarning?: (message: string) => void;
}

/** A command's stdout as a stream; `undefined` if the command is not installed. */
async function commandStream(
  cmd: string,
  path: string,
): Promise<ReadableStream<Uint8Array> | undefined> {
  // The file goes in on stdin: a command line cannot carry a name that is not UTF-8.
  const file = await openFile(path);
  try {
    const child = new Deno.Command(cmd, {
      args: ["-dc"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    child.status.catch(() => {});
    file.readable.pipeTo(child.stdin).catch(() => {});
    return child.stdout;
  } catch (e) {
    file.close();
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** The decompressed content of `path`, whatever its compression. */
async function openDecompressed(path: string): Promise<ReadableStream<Uint8Array> | undefined> {
  const head = new Uint8Array(6);
  const file = await openFile(path);
  let n = 0;
  try {
    while (n < head.length) {
      const r = await file.read(head.subarray(n));
      if (r === null) break;
      n += r;
    }
  } finally {
    file.close();
  }
  if (startsWith(head, [0x42, 0x5a, 0x68])) return commandStream("bzip2", path);
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return commandStream("xz", path);
  return decompressStream((await openFile(path)).readable);
}

/** Whether a 512-byte block is a tar header with a valid checksum (as Go's reader checks). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < BLOCK || block.every((b) => b === 0)) return false;
  const field = new TextDecoder().decode(block.subarray(148, 156)).replace(/[\0 ]+/g, " ").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const expected = parseInt(field, 8);
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return expected === unsigned || expected === signed;
}

/**
 * Reads the start of the decompressed `path`: if it is a tar archive, returns its whole
 * decompressed stream, else `undefined` (the stream is cancelled).
 */
export async function openArchive(path: string): Promise<ReadableStream<Uint8Array> | undefined> {
  const info = lstatOrUndefined(path);
  if (!info?.isFile) return undefined;
  const stream = await openDecompressed(path);
  if (!stream) return undefined;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  try {
    while (have < BLOCK) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      have += value.length;
    }
  } catch {
    // Not decompressible: not an archive.
    await reader.cancel().catch(() => {});
    return undefined;
  }
  if (!isTarHeader(prefixBytes(chunks, BLOCK))) {
    await reader.cancel().catch(() => {});
    return undefined;
  }
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function outside(name: string, cause?: SymlinkEscapeError): ImgError {
  const through = cause ? ` through the symlink "${cause.link}" -> "${cause.target}"` : "";
  return new ImgError(
    `Archive entry "${
      displayName(name)
    }" would be extracted outside the destination${through}; refusing to extract it`,
    { cause },
  );
}

function resolve(root: string, name: string, components: string[]): string[] {
  try {
    return resolveInRoot(root, components);
  } catch (e) {
    if (e instanceof SymlinkEscapeError) throw outside(name, e);
    throw e;
  }
}

/**
 * Extracts the tar `stream` into the directory `root` (a host path that exists), as
 * BuildKit's ADD does: owners from the headers (or `owner`), modes, times, symlinks and hard
 * links; missing parents are created 0755 and owned by root.
 */
export async function extractArchive(
  root: string,
  stream: ReadableStream<Uint8Array>,
  options: ExtractOptions,
): Promise<void> {
  const dirs: { path: string; mtime: Date; mode: number }[] = [];
  await forEachTarEntry(stream, async (header, data) => {
    try {
      await extractEntry(root, header, data, options, dirs);
    } catch (e) {
      if (e instanceof ImgError) throw e;
      throw new ImgError(
        `Cannot extract "${displayName(header.name)}" of the archive (${(e as Error).message})`,
        { cause: e },
      );
    }
  }, {
    malformed: (e) =>
      e instanceof ImgError
        ? e
        : new ImgError(`The archive is malformed (${(e as Error).message})`, { cause: e }),
  });
  for (let i = dirs.length - 1; i >= 0; i--) {
    const d = dirs[i];
    if (!lstatOrUndefined(d.path)?.isDirectory) continue;
    chmod(d.path, d.mode);
    utime(d.path, d.mtime, d.mtime);
  }
}

async function extractEntry(
  root: string,
  header: TarHeader,
  data: AsyncIterable<Uint8Array>,
  options: ExtractOptions,
  dirs: { path: string; mtime: Date; mode: number }[],
): Promise<void> {
  const components = cleanComponents(header.name.replace(/^\/+/, ""));
  if (components === undefined) throw outside(header.name);
  const isFile = header.type === "file" || header.type === "contiguous-file";
  if (!isFile) await drain(data);
  if (components.length === 0) {
    if (isFile) await drain(data);
    return;
  }
  const isDir = header.type === "directory";
  const parent = resolve(root, header.name, components.slice(0, -1));
  let resolved = [...parent, components[components.length - 1]];
  if (isDir) resolved = resolve(root, header.name, resolved);
  // Implied parents: 0755, owned by root.
  for (let i = 1; i < resolved.length; i++) {
    const p = joinRoot(root, resolved.slice(0, i));
    const info = lstatOrUndefined(p);
    if (info?.isDirectory) continue;
    if (info) {
      throw new ImgError(
        `Archive entry "${displayName(header.name)}" needs "${
          resolved.slice(0, i).join("/")
        }" to be a directory, but it is a file`,
      );
    }
    mkdir(p, 0o777);
    if (options.sameOwner) lchown(p, 0, 0);
    chmod(p, 0o755);
  }
  if (resolved.length === 0) return; // a directory entry that resolves to the root
  const path = joinRoot(root, resolved);
  const existing = lstatOrUndefined(path);
  if (existing && !(existing.isDirectory && isDir)) removeAll(path);

  const uid = options.owner?.uid ?? header.uid ?? 0;
  const gid = options.owner?.gid ?? header.gid ?? 0;
  const mode = (header.mode ?? 0o644) & 0o7777;
  const mtime = header.mtime ?? new Date(0);
  const chown = () => {
    if (options.sameOwner) lchown(path, uid, gid);
  };
  switch (header.type) {
    case "directory":
      if (!existing?.isDirectory) mkdir(path, 0o777);
      chown();
      // Writable while the archive fills it; its own mode comes at the end.
      chmod(path, mode | 0o700);
      dirs.push({ path, mtime, mode });
      return;
    case "link": {
      const target = cleanComponents((header.linkname ?? "").replace(/^\/+/, ""));
      if (target === undefined || target.length === 0) {
        throw new ImgError(
          `Archive entry "${displayName(header.name)}" is a hard link to "${
            displayName(header.linkname)
          }", outside the destination; refusing to extract it`,
        );
      }
      const targetParent = resolve(root, header.name, target.slice(0, -1));
      link(joinRoot(root, [...targetParent, target[target.length - 1]]), path);
      chown();
      if (!lstat(path).isSymlink) {
        chmod(path, mode);
        utime(path, mtime, mtime);
      }
      return;
    }
    default: {
      const made = await createEntryNode(
        path,
        header,
        data,
        mknodCommand,
        (e) =>
          options.onWarning?.(`Skipped ${header.type} "${displayName(header.name)}": ${e.message}`),
      );
      if (made === undefined) return;
      if (made === null) {
        throw new ImgError(
          `Archive entry "${displayName(header.name)}" has the unsupported type "${header.type}"`,
        );
      }
      chown();
      if (header.type === "symlink") {
        lutimes(path, mtime, mtime);
        return;
      }
      chmod(path, mode);
      if (header.type === "file" || header.type === "contiguous-file") utime(path, mtime, mtime);
      return;
    }
  }
}

/**
 * Byte-exact file system operations: paths are strings as `raw_name.ts` makes them, and a path
 * that holds bytes that are not UTF-8 goes through libc with its original bytes, since Deno's
 * file APIs take UTF-8 strings (and `Deno.readDir` decodes names lossily). Ordinary paths take
 * Deno's own APIs, as fast as before.
 *
 * @module
 */
import { lchownSync, lutimesSync } from "node:fs";
import * as libc from "../libc.ts";
import { hasRawBytes } from "./raw_name.ts";
import { concatBytes } from "../_bytes.ts";

/** `lstat(2)`. */
export function lstat(path: string): Deno.FileInfo {
  return hasRawBytes(path) ? libc.lstat(path) : Deno.lstatSync(path);
}

/** `readlink(2)`; the target keeps bytes that are not UTF-8. */
export function readLink(path: string): string {
  if (hasRawBytes(path)) return libc.readlink(path);
  try {
    return Deno.readLinkSync(path);
  } catch (e) {
    // Deno refuses a target that is not UTF-8.
    if (e instanceof Deno.errors.InvalidData) return libc.readlink(path);
    throw e;
  }
}

/** `mkdir(2)` with `mode` (subject to the umask). */
export function mkdir(path: string, mode: number): void {
  if (hasRawBytes(path)) libc.mkdir(path, mode);
  else Deno.mkdirSync(path, { mode });
}

/** `lstat(2)`, asynchronously for ordinary paths. */
export function lstatAsync(path: string): Promise<Deno.FileInfo> {
  return hasRawBytes(path) ? Promise.resolve(libc.lstat(path)) : Deno.lstat(path);
}

/** `readlink(2)`, asynchronously for ordinary paths. */
export async function readLinkAsync(path: string): Promise<string> {
  if (hasRawBytes(path)) return libc.readlink(path);
  try {
    return await Deno.readLink(path);
  } catch (e) {
    // Deno refuses a target that is not UTF-8.
    if (e instanceof Deno.errors.InvalidData) return libc.readlink(path);
    throw e;
  }
}

/** The names in a directory, byte-exact (see {@linkcode readDir}), asynchronously. */
export async function readDirNames(path: string): Promise<string[]> {
  if (hasRawBytes(path)) return libc.readdir(path).map((e) => e.name);
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names.some((n) => n.includes("\uFFFD")) ? libc.readdir(path).map((e) => e.name) : names;
}

/** The file `path` (not a symlink), open for reading. */
export async function openFile(path: string): Promise<Deno.FsFile> {
  return hasRawBytes(path) ? openFileSync(path) : await Deno.open(path, { read: true });
}

/** The whole content of the file `path`. */
export async function readFile(path: string): Promise<Uint8Array> {
  if (!hasRawBytes(path)) return await Deno.readFile(path);
  using file = await openFile(path);
  return new Uint8Array(await new Response(file.readable).arrayBuffer());
}

/**
 * The whole content of the small file `path`, synchronously: for
 * files of a few KiB, one blocking read is several times faster than an asynchronous one, which
 * hops to a worker thread and back (bench/PROFILE.md).
 */
export function readSmallFileSync(path: string): Uint8Array {
  if (!hasRawBytes(path)) return Deno.readFileSync(path);
  using file = openFileSync(path);
  const parts: Uint8Array[] = [];
  while (true) {
    const buf = new Uint8Array(64 * 1024);
    const n = file.readSync(buf);
    if (n === null) break;
    parts.push(buf.subarray(0, n));
  }
  return parts.length === 1 ? parts[0] : concatBytes(parts);
}

/** Copies the content of the regular file `src` into the new file `dst`. */
export async function copyFile(src: string, dst: string): Promise<void> {
  if (!hasRawBytes(src) && !hasRawBytes(dst)) return await Deno.copyFile(src, dst);
  const from = await openFile(src);
  const to = createFile(dst, 0o600);
  await from.readable.pipeTo(to.writable);
}

/** Copies the content of the regular file `src` into the new file `dst`, synchronously. */
export function copyFileSync(src: string, dst: string): void {
  if (!hasRawBytes(src) && !hasRawBytes(dst)) return Deno.copyFileSync(src, dst);
  using from = openFileSync(src);
  using to = createFile(dst, 0o600);
  const buf = new Uint8Array(1 << 20);
  while (true) {
    const n = from.readSync(buf);
    if (n === null) break;
    for (let off = 0; off < n;) off += to.writeSync(buf.subarray(off, n));
  }
}

/** The file `path` (not a symlink), open for reading, synchronously. */
function openFileSync(path: string): Deno.FsFile {
  if (!hasRawBytes(path)) return Deno.openSync(path, { read: true });
  const fd = libc.openRead(path);
  try {
    // The same file again, by its descriptor: Deno can hold it from there.
    return Deno.openSync(`/proc/self/fd/${fd}`, { read: true });
  } finally {
    libc.close(fd);
  }
}

/** `rename(2)`: `from` replaces `to`. */
export function rename(from: string, to: string): void {
  if (hasRawBytes(from) || hasRawBytes(to)) libc.rename(from, to);
  else Deno.renameSync(from, to);
}

/** A new regular file (`O_CREAT | O_EXCL`), open for writing. */
export function createFile(path: string, mode: number): Deno.FsFile {
  if (!hasRawBytes(path)) return Deno.openSync(path, { write: true, createNew: true, mode });
  const fd = libc.createFile(path, mode);
  try {
    // The same file again, by its descriptor: Deno can hold it from there.
    return Deno.openSync(`/proc/self/fd/${fd}`, { write: true });
  } finally {
    libc.close(fd);
  }
}

/** `path` becomes a hard link to `existing`. */
export function link(existing: string, path: string): void {
  if (hasRawBytes(existing) || hasRawBytes(path)) libc.link(existing, path);
  else Deno.linkSync(existing, path);
}

/** `path` becomes a symlink to `target`. */
export function symlink(target: string, path: string): void {
  if (hasRawBytes(target) || hasRawBytes(path)) libc.symlink(target, path);
  else Deno.symlinkSync(target, path);
}

/** `chmod(2)`. */
export function chmod(path: string, mode: number): void {
  if (hasRawBytes(path)) libc.chmod(path, mode);
  else Deno.chmodSync(path, mode);
}

/** `lchown(2)`. */
export function lchown(path: string, uid: number, gid: number): void {
  if (hasRawBytes(path)) libc.lchown(path, uid, gid);
  else lchownSync(path, uid, gid);
}

/** Times of `path` (seconds or Dates), following a final symlink. */
export function utime(path: string, atime: number | Date, mtime: number | Date): void {
  if (hasRawBytes(path)) {
    // Callers never pass a symlink here, so not following one is the same.
    libc.lutimes(path, atime, mtime);
  } else Deno.utimeSync(path, atime, mtime);
}

/** Times of `path` (seconds or Dates), not following a final symlink. */
export function lutimes(path: string, atime: number | Date, mtime: number | Date): void {
  if (hasRawBytes(path)) libc.lutimes(path, atime, mtime);
  else lutimesSync(path, atime, mtime);
}

/**
 * The entries of a directory, names byte-exact: when Deno's listing has a name with U+FFFD
 * (which its lossy decoding gives for bytes that are not UTF-8), it is read again through libc.
 */
export function readDir(path: string): Deno.DirEntry[] {
  if (hasRawBytes(path)) return libc.readdir(path);
  const entries = [...Deno.readDirSync(path)];
  return entries.some((e) => e.name.includes("\uFFFD")) ? libc.readdir(path) : entries;
}

/** Removes `path` and everything below it; a missing path is not an error. */
export function removeAll(path: string): void {
  if (!hasRawBytes(path)) {
    try {
      // Deno removes children whatever their names: only this path must be a string.
      Deno.removeSync(path, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return;
  }
  let info: Deno.FileInfo;
  try {
    info = libc.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isDirectory) return libc.unlink(path);
  for (const child of libc.readdir(path)) removeAll(`${path}/${child.name}`);
  libc.rmdir(path);
}

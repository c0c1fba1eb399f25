/**
 * The entry-handling core both tar extractors share (the layer applier, `apply.ts`, and ADD's
 * archive extraction, `core/solver/_untar.ts`): creating the node of one tar entry (a
 * regular file with its data, a symlink, a device or fifo) at a host path, byte-exact
 * whatever its name. What differs between the two (whiteouts, owners, how links and parents
 * resolve) stays with each.
 *
 * @module
 */
import * as libc from "../libc.ts";
import { createFile, symlink } from "../fs/exact.ts";
import { hasRawBytes } from "../fs/raw_name.ts";
import type { TarHeader } from "./_tar_extract.ts";

/** Creates device nodes and fifos (`mknod(2)`). */
export interface NodeMaker {
  /**
   * Creates a node at `path`. `type` is `S_IFCHR`, `S_IFBLK` or `S_IFIFO` (`0o020000`,
   * `0o060000`, `0o010000`), `perm` the permission bits. Throws if it cannot.
   */
  mknod(path: string, type: number, perm: number, major: number, minor: number): void;
}

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** The default {@linkcode NodeMaker}: the coreutils `mknod` command. */
export const mknodCommand: NodeMaker = {
  mknod(path, type, perm, major, minor) {
    if (hasRawBytes(path)) {
      // A command line cannot carry a name that is not UTF-8: make the call directly.
      return libc.mknod(path, type | perm, libc.makedev(major, minor));
    }
    const kind = type === S_IFIFO ? ["p"] : [type === S_IFBLK ? "b" : "c", `${major}`, `${minor}`];
    const out = new Deno.Command("mknod", {
      args: ["-m", perm.toString(8), "--", path, ...kind],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim());
  },
};

/** Reads and drops an entry's data. */
export async function drain(data: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of data) { /* discard */ }
}

/**
 * Creates the node of a file, symlink, device or fifo entry at `path` (which must not exist),
 * a regular file with `fileMode` (subject to the umask; 0600 until its mode is set, by
 * default). Returns the bytes of file data written, or
 * `undefined` for a device or fifo that `nodes` could not make (the error goes to `skipped`).
 * Other types are not handled here: returns `null`.
 */
export async function createEntryNode(
  path: string,
  header: TarHeader,
  data: AsyncIterable<Uint8Array>,
  nodes: NodeMaker,
  skipped: (error: Error) => void,
  fileMode = 0o600,
): Promise<number | undefined | null> {
  switch (header.type) {
    case "file":
    case "contiguous-file": {
      const file = createFile(path, fileMode);
      let bytes = 0;
      try {
        for await (const chunk of data) {
          // Synchronous: the chunk may be a view of a buffer reused for the next one.
          let off = 0;
          while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
          bytes += chunk.length;
        }
      } finally {
        file.close();
      }
      return bytes;
    }
    case "symlink":
      symlink(header.linkname, path);
      return 0;
    case "character-device":
    case "block-device":
    case "fifo": {
      const type = header.type === "fifo"
        ? S_IFIFO
        : header.type === "block-device"
        ? S_IFBLK
        : S_IFCHR;
      try {
        nodes.mknod(path, type, header.mode & 0o7777, header.devmajor, header.devminor);
      } catch (e) {
        skipped(e as Error);
        return undefined;
      }
      return 0;
    }
    default:
      return null;
  }
}

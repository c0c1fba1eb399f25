/**
 * Test helper: crafts OCI layer tars byte by byte, including the malformed and hostile ones
 * (`../` names, absolute paths, links out of the tree) that a real tar tool refuses to write.
 *
 * Names are written exactly as given: nothing is cleaned. Long names, long link targets,
 * big ids and xattrs go into a PAX extended header, as Go's archive/tar (docker, BuildKit)
 * writes them.
 *
 * Names that are not UTF-8 are given as `core/fs/raw_name.ts` decodes them and written as
 * their original bytes.
 *
 * @module
 */
import { encodeName } from "../../core/fs/raw_name.ts";

/** The kinds of entry {@linkcode tarLayer} can write. */
export type LayerEntryType =
  | "file"
  | "dir"
  | "symlink"
  | "hardlink"
  | "whiteout"
  | "opaque"
  | "char"
  | "block"
  | "fifo";

/** One entry of a crafted layer. */
export interface LayerEntry {
  /** What to write. `whiteout` writes `<dir>/.wh.<name>` for `path`; `opaque` writes
   * `<path>/.wh..wh..opq`. */
  type: LayerEntryType;
  /** The name in the tar, verbatim (no cleaning), without the trailing `/` of directories. */
  path: string;
  /** Permission bits incl. setuid/setgid/sticky; default 0644 (files), 0755 (dirs), 0777
   * (symlinks), 0600 (devices). */
  mode?: number;
  /** Owner; default 0. */
  uid?: number;
  /** Group; default 0. */
  gid?: number;
  /** Modification time in seconds since the epoch (fractions go into PAX); default
   * 1_600_000_000. */
  mtime?: number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, string | Uint8Array>;
  /** File content. */
  content?: string | Uint8Array;
  /** Symlink target or hardlink target (the name of an earlier entry). */
  target?: string;
  /** Device numbers for `char` and `block`. */
  major?: number;
  /** Device numbers for `char` and `block`. */
  minor?: number;
}

/** The default mtime of crafted entries. */
export const DEFAULT_MTIME = 1_600_000_000;

const enc = new TextEncoder();

function bytes(v: string | Uint8Array): Uint8Array {
  return typeof v === "string" ? enc.encode(v) : v;
}

function octal(buf: Uint8Array, offset: number, width: number, value: number): void {
  // width includes the terminating NUL.
  const s = Math.floor(value).toString(8).padStart(width - 1, "0");
  if (s.length > width - 1) throw new Error(`value ${value} does not fit in ${width} octal bytes`);
  buf.set(enc.encode(s), offset);
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = new Uint8Array([...enc.encode(` ${key}=`), ...value, 0x0a]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return new Uint8Array([...enc.encode(String(len)), ...body]);
}

const TYPEFLAG: Record<string, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
  pax: "x",
};

interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  major: number;
  minor: number;
}

function header(h: RawHeader): Uint8Array {
  const buf = new Uint8Array(512);
  const name = enc.encode(h.name).subarray(0, 100);
  buf.set(name, 0);
  octal(buf, 100, 8, h.mode);
  octal(buf, 108, 8, h.uid);
  octal(buf, 116, 8, h.gid);
  octal(buf, 124, 12, h.size);
  octal(buf, 136, 12, h.mtime);
  buf.fill(0x20, 148, 156); // checksum placeholder: spaces
  buf[156] = h.typeflag.charCodeAt(0);
  buf.set(enc.encode(h.linkname).subarray(0, 100), 157);
  buf.set(enc.encode("ustar\u0000"), 257);
  buf.set(enc.encode("00"), 263);
  octal(buf, 329, 8, h.major);
  octal(buf, 337, 8, h.minor);
  let sum = 0;
  for (const b of buf) sum += b;
  const ck = sum.toString(8).padStart(6, "0");
  buf.set(enc.encode(ck + "\u0000 "), 148);
  return buf;
}

function padded(data: Uint8Array): Uint8Array[] {
  const pad = (512 - (data.length % 512)) % 512;
  return pad ? [data, new Uint8Array(pad)] : [data];
}

function splitPath(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return i < 0 ? ["", path] : [path.slice(0, i + 1), path.slice(i + 1)];
}

const MAX_OCTAL_7 = 0o7777777;

/** Builds an uncompressed tar of `entries`, in the given order. */
export function tarLayer(entries: LayerEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    let name = e.path;
    let type = e.type;
    if (type === "whiteout") {
      const [dir, base] = splitPath(e.path);
      name = `${dir}.wh.${base}`;
      type = "file";
    } else if (type === "opaque") {
      name = `${e.path.replace(/\/$/, "")}/.wh..wh..opq`;
      type = "file";
    }
    const isDir = type === "dir";
    if (isDir && !name.endsWith("/")) name += "/";
    const content = type === "file" && e.content !== undefined
      ? bytes(e.content)
      : new Uint8Array();
    const defaultMode = isDir
      ? 0o755
      : type === "symlink"
      ? 0o777
      : ["char", "block", "fifo"].includes(type)
      ? 0o600
      : 0o644;
    const mtime = e.mtime ?? DEFAULT_MTIME;
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    const linkname = e.target ?? "";

    const pax: Uint8Array[] = [];
    const nameBytes = encodeName(name);
    if (nameBytes.length > 100 || /[^\x20-\x7e]/.test(name)) pax.push(paxRecord("path", nameBytes));
    const linkBytes = encodeName(linkname);
    if (linkBytes.length > 100 || /[^\x20-\x7e]/.test(linkname)) {
      pax.push(paxRecord("linkpath", linkBytes));
    }
    if (uid > MAX_OCTAL_7) pax.push(paxRecord("uid", enc.encode(String(uid))));
    if (gid > MAX_OCTAL_7) pax.push(paxRecord("gid", enc.encode(String(gid))));
    if (!Number.isInteger(mtime)) pax.push(paxRecord("mtime", enc.encode(mtime.toFixed(9))));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) {
      pax.push(paxRecord(`SCHILY.xattr.${k}`, bytes(v)));
    }
    if (pax.length > 0) {
      const data = new Uint8Array(pax.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of pax) {
        data.set(p, off);
        off += p.length;
      }
      parts.push(header({
        name: `PaxHeaders/${name}`.slice(0, 99),
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: data.length,
        mtime: Math.floor(mtime),
        typeflag: "x",
        linkname: "",
        major: 0,
        minor: 0,
      }));
      parts.push(...padded(data));
    }
    parts.push(header({
      name,
      mode: e.mode ?? defaultMode,
      uid: Math.min(uid, MAX_OCTAL_7),
      gid: Math.min(gid, MAX_OCTAL_7),
      size: content.length,
      mtime: Math.floor(mtime),
      typeflag: TYPEFLAG[type],
      linkname,
      major: e.major ?? 0,
      minor: e.minor ?? 0,
    }));
    if (content.length) parts.push(...padded(content));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Returns `data` as a stream, in chunks of `chunkSize` bytes (default 64 KiB). */
export function streamOf(data: Uint8Array, chunkSize = 65536): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + chunkSize));
      off += chunkSize;
    },
  }, { highWaterMark: 0 });
}

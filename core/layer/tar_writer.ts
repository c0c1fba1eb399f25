/**
 * A streaming writer of layer tars: every header field a layer needs (type, mode, numeric
 * owner, mtime, link target, device numbers, xattrs), PAX extended headers where USTAR is
 * not enough (long or non-ASCII names, large ids or sizes, `SCHILY.xattr.*` records with
 * binary values), and the bytes of the archive hashed while they are written.
 *
 * `core/archive/tar_writer.ts` writes archives of blobs with fixed metadata over
 * `tar-stream`; layers need full control of headers and binary-safe PAX values, which
 * `tar-stream` does not give, so this writer encodes headers itself (as Go's `archive/tar`
 * does with `FormatPAX`).
 *
 * @module
 */
import { type Digest, Digester } from "../digest.ts";
import { concatBytes } from "../_bytes.ts";
import { ImgError } from "../errors.ts";
import { encodeName } from "../fs/raw_name.ts";
import { consumesOnWrite } from "./_consumed_writes.ts";

/** The type of a layer tar entry. */
export type LayerEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "character-device"
  | "block-device"
  | "fifo";

/** One entry of a layer tar. */
export interface LayerEntryHeader {
  /** Relative path without a leading `/` or `./`; a directory's ends with `/`. */
  name: string;
  /** The entry's type. */
  type: LayerEntryType;
  /** Permission bits incl. setuid, setgid and sticky (`0o7777`). */
  mode: number;
  /** Numeric owner. */
  uid: number;
  /** Numeric group. */
  gid: number;
  /** Modification time in whole seconds since the epoch. */
  mtime: number;
  /** Size of a regular file's content (0 for anything else). */
  size?: number;
  /** The target of a symlink, or the path of a hard link's first name. */
  linkname?: string;
  /** A device's major number. */
  devmajor?: number;
  /** A device's minor number. */
  devminor?: number;
  /** Extended attributes, written as `SCHILY.xattr.<name>` PAX records. */
  xattrs?: Record<string, Uint8Array>;
}

const BLOCK = 512;
const CHUNK = 64 * 1024;
const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

const TYPEFLAGS: Record<LayerEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

const encoder = new TextEncoder();

// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/**
 * Writes a layer tar into a `WritableStream`, one entry at a time, with backpressure, and
 * computes the digest of what it wrote (the layer's diffID).
 */
export class LayerTarWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #digester = new Digester();
  #buf = new Uint8Array(CHUNK);
  #used = 0;
  #closed = false;
  readonly #reuse: boolean;

  /** Starts a tar written to `out`; `out` is closed by {@linkcode close}. */
  constructor(out: WritableStream<Uint8Array>) {
    this.#reuse = consumesOnWrite(out);
    this.#writer = out.getWriter();
  }

  /**
   * Whether a chunk handed to {@linkcode add} may be changed as soon as the next one is asked
   * for: true when the output consumes each chunk before its write resolves (see
   * `_consumed_writes.ts`).
   */
  get reusesChunks(): boolean {
    return this.#reuse;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#digester.size + this.#used;
  }

  /**
   * Adds an entry. A regular file's body is read from `body` and must be exactly
   * `header.size` bytes long; its chunks may be handed on as they are, so they must not be
   * changed afterwards.
   */
  async add(
    header: LayerEntryHeader,
    body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    if (this.#closed) throw new Error("LayerTarWriter is closed");
    const size = header.type === "file" ? header.size ?? 0 : 0;
    await this.#push(encodeHeader({ ...header, size }));
    if (size === 0) return;
    if (!body) throw new Error(`No content given for ${header.name}`);
    let written = 0;
    for await (const chunk of body) {
      written += chunk.byteLength;
      if (written > size) break;
      await this.#push(chunk);
    }
    if (written !== size) {
      throw new ImgError(
        `File ${header.name} changed size while it was written to the layer (${size} bytes expected, ${
          written > size ? "more" : written
        } read); do not change a snapshot while it is exported`,
      );
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await this.#push(new Uint8Array(pad));
  }

  /** Ends the archive (two zero blocks), closes the output and returns its digest and size. */
  async close(): Promise<{ digest: Digest; size: number }> {
    if (this.#closed) throw new Error("LayerTarWriter is closed");
    await this.#push(new Uint8Array(2 * BLOCK));
    await this.#flush();
    this.#closed = true;
    await this.#writer.close();
    return { digest: this.#digester.digest(), size: this.#digester.size };
  }

  /** Abandons the archive: the output stream is aborted with `reason`. */
  async abort(reason: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.abort(reason).catch(() => {});
  }

  async #push(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength >= CHUNK) {
      await this.#flush();
      await this.#emit(bytes);
      return;
    }
    let off = 0;
    while (off < bytes.byteLength) {
      const n = Math.min(CHUNK - this.#used, bytes.byteLength - off);
      this.#buf.set(bytes.subarray(off, off + n), this.#used);
      this.#used += n;
      off += n;
      if (this.#used === CHUNK) await this.#flush();
    }
  }

  async #flush(): Promise<void> {
    if (this.#used === 0) return;
    const chunk = this.#buf.subarray(0, this.#used);
    // An output that consumes chunks on write has copied this one once #emit resolves.
    if (!this.#reuse) this.#buf = new Uint8Array(CHUNK);
    this.#used = 0;
    await this.#emit(chunk);
  }

  async #emit(chunk: Uint8Array): Promise<void> {
    this.#digester.update(chunk);
    await this.#writer.ready;
    await this.#writer.write(chunk);
  }
}

/** One PAX record: `"<len> <key>=<value>\n"`, where `len` counts the whole record. */
function paxRecord(key: string, value: Uint8Array | string): Uint8Array {
  // Names keep their bytes: escaped bytes that are not UTF-8 are written back as they were.
  const v = typeof value === "string" ? encodeName(value) : value;
  const rest = encoder.encode(` ${key}=`).length + v.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const head = encoder.encode(`${len} ${key}=`);
  const out = new Uint8Array(len);
  out.set(head);
  out.set(v, head.length);
  out[len - 1] = 0x0a;
  return out;
}

function writeString(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  block.set(bytes.subarray(0, length), offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  const digits = Math.max(0, Math.floor(value)).toString(8).padStart(length - 1, "0");
  writeString(block, offset, length - 1, digits.slice(-(length - 1)));
  block[offset + length - 1] = 0;
}

/** A 512-byte USTAR header. */
function ustarBlock(h: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, h.name);
  writeOctal(block, 100, 8, h.mode);
  writeOctal(block, 108, 8, h.uid);
  writeOctal(block, 116, 8, h.gid);
  writeOctal(block, 124, 12, h.size);
  writeOctal(block, 136, 12, h.mtime);
  block.fill(0x20, 148, 156); // checksum field counts as spaces
  writeString(block, 156, 1, h.typeflag);
  writeString(block, 157, 100, h.linkname);
  writeString(block, 257, 6, "ustar\0");
  writeString(block, 263, 2, "00");
  // uname (265) and gname (297) stay empty: owners are numeric.
  writeOctal(block, 329, 8, h.devmajor);
  writeOctal(block, 337, 8, h.devminor);
  let sum = 0;
  for (const b of block) sum += b;
  writeString(block, 148, 6, sum.toString(8).padStart(6, "0"));
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

function fitsName(s: string): boolean {
  return ASCII.test(s) && encoder.encode(s).length <= 100;
}

/** The header blocks of an entry: a PAX extended header when needed, then the USTAR one. */
export function encodeHeader(header: LayerEntryHeader & { size: number }): Uint8Array {
  const records: [string, Uint8Array | string][] = [];
  const { name, size } = header;
  const linkname = header.linkname ?? "";
  const uid = header.uid >>> 0;
  const gid = header.gid >>> 0;
  const mtime = Math.floor(header.mtime);
  if (!fitsName(name)) records.push(["path", name]);
  if (!fitsName(linkname)) records.push(["linkpath", linkname]);
  if (uid > MAX_OCTAL7) records.push(["uid", String(uid)]);
  if (gid > MAX_OCTAL7) records.push(["gid", String(gid)]);
  if (size > MAX_OCTAL11) records.push(["size", String(size)]);
  if (mtime < 0 || mtime > MAX_OCTAL11) records.push(["mtime", String(mtime)]);
  for (const key of Object.keys(header.xattrs ?? {}).sort()) {
    records.push([`SCHILY.xattr.${key}`, header.xattrs![key]]);
  }
  const main = ustarBlock({
    name: truncate(name),
    mode: header.mode & 0o7777,
    uid: uid > MAX_OCTAL7 ? 0 : uid,
    gid: gid > MAX_OCTAL7 ? 0 : gid,
    size: size > MAX_OCTAL11 ? 0 : size,
    mtime: mtime < 0 || mtime > MAX_OCTAL11 ? 0 : mtime,
    typeflag: TYPEFLAGS[header.type],
    linkname: truncate(linkname),
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
  });
  if (records.length === 0) return main;
  records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const body = concatBytes(records.map(([k, v]) => paxRecord(k, v)));
  // As Go's archive/tar names it: <dir>/PaxHeaders.0/<base>.
  const trimmed = name.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const paxName = slash < 0
    ? `PaxHeaders.0/${trimmed}`
    : `${trimmed.slice(0, slash)}/PaxHeaders.0/${trimmed.slice(slash + 1)}`;
  const pax = ustarBlock({
    name: truncate(paxName),
    mode: 0,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: "x",
    linkname: "",
    devmajor: 0,
    devminor: 0,
  });
  const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
  return concatBytes([pax, body, new Uint8Array(pad), main]);
}

/** The longest ASCII prefix of `s` that fits 100 bytes (the full name is in a PAX record). */
function truncate(s: string): string {
  let out = "";
  for (const ch of s) {
    if (ch.charCodeAt(0) > 0x7f || out.length >= 100) break;
    out += ch;
  }
  return out;
}

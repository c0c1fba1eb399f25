/**
 * Reading a tar stream entry by entry: the loop both the layer applier and ADD's archive
 * extraction run. A small pull-based reader of our own (USTAR, PAX, GNU long names, base-256
 * numbers), so that backpressure is the caller's pace and names stay byte-exact: every name
 * and link target (USTAR fields, PAX `path`/`linkpath`, GNU long names) is decoded with
 * {@linkcode decodeName}, which keeps bytes that are not UTF-8 as lone surrogates, and PAX
 * values under `SCHILY.xattr.` stay raw bytes.
 *
 * @module
 */
import { decodeName } from "../fs/raw_name.ts";

const BLOCK = 512;

/** The type of a tar entry, as tar-stream names them. */
export type TarEntryType =
  | "file"
  | "link"
  | "symlink"
  | "character-device"
  | "block-device"
  | "directory"
  | "fifo"
  | "contiguous-file";

/** One entry's header, with its PAX records applied. */
export interface TarHeader {
  /** The entry's name; bytes that are not UTF-8 are lone surrogates (see `raw_name.ts`). */
  name: string;
  /** The target of a symlink or hard link, decoded as `name` is. */
  linkname: string;
  /** The entry's type. */
  type: TarEntryType;
  /** The mode bits of the header. */
  mode: number;
  /** Numeric owner. */
  uid: number;
  /** Numeric group. */
  gid: number;
  /** Size of the entry's data. */
  size: number;
  /** Modification time. */
  mtime: Date;
  /** A device's major number. */
  devmajor: number;
  /** A device's minor number. */
  devminor: number;
  /** The PAX records of the entry (global ones included): `SCHILY.xattr.*` as raw bytes. */
  pax: Record<string, string | Uint8Array>;
}

/** Handles one entry; `data` (a regular file's content) must be read or drained. */
export type TarEntryHandler = (header: TarHeader, data: AsyncIterable<Uint8Array>) => Promise<void>;

/** Options of {@linkcode forEachTarEntry}. */
export interface TarEntriesOptions {
  /** The error to throw for a malformed archive. */
  malformed: (error: unknown) => Error;
}

/** A malformed archive, as the reader finds it. */
class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarFormatError";
  }
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  "7": "contiguous-file",
};

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** Reads exact byte counts from a stream, handing out views of its chunks. */
class ByteReader {
  #chunk: Uint8Array = new Uint8Array(0);
  #done = false;
  constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async #fill(): Promise<boolean> {
    while (this.#chunk.length === 0) {
      if (this.#done) return false;
      const { value, done } = await this.reader.read();
      if (done) this.#done = true;
      else this.#chunk = value;
    }
    return true;
  }

  /** Up to `max` bytes (a view, valid until the next call), or `undefined` at the end. */
  async some(max: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill())) return undefined;
    const n = Math.min(max, this.#chunk.length);
    const out = this.#chunk.subarray(0, n);
    this.#chunk = this.#chunk.subarray(n);
    return out;
  }

  /** Exactly `n` bytes (a copy when they span chunks), or `undefined` if none are left. */
  async exact(n: number): Promise<Uint8Array | undefined> {
    const first = await this.some(n);
    if (first === undefined || first.length === n) return first;
    const out = new Uint8Array(n);
    out.set(first);
    let have = first.length;
    while (have < n) {
      const part = await this.some(n - have);
      if (part === undefined) throw new TarFormatError("unexpected end of archive");
      out.set(part, have);
      have += part.length;
    }
    return out;
  }

  /** Skips `n` bytes. */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      const part = await this.some(n);
      if (part === undefined) throw new TarFormatError("unexpected end of archive");
      n -= part.length;
    }
  }

  /** Reads and drops everything left. */
  async drain(): Promise<void> {
    while (await this.some(Infinity)) { /* trailing data */ }
  }
}

/** A NUL-terminated field. */
function field(block: Uint8Array, offset: number, length: number): Uint8Array {
  const f = block.subarray(offset, offset + length);
  const nul = f.indexOf(0);
  return nul < 0 ? f : f.subarray(0, nul);
}

/** A numeric field: octal (space or NUL terminated), or GNU base-256. */
function number(block: Uint8Array, offset: number, length: number): number {
  const f = block.subarray(offset, offset + length);
  if (f[0] & 0x80) {
    let n = f[0] & 0x3f;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i];
    return f[0] & 0x40 ? -n : n;
  }
  const text = latin1.decode(f).replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`invalid number field "${text}"`);
  return parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  const expected = number(block, 148, 8);
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return expected === unsigned || expected === signed;
}

/** Parses PAX records, keeping `SCHILY.xattr.*` values as raw bytes. */
export function decodePax(buf: Uint8Array): Record<string, string | Uint8Array> {
  const out: Record<string, string | Uint8Array> = {};
  let off = 0;
  while (off < buf.length) {
    let sp = off;
    while (sp < buf.length && buf[sp] !== 0x20) sp++;
    const len = parseInt(latin1.decode(buf.subarray(off, sp)), 10);
    if (!len || off + len > buf.length) {
      if (buf.subarray(off).every((b) => b === 0)) break;
      throw new TarFormatError("invalid PAX record");
    }
    const rec = buf.subarray(sp + 1, off + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError("invalid PAX record");
    const key = utf8.decode(rec.subarray(0, eq));
    const value = rec.subarray(eq + 1);
    out[key] = key.startsWith("SCHILY.xattr.")
      ? value.slice()
      : key === "path" || key === "linkpath"
      ? decodeName(value)
      : utf8.decode(value);
    off += len;
  }
  return out;
}

/**
 * Calls `onEntry` for each entry of the tar `stream`, one at a time, in order, reading the
 * stream only as fast as entries are handled; data after the end-of-archive blocks is read
 * and dropped (the stream is always consumed whole). On failure `stream` is cancelled and
 * what is thrown is: an error of `stream` itself (e.g. corrupt compressed data), since it is
 * the cause of whatever followed; else a malformed archive as `options.malformed(error)`
 * (also when a handler met it reading an entry's data); else the error of `onEntry`.
 */
export async function forEachTarEntry(
  stream: ReadableStream<Uint8Array>,
  onEntry: TarEntryHandler,
  options: TarEntriesOptions,
): Promise<void> {
  const reader = stream.getReader();
  const input = new ByteReader(reader);
  // What went wrong while reading, whoever (the loop or a handler reading data) met it.
  let sourceError: unknown;
  let formatError: TarFormatError | undefined;
  const read = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof TarFormatError) formatError ??= e;
      else sourceError ??= e;
      throw e;
    }
  };
  try {
    let globalPax: Record<string, string | Uint8Array> = {};
    let pax: Record<string, string | Uint8Array> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    while (true) {
      const block = await read(() => input.exact(BLOCK));
      if (block === undefined) break; // no end-of-archive blocks: accepted, as Go does
      if (block.every((b) => b === 0)) {
        await read(() => input.drain());
        break;
      }
      if (!checksumOk(block)) throw new TarFormatError("invalid tar header checksum");
      const typeflag = String.fromCharCode(block[156]);
      const size = number(block, 124, 12);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
        if (size > 64 * 1024 * 1024) throw new TarFormatError("extended header too large");
        const body = padded === 0 ? new Uint8Array(0) : await read(() => input.exact(padded));
        if (body === undefined) throw new TarFormatError("unexpected end of archive");
        const data = body.subarray(0, size);
        if (typeflag === "x") pax = { ...(pax ?? {}), ...decodePax(data) };
        else if (typeflag === "g") globalPax = { ...globalPax, ...decodePax(data) };
        else if (typeflag === "L") longName = decodeName(field(data, 0, data.length));
        else longLink = decodeName(field(data, 0, data.length));
        continue;
      }
      const type = TYPES[typeflag];
      if (type === undefined) throw new TarFormatError(`unsupported entry type "${typeflag}"`);
      const records = { ...globalPax, ...(pax ?? {}) };
      let name = decodeName(field(block, 0, 100));
      // POSIX USTAR ("ustar\0") has a name prefix; GNU ("ustar  ") uses the field otherwise.
      const posix = block[257] === 0x75 && block[262] === 0 && block[263] === 0x30;
      const prefix = posix ? field(block, 345, 155) : new Uint8Array(0);
      if (prefix.length > 0) name = `${decodeName(prefix)}/${name}`;
      const header: TarHeader = {
        name: (records.path as string | undefined) ?? longName ?? name,
        linkname: (records.linkpath as string | undefined) ?? longLink ??
          decodeName(field(block, 157, 100)),
        type,
        mode: number(block, 100, 8),
        uid: number(block, 108, 8),
        gid: number(block, 116, 8),
        size: typeof records.size === "string" ? Number(records.size) : size,
        mtime: new Date(number(block, 136, 12) * 1000),
        devmajor: number(block, 329, 8),
        devminor: number(block, 337, 8),
        pax: records,
      };
      pax = undefined;
      longName = undefined;
      longLink = undefined;
      const dataSize = type === "file" || type === "contiguous-file" ? header.size : size;
      let left = dataSize;
      const data = {
        async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
          while (left > 0) {
            const part = await read(() => input.some(left));
            if (part === undefined) {
              throw (formatError ??= new TarFormatError("unexpected end of archive"));
            }
            left -= part.length;
            yield part;
          }
        },
      };
      await onEntry(header, data);
      // Whatever the handler left unread, and the padding to the next block.
      await read(() => input.skip(left + (Math.ceil(dataSize / BLOCK) * BLOCK - dataSize)));
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (sourceError !== undefined) throw sourceError;
    if (formatError !== undefined) throw options.malformed(formatError);
    if (e instanceof TarFormatError) throw options.malformed(e);
    throw e;
  } finally {
    reader.releaseLock();
  }
}

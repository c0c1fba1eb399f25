/**
 * Content digests (`sha256:<hex>`), computed with `node:crypto`, which streams far faster
 * than WebCrypto for large blobs.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { ImgError } from "./errors.ts";

/** A digest string such as `sha256:e3b0c442...`. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** Reports whether `value` is a well-formed sha256 digest. */
export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/** Returns `value` as a digest, or throws a user-facing error if it is not a sha256 digest. */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new ImgError(`Invalid digest "${value}": expected sha256: followed by 64 hex digits`);
  }
  return value;
}

/** Returns the hex part of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice("sha256:".length);
}

/** Computes the sha256 digest of bytes or a string. */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** A streaming digester: feed chunks with `update`, then read `digest()` once. */
export class Digester {
  #hash: Hash = createHash("sha256");
  #size = 0;

  /** Adds a chunk. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }

  /** The number of bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** Finishes the hash and returns the digest. May be called only once. */
  digest(): Digest {
    return `sha256:${this.#hash.digest("hex")}`;
  }
}

/** Computes the digest and size of a stream, consuming it. */
export async function digestStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ digest: Digest; size: number }> {
  const d = new Digester();
  for await (const chunk of stream) d.update(chunk);
  return { digest: d.digest(), size: d.size };
}

/**
 * The image store: image names mapped to the descriptor of their manifest (or index) in the
 * content store, with created and updated times.
 *
 * @module
 */
import type { Digest } from "../digest.ts";
import { ImgError, NotFoundError } from "../errors.ts";
import type { Descriptor } from "../schemas.ts";
import type { StateDB } from "../state/db.ts";

/** An image record. */
export interface ImageRecord {
  /** The full normalized reference (`docker.io/library/busybox:latest`). */
  name: string;
  /** The descriptor of the image's manifest or index. */
  target: Descriptor;
  /** When the name was first stored. */
  createdAt: Date;
  /** When the name last changed. */
  updatedAt: Date;
}

interface ImageRow {
  name: string;
  digest: string;
  media_type: string;
  size: number;
  platform: string | null;
  created_at: number;
  updated_at: number;
}

function toRecord(row: ImageRow): ImageRecord {
  const target: Descriptor = { mediaType: row.media_type, digest: row.digest, size: row.size };
  if (row.platform) target.platform = JSON.parse(row.platform);
  return {
    name: row.name,
    target,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** Names to image descriptors, stored in the state database. */
export class ImageStore {
  #db: StateDB;

  /** Creates an image store over the state database. */
  constructor(db: StateDB) {
    this.#db = db;
  }

  /** Stores `name` -> `target`, keeping the created time if the name existed. */
  put(name: string, target: Descriptor, now: Date = new Date()): ImageRecord {
    const t = now.getTime();
    this.#db.run(
      `INSERT INTO images (name, digest, media_type, size, platform, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET
         digest = excluded.digest, media_type = excluded.media_type, size = excluded.size,
         platform = excluded.platform,
         updated_at = CASE WHEN images.digest = excluded.digest THEN images.updated_at ELSE excluded.updated_at END`,
      name,
      target.digest,
      target.mediaType,
      target.size,
      target.platform ? JSON.stringify(target.platform) : null,
      t,
      t,
    );
    return this.get(name)!;
  }

  /** Returns the record for `name`, or `undefined`. */
  get(name: string): ImageRecord | undefined {
    const row = this.#db.get<ImageRow>("SELECT * FROM images WHERE name = ?", name);
    return row ? toRecord(row) : undefined;
  }

  /** Returns the record for `name`, or throws a user-facing error. */
  require(name: string, familiar = name): ImageRecord {
    const rec = this.get(name);
    if (!rec) throw new NotFoundError(`No such image: ${familiar}`);
    return rec;
  }

  /** Every image record, sorted by name. */
  list(): ImageRecord[] {
    return this.#db.all<ImageRow>("SELECT * FROM images ORDER BY name").map(toRecord);
  }

  /** The names pointing at `digest`. */
  namesFor(digest: Digest | string): string[] {
    return this.#db.all<{ name: string }>(
      "SELECT name FROM images WHERE digest = ? ORDER BY name",
      digest,
    )
      .map((r) => r.name);
  }

  /** Deletes `name`; returns false if it did not exist. */
  delete(name: string): boolean {
    return this.#db.run("DELETE FROM images WHERE name = ?", name) > 0;
  }
}

/**
 * Finds the image a user means by `input`: a name (normalized as docker does by `normalize`)
 * or a manifest digest (`sha256:abc...`, or a unique prefix of its hex of at least 4 digits).
 */
export function findImage(
  store: ImageStore,
  input: string,
  normalize: (input: string) => string,
): ImageRecord | undefined {
  const hex = input.startsWith("sha256:") ? input.slice(7) : input;
  if (/^[a-f0-9]{4,64}$/.test(hex)) {
    const matches = store.list().filter((r) => r.target.digest.slice(7).startsWith(hex));
    const digests = new Set(matches.map((m) => m.target.digest));
    if (digests.size === 1) return matches[0];
    if (digests.size > 1) {
      throw new ImgError(`Image ID prefix ${input} is ambiguous: give more digits`);
    }
  }
  let name: string;
  try {
    name = normalize(input);
  } catch (e) {
    if (/^[a-f0-9]{4,64}$/.test(hex)) return undefined;
    throw e;
  }
  return store.get(name);
}

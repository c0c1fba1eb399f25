/**
 * Remote blobs: layer blobs that a stored image (or a build) needs but the content store does
 * not hold yet, with the registry repositories known to have them. A build whose steps all
 * hit an imported cache (`--cache-from`) stores and pushes its image without downloading a
 * layer: the image's layers are recorded here, a push to the registry that has them mounts
 * them (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`), and whoever needs their
 * bytes later (`img unpack`, `img save`, a push to another registry, a build on the image)
 * fetches them first.
 *
 * The invariant, with the image store and the content store:
 *
 * - every blob an image record reaches is in the content store (its index, manifests and
 *   configs always), except layer blobs, each of which is either in the content store or
 *   recorded here with at least one repository that had it when it was recorded;
 * - sources are recorded before the image record (or manifest) that needs them is written, so
 *   a process killed in between leaves at most a source row nothing needs (a few bytes),
 *   never an image whose layers cannot be found;
 * - a fetched blob lands in the content store as every blob does (verified, then renamed into
 *   place), so the state is never half-written; its sources stay, for mounting on a push.
 *
 * `img du` and `img prune` are unaffected: they reach an image's layers by digest and skip
 * those the content store lacks.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { isIndexMediaType, isManifestMediaType } from "../media_types.ts";
import { type Platform, platformMatches } from "../platform.ts";
import { formatReference, type Reference } from "../reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { RemoteBlobStore } from "../registry/transfer.ts";
import type { Descriptor } from "../schemas.ts";
import type { StateDB } from "../state/db.ts";
import { parseIndex, parseManifest } from "./image.ts";

/** The registry client a fetch uses, created only when a blob is missing. */
export type RegistryClientSource = () => Promise<RegistryClient>;

/** Remote blobs of one state directory: where a layer the content store lacks can be found. */
export class RemoteBlobs implements RemoteBlobStore {
  readonly #db: StateDB;
  readonly #content: ContentStore;
  readonly #client: RegistryClientSource;
  #opened?: Promise<RegistryClient>;

  /** Remote blobs of the state with `db` and `content`, fetched through `client`. */
  constructor(deps: { db: StateDB; content: ContentStore }, client: RegistryClientSource) {
    this.#db = deps.db;
    this.#content = deps.content;
    this.#client = client;
  }

  /** Records that the repository of `source` (its domain and path) has each of `digests`. */
  record(digests: Iterable<string>, source: Reference): void {
    const now = Date.now();
    this.#db.transaction(() => {
      for (const digest of new Set(digests)) {
        this.#db.run(
          `INSERT INTO blob_sources (digest, domain, repository, recorded_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (digest, domain, repository) DO UPDATE SET recorded_at = excluded.recorded_at`,
          digest,
          source.domain,
          source.path,
          now,
        );
      }
    });
  }

  /** The repositories known to have `digest`, the most recently recorded first. */
  sources(digest: string): Reference[] {
    return this.#db.all<{ domain: string; repository: string }>(
      "SELECT domain, repository FROM blob_sources WHERE digest = ? ORDER BY recorded_at DESC, rowid DESC",
      digest,
    ).map((r) => ({ domain: r.domain, path: r.repository }));
  }

  /**
   * A repository on `target`'s registry, other than `target`'s own, known to have `digest`:
   * where a push to `target` can mount the blob from.
   */
  mountSource(digest: string, target: Reference): Reference | undefined {
    return this.sources(digest).find((s) => s.domain === target.domain && s.path !== target.path);
  }

  /** The blobs of `descriptors` that the content store lacks. */
  async missing(descriptors: readonly Descriptor[]): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const d of descriptors) if (!(await this.#content.has(d.digest as Digest))) out.push(d);
    return out;
  }

  /**
   * Brings every blob of `descriptors` into the content store: those it lacks are fetched from
   * their recorded sources, in turn, then from `fallback` (the repository the caller read the
   * manifest from).
   *
   * @throws {ImgError} when a blob is nowhere to be fetched from, naming the sources tried.
   */
  async fetch(descriptors: readonly Descriptor[], fallback?: Reference): Promise<void> {
    for (const d of await this.missing(descriptors)) {
      const sources = this.sources(d.digest);
      if (
        fallback && !sources.some((s) => s.domain === fallback.domain && s.path === fallback.path)
      ) {
        sources.push({ domain: fallback.domain, path: fallback.path });
      }
      if (sources.length === 0) {
        throw new ImgError(
          `Layer ${d.digest} is not in the content store and no registry is known to have it: pull or build the image again`,
        );
      }
      let failure: unknown;
      for (const source of sources) {
        try {
          await (await this.#registry()).fetchBlob(source, d, this.#content);
          failure = undefined;
          break;
        } catch (e) {
          failure = e;
        }
      }
      if (failure !== undefined) {
        const tried = sources.map((s) => formatReference(s)).join(", ");
        const why = failure instanceof Error ? failure.message : String(failure);
        throw new ImgError(
          `Layer ${d.digest} could not be fetched from ${tried}: ${why}; pull or build the image again`,
          { cause: failure },
        );
      }
    }
  }

  /**
   * Brings the layers of the stored image `target` into the content store: a manifest's, or
   * those of each manifest of an index that the content store has (only `platform`'s, when
   * given), as `img save` and `img unpack` need them.
   */
  async fetchImage(target: Descriptor, platform?: Platform): Promise<void> {
    if (isIndexMediaType(target.mediaType)) {
      if (!(await this.#content.has(target.digest as Digest))) return;
      const index = parseIndex(
        await this.#content.read(target.digest as Digest),
        `Index ${target.digest}`,
      );
      for (const m of index.manifests) {
        if (platform && !(m.platform && platformMatches(platform, m.platform))) continue;
        await this.fetchImage(m);
      }
      return;
    }
    if (!isManifestMediaType(target.mediaType)) return;
    if (!(await this.#content.has(target.digest as Digest))) return;
    const manifest = parseManifest(
      await this.#content.read(target.digest as Digest),
      `Manifest ${target.digest}`,
    );
    await this.fetch(manifest.layers);
  }

  #registry(): Promise<RegistryClient> {
    return this.#opened ??= this.#client();
  }
}

/**
 * Test helpers: small random images written into a content store, and an in-memory
 * credential store.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import type { ContentStore } from "../content/store.ts";
import type { Credential, CredentialStore } from "../credentials.ts";
import { type Digest, sha256 } from "../digest.ts";
import { MediaType } from "../media_types.ts";
import type { Descriptor, OciPlatform } from "../schemas.ts";

/** A credential store that keeps credentials in a map. */
export class MemoryCredentialStore implements CredentialStore {
  /** The stored credentials by host. */
  readonly entries = new Map<string, Credential>();
  /** The hosts asked for, in order. */
  readonly asked: string[] = [];

  /** Returns the credential for `host`. */
  get(host: string): Promise<Credential | undefined> {
    this.asked.push(host);
    return Promise.resolve(this.entries.get(host));
  }

  /** Stores a credential. */
  store(host: string, credential: Credential): Promise<void> {
    this.entries.set(host, credential);
    return Promise.resolve();
  }

  /** Removes a credential. */
  erase(host: string): Promise<boolean> {
    return Promise.resolve(this.entries.delete(host));
  }
}

/** Random bytes of any length (`crypto.getRandomValues` fills at most 64 KiB per call). */
export function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(size, off + 65536)));
  }
  return out;
}

/** A small image stored in a content store. */
export interface TestImage {
  /** The manifest's descriptor (with `platform` set). */
  manifest: Descriptor;
  /** The config's descriptor. */
  config: Descriptor;
  /** The layers' descriptors. */
  layers: Descriptor[];
}

/**
 * Writes an image with `layerSizes.length` random gzip layers (uncompressed payloads of the
 * given sizes, incompressible, so the blobs are about that size) into `store`.
 */
export async function makeTestImage(
  store: ContentStore,
  options: { layerSizes?: number[]; platform?: OciPlatform } = {},
): Promise<TestImage> {
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const size of options.layerSizes ?? [4096]) {
    const raw = randomBytes(size);
    const gz = gzipSync(raw, { level: 1 });
    const info = await store.put(gz);
    layers.push({ mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size });
    diffIds.push(sha256(raw));
  }
  const configBytes = JSON.stringify({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: diffIds },
  });
  const cfg = await store.put(configBytes);
  const config = { mediaType: MediaType.ociConfig, digest: cfg.digest, size: cfg.size };
  const manifestBytes = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config,
    layers,
  });
  const m = await store.put(manifestBytes);
  return {
    manifest: { mediaType: MediaType.ociManifest, digest: m.digest, size: m.size, platform },
    config,
    layers,
  };
}

/** Writes an OCI index over the given manifests into `store` and returns its descriptor. */
export async function makeTestIndex(
  store: ContentStore,
  manifests: Descriptor[],
): Promise<Descriptor> {
  const bytes = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });
  const info = await store.put(bytes);
  return { mediaType: MediaType.ociIndex, digest: info.digest as Digest, size: info.size };
}

/**
 * A build's base image (`FROM name`), found as a build finds it: the image stored under the
 * name, else the registry's. The registry's image is pulled as far as its config (its layers
 * stay remote blobs until a step unpacks them) and kept under the name when it is the host's
 * platform, as `img pull` keeps it.
 *
 * @module
 */
import {
  configMatchesPlatform,
  hostPlatform,
  type Platform,
  platformMatches,
  selectPlatformManifest,
} from "../platform.ts";
import { formatReference, parseReference } from "../reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { platformChooser, pull } from "../registry/transfer.ts";
import type { State } from "../state/state_dir.ts";
import { type LoadedImage, loadImage } from "./image.ts";
import type { RemoteBlobs } from "./remote_blobs.ts";
import { findImage } from "./store.ts";

/** What {@linkcode resolveBaseImage} works with. */
export interface BaseImageDeps {
  /** The state: its image store and content store. */
  state: State;
  /** Where images are pulled from. */
  registry: RegistryClient;
  /** Records where the layers left in the registry are. */
  remote: RemoteBlobs;
}

/** Options of {@linkcode resolveBaseImage}. */
export interface BaseImageOptions {
  /** Ask the registry even when the name is stored (`--pull`, a `docker-image://` context). */
  pull?: boolean;
  /** Keep a pulled image of the host's platform under its name (default `true`). */
  keepName?: boolean;
}

/**
 * The image `input` names, for `platform`: the stored one (when its platform fits, and
 * unless `options.pull`), else pulled from its registry (manifest and config).
 */
export async function resolveBaseImage(
  deps: BaseImageDeps,
  input: string,
  platform: Platform,
  options: BaseImageOptions = {},
): Promise<LoadedImage> {
  const { state } = deps;
  const ref = parseReference(input);
  const name = formatReference(ref);
  const local = options.pull
    ? undefined
    : findImage(state.images, name, (s) => formatReference(parseReference(s)));
  if (
    local &&
    (local.target.platform === undefined || selectPlatformManifest([local.target], platform))
  ) {
    // A stored image without a platform in its record is used only if its config fits.
    const image = await loadImage(state.content, local.target, platform).catch(() => undefined);
    if (image && configMatchesPlatform(image.config, platform)) return image;
  }
  const result = await pull(deps.registry, ref, state.content, {
    choose: platformChooser(platform),
    deferLayers: deps.remote,
  });
  if (platformMatches(hostPlatform(), platform) && options.keepName !== false) {
    state.images.put(name, result.manifest);
  }
  return await loadImage(state.content, result.manifest, platform);
}

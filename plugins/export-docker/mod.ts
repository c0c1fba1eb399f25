/**
 * `@img/export-docker`: the `docker` exporter, `-o type=docker,dest=image.tar[,name=...]`.
 * It writes the built image as a docker-archive tarball, the format `docker save` writes and
 * `docker load` and `podman load` read, named with each of `name=` (default: the `-t` names).
 * Without `dest` (or with `dest=-`) the tarball goes to standard output, which must not be a
 * terminal, so `img build -t app -o type=docker . | docker load` works.
 *
 * The archive is written by {@linkcode writeDockerArchive}: layers are stored as built and
 * names as `docker save` writes them (`app:latest`), into a temporary file renamed into place
 * when complete. `img save [--format docker] IMAGE...` is this exporter applied to stored
 * images ({@linkcode dockerExporter}'s `saveImages`), with the same writer. It takes the image
 * attributes of `@img/core` (`compression`, `compression-level`, `force-compression`,
 * `oci-mediatypes=false`, `rewrite-timestamp`, `annotation.<key>=<value>`).
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import * as z from "zod/mini";
import {
  API_VERSION,
  ExportDestination,
  type Exporter,
  type ExporterInstance,
  type ExporterPlugin,
  type ExportResponse,
  imageNamesAttribute,
  RESPONSE_STDOUT,
} from "@img/core";
import { attestationsNotHeld } from "@img/core/attest";
import { exportImage, parseImageOutputAttributes } from "@img/core/export";
import { writeDockerArchive } from "./docker_archive.ts";

export {
  type DockerArchiveManifestEntry,
  type DockerArchiveOptions,
  type DockerArchiveResult,
  writeDockerArchive,
} from "./docker_archive.ts";

/** Why a docker archive cannot hold attestations. */
export const DOCKER_NO_INDEX = "a docker archive has no image index";

const attributes = {
  dest: z.optional(z.string()),
  name: z.optional(z.string()),
};

/** The `docker` exporter. */
export const dockerExporter: Exporter = {
  resolve(input: Record<string, string>): ExporterInstance {
    const { attrs: opts, image } = parseImageOutputAttributes(input, attributes);
    const dest = ExportDestination.resolve(opts.dest);
    return {
      // The layers' blobs, not the root filesystem.
      usesRootfs: false,
      async export(result, ctx): Promise<ExportResponse> {
        if (result.attestations?.length) {
          // As buildx: a docker archive holds no image index to carry them in.
          throw attestationsNotHeld("docker", DOCKER_NO_INDEX);
        }
        const names = imageNamesAttribute(opts.name, result.names);
        const { manifest } = await exportImage(result, ctx, image);
        await dest.write((out) => writeDockerArchive([{ names, manifest }], ctx.content, out));
        return {
          "containerimage.digest": manifest.digest,
          ...(names.length ? { "image.name": names.join(",") } : {}),
          ...(dest.isStdout ? { [RESPONSE_STDOUT]: "true" } : {}),
        };
      },
    };
  },
  async saveImages({ images, dest }, ctx): Promise<ExportResponse> {
    const out = ExportDestination.resolve(dest);
    await out.write((stream) => writeDockerArchive(images, ctx.content, stream));
    return out.isStdout ? { [RESPONSE_STDOUT]: "true" } : {};
  },
};

/** The plugin. */
const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "docker",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Writes the image as a docker-archive tarball (docker load, podman load)",
  create: () => dockerExporter,
};

export default plugin;

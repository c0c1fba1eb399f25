/**
 * A third-party exporter plugin that can save stored images (`img save --format manifests`):
 * it writes a JSON summary of each image (names, manifest, config and layer digests) read from
 * the content store, and for a build the `-t` names and the config's layer diff ids.
 */
import {
  API_VERSION,
  type ContentStore,
  type Digest,
  ExportDestination,
  type ExporterPlugin,
  type Manifest,
} from "@img/core";

async function writeJSON(dest: string | undefined, value: unknown): Promise<void> {
  await ExportDestination.resolve(dest, { what: "a JSON summary" }).write(async (out) => {
    const writer = out.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n"));
    await writer.close();
  });
}

async function manifestOf(content: ContentStore, digest: string): Promise<Manifest> {
  return await content.readJSON(digest as Digest) as Manifest;
}

const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "manifests",
  version: "0.0.1",
  apiVersion: API_VERSION,
  description: "Writes a JSON summary of images (img save --format manifests)",
  create: () => ({
    resolve: (attrs) => ({
      async export(result) {
        await writeJSON(attrs.dest, { names: result.names, diffIDs: result.config.rootfs });
        return {};
      },
    }),
    async saveImages({ images, dest }, ctx) {
      const summary = [];
      for (const image of images) {
        const manifest = await manifestOf(ctx.content, image.manifest.digest);
        summary.push({
          names: image.names,
          manifest: image.manifest.digest,
          config: manifest.config.digest,
          layers: manifest.layers.map((l) => l.digest),
        });
      }
      await writeJSON(dest, summary);
      return {};
    },
  }),
};

export default plugin;

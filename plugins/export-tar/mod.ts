/**
 * `@img/export-tar`: the `tar` exporter, `-o type=tar,dest=rootfs.tar` (or `-o -`, or
 * `type=tar` without `dest`, for standard output, which must not be a terminal). It writes
 * the final root filesystem of the build as one tar archive, as `docker export` and
 * BuildKit's tar exporter do: every file, directory, symlink, hard link (written once, then
 * as links to the first name), fifo and device node, with its numeric owner (as inside the
 * image: root is 0 even when img runs unprivileged), mode incl. setuid/setgid/sticky, mtime
 * and extended attributes (PAX `SCHILY.xattr.*`); entries in a fixed order, parents first.
 *
 * The tar is written by the layer writer of `@img/core` (`writeLayerDiff` of the whole
 * tree), into a temporary file renamed into place when complete.
 *
 * ```sh
 * img build -o type=tar,dest=rootfs.tar .
 * img build -o - . | tar -t
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import { join } from "node:path";
import * as z from "zod/mini";
import {
  API_VERSION,
  ExportDestination,
  type Exporter,
  type ExporterInstance,
  type ExporterPlugin,
  type ExportResponse,
  parseExporterAttributes,
  platformPathName,
  RESPONSE_STDOUT,
  writeLayerDiff,
} from "@img/core";
import { libc, mountAt } from "@img/core/sys";

const attributes = z.object({ dest: z.optional(z.string()) });

/** The `tar` exporter. */
export const tarExporter: Exporter = {
  resolve(attrs: Record<string, string>): ExporterInstance {
    const opts = parseExporterAttributes(attrs, attributes);
    const dest = ExportDestination.resolve(opts.dest);
    return {
      async export(result): Promise<ExportResponse> {
        await dest.write((out) => writeLayerDiff(undefined, result.rootfs, out));
        return dest.isStdout ? { [RESPONSE_STDOUT]: "true" } : {};
      },
      // Several platforms: one tar with each platform's files under `linux_arm64/`, as buildx
      // writes it: each root filesystem is bound (read-only) under a directory of that name.
      async exportPlatforms(results, ctx): Promise<ExportResponse> {
        const top = await Deno.makeTempDir({ dir: ctx.stateDir, prefix: "tar-export-" });
        const mounted: string[] = [];
        try {
          for (const { platform, result } of results) {
            const dir = join(top, platformPathName(platform));
            await Deno.mkdir(dir, { mode: 0o755 });
            mountAt({ type: "bind", source: result.rootfs, options: ["rbind", "ro"] }, dir);
            mounted.push(dir);
          }
          await dest.write((out) => writeLayerDiff(undefined, top, out));
        } finally {
          for (const dir of mounted.reverse()) libc.umount2(dir, libc.MNT_DETACH);
          // Never recursive: a mount left behind must not lose the snapshot's files.
          for (const { platform } of results) {
            await Deno.remove(join(top, platformPathName(platform))).catch(() => {});
          }
          await Deno.remove(top).catch(() => {});
        }
        return dest.isStdout ? { [RESPONSE_STDOUT]: "true" } : {};
      },
    };
  },
};

/** The plugin. */
const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "tar",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Writes the final root filesystem as a tar archive (a file or stdout)",
  create: () => tarExporter,
};

export default plugin;

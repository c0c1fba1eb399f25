/**
 * `@img/export-local`: the `local` exporter, `-o type=local,dest=DIR` (or `-o DIR`). It
 * writes the final root filesystem of the build into the directory `DIR`: files, directories,
 * symlinks, hard links (kept as links), fifos, modes incl. setuid/setgid/sticky, extended
 * attributes and times, as BuildKit's local exporter does.
 *
 * Owners: run as root, files keep the owners they have in the image. Run as an ordinary user
 * (img then works as root of a user namespace mapped to the user's subordinate ids), every
 * file is written as the user, as BuildKit's local exporter does rootless: the user can read,
 * change and delete all of it without `unshare`. Device nodes cannot be created then and are
 * skipped with a warning.
 *
 * `DIR` need not exist. A new `DIR` is filled under a temporary name next to it and renamed
 * into place when complete, so a failed export leaves nothing. An existing `DIR` receives the
 * tree as BuildKit's local exporter writes into one: the result is first copied into a
 * temporary directory inside it, then each entry is moved into place (a file replaces one of
 * the same name by a rename, directories are merged, other files in `DIR` are left alone).
 *
 * ```sh
 * img build -o out .                # out/ holds the root filesystem
 * img build -o type=local,dest=. .  # a FROM scratch stage's files, into the current directory
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import { basename, dirname, join, resolve } from "node:path";
import * as z from "zod/mini";
import {
  API_VERSION,
  copyTree,
  type Exporter,
  type ExporterInstance,
  type ExporterPlugin,
  type ExportResponse,
  ImgError,
  parseExporterAttributes,
  platformPathName,
  STDOUT_DEST,
} from "@img/core";
import { mergeInto } from "./_merge.ts";
import { isHostRoot } from "./_owner.ts";

const attributes = z.object({ dest: z.optional(z.string()) });

/** Options of {@linkcode exportDirectory}. */
export interface ExportDirectoryOptions {
  /** Keep the tree's owners (default: when running as real root). */
  sameOwner?: boolean;
  /** Receives a line for each node that could not be written (device nodes, sockets). */
  onWarning?: (message: string) => void;
}

/**
 * Writes the tree `rootfs` into the directory `dest` as the `local` exporter does: a new
 * `dest` appears complete or not at all; an existing one has the tree merged into it.
 */
export async function exportDirectory(
  rootfs: string,
  dest: string,
  options: ExportDirectoryOptions = {},
): Promise<void> {
  const copy = {
    sameOwner: options.sameOwner ?? isHostRoot(),
    onWarning: options.onWarning,
  };
  const abs = resolve(dest);
  const existing = await Deno.stat(abs).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  });
  if (existing && !existing.isDirectory) {
    throw new ImgError(
      `Cannot write the local export to ${dest}: it exists and is not a directory; remove it or choose another dest`,
    );
  }
  const tmp = existing
    ? join(abs, `.img-export-${crypto.randomUUID().slice(0, 8)}.partial`)
    : join(dirname(abs), `.${basename(abs)}.${crypto.randomUUID().slice(0, 8)}.partial`);
  if (!existing) await Deno.mkdir(dirname(abs), { recursive: true });
  try {
    await copyTree(rootfs, tmp, copy);
    if (existing) await mergeInto(tmp, abs, copy);
    else await Deno.rename(tmp, abs);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** The `local` exporter. */
export const localExporter: Exporter = {
  resolve(attrs: Record<string, string>): ExporterInstance {
    const { dest } = parseExporterAttributes(attrs, attributes);
    if (dest === undefined || dest === "" || dest === STDOUT_DEST) {
      throw new ImgError(
        "No directory to write to: give dest=DIR (or -o DIR); for a tar on stdout use -o -",
      );
    }
    return {
      async export(result, ctx): Promise<ExportResponse> {
        await exportDirectory(result.rootfs, dest, {
          onWarning: (message) =>
            ctx.progress.write({ type: "warning", message, time: Date.now() }),
        });
        return {};
      },
      // Several platforms: a directory per platform (`DEST/linux_arm64/`), as buildx writes.
      async exportPlatforms(results, ctx): Promise<ExportResponse> {
        for (const { platform, result } of results) {
          await exportDirectory(result.rootfs, join(dest, platformPathName(platform)), {
            onWarning: (message) =>
              ctx.progress.write({ type: "warning", message, time: Date.now() }),
          });
        }
        return {};
      },
    };
  },
};

/** The plugin. */
const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "local",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Writes the final root filesystem into a directory",
  create: () => localExporter,
};

export default plugin;

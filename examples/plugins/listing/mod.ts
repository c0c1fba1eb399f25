/**
 * An example third-party exporter: `listing` writes an SBOM-like JSON listing of every file
 * in the built root filesystem, with its path, type, size, mode and sha256.
 *
 * ```sh
 * img build --plugin ./examples/plugins/listing/mod.ts -o type=listing,dest=files.json .
 * ```
 *
 * It lives outside img's workspace and uses nothing but `@img/core`, the same API the
 * built-in exporters use (see the module documentation of `@img/core`).
 *
 * @module
 */
import {
  API_VERSION,
  Digester,
  ExportDestination,
  type ExporterPlugin,
  type ExportResponse,
  ImgError,
  RESPONSE_STDOUT,
} from "@img/core";

/** One entry of the listing. */
export interface ListedFile {
  /** Absolute path inside the image (`/bin/sh`). */
  path: string;
  /** `file`, `dir`, `symlink`, `fifo`, `char`, `block` or `socket`. */
  type: string;
  /** Size in bytes (a symlink's is the length of its target; 0 for directories). */
  size: number;
  /** Permission bits in octal, setuid/setgid/sticky included (`0755`). */
  mode: string;
  /** `sha256:<hex>` of a regular file's content. */
  sha256?: string;
  /** A symlink's target. */
  target?: string;
}

/** What the exporter writes. */
export interface Listing {
  /** The format, for readers: `img-listing/v1`. */
  schema: "img-listing/v1";
  /** The names the image was built with (`-t`). */
  names: string[];
  /** The image's platform, from its config. */
  platform: string;
  /** Every file, sorted by path. */
  files: ListedFile[];
}

function typeOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "symlink";
  if (info.isFile) return "file";
  if (info.isDirectory) return "dir";
  if (info.isFifo) return "fifo";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  return "socket";
}

async function hashFile(path: string): Promise<string> {
  const digester = new Digester();
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) digester.update(chunk);
  return digester.digest();
}

/** Lists every file under `root`, depth first, sorted by path. */
export async function listTree(root: string): Promise<ListedFile[]> {
  const files: ListedFile[] = [];
  const walk = async (dir: string, rel: string) => {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    for (const name of names.sort()) {
      const abs = `${dir}/${name}`;
      const info = await Deno.lstat(abs);
      const entry: ListedFile = {
        path: `${rel}/${name}`,
        type: typeOf(info),
        size: info.isDirectory ? 0 : info.size,
        mode: ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0"),
      };
      if (info.isFile) entry.sha256 = await hashFile(abs);
      if (info.isSymlink) entry.target = await Deno.readLink(abs);
      files.push(entry);
      if (info.isDirectory) await walk(abs, entry.path);
    }
  };
  await walk(root, "");
  return files;
}

const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "listing",
  version: "0.1.0",
  apiVersion: API_VERSION,
  description: "Writes a JSON listing of every file of the result (path, type, size, mode, sha256)",
  create: () => ({
    resolve(attrs) {
      for (const key of Object.keys(attrs)) {
        if (key !== "dest") {
          throw new ImgError(`Unknown attribute "${key}": use dest=FILE (or dest=- for stdout)`);
        }
      }
      // A file written atomically, or standard output for dest=- (a terminal is fine: it is text).
      const dest = ExportDestination.resolve(attrs.dest, { allowTerminal: true });
      return {
        async export(result): Promise<ExportResponse> {
          const { config } = result;
          const listing: Listing = {
            schema: "img-listing/v1",
            names: result.names,
            platform: `${config.os}/${config.architecture}${
              config.variant ? `/${config.variant}` : ""
            }`,
            files: await listTree(result.rootfs),
          };
          const text = new TextEncoder().encode(JSON.stringify(listing, null, 2) + "\n");
          await dest.write(async (out) => {
            const writer = out.getWriter();
            await writer.write(text);
            await writer.close();
          });
          return dest.isStdout ? { [RESPONSE_STDOUT]: "true" } : {};
        },
      };
    },
  }),
};

export default plugin;

/**
 * Where a file-writing exporter writes: a file, written atomically (a temporary file next to
 * it, renamed into place once complete, so a failed export leaves no half-written file), or
 * standard output (`dest=-`, or no `dest`), which is refused when it is a terminal, as
 * `docker save` and BuildKit's tar exporters refuse.
 *
 * ```ts
 * import { ExportDestination } from "@img/core";
 *
 * const dest = ExportDestination.resolve(`${await Deno.makeTempDir()}/report.txt`); // in resolve()
 * await dest.write(async (out) => { // in export()
 *   const writer = out.getWriter();
 *   await writer.write(new TextEncoder().encode("done\n"));
 *   await writer.close();
 * });
 * ```
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { ImgError } from "../errors.ts";

/**
 * The key an exporter sets to `"true"` in its {@linkcode ExportResponse} when it wrote to
 * standard output, so that the CLI prints nothing else there.
 */
export const RESPONSE_STDOUT = "exporter.stdout";

/** The `dest` value that means standard output. */
export const STDOUT_DEST = "-";

/** Standard output, as far as an {@linkcode ExportDestination} needs it (tests swap it). */
export interface StandardOutput {
  /** Whether it is a terminal. */
  isTerminal(): boolean;
  /** Writes some of `p`, returning how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
}

/** Options of {@linkcode ExportDestination.resolve}. */
export interface ExportDestinationOptions {
  /** Standard output; default `Deno.stdout`. */
  stdout?: StandardOutput;
  /** What is written, for the terminal error (default "a tar archive"). */
  what?: string;
  /** Write to standard output even when it is a terminal (text output). */
  allowTerminal?: boolean;
}

/** A file or standard output that an exporter writes one stream to. */
export class ExportDestination {
  /** The file written, or undefined for standard output. */
  readonly path?: string;
  readonly #stdout: StandardOutput;

  private constructor(path: string | undefined, stdout: StandardOutput) {
    this.path = path;
    this.#stdout = stdout;
  }

  /**
   * The destination for `dest`: standard output for `-` or undefined, else the file `dest`
   * (relative to the working directory).
   *
   * @throws {ImgError} when standard output is meant and it is a terminal (unless allowed).
   */
  static resolve(
    dest: string | undefined,
    options: ExportDestinationOptions = {},
  ): ExportDestination {
    const stdout = options.stdout ?? Deno.stdout;
    if (dest === undefined || dest === STDOUT_DEST) {
      if (!options.allowTerminal && stdout.isTerminal()) {
        throw new ImgError(
          `Refusing to write ${
            options.what ?? "a tar archive"
          } to a terminal: give dest=FILE or redirect the output`,
        );
      }
      return new ExportDestination(undefined, stdout);
    }
    if (dest === "") {
      throw new ImgError("Empty dest=: give dest=FILE, or dest=- for standard output");
    }
    return new ExportDestination(dest, stdout);
  }

  /** Whether this is standard output. */
  get isStdout(): boolean {
    return this.path === undefined;
  }

  /** Where it goes, for messages: the path, or "stdout". */
  toString(): string {
    return this.path ?? "stdout";
  }

  /**
   * Runs `write` with a stream into the destination. `write` must close the stream (or
   * abort it) when it is done; the archive writers of `@img/core` do. A file is first
   * written next to its final path and renamed over it when `write` succeeds; when it
   * fails, the temporary file is removed. Standard output itself is never closed.
   */
  async write<T>(write: (out: WritableStream<Uint8Array>) => Promise<T>): Promise<T> {
    if (this.path === undefined) return await write(writableOf(this.#stdout));
    const dir = dirname(this.path);
    await Deno.mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.path)}.${crypto.randomUUID().slice(0, 8)}.partial`);
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      const result = await write(file.writable);
      closeQuietly(file);
      await Deno.rename(tmp, this.path);
      return result;
    } catch (e) {
      // The stream may still hold the file open when `write` failed before using it.
      closeQuietly(file);
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }
}

function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch {
    // Already closed by its stream.
  }
}

/** A stream that writes everything to `out` and leaves it open when closed. */
function writableOf(out: StandardOutput): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      let off = 0;
      while (off < chunk.byteLength) off += await out.write(chunk.subarray(off));
    },
  });
}

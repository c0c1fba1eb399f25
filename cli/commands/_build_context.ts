/**
 * The build context of `img build PATH`, as buildx takes it: a directory; an http(s) URL of a
 * tarball (plain or gzip, bzip2, xz, zstd), downloaded and unpacked, or of a plain file, which
 * is then the Dockerfile with an empty context (as BuildKit's remote contexts); or `-`: a tar
 * on stdin is the context, anything else on stdin is the Dockerfile with an empty context (as
 * `docker build -`). With an archive as the context, `-f` names the Dockerfile inside it.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { type ContentStore, ImgError } from "@img/core";
import { HTTP_RECORDS_DIR, HttpSources, isHttpURL, unpackContextArchive } from "@img/core/solver";

/** Where a build reads its context and Dockerfile; disposing it removes what it unpacked. */
export interface BuildContext extends AsyncDisposable {
  /** The context directory. */
  contextDir: string;
  /** The directory the Dockerfile (`filename`) is read from. */
  dockerfileDir: string;
  /** The Dockerfile's name (a path below `dockerfileDir`). */
  filename: string;
  /** The Dockerfile's content, when it came from stdin or a URL. */
  dockerfileText?: Uint8Array;
}

/** What {@linkcode openBuildContext} needs besides the arguments. */
export interface BuildContextDeps {
  /** The state's content store (where downloads go) and directory. */
  state: { dir: string; content: ContentStore };
  /** Standard input (`-` as the context or `-f -`). */
  stdin: ReadableStream<Uint8Array>;
  /** Aborts a download. */
  signal?: AbortSignal;
  /** `-f` names a file inside the context directory (a git checkout), not a path here. */
  fileInContext?: boolean;
}

const AMBIGUOUS = "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles";

/**
 * Opens the context `path` with the Dockerfile flag `file` (`-f`). A git URL is not handled
 * here.
 */
export async function openBuildContext(
  path: string,
  file: string | undefined,
  deps: BuildContextDeps,
): Promise<BuildContext> {
  if (path !== "-" && !isHttpURL(path)) {
    return await localContext(path, file, deps.stdin, deps.fileInContext ?? false);
  }
  if (path === "-" && file === "-") {
    throw new ImgError("invalid argument: can't use stdin for both build context and dockerfile");
  }
  const tmp = await Deno.makeTempDir({ prefix: "img-context-" });
  const dispose = () => Deno.remove(tmp, { recursive: true }).catch(() => {});
  try {
    let download: string;
    if (path === "-") {
      download = join(tmp, "stdin");
      {
        using out = await Deno.open(download, { write: true, createNew: true, mode: 0o600 });
        for await (const chunk of deps.stdin) {
          for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
        }
      }
      if ((await Deno.stat(download)).size === 0) {
        throw new ImgError(
          "The build context on stdin is empty: pipe a tar archive or a Dockerfile into img build -",
        );
      }
    } else {
      const sources = new HttpSources({
        content: deps.state.content,
        recordsDir: join(deps.state.dir, HTTP_RECORDS_DIR),
        signal: deps.signal,
      });
      download = deps.state.content.path((await sources.resolve(path)).digest);
    }
    const contextDir = join(tmp, "context");
    await Deno.mkdir(contextDir);
    const base = { contextDir, [Symbol.asyncDispose]: dispose };
    if (await unpackContextArchive(download, contextDir)) {
      if (file === "-") {
        return {
          ...base,
          dockerfileDir: contextDir,
          filename: "Dockerfile",
          dockerfileText: await readAll(deps.stdin),
        };
      }
      // -f names a file inside the archive.
      return {
        ...base,
        dockerfileDir: contextDir,
        filename: file ? file.replace(/^\/+/, "") : "Dockerfile",
      };
    }
    // Not an archive: the Dockerfile itself, with an empty context.
    if (file !== undefined) throw new ImgError(AMBIGUOUS);
    return {
      ...base,
      dockerfileDir: contextDir,
      filename: "Dockerfile",
      dockerfileText: await Deno.readFile(download),
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

async function localContext(
  path: string,
  file: string | undefined,
  stdin: ReadableStream<Uint8Array>,
  fileInContext: boolean,
): Promise<BuildContext> {
  const contextDir = resolve(path);
  const st = await Deno.stat(contextDir).catch(() => undefined);
  if (!st?.isDirectory) throw new ImgError(`unable to prepare context: path "${path}" not found`);
  const ctx = { contextDir, [Symbol.asyncDispose]: () => Promise.resolve() };
  if (file === "-") {
    return {
      ...ctx,
      dockerfileDir: contextDir,
      filename: "Dockerfile",
      dockerfileText: await readAll(stdin),
    };
  }
  if (file) {
    const abs = fileInContext ? join(contextDir, file) : resolve(file);
    return { ...ctx, dockerfileDir: dirname(abs), filename: basename(abs) };
  }
  return { ...ctx, dockerfileDir: contextDir, filename: "Dockerfile" };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return await new Response(stream).bytes();
}

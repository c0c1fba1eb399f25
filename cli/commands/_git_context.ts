/**
 * A git repository as the build context, as buildx takes one:
 * `img build https://host/repo.git#ref:subdir`, `git://...`, `git@host:org/repo.git`. The
 * commit is checked out (shallow where the server allows it) into a temporary directory that
 * is the context for the build and removed after it; `.git` is kept only with the
 * `BUILDKIT_CONTEXT_KEEP_GIT_DIR=1` build argument (or `keep-git-dir=true` in a `##` fragment).
 * mtimes are the commit's when `SOURCE_DATE_EPOCH` is set, else the checkout's (BuildKit's).
 *
 * @module
 */
import { ImgError } from "@img/core";
import { GitClient, type GitSourceSpec, parseGitRef } from "@img/core/source";

/** The build argument that keeps `.git` in a git context (buildx's and BuildKit's name). */
export const KEEP_GIT_DIR_ARG = "BUILDKIT_CONTEXT_KEEP_GIT_DIR";

/**
 * The repository a build context path names, or undefined for a local path. With
 * `SOURCE_DATE_EPOCH` (a build argument, else in `env`), every file's mtime is the commit's
 * time, as BuildKit does for a git context (`git.mtime=commit`); else the checkout's.
 */
export async function gitContextSpec(
  path: string,
  buildArgs: Record<string, string>,
  env: Record<string, string> = {},
): Promise<GitSourceSpec | undefined> {
  const ref = parseGitRef(path);
  if (!ref) return undefined;
  if (ref.indistinguishableFromLocal) {
    // `github.com/org/repo`: a directory of that name wins, as in buildx.
    if (await Deno.stat(path).then(() => true, () => false)) return undefined;
  }
  const arg = buildArgs[KEEP_GIT_DIR_ARG];
  const keep = arg !== undefined && /^(1|true|t)$/i.test(arg.trim());
  const epoch = buildArgs.SOURCE_DATE_EPOCH ?? env.SOURCE_DATE_EPOCH ?? "";
  return {
    remote: ref.indistinguishableFromLocal ? `https://${ref.remote}` : ref.remote,
    ref: ref.ref,
    subdir: ref.subdir,
    keepGitDir: keep || (ref.keepGitDir ?? false),
    ...(epoch !== "" ? { mtime: "commit" as const } : {}),
    ...(ref.checksum ? { checksum: ref.checksum } : {}),
  };
}

/** A checked-out git context; disposing it removes the directory. */
export interface GitContext extends AsyncDisposable {
  /** The directory holding the context. */
  dir: string;
  /** The commit that was checked out. */
  commit: string;
}

/**
 * Checks `spec` out into a new temporary directory. ssh remotes use `sshSocket` (the build's
 * `--ssh default`), else `$SSH_AUTH_SOCK`; https remotes the `GIT_AUTH_TOKEN` or
 * `GIT_AUTH_HEADER` secret.
 */
export async function checkoutGitContext(
  spec: GitSourceSpec,
  options: {
    env: Record<string, string>;
    sshSocket?: () => Promise<string | undefined>;
    secret?: (id: string) => Promise<Uint8Array | undefined>;
    signal?: AbortSignal;
  },
): Promise<GitContext> {
  const client = new GitClient(options);
  const resolved = await client.resolve(spec).catch((e) => {
    throw e instanceof ImgError
      ? new ImgError(`unable to prepare context: ${e.message}`, { cause: e })
      : e;
  });
  const dir = await Deno.makeTempDir({ prefix: "img-git-context-" });
  const dispose = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    await client.checkout(spec, resolved, dir);
  } catch (e) {
    await dispose();
    if (e instanceof ImgError) {
      throw new ImgError(`unable to prepare context: ${e.message}`, { cause: e });
    }
    throw e;
  }
  return { dir, commit: resolved.commit, [Symbol.asyncDispose]: dispose };
}

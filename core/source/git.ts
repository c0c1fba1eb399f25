/**
 * The git source of the build graph (BuildKit's `source/git`), through the `git` CLI: a
 * `git://` source op names a repository, a ref and a subdirectory; {@linkcode GitClient}
 * resolves the ref to a commit (`git ls-remote`, which is all a cache hit costs) and checks
 * the commit out (a shallow fetch where the server allows it), submodules included, with file
 * modes and symlinks as in the commit. mtimes are the checkout's, as BuildKit's default, or
 * with `mtime: "commit"` (BuildKit's `git.mtime=commit`) the commit's time for every entry.
 *
 * git runs with a clean environment: no system or global config, no terminal prompts, the
 * proxies (`HTTP(S)_PROXY`, `NO_PROXY`) passed on. ssh remotes use the build's `--ssh
 * default` agent (else `$SSH_AUTH_SOCK`) and `ssh -F /dev/null` as BuildKit does, or
 * `$GIT_SSH_COMMAND` when set.
 *
 * @module
 */
import type { SourceOp } from "../build_graph.ts";
import { canonicalJSON } from "../build_graph.ts";
import { type Digest, sha256 } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { lookPath } from "../exec/look_path.ts";
import { copyTree } from "../fs/copy_tree.ts";
import * as exact from "../fs/exact.ts";
import { clampComponents } from "../solver/_source.ts";
import { isCommitSHA, parseGitRef, redactURL } from "./git_url.ts";

/** The identifier prefix of git source ops. */
export const GIT_SCHEME = "git://";

/** What a git source op names. */
export interface GitSourceSpec {
  /** The repository URL as the git CLI takes it. */
  remote: string;
  /** Branch, tag, full ref name or commit; empty for the default branch. */
  ref: string;
  /** The directory of the repository to use; empty for its root. */
  subdir: string;
  /** Keep `.git` (only without a subdirectory, as BuildKit). */
  keepGitDir: boolean;
  /**
   * The files' mtimes (BuildKit's `git.mtime`): `checkout`, the time of the checkout (the
   * default), or `commit`, the commit's time for every file, directory and symlink.
   */
  mtime?: "commit" | "checkout";
  /** A hex prefix the commit (or annotated tag) must have (`ADD --checksum`). */
  checksum?: string;
}

/** The source op for `spec`, with BuildKit's identifier and attribute names. */
export function gitSourceOp(spec: GitSourceSpec): SourceOp {
  if (spec.remote.startsWith("-")) {
    throw new ImgError(`Invalid git repository "${spec.remote}": a URL cannot start with "-"`);
  }
  const bare = spec.remote.replace(/^[a-zA-Z0-9]+:\/\//, "");
  const fragment = spec.ref + (spec.subdir ? `:${spec.subdir}` : "");
  const attrs: Record<string, string> = { "git.fullurl": spec.remote };
  if (spec.keepGitDir) attrs["git.keepgitdir"] = "true";
  if (spec.mtime === "commit") attrs["git.mtime"] = "commit";
  if (spec.checksum) attrs["git.checksum"] = spec.checksum;
  return {
    type: "source",
    identifier: `${GIT_SCHEME}${bare}${fragment ? `#${fragment}` : ""}`,
    attrs,
  };
}

/** Whether `op` is a git source. */
export function isGitSourceOp(op: SourceOp): boolean {
  return op.identifier.startsWith(GIT_SCHEME) && op.attrs?.["git.fullurl"] !== undefined;
}

/** The spec of a git source op (the inverse of {@linkcode gitSourceOp}). */
export function gitSpecOf(op: SourceOp): GitSourceSpec {
  const hash = op.identifier.indexOf("#");
  const fragment = hash < 0 ? "" : op.identifier.slice(hash + 1);
  const colon = fragment.indexOf(":");
  return {
    remote: op.attrs!["git.fullurl"],
    ref: colon < 0 ? fragment : fragment.slice(0, colon),
    subdir: colon < 0 ? "" : fragment.slice(colon + 1),
    keepGitDir: op.attrs?.["git.keepgitdir"] === "true",
    ...(op.attrs?.["git.mtime"] === "commit" ? { mtime: "commit" as const } : {}),
    ...(op.attrs?.["git.checksum"] ? { checksum: op.attrs["git.checksum"] } : {}),
  };
}

/** How a source is shown in progress and errors: the remote (credentials hidden) and ref. */
export function gitSourceName(spec: GitSourceSpec): string {
  const fragment = spec.ref + (spec.subdir ? `:${spec.subdir}` : "");
  return `${redactURL(spec.remote)}${fragment ? `#${fragment}` : ""}`;
}

/** A ref resolved on the remote. */
export interface ResolvedRef {
  /** The commit. */
  commit: string;
  /** The full ref name that was matched (`refs/heads/main`), if a name was. */
  refName?: string;
  /** The annotated tag object, for a tag. */
  tag?: string;
}

/**
 * The cache key of a git source: the commit, the subdirectory, whether `.git` is kept and the
 * mtime policy, as BuildKit keys it (not the remote: a mirror with the same commit shares the
 * cache).
 */
export function gitCacheKey(spec: GitSourceSpec, commit: string): Digest {
  const keep = spec.keepGitDir && normalSubdir(spec.subdir) === "";
  return sha256(canonicalJSON({
    git: commit,
    subdir: normalSubdir(spec.subdir),
    keepGitDir: keep,
    ...(spec.mtime === "commit" ? { mtime: "commit" } : {}),
  }));
}

function normalSubdir(subdir: string): string {
  return clampComponents(subdir).join("/");
}

/** Options of a {@linkcode GitClient}. */
export interface GitClientOptions {
  /** The environment to take PATH, proxies, `GIT_SSH_COMMAND` and `SSH_AUTH_SOCK` from. */
  env?: Record<string, string>;
  /** The agent socket for ssh remotes (the build's `--ssh default`). */
  sshSocket?: () => Promise<string | undefined>;
  /** Aborts running git commands. */
  signal?: AbortSignal;
  /**
   * The build's secrets (`--secret`): `GIT_AUTH_TOKEN` and `GIT_AUTH_HEADER` (or with
   * `.HOST` appended, which wins) authenticate https remotes, as in BuildKit.
   */
  secret?: (id: string) => Promise<Uint8Array | undefined>;
}

const PROXY_VARS = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "ALL_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "all_proxy",
];

// Settings that a user's or the system's git config must not change for a checkout.
const CONFIG = [
  "-c",
  "core.autocrlf=false",
  "-c",
  "core.symlinks=true",
  "-c",
  "core.fsmonitor=false",
  "-c",
  "core.hooksPath=/dev/null",
  "-c",
  "advice.detachedHead=false",
  "-c",
  "init.defaultBranch=master",
];

/** Runs the git CLI for git sources. */
export class GitClient {
  readonly #env: Record<string, string>;
  readonly #options: GitClientOptions;
  readonly #resolved = new Map<string, Promise<ResolvedRef>>();

  /** Creates a client; the environment defaults to this process's. */
  constructor(options: GitClientOptions = {}) {
    this.#options = options;
    this.#env = options.env ?? Deno.env.toObject();
  }

  /** Resolves `spec`'s ref to a commit (once per remote and ref) and checks `--checksum`. */
  resolve(spec: GitSourceSpec): Promise<ResolvedRef> {
    const id = `${spec.remote}#${spec.ref}#${spec.checksum ?? ""}`;
    let p = this.#resolved.get(id);
    if (!p) {
      p = this.#resolve(spec);
      this.#resolved.set(id, p);
    }
    return p;
  }

  async #resolve(spec: GitSourceSpec): Promise<ResolvedRef> {
    const resolved = isCommitSHA(spec.ref) ? { commit: spec.ref } : await this.#lsRemote(spec);
    const want = spec.checksum?.toLowerCase();
    if (want) {
      const matches = (o?: string) => o !== undefined && o.startsWith(want);
      if (!/^[0-9a-f]+$/.test(want)) {
        throw new ImgError(
          `Invalid --checksum ${spec.checksum} for the git source ${
            gitSourceName(spec)
          }: give a commit (hex)`,
        );
      }
      if (!matches(resolved.commit) && !matches(resolved.tag)) {
        throw new ImgError(
          `Git source ${gitSourceName(spec)}: expected checksum to match ${spec.checksum}, got ${
            resolved.tag ? `${resolved.tag} or ` : ""
          }${resolved.commit}`,
        );
      }
    }
    return resolved;
  }

  async #lsRemote(spec: GitSourceSpec): Promise<ResolvedRef> {
    const ref = spec.ref;
    const args = ref === ""
      ? ["ls-remote", "--symref", spec.remote, "HEAD"]
      : ["ls-remote", spec.remote, ref, `${ref}^{}`];
    const out = await this.#git(spec, args, undefined, "read");
    const refs = new Map<string, string>();
    let head: string | undefined;
    for (const line of out.split("\n")) {
      const [sha, name] = line.split("\t");
      if (!name) continue;
      if (sha.startsWith("ref: ") && name === "HEAD") head = sha.slice(5);
      else refs.set(name, sha);
    }
    if (ref === "") {
      const commit = refs.get("HEAD");
      if (!commit) {
        throw new ImgError(
          `Git repository ${
            redactURL(spec.remote)
          } has no default branch (HEAD): name a ref after "#"`,
        );
      }
      return { commit, ...(head ? { refName: head } : {}) };
    }
    const peeled = (name: string) => refs.get(`${name}^{}`);
    for (const name of [`refs/tags/${ref}`, ref.startsWith("refs/") ? ref : undefined]) {
      if (name && refs.has(name)) {
        const tag = peeled(name);
        return tag
          ? { commit: tag, refName: name, tag: refs.get(name)! }
          : { commit: refs.get(name)!, refName: name };
      }
    }
    const branch = refs.get(`refs/heads/${ref}`);
    if (branch) return { commit: branch, refName: `refs/heads/${ref}` };
    const hint = /^[0-9a-f]{4,39}$/.test(ref)
      ? " (a commit must be given in full, 40 hex digits)"
      : "";
    throw new ImgError(
      `Git repository ${
        redactURL(spec.remote)
      } has no branch or tag "${ref}"${hint}: check the ref after "#"`,
    );
  }

  /**
   * Checks out `resolved` of `spec` and copies it (its subdirectory, with `.git` if kept)
   * into the existing directory `dest`.
   */
  async checkout(spec: GitSourceSpec, resolved: ResolvedRef, dest: string): Promise<void> {
    const work = await Deno.makeTempDir({ prefix: "img-git-" });
    try {
      await Deno.chmod(work, 0o755);
      await this.#git(spec, ["init", "-q", work]);
      await this.#git(spec, ["remote", "add", "origin", spec.remote], work);
      await this.#fetch(spec, resolved, work);
      await this.#git(spec, ["checkout", "-q", "-f", "--detach", resolved.commit], work);
      // Submodules, as BuildKit checks them out (their URLs relative to the remote's).
      const submodules: string[] = [];
      if (await exists(`${work}/.gitmodules`)) {
        const sub = ["submodule", "update", "--init", "--recursive"];
        await this.#git(spec, [...sub, "--depth=1"], work).catch(() => this.#git(spec, sub, work));
        const list = ["submodule", "foreach", "--recursive", "--quiet", 'echo "$displaypath"'];
        submodules.push(...(await this.#git(spec, list, work)).split("\n").filter((p) => p !== ""));
      }
      const log = ["log", "-1", "--format=%ct", resolved.commit];
      const time = spec.mtime === "commit"
        ? Number((await this.#git(spec, log, work)).trim())
        : undefined;
      const subdir = normalSubdir(spec.subdir);
      let src = work;
      if (spec.keepGitDir && subdir === "") {
        // As BuildKit leaves it: origin is the remote (credentials hidden), no reflog.
        await this.#git(spec, ["remote", "set-url", "origin", redactURL(spec.remote)], work);
        await this.#git(spec, ["reflog", "expire", "--all", "--expire=now"], work);
      } else {
        // Without .git, a submodule's .git file would point nowhere.
        for (const p of [".", ...submodules]) {
          await Deno.remove(`${work}/${p}/.git`, { recursive: true }).catch(() => {});
        }
      }
      for (const c of subdir === "" ? [] : subdir.split("/")) {
        src = `${src}/${c}`;
        const info = await Deno.lstat(src).catch(() => undefined);
        if (!info?.isDirectory) {
          throw new ImgError(
            `Git source ${
              gitSourceName(spec)
            }: "${subdir}" is not a directory at commit ${resolved.commit}`,
          );
        }
      }
      if (time !== undefined) stampTree(src, time);
      await copyTree(src, dest);
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  }

  /** Fetches the commit: shallow by ref name or commit, else the whole history. */
  async #fetch(spec: GitSourceSpec, resolved: ResolvedRef, work: string): Promise<void> {
    const has = () =>
      this.#git(spec, ["cat-file", "-e", `${resolved.commit}^{commit}`], work).then(
        () => true,
        () => false,
      );
    const base = ["fetch", "-q", "-u", "--no-tags", "origin"];
    const pull = resolved.refName ? `+${resolved.refName}:${resolved.refName}` : resolved.commit;
    const attempts: string[][] = [[...base, "--depth=1", pull]];
    if (resolved.refName) attempts.push([...base, "--depth=1", resolved.commit]);
    let last: unknown;
    for (const args of attempts) {
      try {
        await this.#git(spec, args, work);
        if (await has()) return;
      } catch (e) {
        last = e;
      }
    }
    // A server that refuses shallow fetches or unadvertised commits: everything.
    try {
      await this.#git(spec, [
        ...base,
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
      ], work);
    } catch (e) {
      throw last ?? e;
    }
    if (!(await has())) {
      throw new ImgError(
        `Git repository ${redactURL(spec.remote)} does not have commit ${resolved.commit}`,
      );
    }
  }

  /** Runs git with the clean environment; returns its standard output. */
  async #git(
    spec: GitSourceSpec,
    args: string[],
    cwd?: string,
    what: "read" | "fetch" = "fetch",
  ): Promise<string> {
    const git = lookPath("git", this.#env.PATH);
    if (!git) {
      throw new ImgError(
        "ADD of a git repository needs the git CLI: install git (apt-get install git)",
      );
    }
    const env = await this.#gitEnv(spec);
    const out = await new Deno.Command("/bin/sh", {
      // A checkout's modes are the commit's: 0644 and 0755 whatever the caller's umask.
      args: ["-c", 'umask 022 && exec "$0" "$@"', git, ...CONFIG, ...args],
      cwd,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: this.#options.signal,
    }).output();
    if (out.code !== 0) {
      const lines = new TextDecoder().decode(out.stderr).split("\n").map((l) => l.trim())
        .filter((l) => l !== "");
      const reason = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[lines.length - 1] ??
        `exit code ${out.code}`;
      const verb = what === "read"
        ? "read"
        : args[0] === "fetch"
        ? "fetch"
        : `run git ${args[0]} for`;
      throw new ImgError(
        `Failed to ${verb} the git repository ${redactURL(spec.remote)}: ${redactURL(reason)}`,
      );
    }
    return new TextDecoder().decode(out.stdout);
  }

  async #gitEnv(spec: GitSourceSpec): Promise<Record<string, string>> {
    const src = this.#env;
    const env: Record<string, string> = {
      PATH: src.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: "/nonexistent",
      LC_ALL: "C",
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_ASKPASS: "/bin/false",
      SSH_ASKPASS_REQUIRE: "never",
      // No `ext::` or `fd::` remote helpers (an SCP-like `ext::sh -c ...` would run a command).
      GIT_ALLOW_PROTOCOL: "http:https:git:ssh:file",
    };
    for (const k of PROXY_VARS) if (src[k] !== undefined) env[k] = src[k];
    const parsed = parseGitRef(spec.remote);
    const auth = parsed?.scheme.startsWith("http")
      ? await this.#authHeader(parsed.host)
      : undefined;
    if (auth) {
      // Through the environment, not the command line (which `ps` shows).
      env.GIT_CONFIG_COUNT = "1";
      env.GIT_CONFIG_KEY_0 = `http.${tokenScope(spec.remote)}.extraheader`;
      env.GIT_CONFIG_VALUE_0 = `Authorization: ${auth}`;
    }
    if (parsed?.scheme === "ssh") {
      env.GIT_SSH_COMMAND = src.GIT_SSH_COMMAND ??
        "ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes";
      const sock = (await this.#options.sshSocket?.()) ?? src.SSH_AUTH_SOCK;
      if (sock) env.SSH_AUTH_SOCK = sock;
    }
    return env;
  }

  /** The Authorization header from the build's `GIT_AUTH_HEADER`/`GIT_AUTH_TOKEN` secrets. */
  async #authHeader(host: string): Promise<string | undefined> {
    const secret = this.#options.secret;
    if (!secret) return undefined;
    for (
      const [id, token] of [
        [`GIT_AUTH_HEADER.${host}`, false],
        [`GIT_AUTH_TOKEN.${host}`, true],
        ["GIT_AUTH_HEADER", false],
        ["GIT_AUTH_TOKEN", true],
      ] as const
    ) {
      const value = await secret(id);
      if (value === undefined) continue;
      const text = new TextDecoder().decode(value).trim();
      return token ? `basic ${btoa(`x-access-token:${text}`)}` : text;
    }
    return undefined;
  }
}

/** The URL prefix a token is sent to: github.com's for any of its repositories, as BuildKit. */
function tokenScope(remote: string): string {
  for (const prefix of ["https://github.com/", "https://www.github.com/"]) {
    if (remote.startsWith(prefix)) return prefix;
  }
  return remote;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Sets the access and modification times of everything under `root` (and `root`) to `time`. */
function stampTree(root: string, time: number): void {
  for (const e of exact.readDir(root)) {
    const path = `${root}/${e.name}`;
    if (e.isDirectory) stampTree(path, time);
    else exact.lutimes(path, time, time);
  }
  exact.lutimes(root, time, time);
}

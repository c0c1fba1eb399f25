/**
 * Git URLs as BuildKit reads them (`util/gitutil`): what counts as a git repository in
 * `ADD <src>` and as a build context, and the `#ref:subdir` fragment.
 *
 * - `http://`, `https://`: only when the path ends in `.git` (`https://host/org/repo.git`).
 * - `git://`, `ssh://`: always.
 * - SCP-like `[user@]host:path` (`git@github.com:org/repo.git`): ssh.
 * - `github.com/org/repo`: a git URL that cannot be told from a local path; BuildKit accepts
 *   it only as a build context ({@linkcode GitRef.indistinguishableFromLocal}).
 * - Any other `scheme://` is not a git URL; `./x` and `../x` never are.
 *
 * The fragment is `#ref`, `#ref:subdir` or `#:subdir` (ref a branch, tag or commit), or the
 * CSV form `##ref=REF,subdir=DIR,commit=SHA` (also `keep-git-dir=`, `checksum=`).
 *
 * @module
 */
import { splitCSVRecord } from "../solver/_csv.ts";
import { ImgError } from "../errors.ts";

/** A git repository URL with BuildKit's fragment, parsed. */
export interface GitRef {
  /** The URL without its fragment, as given to the git CLI. */
  remote: string;
  /** The transport: `https`, `http`, `git` or `ssh` (SCP-like URLs are `ssh`). */
  scheme: "http" | "https" | "git" | "ssh";
  /** The host (with its port, if any). */
  host: string;
  /** The repository's path on the host. */
  path: string;
  /** The branch, tag, full ref name or commit; empty for the remote's default branch. */
  ref: string;
  /** The directory of the repository to use; empty for its root. */
  subdir: string;
  /** A commit the ref must resolve to (`##commit=` or `checksum=`), as a hex prefix. */
  checksum?: string;
  /** `keep-git-dir=` of the CSV fragment, when given. */
  keepGitDir?: boolean;
  /** The repository's name (`repo` for `https://host/org/repo.git`). */
  shortName: string;
  /** `github.com/org/repo` without a scheme: a git URL only as a build context. */
  indistinguishableFromLocal: boolean;
  /** `git://` and `http://`: no encryption. */
  unencryptedTCP: boolean;
}

const SUPPORTED = new Set(["http", "https", "ssh", "git"]);
const PROTO = /^[a-zA-Z0-9]+:\/\//;
// BuildKit's sshutil.gitSSHRegex.
const SCP = /^(?:([a-zA-Z0-9_-]+)@)?([a-zA-Z0-9.-]+):(.*?)(?:#(.*))?$/s;
// Go's url.Parse scheme: a letter, then letters, digits, "+", "-", ".", up to a ":".
const GO_SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** Whether a string is a commit's full name (SHA-1 or SHA-256), as BuildKit's `isCommitSHA`. */
export function isCommitSHA(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s) || /^[0-9a-f]{64}$/.test(s);
}

/**
 * Parses `s` as a git URL by BuildKit's rules; undefined when it is not one (a local path, an
 * http(s) URL without `.git`, another scheme).
 *
 * @throws {ImgError} for a git URL whose fragment is malformed.
 */
export function parseGitRef(s: string): GitRef | undefined {
  if (s.startsWith("./") || s.startsWith("../")) return undefined;
  if (s.startsWith("github.com/")) {
    const parsed = fromURL(`https://${s}`, s);
    if (!parsed) return undefined;
    return {
      ...parsed,
      remote: parsed.remote.slice("https://".length),
      indistinguishableFromLocal: true,
    };
  }
  const proto = PROTO.exec(s)?.[0];
  if (proto) {
    const scheme = proto.slice(0, -3).toLowerCase();
    if (!SUPPORTED.has(scheme)) return undefined;
    const parsed = fromURL(s, s);
    if (!parsed) return undefined;
    if ((scheme === "http" || scheme === "https") && !parsed.path.endsWith(".git")) {
      return undefined;
    }
    return parsed;
  }
  return fromSCP(s);
}

/** Whether `s` is a git URL by BuildKit's rules ({@linkcode parseGitRef}), errors aside. */
export function isGitURL(s: string): boolean {
  try {
    return parseGitRef(s) !== undefined;
  } catch {
    return true;
  }
}

function fromURL(s: string, original: string): GitRef | undefined {
  const hash = s.indexOf("#");
  const remote = hash < 0 ? s : s.slice(0, hash);
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase() as GitRef["scheme"];
  const path = decodeURIComponent(url.pathname);
  if (url.search !== "" && (scheme === "git" || scheme === "ssh" || path.endsWith(".git"))) {
    // Newer BuildKit reads ?ref=...&subdir=...; img does not yet.
    throw new ImgError(
      `Query parameters in the git URL ${
        redactURL(original)
      } are not supported yet: use #REF:SUBDIR`,
    );
  }
  return {
    remote,
    scheme,
    host: url.host,
    path,
    ...fragment(hash < 0 ? "" : s.slice(hash + 1), original),
    shortName: shortName(path),
    indistinguishableFromLocal: false,
    unencryptedTCP: scheme === "http" || scheme === "git",
  };
}

function fromSCP(s: string): GitRef | undefined {
  // As Go's url.Parse: a string with a scheme and a "/" right after its ":" is a URL, not
  // an SCP-like address (`host:/path` is not one; `host:path` is).
  const scheme = GO_SCHEME.exec(s)?.[0];
  if (scheme && s.slice(scheme.length).startsWith("/")) return undefined;
  const m = SCP.exec(s);
  if (!m) return undefined;
  const [, user, host, path, frag] = m;
  return {
    remote: `${user ? `${user}@` : ""}${host}:${path}`,
    scheme: "ssh",
    host,
    path,
    ...fragment(frag ?? "", s),
    shortName: shortName(path),
    indistinguishableFromLocal: false,
    unencryptedTCP: false,
  };
}

function shortName(path: string): string {
  const parts = path.split("/");
  return parts[parts.length - 1].replace(/\.git$/, "");
}

type Fragment = Pick<GitRef, "ref" | "subdir" | "checksum" | "keepGitDir">;

function fragment(f: string, url: string): Fragment {
  if (!f.startsWith("#")) {
    const colon = f.indexOf(":");
    return colon < 0
      ? { ref: f, subdir: "" }
      : { ref: f.slice(0, colon), subdir: f.slice(colon + 1) };
  }
  const out: Fragment = { ref: "", subdir: "" };
  const csv = f.slice(1);
  if (csv === "") return out;
  for (const field of splitCSVRecord(csv)) {
    const eq = field.indexOf("=");
    if (eq < 0) {
      throw new ImgError(
        `Invalid git URL fragment in ${redactURL(url)}: "${field}" must be a key=value pair`,
      );
    }
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === "ref") out.ref = value;
    else if (key === "subdir") out.subdir = value;
    else if (key === "commit" || key === "checksum") out.checksum = value;
    else if (key === "keep-git-dir") {
      if (value !== "true" && value !== "false") {
        throw new ImgError(`Invalid keep-git-dir=${value} in ${redactURL(url)}: use true or false`);
      }
      out.keepGitDir = value === "true";
    } else {
      throw new ImgError(
        `Unexpected key "${key}" in the git URL ${
          redactURL(url)
        }: use ref, subdir, commit, checksum or keep-git-dir`,
      );
    }
  }
  if (out.checksum && out.ref === "") out.ref = out.checksum;
  return out;
}

/** `remote` with any password or token in it replaced by `xxxxx`, for messages and names. */
export function redactURL(remote: string): string {
  return remote.replace(/^([a-zA-Z0-9+.-]+:\/\/[^/@:]*):[^/@]*@/, "$1:xxxxx@");
}

/**
 * The one table of what img needs from its host: the programs and files each feature uses,
 * the packages that provide them (Debian/Ubuntu and Fedora), and the checks that tell present
 * from missing with the command that fixes it. `img doctor` prints it; `tools/setup.ts` (run
 * first by `deno task demo` and `deno task test`) installs from it.
 *
 * To add a dependency, add a row to {@linkcode PREREQUISITES}.
 *
 * @module
 */

import { checkUserNamespaces, type RootlessHost, systemHost } from "../rootless/_checks.ts";
import { rootlessPlan } from "../rootless/bootstrap.ts";

/** Who needs a prerequisite: a failed `build` check makes `img doctor` exit non-zero. */
export type Need =
  /** `img build` (and `unpack`) cannot work without it. */
  | "build"
  /** `deno task demo` (and the tests) need it: the loopback registry and the base image. */
  | "demo"
  /** `deno task test` needs it: the independent tools the tests check img's output with. */
  | "test"
  /** A feature that is skipped or falls back without it (fuse-overlayfs, foreign platforms). */
  | "optional";

/** A package that provides a prerequisite, by distribution family. */
export interface PackageNames {
  /** The Debian/Ubuntu package (apt). */
  debian: string;
  /** The Fedora package (dnf). */
  fedora: string;
}

/** One row of the table: a program or file img uses, and its package. */
export interface Prerequisite {
  /** A short name, shown by `img doctor`. */
  name: string;
  /** What uses it, in a few words. */
  feature: string;
  /** Who needs it. */
  need: Need;
  /** Any one of these programs (looked up in PATH and the sbin directories) satisfies it. */
  programs?: string[];
  /** Any one of these absolute paths satisfies it. */
  paths?: string[];
  /** The package that provides it. */
  package: PackageNames;
}

/** Every package img and its tests use, what for, and who needs it. Extend here. */
export const PREREQUISITES: readonly Prerequisite[] = [
  {
    name: "OCI runtime",
    feature: "RUN steps with --executor oci; without one, the chroot executor runs them",
    need: "test",
    programs: ["crun", "runc"],
    package: { debian: "crun", fedora: "crun" },
  },
  {
    name: "unshare",
    feature: "the user namespace img builds in",
    need: "build",
    programs: ["unshare"],
    package: { debian: "util-linux", fedora: "util-linux-core" },
  },
  {
    name: "newuidmap/newgidmap",
    feature: "mapping the subordinate ids",
    need: "build",
    programs: ["newuidmap"],
    package: { debian: "uidmap", fedora: "shadow-utils" },
  },
  {
    name: "git",
    feature: "ADD of a git repository, a git URL as the build context; the tests' git servers",
    need: "test",
    programs: ["git"],
    package: { debian: "git", fedora: "git" },
  },
  {
    name: "registry",
    feature: "the demo's and tests' loopback registry",
    need: "demo",
    paths: ["/usr/bin/docker-registry"],
    package: { debian: "docker-registry", fedora: "docker-distribution" },
  },
  {
    name: "busybox",
    feature: "the demo's and tests' base image",
    need: "demo",
    paths: ["/bin/busybox"],
    package: { debian: "busybox-static", fedora: "busybox" },
  },
  {
    name: "skopeo",
    feature: "pushing the demo's base image; tests that check pushed images",
    need: "demo",
    programs: ["skopeo"],
    package: { debian: "skopeo", fedora: "skopeo" },
  },
  {
    name: "runc",
    feature: "tests of the second OCI runtime; podman's runtime in the image test",
    need: "test",
    programs: ["runc"],
    package: { debian: "runc", fedora: "runc" },
  },
  {
    name: "umoci",
    feature: "tests that check OCI layouts",
    need: "test",
    programs: ["umoci"],
    package: { debian: "umoci", fedora: "umoci" },
  },
  {
    name: "podman",
    feature: "tests that load saved archives and run img's own image",
    need: "test",
    programs: ["podman"],
    package: { debian: "podman", fedora: "podman" },
  },
  {
    name: "openssl",
    feature: "tests of the token-auth registry (TLS)",
    need: "test",
    programs: ["openssl"],
    package: { debian: "openssl", fedora: "openssl" },
  },
  {
    name: "curl",
    feature: "tests that talk to the registry",
    need: "test",
    programs: ["curl"],
    package: { debian: "curl", fedora: "curl" },
  },
  {
    name: "bzip2",
    feature: "tests of ADD with archives",
    need: "test",
    programs: ["bzip2"],
    package: { debian: "bzip2", fedora: "bzip2" },
  },
  {
    name: "xz",
    feature: "tests of ADD with archives",
    need: "test",
    programs: ["xz"],
    package: { debian: "xz-utils", fedora: "xz" },
  },
  {
    name: "zstd",
    feature: "tests of ADD with archives",
    need: "test",
    programs: ["zstd"],
    package: { debian: "zstd", fedora: "zstd" },
  },
  {
    name: "ssh-agent",
    feature: "tests of RUN --mount=type=ssh and --ssh",
    need: "test",
    programs: ["ssh-agent"],
    package: { debian: "openssh-client", fedora: "openssh-clients" },
  },
  {
    name: "debootstrap",
    feature: "the Debian base of img's own image in its test (tests/img_image_test.ts)",
    need: "test",
    programs: ["debootstrap"],
    package: { debian: "debootstrap", fedora: "debootstrap" },
  },
  {
    name: "fuse-overlayfs",
    feature: "the fuse-overlayfs snapshot backend",
    need: "optional",
    programs: ["fuse-overlayfs"],
    package: { debian: "fuse-overlayfs", fedora: "fuse-overlayfs" },
  },
  {
    name: "slirp4netns",
    feature:
      "RUN steps' own network namespace (BuildKit's default network); without it they use the host's",
    need: "optional",
    programs: ["slirp4netns"],
    package: { debian: "slirp4netns", fedora: "slirp4netns" },
  },
  {
    name: "qemu-user-static",
    feature: "RUN steps for a foreign --platform",
    need: "optional",
    paths: ["/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-x86_64-static"],
    package: { debian: "qemu-user-static", fedora: "qemu-user-static" },
  },
];

/** The outcome of one check. */
export interface CheckResult {
  /** What was checked. */
  name: string;
  /** What uses it. */
  feature: string;
  /** Who needs it. */
  need: Need;
  /** Whether it is there and usable. */
  ok: boolean;
  /** What was found (a path, a range), or what is missing. */
  detail: string;
  /** When not ok: one line that says what to run to fix it. */
  fix?: string;
  /** The Debian package that fixes it, when a package does. */
  debianPackage?: string;
}

/** The needs a purpose covers: `build` ⊂ `demo` ⊂ `test` ⊂ `all`. */
export type Purpose = "build" | "demo" | "test" | "all";

const COVERS: Record<Purpose, readonly Need[]> = {
  build: ["build"],
  demo: ["build", "demo"],
  test: ["build", "demo", "test"],
  all: ["build", "demo", "test", "optional"],
};

/** Reports whether a purpose requires what `need` marks. */
export function requiredFor(purpose: Purpose, need: Need): boolean {
  return COVERS[purpose].includes(need);
}

/** The one-line fix for a missing package, for both distribution families. */
export function installCommand(pkg: PackageNames): string {
  return `sudo apt-get install ${pkg.debian} (Fedora: sudo dnf install ${pkg.fedora})`;
}

function present(host: RootlessHost, p: Prerequisite): string | null {
  for (const program of p.programs ?? []) {
    const found = host.findExecutable(program);
    if (found) return found;
  }
  for (const path of p.paths ?? []) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return null;
}

/** Checks one package row of the table. */
export function checkPrerequisite(p: Prerequisite, host: RootlessHost = systemHost()): CheckResult {
  const found = present(host, p);
  const what = [...(p.programs ?? []), ...(p.paths ?? [])].join(" or ");
  return {
    name: p.name,
    feature: p.feature,
    need: p.need,
    ok: found !== null,
    detail: found ?? `${what} not found`,
    ...(found ? {} : { fix: installCommand(p.package), debianPackage: p.package.debian }),
  };
}

/**
 * Checks that the user may create user namespaces with subordinate ids (the sysctls, the
 * `/etc/subuid` and `/etc/subgid` ranges, set-user-ID id-map helpers), through the same checks
 * img makes before it enters one (`IMG_ROOTLESS_SINGLE_MAPPING=1` is honoured as there). Root
 * needs no user namespace.
 */
export async function checkRootless(host: RootlessHost = systemHost()): Promise<CheckResult> {
  const base = {
    name: "subordinate ids",
    feature: "owning files as other users in builds",
    need: "build" as const,
  };
  if (host.user.uid === 0) {
    try {
      checkUserNamespaces(host);
    } catch (e) {
      return { ...base, name: "user namespaces", ok: false, detail: "disabled", fix: fixOf(e) };
    }
    return { ...base, ok: true, detail: "running as root: no user namespace needed" };
  }
  try {
    const plan = await rootlessPlan({ host });
    const range = (r?: { start: number; count: number }) => r ? `${r.start}:${r.count}` : "-";
    return {
      ...base,
      ok: true,
      detail: `uids ${range(plan.uidRange)}, gids ${range(plan.gidRange)} (${plan.method})`,
    };
  } catch (e) {
    return { ...base, ok: false, detail: "not usable", fix: fixOf(e) };
  }
}

function fixOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Checks that the character device `path` is there and read-write for every user. */
function checkDevice(
  path: string,
  feature: string,
  fix: { mode: string; module: string },
): CheckResult {
  const base = { name: path, feature, need: "optional" as const };
  try {
    const mode = Deno.statSync(path).mode ?? 0;
    if (Deno.uid() === 0 || (mode & 0o006) === 0o006) {
      return { ...base, ok: true, detail: "present" };
    }
    return { ...base, ok: false, detail: "not usable by this user", fix: fix.mode };
  } catch {
    return { ...base, ok: false, detail: "missing", fix: fix.module };
  }
}

/** Checks that `/dev/fuse` is there and usable by the user (for fuse-overlayfs). */
export function checkFuseDevice(): CheckResult {
  return checkDevice("/dev/fuse", "the fuse-overlayfs snapshot backend", {
    mode: "sudo chmod 0666 /dev/fuse",
    module: "sudo modprobe fuse",
  });
}

/** Checks that `/dev/net/tun` is there and usable by the user (for slirp4netns). */
export function checkTunDevice(): CheckResult {
  return checkDevice("/dev/net/tun", "RUN steps' own network namespace through slirp4netns", {
    mode: "sudo chmod 0666 /dev/net/tun (udev's default mode)",
    module: "sudo modprobe tun",
  });
}

/** The binfmt_misc entry for running `arch` binaries through qemu, for foreign platforms. */
export function checkBinfmt(arch: string): CheckResult {
  const base = {
    name: `binfmt qemu-${arch}`,
    feature: `RUN steps for ${arch} images`,
    need: "optional" as const,
  };
  try {
    Deno.statSync(`/proc/sys/fs/binfmt_misc/qemu-${arch}`);
    return { ...base, ok: true, detail: "registered" };
  } catch {
    return {
      ...base,
      ok: false,
      detail: "not registered",
      fix:
        `sudo sh -c 'cat /usr/lib/binfmt.d/qemu-${arch}.conf > /proc/sys/fs/binfmt_misc/register'`,
    };
  }
}

/** The architectures (as `uname -m` names them) whose binaries the tests run on this host. */
export function foreignArchitectures(): string[] {
  const here = Deno.build.arch;
  return ["x86_64", "aarch64"].filter((a) => a !== here);
}

/** Options of {@linkcode checkHost}. */
export interface CheckHostOptions {
  /** Only the checks this purpose requires (default: everything). */
  purpose?: Purpose;
  /** The host to check (tests point it at temporary files). */
  host?: RootlessHost;
}

/**
 * Runs every check of the table, in the order a user should fix them: packages a build needs,
 * the rootless set-up, then what the demo, the tests and the optional features need.
 */
export async function checkHost(options: CheckHostOptions = {}): Promise<CheckResult[]> {
  const purpose = options.purpose ?? "all";
  const host = options.host ?? systemHost();
  const results: CheckResult[] = [];
  for (const p of PREREQUISITES.filter((p) => p.need === "build")) {
    results.push(checkPrerequisite(p, host));
  }
  results.push(await checkRootless(host));
  for (const p of PREREQUISITES.filter((p) => p.need !== "build")) {
    if (requiredFor(purpose, p.need)) results.push(checkPrerequisite(p, host));
  }
  if (requiredFor(purpose, "optional")) {
    results.push(checkFuseDevice());
    results.push(checkTunDevice());
    for (const arch of foreignArchitectures()) results.push(checkBinfmt(arch));
  }
  return results;
}

/** One line for a failed check: what is missing, what uses it, and the command that fixes it. */
export function problemLine(result: CheckResult): string {
  const line = result.debianPackage
    ? `${result.name} is missing (${result.feature}): ${result.detail}; install it with ${result.fix}`
    : result.fix ?? `${result.name}: ${result.detail}`;
  return line[0].toUpperCase() + line.slice(1);
}

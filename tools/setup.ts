/**
 * The set-up that `deno task demo` and `deno task test` run first, so that the README's two
 * commands are all a fresh machine needs:
 *
 * ```sh
 * deno run -A tools/setup.ts demo          # then examples/demo.ts
 * deno run -A tools/setup.ts test [ARGS]   # then deno test -A [ARGS]
 * ```
 *
 * Run by root, it installs what the host lacks (apt, from the table in `core/host`), creates
 * the unprivileged user (`$IMG_TEST_USER`, default `imgtest`) with subordinate id ranges, and
 * re-runs itself as that user. Run by an ordinary user, it checks the same table and stops at
 * the first missing piece with one line that names the fix, before anything else runs.
 *
 * @module
 */

import {
  checkBinfmt,
  checkHost,
  type CheckResult,
  foreignArchitectures,
  problemLine,
  type Purpose,
} from "../core/host/prerequisites.ts";
import {
  firstRange,
  readSubIds,
  SUBGID_PATH,
  SUBUID_PATH,
  suggestStart,
} from "../core/rootless/subid.ts";

/**
 * The environment the unprivileged user's run keeps from root's: the terminal, CI, and the
 * network settings (proxies, extra CA certificates) that downloading npm packages may need.
 */
export const PASS_THROUGH = [
  "CI",
  "TERM",
  "NO_COLOR",
  "LANG",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NPM_CONFIG_REGISTRY",
];

/** What the set-up runs once the host is ready. */
export type Job = "demo" | "test";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The checks a job requires: the demo needs a build and its registry, the tests everything. */
function purposeOf(job: Job): Purpose {
  return job === "demo" ? "demo" : "all";
}

/** The command a job runs once the host is ready, as argv. */
export function jobCommand(job: Job, args: string[]): string[] {
  const deno = Deno.execPath();
  return job === "demo"
    ? [deno, "run", "-A", `${REPO}/examples/demo.ts`, ...args]
    : [deno, "test", "-A", ...args];
}

function say(line: string): void {
  console.error(`==> ${line}`);
}

class SetupError extends Error {}

async function run(cmd: string[], options: { quiet?: boolean } = {}): Promise<void> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: options.quiet ? "piped" : "inherit",
    stderr: options.quiet ? "piped" : "inherit",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
    throw new SetupError(`\`${cmd.join(" ")}\` failed (exit ${out.code})${err ? `: ${err}` : ""}`);
  }
}

async function capture(cmd: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Installs the Debian packages of the failed checks (root, apt). */
async function installMissing(missing: CheckResult[]): Promise<void> {
  const packages = [...new Set(missing.map((r) => r.debianPackage!).filter(Boolean))];
  if (packages.length === 0) return;
  if (!exists("/usr/bin/apt-get")) {
    throw new SetupError(
      `missing: ${missing.map((r) => problemLine(r)).join("; ")}`,
    );
  }
  say(`apt-get install ${packages.join(" ")}`);
  await run(["apt-get", "update", "-qq"], { quiet: true });
  await run(
    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages],
    { quiet: true },
  );
}

/** Creates the unprivileged user with subordinate ranges, as needed; returns its ids. */
async function ensureUser(name: string): Promise<{ uid: number; gid: number; home: string }> {
  if ((await capture(["id", "-u", name])) === null) {
    say(`useradd ${name}`);
    await run(["useradd", "--create-home", "--shell", "/bin/bash", name], { quiet: true });
  }
  const uid = Number(await capture(["id", "-u", name]));
  const gid = Number(await capture(["id", "-g", name]));
  const home = (await capture(["getent", "passwd", name]))!.split(":")[5];
  for (const [path, flag] of [[SUBUID_PATH, "--add-subuids"], [SUBGID_PATH, "--add-subgids"]]) {
    const entries = await readSubIds(path);
    if (firstRange(entries, { name, uid })) continue;
    const start = suggestStart(entries);
    say(`usermod ${flag} ${start}-${start + 65535} ${name}`);
    if (!exists(path)) await Deno.writeTextFile(path, "");
    await run(["usermod", flag, `${start}-${start + 65535}`, name], { quiet: true });
  }
  return { uid, gid, home };
}

/**
 * What the tests use beyond packages: a usable /dev/fuse and /dev/net/tun (udev's default
 * modes, which containers and minimal VMs lack) and qemu registered with binfmt_misc.
 */
async function prepareKernel(): Promise<void> {
  if (exists("/dev/fuse")) await Deno.chmod("/dev/fuse", 0o666);
  if (exists("/dev/net/tun")) await Deno.chmod("/dev/net/tun", 0o666);
  const binfmt = "/proc/sys/fs/binfmt_misc";
  if (!exists(`${binfmt}/register`)) {
    await capture(["mount", "-t", "binfmt_misc", "binfmt_misc", binfmt]);
  }
  for (const arch of foreignArchitectures()) {
    const conf = `/usr/lib/binfmt.d/qemu-${arch}.conf`;
    if (checkBinfmt(arch).ok || !exists(conf)) continue;
    try {
      await Deno.writeTextFile(`${binfmt}/register`, await Deno.readTextFile(conf));
      say(`binfmt: registered qemu-${arch}`);
    } catch {
      say(`binfmt: cannot register qemu-${arch} (foreign-platform tests will be skipped)`);
    }
  }
}

/**
 * The multi-platform tests' foreign base image: Debian's `busybox-static` of the other
 * architecture (arm64 on amd64 hosts), downloaded into the directory the tests read
 * (`tests/_util/busybox.ts`, `FOREIGN_DEBS_DIR`).
 */
async function fetchForeignBusybox(dir = "/var/cache/img-test"): Promise<void> {
  const arch = Deno.build.arch === "x86_64" ? "arm64" : "amd64";
  const have = (() => {
    try {
      return [...Deno.readDirSync(dir)].some((e) => e.name.endsWith(`_${arch}.deb`));
    } catch {
      return false;
    }
  })();
  if (have || !exists("/usr/bin/apt-get")) return;
  say(`apt-get download busybox-static:${arch} into ${dir} (the multi-platform tests' base)`);
  await run(["dpkg", "--add-architecture", arch]);
  await run(["apt-get", "update", "-qq"], { quiet: true });
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await run(["sh", "-c", `cd '${dir}' && apt-get download -qq busybox-static:${arch}`], {
    quiet: true,
  });
  await run(["chmod", "-R", "a+rX", dir]);
}

/** The mirror the host's apt uses for Debian (deb822 `URIs:` or a `deb` line). */
export async function hostMirror(): Promise<string> {
  for (const file of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    try {
      const text = await Deno.readTextFile(file);
      const m = text.match(/^URIs:\s*(\S+\/debian)\s*$/m) ??
        text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm\b/m);
      if (m) return m[1];
    } catch {
      // try the next
    }
  }
  return "http://deb.debian.org/debian";
}

/**
 * The Debian 12 root filesystem (a gzipped tar) that `tests/img_image_test.ts` pushes as the
 * base of img's own image, standing for `debian:bookworm-slim` where Docker Hub is not reachable.
 */
export const DEBIAN_BASE_TARBALL = "/var/cache/img-test/debian-bookworm-minbase.tar.gz";

/**
 * Writes the Debian root filesystem at `root` to `tarball` (gzip), slimmed as Debian's `-slim`
 * images are: no device nodes, apt lists and caches, documentation or locales.
 */
export async function packDebianBase(root: string, tarball: string): Promise<void> {
  await Deno.mkdir(tarball.replace(/\/[^/]*$/, ""), { recursive: true, mode: 0o755 });
  const slim = ["dev", "var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"]
    .concat(["usr/share/locale", "usr/share/info"]).map((d) => `--exclude=./${d}/*`);
  const partial = `${tarball}.partial`;
  await run(["tar", "--numeric-owner", ...slim, "-C", root, "-czf", partial, "."], {
    quiet: true,
  });
  await Deno.chmod(partial, 0o644);
  await Deno.rename(partial, tarball);
}

/** Makes {@linkcode DEBIAN_BASE_TARBALL} once with `debootstrap --variant=minbase` (root). */
export async function fetchDebianBase(tarball = DEBIAN_BASE_TARBALL): Promise<void> {
  if (exists(tarball) || !exists("/usr/sbin/debootstrap")) return;
  say(`debootstrap --variant=minbase bookworm into ${tarball} (the base of img's own image)`);
  const root = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "img-debian-base-" });
  try {
    // dpkg without fsync, as Debian's container images are made (several times faster)
    await Deno.mkdir(`${root}/etc/dpkg/dpkg.cfg.d`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/dpkg/dpkg.cfg.d/unsafe-io`, "force-unsafe-io\n");
    await run(["debootstrap", "--variant=minbase", "bookworm", root, await hostMirror()], {
      quiet: true,
    });
    await packDebianBase(root, tarball);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/** The root path: install, create the user, lend it the checkout, re-run this as the user. */
async function setUpAsRoot(job: Job, args: string[]): Promise<number> {
  const results = await checkHost({ purpose: purposeOf(job) });
  await installMissing(results.filter((r) => !r.ok && r.debianPackage));
  const name = Deno.env.get("IMG_TEST_USER") || "imgtest";
  const user = await ensureUser(name);
  if (job === "test") {
    await prepareKernel();
    await fetchForeignBusybox();
    await fetchDebianBase();
  }
  const runtimeDir = `/run/user/${user.uid}`;
  await Deno.mkdir("/run/user", { recursive: true, mode: 0o755 });
  await Deno.mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  await Deno.chown(runtimeDir, user.uid, user.gid);
  await Deno.chmod(runtimeDir, 0o700);

  // Lend the checkout to the user (deno may update deno.lock, tests write beside the
  // sources) and give it back afterwards so git keeps working for its owner.
  const st = Deno.statSync(REPO);
  const owner = `${st.uid}:${st.gid}`;
  const giveBack = () => new Deno.Command("chown", { args: ["-R", owner, REPO] }).outputSync();
  let dir = REPO;
  while (dir !== "/") {
    dir = dir.replace(/\/[^/]*$/, "") || "/";
    const mode = Deno.statSync(dir).mode ?? 0;
    if ((mode & 0o001) === 0) {
      say(`chmod o+x ${dir} (so ${name} can reach the checkout)`);
      await Deno.chmod(dir, (mode & 0o7777) | 0o001);
    }
  }
  say(`running as ${name} (the checkout is lent to it and given back to ${owner})`);
  await run(["chown", "-R", `${user.uid}:${user.gid}`, REPO]);
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const onSignal = () => {
    giveBack();
    Deno.exit(130);
  };
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    const env: Record<string, string> = {
      HOME: user.home,
      USER: name,
      LOGNAME: name,
      PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      XDG_RUNTIME_DIR: runtimeDir,
      IMG_TEST_USER: name,
    };
    for (const k of PASS_THROUGH) {
      const v = Deno.env.get(k);
      if (v !== undefined) env[k] = v;
    }
    const argv = [
      "runuser",
      "-u",
      name,
      "--",
      "env",
      "-i",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Deno.execPath(),
      "run",
      "-A",
      `${REPO}/tools/setup.ts`,
      job,
      ...args,
    ];
    const { code } = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: REPO,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    return code;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    giveBack();
  }
}

/**
 * The ordinary-user path: the first missing piece the job requires, as one line, or null when
 * the host is ready. Optional pieces that are missing are returned as notes.
 */
export async function firstProblem(job: Job): Promise<{ problem: string | null; notes: string[] }> {
  const results = await checkHost({ purpose: purposeOf(job) });
  const failed = results.filter((r) => !r.ok);
  const blocking = failed.find((r) => r.need !== "optional");
  const notes = failed.filter((r) => r.need === "optional").map((r) => problemLine(r));
  return {
    problem: blocking
      ? `${problemLine(blocking)}; or run \`deno task ${job}\` as root to set up everything`
      : null,
    notes,
  };
}

/** Runs the set-up for `job`, then the job; returns its exit code. */
export async function setup(job: Job, args: string[]): Promise<number> {
  if (Deno.uid() === 0) return await setUpAsRoot(job, args);
  const { problem, notes } = await firstProblem(job);
  if (problem) {
    console.error(`img: ${problem}`);
    return 1;
  }
  if (job === "test") {
    for (const n of notes) {
      console.error(`note: ${n} (its tests are skipped)`);
    }
  }
  const [cmd, ...rest] = jobCommand(job, args);
  const { code } = await new Deno.Command(cmd, {
    args: rest,
    cwd: REPO,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

if (import.meta.main) {
  const [job, ...args] = Deno.args;
  if (job !== "demo" && job !== "test") {
    console.error("img: usage: deno run -A tools/setup.ts demo|test [ARGS...]");
    Deno.exit(2);
  }
  try {
    Deno.exit(await setup(job, args));
  } catch (e) {
    console.error(`img: set-up failed: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}

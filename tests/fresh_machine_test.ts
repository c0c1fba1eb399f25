/**
 * The README on a truly fresh machine: a Debian 12 root filesystem made with `debootstrap`,
 * entered as a machine is (its own mount and pid namespaces, `pivot_root`, its own `/proc`,
 * the host's `/dev` and `/sys`, the host's apt sources; not a chroot, inside which the kernel
 * refuses unprivileged user namespaces), with only `git` and `ca-certificates` added and Deno
 * installed as the README says. There the repository is cloned and the README's two commands
 * are run as root; an ordinary user's `deno task demo` must stop at once with the fix.
 *
 * Slow (a few minutes, most of it apt and the whole suite once more), so it runs only with
 * `IMG_FRESH_MACHINE=1`, as root: `.ci/run` runs it. Set `IMG_FRESH_MACHINE_CACHE=DIR` to keep
 * the downloaded packages and the bootstrapped root filesystem between local runs (CI runs it
 * from nothing).
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { DEBIAN_BASE_TARBALL, hostMirror, packDebianBase, PASS_THROUGH } from "../tools/setup.ts";

const ENABLED = Deno.env.get("IMG_FRESH_MACHINE") === "1" && Deno.uid() === 0;
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
if (!ENABLED) {
  console.error(
    "fresh_machine_test: ignored: needs root and IMG_FRESH_MACHINE=1 (.ci/run sets both)",
  );
}
const CACHE = Deno.env.get("IMG_FRESH_MACHINE_CACHE");
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The host's network settings (proxies, the variables that point programs at its CA bundle),
 * which the machine shares with the host as it shares its apt sources: `NAME=value ...`.
 */
const NETWORK_ENV = PASS_THROUGH.filter((k) => !["CI", "TERM", "NO_COLOR", "LANG"].includes(k))
  .flatMap((k) => {
    const v = Deno.env.get(k);
    return v === undefined ? [] : [`${k}='${v.replaceAll("'", "")}'`];
  }).join(" ");

/** The README's lines for installing Deno and its two commands, read from the README. */
async function readmeCommands(): Promise<{ platform: string; commands: string[] }> {
  const readme = await Deno.readTextFile(`${REPO}/README.md`);
  const quick = readme.split("## Quick start")[1].split("\n## ")[0];
  const block = quick.match(/```sh\n([\s\S]*?)```/)![1];
  const lines = block.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()).filter((l) => l);
  const platform = quick.match(/`([^`]*npm install -g deno@[^`]*)`/)![1];
  const commands = lines.filter((l) => l.startsWith("deno task "));
  return { platform, commands };
}

async function sh(cmd: string[], quiet = false): Promise<void> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: quiet ? "piped" : "inherit",
    stderr: quiet ? "piped" : "inherit",
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
}

/** The result of a script run inside the fresh machine. */
interface Run {
  code: number;
  output: string;
  seconds: number;
}

/**
 * Runs `script` with bash inside the machine at `root`: new mount and pid namespaces, the root
 * filesystem pivoted to, a fresh /proc, /dev and /sys from the host, an empty /run.
 */
async function enter(root: string, script: string, log?: string): Promise<Run> {
  const boot = [
    "set -e",
    'r="$1"; shift',
    'mount --bind "$r" "$r"',
    'mount -t proc proc "$r/proc"',
    'mount --rbind /dev "$r/dev"',
    'mount --rbind /sys "$r/sys"',
    'mount -t tmpfs -o mode=0755 tmpfs "$r/run"',
    CACHE ? `mount --bind ${CACHE}/apt "$r/var/cache/apt/archives"` : "true",
    'cd "$r"',
    "mkdir -p .oldroot",
    "pivot_root . .oldroot",
    "cd /",
    "umount -l /.oldroot",
    "rmdir /.oldroot",
    `exec env -i HOME=/root PATH=${PATH} LANG=C.UTF-8 TERM=dumb CI=true ${NETWORK_ENV} bash -c "$1"`,
  ].join("\n");
  const started = performance.now();
  const wrapped = log ? `set -o pipefail; { ${script}\n} 2>&1 | tee ${log}` : script;
  const out = await new Deno.Command("unshare", {
    args: [
      "--mount",
      "--pid",
      "--fork",
      "--propagation",
      "private",
      "sh",
      "-c",
      boot,
      "sh",
      root,
      wrapped,
    ],
    stdin: "null",
    stdout: log ? "inherit" : "piped",
    stderr: log ? "inherit" : "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  console.log(`fresh machine: ${seconds.toFixed(1)} s: ${script.split("\n").at(-1)!.slice(0, 80)}`);
  const output =
    (log
      ? await Deno.readTextFile(`${root}${log}`)
      : new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr))
      // deno colours its output even into a pipe
      .replace(ANSI, "");
  return { code: out.code, output, seconds };
}

Deno.test({
  name: "fresh Debian 12: after cloning, the README's two commands set up and pass",
  ignore: !ENABLED,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const { platform, commands } = await readmeCommands();
    deepEqual(commands, ["deno task demo", "deno task test"]);
    const head = await new Deno.Command("git", { args: ["-C", REPO, "rev-parse", "HEAD"] })
      .output();
    const commit = new TextDecoder().decode(head.stdout).trim();
    match(commit, /^[0-9a-f]{40}$/);

    const root = await Deno.makeTempDir({ prefix: "img-fresh-debian-" });
    try {
      if (
        !await t.step("debootstrap bookworm", async () => {
          const mirror = await hostMirror();
          const cacheArgs = CACHE ? [`--cache-dir=${CACHE}/debs`] : [];
          if (CACHE) await Deno.mkdir(`${CACHE}/debs`, { recursive: true });
          if (CACHE) await Deno.mkdir(`${CACHE}/apt/partial`, { recursive: true });
          // As Debian's container images do: dpkg without fsync (a throwaway machine; several
          // times faster on a busy disk).
          await Deno.mkdir(`${root}/etc/dpkg/dpkg.cfg.d`, { recursive: true });
          await Deno.writeTextFile(`${root}/etc/dpkg/dpkg.cfg.d/unsafe-io`, "force-unsafe-io\n");
          const started = performance.now();
          const tarball = `${CACHE}/bookworm-minbase.tar`;
          if (CACHE && await Deno.stat(tarball).catch(() => null)) {
            await sh(["tar", "-C", root, "-xf", tarball], true); // a local re-run
          } else {
            await sh(
              ["debootstrap", "--variant=minbase", ...cacheArgs, "bookworm", root, mirror],
              true,
            );
            if (CACHE) await sh(["tar", "-C", root, "-cf", tarball, "."], true);
          }
          console.log(`debootstrap: ${((performance.now() - started) / 1000).toFixed(0)} s`);
          // The machine as bootstrapped is also the Debian base of img's image in its test:
          // packed here, it spares the set-up inside a second debootstrap.
          await packDebianBase(root, `${root}${DEBIAN_BASE_TARBALL}`);
          await Deno.chmod(root, 0o755); // a machine's / (the temp dir was private to root)
          // The host's apt sources (updates, security) and name resolution, as a machine has.
          await Deno.remove(`${root}/etc/apt/sources.list`).catch(() => {});
          await sh([
            "sh",
            "-c",
            `cp /etc/apt/sources.list.d/*.sources ${root}/etc/apt/sources.list.d/ 2>/dev/null || cp /etc/apt/sources.list ${root}/etc/apt/`,
          ]);
          await Deno.copyFile("/etc/resolv.conf", `${root}/etc/resolv.conf`);
          // The host's local certificate authorities (a TLS-inspecting proxy's, say), which
          // update-ca-certificates adds to the bundle when ca-certificates is installed.
          await sh([
            "sh",
            "-c",
            `mkdir -p ${root}/usr/local/share/ca-certificates && cp /usr/local/share/ca-certificates/*.crt ${root}/usr/local/share/ca-certificates/ 2>/dev/null || true`,
          ]);
          // The commit under test, as the remote the machine clones from.
          await sh(["git", "clone", "-q", "--bare", REPO, `${root}/srv/img.git`]);
        })
      ) return;

      if (
        !await t.step("git, ca-certificates and Deno, as the README says", async () => {
          const run = await enter(
            root,
            [
              "set -e",
              "apt-get update -qq",
              "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git ca-certificates >/dev/null",
              `export DEBIAN_FRONTEND=noninteractive; ${platform} >/dev/null`,
              "deno --version",
              // the clone root's commands run in, and an ordinary user's own clone
              `git clone -q /srv/img.git /root/img && git -C /root/img checkout -q --detach ${commit}`,
              "useradd --system --create-home --shell /bin/bash newcomer",
              // (cloned by root and handed over: git refuses a repository another user owns)
              `git clone -q /srv/img.git /home/newcomer/img && git -C /home/newcomer/img checkout -q --detach ${commit}`,
              "chown -R newcomer: /home/newcomer/img",
              "test -f /home/newcomer/img/deno.json",
            ].join("\n"),
          );
          equal(run.code, 0, run.output);
          ok(run.output.includes("deno 2."), run.output.slice(-3000));
        })
      ) return;

      // `deno task` first downloads every npm package deno.json names into the user's cache
      // (denoland/deno#30887), before the task runs: those lines are Deno's, not img's.
      const asNewcomer = (job: string) =>
        enter(
          root,
          `set -o pipefail; cd /home/newcomer/img && runuser -u newcomer -- env -i HOME=/home/newcomer PATH=${PATH} NO_COLOR=1 ${NETWORK_ENV} deno task ${job} 2>&1 | grep -v '^Task \\|^Download '`,
        );

      if (
        !await t.step(
          "an ordinary user on the bare machine gets one line with the fix",
          async () => {
            for (const cache of ["cold", "warm"]) {
              const run = await asNewcomer("demo");
              ok(run.code !== 0, run.output);
              const lines = run.output.trim().split("\n");
              console.log(`newcomer (${cache} deno cache): ${run.seconds.toFixed(2)} s: ${lines}`);
              equal(lines.length, 1, run.output);
              match(lines[0], /^img: .* is missing .*apt-get install \S+/);
              if (cache === "warm") ok(run.seconds < 2, `took ${run.seconds} s`);
            }
          },
        )
      ) return;

      if (
        !await t.step("deno task demo, as root", async () => {
          const run = await enter(root, "cd /root/img && deno task demo", "/root/demo.log");
          equal(run.code, 0, run.output.slice(-3000));
          ok(run.output.includes("HELLO FROM IMG"), run.output.slice(-3000));
          ok(run.output.includes("demo finished"), run.output.slice(-3000));
        })
      ) return;

      if (
        !await t.step("deno task test, as root", async () => {
          const run = await enter(root, "cd /root/img && deno task test", "/root/test.log");
          equal(run.code, 0, run.output.slice(-3000));
          match(run.output, /^ok \| \d+ passed.* \| 0 failed/m);
        })
      ) return;

      await t.step(
        "an ordinary user without subordinate ranges gets one line with the fix",
        async () => {
          const run = await asNewcomer("demo");
          ok(run.code !== 0, run.output);
          const lines = run.output.trim().split("\n");
          console.log(`newcomer: ${run.seconds.toFixed(2)} s: ${lines.join(" | ")}`);
          equal(lines.length, 1, run.output);
          match(lines[0], /^img: No subordinate uid range for newcomer .*usermod --add-subuids/);
          ok(run.seconds < 2, `took ${run.seconds} s`);
        },
      );
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * The environment of a RUN step end to end, as the unprivileged user, with both executors:
 * BuildKit's default network (a network namespace of the step's own, `lo` and slirp4netns's
 * `tap0`, that reaches an HTTP server on the host through `host-gateway`), `--network=none`
 * (only `lo`), `--network=host` (only with `--allow network.host`), `--add-host`,
 * `--shm-size`, `--ulimit`, `--security=insecure` (only with `--allow security.insecure`)
 * against the sandbox's capabilities, and no slirp4netns process left after a build, a
 * failed one or a killed one.
 *
 * The default network needs slirp4netns and a `/dev/net/tun` every user may open (what
 * `tools/setup.ts` installs and sets, as udev does on a desktop); without them img falls
 * back to the host's network, which these tests would report as a failure.
 */
import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, removeTree, spawnImg } from "./_util/img.ts";

const EXECUTORS = ["oci", "chroot"] as const;

async function setup(prefix: string) {
  const registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `${registry.host}/library/busybox:latest`;
  const tmp = await Deno.makeTempDir({ prefix });
  // An HTTP server on the host's loopback, which the steps reach through the gateway.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("hello from the host\n"),
  );
  return {
    base,
    tmp,
    port: server.addr.port,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await removeTree(tmp);
      await registry[Symbol.asyncDispose]();
    },
  };
}

async function writeContext(dir: string, lines: string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/Dockerfile`, lines.join("\n") + "\n");
}

/** The network interfaces a step sees: its network namespace's, from `/proc/net/dev`. */
const LINKS = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort";

/** The interfaces of this process's network namespace (the host's network). */
function hostLinks(): string[] {
  return Deno.readTextFileSync("/proc/net/dev").split("\n").slice(2)
    .map((l) => l.split(":")[0].trim()).filter((l) => l !== "").sort();
}

const OWN_NETNS = Deno.readLinkSync("/proc/self/ns/net");

/** The live slirp4netns processes and network namespace holders, as `pid start`. */
function helpers(): Set<string> {
  const found = new Set<string>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      const slirp = cmdline[0].endsWith("slirp4netns");
      // The holder: `unshare --net -- cat`, which became `cat` in another network namespace.
      const holder = cmdline.length === 2 && cmdline[0] === "cat" &&
        Deno.readLinkSync(`/proc/${e.name}/ns/net`) !== OWN_NETNS;
      if (slirp || holder) found.add(`${e.name} ${fields[19]} ${cmdline.join(" ").trim()}`);
    } catch {
      // gone
    }
  }
  return found;
}

/** The helpers in `after` that were not in `before`. */
function leftOver(before: Set<string>, after = helpers()): string[] {
  return [...after].filter((p) => !before.has(p));
}

async function build(
  t: { tmp: string; base: string; port: number },
  executor: string,
  name: string,
  flags: string[],
) {
  const out = `${t.tmp}/out-${name}-${executor}`;
  const r = await img(
    [
      "build",
      "--no-console",
      "--executor",
      executor,
      "--build-arg",
      `BASE=${t.base}`,
      "--build-arg",
      `PORT=${t.port}`,
      ...flags,
      "-o",
      `type=local,dest=${out}`,
      `${t.tmp}/${name}`,
    ],
    { state: `${t.tmp}/state-${executor}` },
  );
  return { ...r, read: (p: string) => Deno.readTextFileSync(`${out}${p}`) };
}

Deno.test("RUN networks: default is its own namespace that reaches the host, none is only lo, host needs --allow", async () => {
  await using t = await setup("img-run-net-");
  await writeContext(`${t.tmp}/net`, [
    "ARG BASE",
    "FROM ${BASE}",
    "ARG PORT",
    `RUN ${LINKS} > /default-links && wget -q -O /default-get http://gw:$PORT/ && cat /etc/resolv.conf > /default-resolv && df -k /dev/shm | tail -n 1 | awk '{print $2}' > /default-shm`,
    `RUN --network=none ${LINKS} > /none-links && { wget -q -T 3 -O- http://10.0.2.2:$PORT/ >/dev/null 2>&1 && echo reached || echo unreachable; } > /none-get`,
    `RUN --network=host ${LINKS} > /host-links && wget -q -O /host-get http://127.0.0.1:$PORT/`,
  ]);
  for (const executor of EXECUTORS) {
    const before = helpers();
    const refused = await build(t, executor, "net", ["--add-host", "gw:host-gateway"]);
    notEqual(refused.code, 0, "RUN --network=host without --allow network.host is refused");
    match(refused.stderr, /network\.host is not allowed/);

    const r = await build(t, executor, "net", [
      "--add-host",
      "gw:host-gateway",
      "--allow",
      "network.host",
    ]);
    equal(r.code, 0, r.stderr);
    ok(!/warning: RUN steps use the host's network/.test(r.stderr), r.stderr);
    deepEqual(r.read("/default-links").trim().split("\n"), ["lo", "tap0"], executor);
    equal(r.read("/default-get"), "hello from the host\n", "the default network reaches out");
    match(r.read("/default-resolv"), /^nameserver 10\.0\.2\.3$/m, "slirp4netns's DNS");
    equal(r.read("/default-shm").trim(), "65536", "the default /dev/shm is 64 MiB");
    deepEqual(r.read("/none-links").trim().split("\n"), ["lo"]);
    equal(r.read("/none-get"), "unreachable\n");
    deepEqual(r.read("/host-links").trim().split("\n"), hostLinks());
    equal(r.read("/host-get"), "hello from the host\n");
    deepEqual(leftOver(before), [], "no slirp4netns or namespace holder is left");

    // --network none on the command line isolates the steps that ask for nothing.
    const none = await build(t, executor, "net", [
      "--network",
      "none",
      "--add-host",
      "gw:host-gateway",
      "--allow",
      "network.host",
    ]);
    notEqual(none.code, 0, "wget in a RUN without network fails");
    match(none.stderr, /did not complete successfully/);
    deepEqual(leftOver(before), [], "no helper is left after a failed build");
  }
});

Deno.test("without slirp4netns, RUN steps use the host's network after one warning naming the package", async () => {
  await using t = await setup("img-run-fallback-");
  await writeContext(`${t.tmp}/fallback`, [
    "ARG BASE",
    "FROM ${BASE}",
    `RUN ${LINKS} > /links`,
    "RUN echo second > /second",
  ]);
  // A PATH with everything of /usr/bin but slirp4netns.
  const bin = `${t.tmp}/bin`;
  await Deno.mkdir(bin);
  for (const e of Deno.readDirSync("/usr/bin")) {
    if (e.name !== "slirp4netns") Deno.symlinkSync(`/usr/bin/${e.name}`, `${bin}/${e.name}`);
  }
  for (const executor of EXECUTORS) {
    const out = `${t.tmp}/out-${executor}`;
    const r = await img([
      "build",
      "--no-console",
      "--executor",
      executor,
      "--build-arg",
      `BASE=${t.base}`,
      "-o",
      `type=local,dest=${out}`,
      `${t.tmp}/fallback`,
    ], { state: `${t.tmp}/state-${executor}`, env: { PATH: `${bin}:/usr/sbin` } });
    equal(r.code, 0, r.stderr);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning: RUN steps"));
    deepEqual(warnings, [
      "warning: RUN steps use the host's network instead of a network namespace of their own: slirp4netns is not installed (apt-get install slirp4netns)",
    ], "one warning for two steps");
    deepEqual(Deno.readTextFileSync(`${out}/links`).trim().split("\n"), hostLinks());
  }
});

Deno.test("--add-host, --shm-size and --ulimit reach the RUN steps", async () => {
  await using t = await setup("img-run-opts-");
  await writeContext(`${t.tmp}/opts`, [
    "ARG BASE",
    "FROM ${BASE}",
    "RUN cat /etc/hosts > /hosts && df -k /dev/shm | tail -n 1 | awk '{print $2}' > /shm && ulimit -n > /nofile-soft && ulimit -Hn > /nofile-hard",
  ]);
  for (const executor of EXECUTORS) {
    const r = await build(t, executor, "opts", [
      "--add-host",
      "db.example:10.1.2.3",
      "--add-host",
      "gw=host-gateway",
      "--shm-size",
      "96m",
      "--ulimit",
      "nofile=512:1024",
    ]);
    equal(r.code, 0, r.stderr);
    const hosts = r.read("/hosts");
    match(hosts, /^10\.1\.2\.3\tdb\.example$/m, executor);
    match(hosts, /^10\.0\.2\.2\tgw$/m, "host-gateway is slirp4netns's address of the host");
    match(hosts, /^127\.0\.0\.1\tlocalhost buildkitsandbox$/m);
    equal(r.read("/shm").trim(), String(96 * 1024), "df /dev/shm shows --shm-size");
    equal(r.read("/nofile-soft").trim(), "512");
    equal(r.read("/nofile-hard").trim(), "1024");

    // As BuildKit's exec op cache map: the addresses of extra hosts are not part of the
    // cache key, their names and the other options are.
    const same = ["--shm-size", "96m", "--ulimit", "nofile=512:1024"];
    const runCached = (stderr: string) =>
      /RUN cat \/etc\/hosts[^\n]*\n(#\d+ [^\n]*\n)*?#\d+ CACHED/.test(stderr);
    const moved = await build(t, executor, "opts", [
      "--add-host",
      "db.example:10.9.9.9",
      "--add-host",
      "gw=host-gateway",
      ...same,
    ]);
    equal(moved.code, 0, moved.stderr);
    ok(runCached(moved.stderr), `another address for a host reuses the cache: ${moved.stderr}`);
    const renamed = await build(t, executor, "opts", [
      "--add-host",
      "other.example:10.1.2.3",
      "--add-host",
      "gw=host-gateway",
      ...same,
    ]);
    ok(!runCached(renamed.stderr), "another host name runs the step again");
    equal(renamed.read("/hosts").match(/^10\.1\.2\.3\t.*$/m)?.[0], "10.1.2.3\tother.example");
    const shm = await build(t, executor, "opts", ["--shm-size", "80m"]);
    ok(!runCached(shm.stderr), "another --shm-size runs the step again");
    equal(shm.read("/shm").trim(), String(80 * 1024));

    const bad = await build(t, executor, "opts", ["--ulimit", "files=1"]);
    notEqual(bad.code, 0);
    match(bad.stderr, /Invalid --ulimit "files=1": unknown limit "files"/);
  }
});

Deno.test("RUN --security=insecure: every capability, only with --allow security.insecure", async () => {
  await using t = await setup("img-run-insecure-");
  const caps = "grep CapEff /proc/self/status | cut -f2";
  const mount =
    "{ mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo mounted || echo refused; }";
  await writeContext(`${t.tmp}/sec`, [
    "ARG BASE",
    "FROM ${BASE}",
    `RUN ${caps} > /sandbox-caps && ${mount} > /sandbox-mount 2>/dev/null`,
    `RUN --security=insecure ${caps} > /insecure-caps && ${mount} > /insecure-mount 2>/dev/null && { grep -q ' /proc/keys ' /proc/self/mountinfo && echo masked || echo unmasked; } > /insecure-masked`,
    `RUN { grep -q ' /proc/keys ' /proc/self/mountinfo && echo masked || echo unmasked; } > /sandbox-masked`,
  ]);
  for (const executor of EXECUTORS) {
    const refused = await build(t, executor, "sec", []);
    notEqual(refused.code, 0);
    match(refused.stderr, /security\.insecure is not allowed/);

    const r = await build(t, executor, "sec", ["--allow", "security.insecure"]);
    equal(r.code, 0, r.stderr);
    const sandbox = BigInt(`0x${r.read("/sandbox-caps").trim()}`);
    const insecure = BigInt(`0x${r.read("/insecure-caps").trim()}`);
    const SYS_ADMIN = 1n << 21n;
    equal(sandbox & SYS_ADMIN, 0n, `${executor}: the sandbox has no CAP_SYS_ADMIN`);
    equal(insecure & SYS_ADMIN, SYS_ADMIN, "insecure has CAP_SYS_ADMIN");
    equal(insecure & sandbox, sandbox, "insecure has every capability of the sandbox");
    equal(r.read("/sandbox-mount"), "refused\n");
    equal(r.read("/insecure-mount"), "mounted\n");
    equal(r.read("/sandbox-masked"), "masked\n", "the sandbox masks /proc/keys");
    equal(r.read("/insecure-masked"), "unmasked\n", "insecure masks nothing");
  }
});

Deno.test("a killed build leaves no slirp4netns process", async () => {
  await using t = await setup("img-run-kill-");
  await writeContext(`${t.tmp}/kill`, [
    "ARG BASE",
    "FROM ${BASE}",
    "RUN sleep 1000",
  ]);
  for (const executor of EXECUTORS) {
    const before = helpers();
    const child = spawnImg([
      "build",
      "--no-console",
      "--executor",
      executor,
      "--build-arg",
      `BASE=${t.base}`,
      `${t.tmp}/kill`,
    ], { state: `${t.tmp}/state-${executor}` });
    let started: string[] = [];
    // slirp4netns forks a short-lived child that opens the tap device in the namespace: wait
    // for the two that stay.
    for (let i = 0; i < 600 && started.length !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      started = leftOver(before);
    }
    equal(started.length, 2, `slirp4netns and its namespace holder run: ${started}`);
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel();
    let left = started;
    for (let i = 0; i < 100 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = leftOver(before);
    }
    deepEqual(left, [], `${executor}: nothing outlives the killed img`);
  }
});

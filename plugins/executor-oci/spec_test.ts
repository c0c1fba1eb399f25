import assert from "node:assert/strict";
import {
  dedupMounts,
  DEFAULT_CAPABILITIES,
  generateSpec,
  hardNofileLimit,
  MASKED_PATHS,
  READONLY_PATHS,
  specJSON,
  type SpecOptions,
  toOciMounts,
} from "./spec.ts";

const BASE: SpecOptions = {
  rootPath: "/bundle/rootfs",
  args: ["/bin/sh", "-c", "make"],
  env: ["PATH=/bin", "A=b"],
  cwd: "/src",
  uid: 1000,
  gid: 1000,
  additionalGids: [1000, 50],
  network: "host",
  resolvConf: "/bundle/resolv.conf",
  hostsFile: "/bundle/hosts",
  nofile: 20000,
};

Deno.test("generateSpec: the process as BuildKit sets it", () => {
  const s = generateSpec(BASE);
  assert.deepEqual(s.process.args, ["/bin/sh", "-c", "make"]);
  assert.deepEqual(s.process.env, ["PATH=/bin", "A=b"]);
  assert.equal(s.process.cwd, "/src");
  assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [1000, 50] });
  assert.equal(s.process.terminal, false);
  assert.equal(s.process.noNewPrivileges, false);
  assert.deepEqual(s.process.capabilities.bounding, DEFAULT_CAPABILITIES);
  assert.deepEqual(s.process.capabilities.effective, DEFAULT_CAPABILITIES);
  assert.deepEqual(s.process.capabilities.permitted, DEFAULT_CAPABILITIES);
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  assert.deepEqual(s.process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 20000, soft: 20000 }]);
  assert.deepEqual(s.root, { path: "/bundle/rootfs", readonly: false });
  assert.equal(s.hostname, "buildkitsandbox");
});

Deno.test("generateSpec: no user namespace, no id mappings, no cgroups", () => {
  const s = generateSpec(BASE);
  const json = JSON.parse(JSON.stringify(s));
  assert.deepEqual(json.linux.namespaces.map((n: { type: string }) => n.type), [
    "pid",
    "ipc",
    "uts",
    "mount",
  ]);
  assert.equal(json.linux.uidMappings, undefined);
  assert.equal(json.linux.gidMappings, undefined);
  assert.equal(json.linux.cgroupsPath, undefined);
  assert.deepEqual(json.linux.resources, {});
  assert.deepEqual(json.linux.maskedPaths, MASKED_PATHS);
  assert.deepEqual(json.linux.readonlyPaths, READONLY_PATHS);
});

Deno.test("generateSpec: network none gets its own network namespace", () => {
  const s = generateSpec({ ...BASE, network: "none" });
  assert.ok(s.linux.namespaces.some((n) => n.type === "network"));
});

Deno.test("generateSpec: the standard mounts, then resolv.conf, hosts and the step's", () => {
  const s = generateSpec({
    ...BASE,
    mounts: [{ destination: "/cache", type: "bind", source: "/c", options: ["rbind", "rw"] }],
  });
  assert.deepEqual(s.mounts.map((m) => [m.destination, m.type]), [
    ["/proc", "proc"],
    ["/dev", "tmpfs"],
    ["/dev/pts", "devpts"],
    ["/dev/shm", "tmpfs"],
    ["/dev/mqueue", "mqueue"],
    ["/sys", "bind"],
    ["/etc/resolv.conf", "bind"],
    ["/etc/hosts", "bind"],
    ["/cache", "bind"],
  ]);
  const pts = s.mounts.find((m) => m.destination === "/dev/pts")!;
  assert.ok(!pts.options!.some((o) => o.startsWith("gid=")), "no gid= in a user namespace");
  assert.deepEqual(s.mounts.find((m) => m.destination === "/sys")!.options, [
    "rbind",
    "nosuid",
    "noexec",
    "nodev",
    "ro",
  ]);
  assert.ok(s.mounts.find((m) => m.destination === "/etc/hosts")!.options!.includes("ro"));
});

Deno.test("dedupMounts: a later mount on the same destination replaces the earlier", () => {
  const out = dedupMounts([
    { destination: "/etc/hosts", type: "bind", source: "a" },
    { destination: "/x", type: "bind", source: "x" },
    { destination: "/etc//hosts/", type: "bind", source: "b" },
  ]);
  assert.deepEqual(out.map((m) => m.source), ["b", "x"]);
});

Deno.test("toOciMounts: binds become recursive and read-only when asked", () => {
  assert.deepEqual(
    toOciMounts("/mnt", [{ type: "bind", source: "/src", options: ["rbind", "rw"] }], true),
    [{ destination: "/mnt", type: "bind", source: "/src", options: ["rbind", "ro"] }],
  );
  assert.deepEqual(
    toOciMounts("/mnt", [{ type: "bind", source: "/src", options: ["bind"] }]),
    [{ destination: "/mnt", type: "bind", source: "/src", options: ["rbind", "rw"] }],
  );
  assert.deepEqual(
    toOciMounts("/o", [{ type: "overlay", source: "overlay", options: ["lowerdir=/l", "ro"] }]),
    [{ destination: "/o", type: "overlay", source: "overlay", options: ["lowerdir=/l", "ro"] }],
  );
});

Deno.test("hardNofileLimit reads /proc/self/limits", () => {
  const limits = `Limit                     Soft Limit           Hard Limit           Units
Max open files            1024                 524288               files
`;
  assert.equal(hardNofileLimit(limits), 524288);
  assert.equal(
    hardNofileLimit("Max open files            unlimited            unlimited            files"),
    Infinity,
  );
  assert.equal(typeof hardNofileLimit(), "number");
});

Deno.test("generateSpec: the default network joins the step's slirp4netns namespace", () => {
  const s = generateSpec({ ...BASE, network: "join", netnsPath: "/proc/42/ns/net" });
  assert.deepEqual(s.linux.namespaces.at(-1), { type: "network", path: "/proc/42/ns/net" });
});

Deno.test("generateSpec: insecure has every capability, nothing masked or read-only, /sys writable", () => {
  const s = generateSpec({ ...BASE, insecure: true });
  assert.ok(s.process.capabilities.effective.includes("CAP_SYS_ADMIN"));
  assert.ok(s.process.capabilities.bounding.length > DEFAULT_CAPABILITIES.length);
  assert.deepEqual([s.linux.maskedPaths, s.linux.readonlyPaths], [[], []]);
  assert.deepEqual(s.mounts.find((m) => m.destination === "/sys")?.options?.at(-1), "rw");
  assert.equal(
    generateSpec(BASE).mounts.find((m) => m.destination === "/sys")?.options?.at(-1),
    "ro",
  );
});

Deno.test("generateSpec: --shm-size and --ulimit; an unlimited limit is RLIM_INFINITY", () => {
  const s = generateSpec({
    ...BASE,
    shmSize: 96 * 1024 * 1024,
    ulimits: [{ name: "nofile", soft: 512, hard: 1024 }, { name: "memlock", soft: -1, hard: -1 }],
  });
  assert.ok(
    s.mounts.find((m) => m.destination === "/dev/shm")?.options?.includes("size=100663296"),
  );
  assert.deepEqual(s.process.rlimits, [
    { type: "RLIMIT_NOFILE", hard: 1024, soft: 512 },
    { type: "RLIMIT_MEMLOCK", hard: -1, soft: -1 },
  ]);
  assert.match(
    specJSON(s),
    /"type":"RLIMIT_MEMLOCK","hard":18446744073709551615,"soft":18446744073709551615/,
  );
});

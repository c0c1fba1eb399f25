import assert from "node:assert/strict";
import type { RootlessHost } from "../rootless/_checks.ts";
import {
  checkHost,
  checkPrerequisite,
  checkRootless,
  PREREQUISITES,
  problemLine,
  requiredFor,
} from "./prerequisites.ts";

/** A host backed by files in a temp dir, for user "alice" (uid 1001), missing `missing`. */
async function fakeHost(
  dir: string,
  o: { missing?: string[]; subuid?: string; uid?: number } = {},
): Promise<RootlessHost> {
  await Deno.mkdir(`${dir}/sys`, { recursive: true });
  await Deno.writeTextFile(`${dir}/subuid`, o.subuid ?? "");
  await Deno.writeTextFile(`${dir}/subgid`, o.subuid ?? "");
  const uid = o.uid ?? 1001;
  return {
    procSys: `${dir}/sys`,
    subuidPath: `${dir}/subuid`,
    subgidPath: `${dir}/subgid`,
    user: { name: "alice", uid, gid: uid },
    findExecutable: (name) => (o.missing ?? []).includes(name) ? null : `/usr/bin/${name}`,
    isPrivilegedHelper: () => Promise.resolve(true),
    unshareHelp: () => Promise.resolve("--map-auto"),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-host-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const RUNTIME = PREREQUISITES.find((p) => p.name === "OCI runtime")!;

Deno.test("a missing runtime names the package for Debian and Fedora in one line", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { missing: ["crun", "runc"] });
    const result = checkPrerequisite(RUNTIME, host);
    assert.equal(result.ok, false);
    assert.equal(result.debianPackage, "crun");
    assert.equal(result.fix, "sudo apt-get install crun (Fedora: sudo dnf install crun)");
    const line = problemLine(result);
    assert.match(
      line,
      /^OCI runtime is missing \(RUN steps with --executor oci; without one, the chroot executor runs them\): crun or runc not found; install/,
    );
    assert.ok(!line.includes("\n"));
  });
});

Deno.test("either runtime satisfies a build", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { missing: ["crun"] });
    const result = checkPrerequisite(RUNTIME, host);
    assert.equal(result.ok, true);
    assert.equal(result.detail, "/usr/bin/runc");
  });
});

Deno.test("a user without subordinate ranges is told the usermod line", async () => {
  await withDir(async (dir) => {
    const result = await checkRootless(await fakeHost(dir));
    assert.equal(result.ok, false);
    assert.match(result.fix!, /usermod --add-subuids 100000-165535 alice/);
    assert.equal(problemLine(result), result.fix);
  });
});

Deno.test("a user with ranges passes the rootless check, with the ranges shown", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: "alice:200000:65536\n" });
    const result = await checkRootless(host);
    assert.equal(result.ok, true, result.fix);
    assert.equal(result.detail, "uids 200000:65536, gids 200000:65536 (map-auto)");
  });
});

Deno.test("disabled user namespaces name the sysctl, for root too", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { uid: 0 });
    await Deno.mkdir(`${dir}/sys/user`);
    await Deno.writeTextFile(`${dir}/sys/user/max_user_namespaces`, "0\n");
    const result = await checkRootless(host);
    assert.equal(result.ok, false);
    assert.match(result.fix!, /sysctl -w user\.max_user_namespaces=15000/);
  });
});

Deno.test("the demo's checks leave out what only the tests use", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: "alice:100000:65536\n", missing: ["umoci"] });
    const demo = await checkHost({ purpose: "demo", host });
    assert.ok(!demo.some((r) => r.name === "umoci"));
    assert.ok(demo.some((r) => r.name === "subordinate ids"));
    const test = await checkHost({ purpose: "test", host });
    const umoci = test.find((r) => r.name === "umoci")!;
    assert.equal(umoci.ok, false);
    assert.equal(umoci.debianPackage, "umoci");
    assert.ok(requiredFor("test", "demo"));
    assert.ok(!requiredFor("demo", "test"));
  });
});

Deno.test("the build's packages are checked before the rootless set-up (no OCI runtime: chroot)", async () => {
  await withDir(async (dir) => {
    const results = await checkHost({ purpose: "build", host: await fakeHost(dir) });
    assert.deepEqual(results.map((r) => r.name), [
      "unshare",
      "newuidmap/newgidmap",
      "subordinate ids",
    ]);
  });
});

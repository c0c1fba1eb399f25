import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import { planRootless, type RootlessHost, systemHost } from "./_checks.ts";

const MAP_AUTO_HELP = "Options:\n --map-user=<uid>|<name>\n --map-auto  map users and groups\n";
const OLD_HELP = "Options:\n -r, --map-root-user  map current user to root\n";

interface FakeOptions {
  subuid?: string;
  subgid?: string;
  sysctl?: Record<string, string>;
  missing?: string[];
  unprivileged?: string[];
  help?: string;
}

/** A host backed by files in a temp dir, for user "imgtest" (uid 1001). */
async function fakeHost(dir: string, o: FakeOptions = {}): Promise<RootlessHost> {
  await Deno.mkdir(`${dir}/sys/kernel`, { recursive: true });
  await Deno.mkdir(`${dir}/sys/user`, { recursive: true });
  for (const [name, value] of Object.entries(o.sysctl ?? {})) {
    await Deno.writeTextFile(`${dir}/sys/${name}`, `${value}\n`);
  }
  if (o.subuid !== undefined) await Deno.writeTextFile(`${dir}/subuid`, o.subuid);
  if (o.subgid !== undefined) await Deno.writeTextFile(`${dir}/subgid`, o.subgid);
  return {
    procSys: `${dir}/sys`,
    subuidPath: `${dir}/subuid`,
    subgidPath: `${dir}/subgid`,
    user: { name: "imgtest", uid: 1001, gid: 1001 },
    findExecutable: (name) => (o.missing ?? []).includes(name) ? null : `/usr/bin/${name}`,
    isPrivilegedHelper: (path) =>
      Promise.resolve(!(o.unprivileged ?? []).includes(path.split("/").pop()!)),
    unshareHelp: () => Promise.resolve(o.help ?? MAP_AUTO_HELP),
  };
}

const RANGE = "imgtest:100000:65536\n";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-checks-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImgError, `expected an ImgError, got ${e}`);
    assert.equal(e.message, message);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
}

Deno.test("a host with ranges, helpers and unshare --map-auto uses map-auto", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, {
      subuid: "other:100000:65536\nimgtest:165536:65536\n",
      subgid: "1001:200000:65536\n",
      sysctl: { "user/max_user_namespaces": "15000", "kernel/unprivileged_userns_clone": "1" },
    });
    assert.deepEqual(await planRootless(host), {
      method: "map-auto",
      unshare: "/usr/bin/unshare",
      newuidmap: "/usr/bin/newuidmap",
      newgidmap: "/usr/bin/newgidmap",
      uidRange: { start: 165536, count: 65536 },
      gidRange: { start: 200000, count: 65536 },
      warnings: [],
    });
  });
});

Deno.test("an unshare without --map-auto falls back to running newuidmap itself", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: RANGE, subgid: RANGE, help: OLD_HELP });
    assert.equal((await planRootless(host)).method, "newuidmap");
  });
});

Deno.test("a user without a subuid range is told which file and which line to add", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: "someone:100000:65536\n", subgid: RANGE });
    await rejectsWith(
      planRootless(host),
      `No subordinate uid range for imgtest in ${dir}/subuid: add a line such as "imgtest:165536:65536" (as root: usermod --add-subuids 165536-231071 imgtest), or set IMG_ROOTLESS_SINGLE_MAPPING=1 to run with a single uid (chown to other ids then fails)`,
    );
  });
});

Deno.test("a user without a subgid range (or file) is told about /etc/subgid", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: RANGE });
    await rejectsWith(
      planRootless(host),
      `No subordinate gid range for imgtest in ${dir}/subgid: add a line such as "imgtest:100000:65536" (as root: usermod --add-subgids 100000-165535 imgtest), or set IMG_ROOTLESS_SINGLE_MAPPING=1 to run with a single gid (chown to other ids then fails)`,
    );
  });
});

Deno.test("missing newuidmap or newgidmap names the uidmap package", async () => {
  await withDir(async (dir) => {
    await rejectsWith(
      planRootless(
        await fakeHost(dir, { subuid: RANGE, subgid: RANGE, missing: ["newuidmap"] }),
      ),
      "newuidmap is not installed: install the uidmap package (apt-get install uidmap)",
    );
    await rejectsWith(
      planRootless(
        await fakeHost(dir, { subuid: RANGE, subgid: RANGE, missing: ["newgidmap"] }),
      ),
      "newgidmap is not installed: install the uidmap package (apt-get install uidmap)",
    );
    await rejectsWith(
      planRootless(await fakeHost(dir, { subuid: RANGE, subgid: RANGE, missing: ["unshare"] })),
      "unshare is not installed: install the util-linux package (apt-get install util-linux)",
    );
  });
});

Deno.test("a newuidmap without setuid or capabilities is reported", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: RANGE, subgid: RANGE, unprivileged: ["newuidmap"] });
    await rejectsWith(
      planRootless(host),
      "/usr/bin/newuidmap is neither set-user-ID root nor has file capabilities: run `chmod u+s /usr/bin/newuidmap` as root, or reinstall the uidmap package",
    );
  });
});

Deno.test("disabled user namespaces name the sysctl to change", async () => {
  await withDir(async (dir) => {
    const base = { subuid: RANGE, subgid: RANGE };
    await rejectsWith(
      planRootless(
        await fakeHost(dir, { ...base, sysctl: { "kernel/unprivileged_userns_clone": "0" } }),
      ),
      "Unprivileged user namespaces are disabled: run `sysctl -w kernel.unprivileged_userns_clone=1` as root (and add it to /etc/sysctl.d/ to keep it)",
    );
  });
  await withDir(async (dir) => {
    await rejectsWith(
      planRootless(
        await fakeHost(dir, {
          subuid: RANGE,
          subgid: RANGE,
          sysctl: { "user/max_user_namespaces": "0" },
        }),
      ),
      "User namespaces are disabled: run `sysctl -w user.max_user_namespaces=15000` as root (and add it to /etc/sysctl.d/ to keep it)",
    );
  });
  await withDir(async (dir) => {
    await rejectsWith(
      planRootless(
        await fakeHost(dir, {
          subuid: RANGE,
          subgid: RANGE,
          sysctl: { "kernel/apparmor_restrict_unprivileged_userns": "1" },
        }),
      ),
      "AppArmor restricts unprivileged user namespaces: run `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` as root, or give img an AppArmor profile that allows userns",
    );
  });
});

Deno.test("without ranges, the single mapping is used only when allowed, with a warning", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: "", subgid: "" });
    await assert.rejects(planRootless(host), ImgError);
    const plan = await planRootless(host, { allowSingleMapping: true });
    assert.equal(plan.method, "single");
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0], /^No subordinate uid range for imgtest in .*subuid: /);
    assert.match(plan.warnings[0], /files owned by other users cannot be created/);
    // A host that has everything keeps its ranges even when the fallback is allowed.
    const full = await fakeHost(dir, { subuid: RANGE, subgid: RANGE });
    assert.equal((await planRootless(full, { allowSingleMapping: true })).method, "map-auto");
  });
});

Deno.test("a small subordinate range works, with a warning about the ids it lacks", async () => {
  await withDir(async (dir) => {
    const host = await fakeHost(dir, { subuid: "imgtest:100000:1000\n", subgid: RANGE });
    const plan = await planRootless(host);
    assert.equal(plan.method, "map-auto");
    assert.deepEqual(plan.warnings, [
      "the subordinate uid range of imgtest has only 1000 ids: files owned by uids from 1000 up cannot be created",
    ]);
  });
});

Deno.test("the system host finds this machine's unshare and a setuid newuidmap", async () => {
  const host = systemHost();
  const unshare = host.findExecutable("unshare");
  assert.ok(unshare?.endsWith("/unshare"));
  assert.equal(host.findExecutable("no-such-img-tool"), null);
  const newuidmap = host.findExecutable("newuidmap");
  if (newuidmap) assert.equal(await host.isPrivilegedHelper(newuidmap), true);
  assert.equal(await host.isPrivilegedHelper("/bin/sh"), false);
  assert.match(await host.unshareHelp(unshare!), /--map-root-user/);
});

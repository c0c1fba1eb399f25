import assert from "node:assert/strict";
import { ImgError } from "./errors.ts";
import {
  ensureAdditionalGids,
  parseGroup,
  parsePasswd,
  resolveChown,
  resolveUser,
} from "./user.ts";

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
# a comment
builder:x:1000:1000:builder:/home/builder:/bin/sh
app:x:1001:1001::/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;

const GROUP = `root:x:0:
wheel:x:10:root,builder
staff:x:50:builder
builder:x:1000:
app:x:1001:
nogroup:x:65534:
`;

async function withRootfs(
  fn: (root: string) => Promise<void>,
  files: { passwd?: string; group?: string; symlinked?: boolean } = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "img-user-test-" });
  try {
    await Deno.mkdir(`${root}/etc`);
    if (files.symlinked) {
      // /etc/passwd -> /real/passwd: absolute, so it must resolve inside the rootfs.
      await Deno.mkdir(`${root}/real`);
      await Deno.writeTextFile(`${root}/real/passwd`, files.passwd ?? PASSWD);
      await Deno.symlink("/real/passwd", `${root}/etc/passwd`);
      await Deno.symlink("../real/group", `${root}/etc/group`);
      await Deno.writeTextFile(`${root}/real/group`, files.group ?? GROUP);
    } else {
      if (files.passwd !== "") {
        await Deno.writeTextFile(`${root}/etc/passwd`, files.passwd ?? PASSWD);
      }
      if (files.group !== "") await Deno.writeTextFile(`${root}/etc/group`, files.group ?? GROUP);
    }
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("resolveUser: empty is root with root's groups", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, undefined), {
      uid: 0,
      gid: 0,
      additionalGids: [0, 10],
    });
    assert.deepEqual(await resolveUser(root, ""), { uid: 0, gid: 0, additionalGids: [0, 10] });
  });
});

Deno.test("resolveUser: empty without /etc/passwd is 0:0", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, ""), { uid: 0, gid: 0, additionalGids: [0] });
  }, { passwd: "", group: "" });
});

Deno.test("resolveUser: a name gives its ids and the groups listing it", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, "builder"), {
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 10, 50],
    });
    assert.deepEqual(await resolveUser(root, "app"), {
      uid: 1001,
      gid: 1001,
      additionalGids: [1001],
    });
    assert.deepEqual(await resolveUser(root, "root"), { uid: 0, gid: 0, additionalGids: [0, 10] });
  });
});

Deno.test("resolveUser: files are read through symlinks resolved inside the rootfs", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, "builder"), {
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 10, 50],
    });
  }, { symlinked: true });
});

Deno.test("resolveUser: a numeric uid is looked up, and runs with gid 0 when unknown", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, "1000"), {
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 10, 50],
    });
    assert.deepEqual(await resolveUser(root, "4242"), { uid: 4242, gid: 0, additionalGids: [0] });
  });
});

Deno.test("resolveUser: uid:gid numbers are taken as they are", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, "1000:50"), {
      uid: 1000,
      gid: 50,
      additionalGids: [50],
    });
    assert.deepEqual(await resolveUser(root, "4242:4343"), {
      uid: 4242,
      gid: 4343,
      additionalGids: [4343],
    });
    assert.deepEqual(await resolveUser(root, "root:root"), { uid: 0, gid: 0, additionalGids: [0] });
  }, { passwd: "", group: "" });
});

Deno.test("resolveUser: an explicit group replaces the primary and drops the others", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveUser(root, "builder:staff"), {
      uid: 1000,
      gid: 50,
      additionalGids: [50],
    });
    assert.deepEqual(await resolveUser(root, "builder:777"), {
      uid: 1000,
      gid: 777,
      additionalGids: [777],
    });
    assert.deepEqual(await resolveUser(root, "1000:staff"), {
      uid: 1000,
      gid: 50,
      additionalGids: [50],
    });
  });
});

Deno.test("resolveUser: unknown names are docker's errors", async () => {
  await withRootfs(async (root) => {
    await assert.rejects(resolveUser(root, "ghost"), (e: unknown) => {
      assert.ok(e instanceof ImgError);
      assert.equal(e.message, "unable to find user ghost: no matching entries in passwd file");
      return true;
    });
    await assert.rejects(resolveUser(root, "builder:ghosts"), {
      message: "unable to find group ghosts: no matching entries in group file",
    });
  });
  await withRootfs(async (root) => {
    await assert.rejects(resolveUser(root, "builder"), {
      message: "unable to find user builder: no matching entries in passwd file",
    });
  }, { passwd: "", group: "" });
});

Deno.test("parsePasswd and parseGroup skip blanks and comments", () => {
  assert.deepEqual(parsePasswd("\n# x\nbuilder:x:1000:1000::/home/builder:/bin/sh\n"), [
    { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" },
  ]);
  assert.deepEqual(parseGroup("staff:x:50:a,b\n\nempty:x:7:\n"), [
    { name: "staff", gid: 50, members: ["a", "b"] },
    { name: "empty", gid: 7, members: [] },
  ]);
});

Deno.test("ensureAdditionalGids puts the primary group first once", () => {
  assert.deepEqual(ensureAdditionalGids(1000, [50]), [1000, 50]);
  assert.deepEqual(ensureAdditionalGids(50, [10, 50]), [10, 50]);
  assert.deepEqual(ensureAdditionalGids(0), [0]);
});

Deno.test("resolveChown: names missing from the image are 0, as BuildKit's file op", async () => {
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveChown(root, "ghost"), { uid: 0, gid: 0 });
    assert.deepEqual(await resolveChown(root, "ghost:staff"), { uid: 0, gid: 50 });
    assert.deepEqual(await resolveChown(root, "1000:ghosts"), { uid: 1000, gid: 1000 });
  });
  await withRootfs(async (root) => {
    assert.deepEqual(await resolveChown(root, "builder"), { uid: 0, gid: 0 });
  }, { passwd: "", group: "" });
});

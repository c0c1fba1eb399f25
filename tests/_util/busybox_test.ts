import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { extract } from "tar-stream";
import { sha256 } from "../../core/digest.ts";
import {
  buildBusyboxIndexLayout,
  buildBusyboxLayout,
  buildLayeredLayout,
  LAYERED_EXPECTED,
  pushBusybox,
  pushBusyboxIndex,
} from "./busybox.ts";
import { hostArchitecture } from "./oci_layout.ts";
import { startRegistry } from "./registry.ts";
import { isRoot } from "./user.ts";

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "busybox-test-" });
  try {
    await fn(dir);
  } finally {
    // umoci --rootless may leave read-only dirs behind.
    await run("chmod", ["-R", "u+rwX", dir]).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

interface TarHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string | null;
  pax?: Record<string, string> | null;
}

async function tarHeaders(gzipped: Uint8Array): Promise<Map<string, TarHeader>> {
  const ex = extract();
  const headers = new Map<string, TarHeader>();
  const done = (async () => {
    for await (const entry of ex) {
      headers.set(entry.header.name.replace(/\/$/, ""), entry.header as TarHeader);
      entry.resume();
    }
  })();
  ex.end(Buffer.from(gunzipSync(gzipped)));
  await done;
  return headers;
}

/** Reads an extended attribute through libc (no `getfattr` needed). */
function getxattr(path: string, name: string): string | undefined {
  const libc = Deno.dlopen("libc.so.6", {
    lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  });
  try {
    const cstr = (s: string) => new TextEncoder().encode(`${s}\0`);
    const buf = new Uint8Array(256);
    const n = Number(libc.symbols.lgetxattr(cstr(path), cstr(name), buf, BigInt(buf.length)));
    return n < 0 ? undefined : new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    libc.close();
  }
}

/** Unpacks `layout:tag` with umoci (rootless when not root) and returns the rootfs path. */
async function umociUnpack(layout: string, tag: string, dest: string): Promise<string> {
  await run("umoci", [
    "unpack",
    ...(isRoot() ? [] : ["--rootless"]),
    "--image",
    `${layout}:${tag}`,
    dest,
  ]);
  return join(dest, "rootfs");
}

Deno.test("busybox layout is reproducible and readable by skopeo", async () => {
  await withTempDir(async (dir) => {
    const a = await buildBusyboxLayout(join(dir, "a"));
    const b = await buildBusyboxLayout(join(dir, "b"), { tag: "v1" });
    assert.equal(a.digest, b.digest);
    assert.match(a.digest, /^sha256:[a-f0-9]{64}$/);

    const index = JSON.parse(await Deno.readTextFile(join(dir, "a", "index.json")));
    assert.equal(index.manifests[0].annotations["org.opencontainers.image.ref.name"], "latest");
    assert.equal(index.manifests[0].digest, a.digest);

    const inspect = JSON.parse(await run("skopeo", ["inspect", `oci:${join(dir, "b")}:v1`]));
    assert.equal(inspect.Digest, a.digest);
    assert.equal(inspect.Architecture, hostArchitecture());
    assert.equal(inspect.Os, "linux");
    assert.deepEqual(inspect.Layers, [a.layers[0].digest]);
    assert.ok(inspect.Env.some((e: string) => e.startsWith("PATH=") && e.includes("/bin")));

    const config = JSON.parse(
      await run("skopeo", ["inspect", "--config", `oci:${join(dir, "a")}:latest`]),
    );
    assert.deepEqual(config.config.Cmd, ["sh"]);
    assert.deepEqual(config.rootfs.diff_ids, [a.layers[0].diffId]);
    assert.equal(config.history.length, 1);
    assert.equal(sha256(JSON.stringify(config)), a.configDigest);

    // The diff_id is the digest of the uncompressed layer.
    const blob = await Deno.readFile(
      join(dir, "a", "blobs", "sha256", a.layers[0].digest.slice(7)),
    );
    assert.equal(sha256(gunzipSync(blob)), a.layers[0].diffId);
  });
});

Deno.test("busybox rootfs has applets, users and owned directories", async () => {
  const image = await withLayout((dir) => buildBusyboxLayout(dir));
  const h = await tarHeaders(image.layers[0].blob);
  assert.equal(h.get("bin/busybox")?.mode, 0o755);
  for (const applet of ["sh", "ls", "cat", "echo", "sleep", "id", "sha256sum", "tar", "env"]) {
    const e = h.get(`bin/${applet}`);
    assert.equal(e?.type, "symlink", applet);
    assert.equal(e?.linkname, "busybox");
  }
  assert.equal(h.get("tmp")?.mode, 0o1777);
  assert.equal(h.get("root")?.mode, 0o700);
  assert.deepEqual([h.get("home/builder")?.uid, h.get("home/builder")?.gid], [1000, 1000]);
  for (const e of h.values()) {
    assert.ok(e.uid === 0 || e.name.startsWith("home/builder"), `${e.name} owned by ${e.uid}`);
  }
});

async function withLayout<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  let result: T | undefined;
  await withTempDir(async (dir) => {
    result = await fn(join(dir, "layout"));
  });
  return result as T;
}

Deno.test("busybox image runs: umoci unpack + chroot sh in a user namespace", async () => {
  await withTempDir(async (dir) => {
    await buildBusyboxLayout(join(dir, "layout"));
    const rootfs = await umociUnpack(join(dir, "layout"), "latest", join(dir, "bundle"));
    const passwd = await Deno.readTextFile(join(rootfs, "etc", "passwd"));
    assert.match(passwd, /^builder:x:1000:1000:/m);
    assert.match(await Deno.readTextFile(join(rootfs, "etc", "group")), /^root:x:0:/m);
    const out = await run("unshare", [
      "--user",
      "--map-root-user",
      "chroot",
      rootfs,
      "/bin/sh",
      "-c",
      "echo hello from $(id -u); ls /bin/sh; cat /etc/passwd | wc -l",
    ]);
    assert.deepEqual(out.trim().split("\n"), ["hello from 0", "/bin/sh", "4"]);
  });
});

Deno.test("layered image: umoci applies whiteouts, opaque dirs, links and modes", async () => {
  await withTempDir(async (dir) => {
    const image = await buildLayeredLayout(join(dir, "layout"));
    assert.equal(image.layers.length, 3);
    assert.equal(image.config.rootfs.diff_ids.length, 3);
    const rootfs = await umociUnpack(join(dir, "layout"), "latest", join(dir, "bundle"));
    for (const e of LAYERED_EXPECTED.present) {
      const p = join(rootfs, e.path);
      const st = await Deno.lstat(p);
      const kind = st.isSymlink ? "symlink" : st.isDirectory ? "dir" : "file";
      assert.equal(kind, e.type, e.path);
      if (e.target) assert.equal(await Deno.readLink(p), e.target, e.path);
      if (e.content) assert.equal(await Deno.readTextFile(p), e.content, e.path);
      // Rootless umoci may drop special bits; the tar headers are checked in the next test.
      const mask = isRoot() ? 0o7777 : 0o777;
      if (e.mode !== undefined) assert.equal(st.mode! & mask, e.mode & mask, e.path);
      for (const [name, value] of Object.entries(e.xattrs ?? {})) {
        assert.equal(getxattr(p, name), value, `${e.path} xattr ${name}`);
      }
      if (e.uid !== undefined && isRoot()) assert.equal(st.uid, e.uid, e.path);
      if (e.gid !== undefined && isRoot()) assert.equal(st.gid, e.gid, e.path);
    }
    for (const path of LAYERED_EXPECTED.absent) {
      await assert.rejects(() => Deno.lstat(join(rootfs, path)), Deno.errors.NotFound, path);
    }
    for (const [a, b] of LAYERED_EXPECTED.hardlinks) {
      const [sa, sb] = [await Deno.lstat(join(rootfs, a)), await Deno.lstat(join(rootfs, b))];
      assert.equal(sa.ino, sb.ino, `${a} and ${b} are one inode`);
      assert.equal(sa.nlink, 2);
    }
  });
});

Deno.test("layered image: tar headers carry owners, modes, whiteouts and the xattr", async () => {
  const image = await withLayout((dir) => buildLayeredLayout(dir));
  const [, l1, l2] = await Promise.all(image.layers.map((l) => tarHeaders(l.blob)));
  assert.equal(l1.get("data/setuid")?.mode, 0o4755);
  assert.equal(l1.get("data/sticky")?.mode, 0o1777);
  assert.equal(l1.get("data/hl-b")?.type, "link");
  assert.equal(l1.get("data/hl-b")?.linkname, "data/hl-a");
  assert.deepEqual([l1.get("data/owned-0-42")?.uid, l1.get("data/owned-0-42")?.gid], [0, 42]);
  assert.deepEqual([l1.get("data/owned-1000")?.uid, l1.get("data/owned-1000")?.gid], [1000, 1000]);
  assert.equal(l1.get("data/xattr.txt")?.pax?.["SCHILY.xattr.user.test"], "1");
  assert.equal(l1.get("data/mode.txt")?.mode, 0o644);
  assert.equal(l2.get("data/mode.txt")?.mode, 0o600);
  assert.ok(l2.has("data/.wh.deleted.txt"));
  assert.ok(l2.has("data/.wh.gone"));
  assert.ok(l2.has("data/opaque/.wh..wh..opq"));
});

Deno.test("pushBusybox pushes to a real registry, with and without credentials", async () => {
  await using open = await startRegistry();
  const pushed = await pushBusybox(open.host);
  assert.equal(pushed.reference, `${open.host}/library/busybox:latest`);
  const inspect = JSON.parse(
    await run("skopeo", ["inspect", "--tls-verify=false", `docker://${pushed.reference}`]),
  );
  assert.equal(inspect.Digest, pushed.digest);
  assert.equal(inspect.Architecture, hostArchitecture());

  await using auth = await startRegistry({ auth: "htpasswd" });
  const creds = `${auth.username}:${auth.password}`;
  await assert.rejects(() => pushBusybox(auth.host, "test/layered", "v1", { layered: true }));
  const layered = await pushBusybox(auth.host, "test/layered", "v1", { layered: true, creds });
  const raw = JSON.parse(
    await run("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      "--creds",
      creds,
      `docker://${auth.host}/test/layered:v1`,
    ]),
  );
  assert.equal(raw.layers.length, 3);
  assert.equal(sha256(JSON.stringify(raw)), layered.digest);
});

Deno.test("pushBusyboxIndex pushes an amd64 + arm64 index", async () => {
  await withTempDir(async (dir) => {
    const built = await buildBusyboxIndexLayout(join(dir, "layout"));
    assert.deepEqual(
      built.manifests.map((m) => m.platform?.architecture),
      ["amd64", "arm64"],
    );
  });
  await using registry = await startRegistry();
  const pushed = await pushBusyboxIndex(registry.host, "multi/busybox", "1.0");
  const ref = `docker://${pushed.reference}`;
  const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", ref]);
  assert.equal(sha256(raw), pushed.digest);
  const index = JSON.parse(raw);
  assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
  assert.deepEqual(
    index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ["amd64", "arm64"],
  );
  for (const arch of ["amd64", "arm64"]) {
    const inspect = JSON.parse(
      await run("skopeo", ["--override-arch", arch, "inspect", "--tls-verify=false", ref]),
    );
    assert.equal(inspect.Architecture, arch);
  }
});

/**
 * A cold build fetches its base image in the process the user started while img starts
 * again inside the user namespace (`cli/prefetch.ts`): the build inside waits for it and
 * finds the image in the state. Through a counting proxy: every blob is downloaded once, the
 * image is the one a build without the prefetch makes, no lock file is left, and a base the
 * prefetch cannot fetch is reported by the build itself. As the unprivileged user: as root
 * there is no namespace to enter and nothing to do beside it.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { startFaultProxy } from "./_util/fault_proxy.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { builtDigest, img, imgOk, removeTree } from "./_util/img.ts";

const ROOT = Deno.uid() === 0;

/** The lock files a prefetch leaves in `state`, if any. */
async function locks(state: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(state)) if (e.name.startsWith("prefetch-")) names.push(e.name);
  return names;
}

Deno.test({
  name: "a cold build's base image is fetched beside the namespace's start, once",
  ignore: ROOT,
  async fn() {
    await using registry = await startRegistry();
    await pushBusybox(registry.host, "library/busybox", "latest");
    await using proxy = await startFaultProxy(registry.host, { times: 0 });
    const tmp = await Deno.makeTempDir({ prefix: "img-prefetch-" });
    try {
      const ctx = `${tmp}/ctx`;
      await Deno.mkdir(ctx);
      await Deno.writeTextFile(
        `${ctx}/Dockerfile`,
        "ARG BASE\nFROM ${BASE} AS base\nFROM base\nCOPY a.txt /a.txt\n",
      );
      await Deno.writeTextFile(`${ctx}/a.txt`, "a\n");
      const args = (state: string) => [
        "--state",
        state,
        "build",
        "--no-console",
        "--build-arg",
        `BASE=${proxy.host}/library/busybox:latest`,
        ctx,
      ];
      const env = { IMG_TRACE: "1", SOURCE_DATE_EPOCH: "1700000000" };

      // The lock file of a process killed before it could remove it (no such pid).
      await Deno.mkdir(`${tmp}/a`);
      await Deno.writeTextFile(`${tmp}/a/prefetch-2147483646.lock`, "");
      const withPrefetch = await imgOk(args(`${tmp}/a`), { env });
      // The process the user started fetched it; the build inside waited for that.
      match(withPrefetch.stderr, /^parent +base image prefetch/m, withPrefetch.stderr);
      match(withPrefetch.stderr, /^child +wait for the base image prefetch/m);
      const blobGets = proxy.requests
        .filter((r) => r.method === "GET" && r.path.includes("/blobs/"))
        .map((r) => r.path);
      equal(blobGets.length, 2, `the config and the layer:\n${blobGets.join("\n")}`);
      deepEqual(new Set(blobGets).size, blobGets.length, "no blob downloaded twice");
      deepEqual(await locks(`${tmp}/a`), [], "its lock file is gone, and the stale one");

      // The same image as a build that fetches everything itself (records off: no prefetch);
      // no RUN, whose files' times differ from build to build.
      const without = await imgOk(args(`${tmp}/b`), {
        env: { ...env, IMG_REBUILD_RECORDS: "0" },
      });
      ok(!/base image prefetch/.test(without.stderr), without.stderr);
      equal(builtDigest(withPrefetch.stdout), builtDigest(without.stdout));

      // A base that cannot be fetched: the build's own one-line error, nothing left behind.
      await Deno.writeTextFile(`${ctx}/Dockerfile`, "ARG BASE\nFROM ${BASE}-missing\n");
      const missing = await img(args(`${tmp}/c`));
      equal(missing.code, 1, missing.stderr);
      match(missing.stderr.trimEnd().split("\n").at(-1)!, /^img: Dockerfile:2: /, missing.stderr);
      deepEqual(await locks(`${tmp}/c`), []);
    } finally {
      await removeTree(tmp);
    }
  },
});

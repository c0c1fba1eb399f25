/**
 * Lazy import of a registry cache (issue 9): on an empty state, a build whose every step hits
 * `--cache-from` and is pushed to the same registry downloads no layer at all (the pushed
 * image's layers reach their repository by cross-repository mount); the image it stores still
 * saves and unpacks (its layers are fetched then), a one-file change fetches only the layers
 * the re-run steps need, and no blob is ever uploaded twice. One real registry behind a
 * counting proxy sees every request.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { startFaultProxy } from "./_util/fault_proxy.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { imgOk, removeTree, run } from "./_util/img.ts";
import { allCached, stepStatus } from "./_util/build_steps.ts";
import {
  downloadedBlobs as downloaded,
  mountedBlobs as mounted,
  requestLines as summary,
  uploadedBlobs as uploads,
} from "./_util/registry_log.ts";

const DOCKERFILE = `ARG BASE
FROM \${BASE} AS build
WORKDIR /src
COPY a.txt .
RUN tr a-z A-Z < a.txt > A.txt

FROM \${BASE}
COPY --from=build /src/A.txt /A.txt
COPY c.txt /c.txt
RUN cat /A.txt /c.txt > /all.txt
`;

const ENV = { SOURCE_DATE_EPOCH: "1700000000" };

async function writeContext(dir: string, c: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/Dockerfile`, DOCKERFILE);
  await Deno.writeTextFile(`${dir}/a.txt`, "a\n");
  await Deno.writeTextFile(`${dir}/c.txt`, c);
  return dir;
}

async function pushedDigest(ref: string): Promise<string> {
  return (await run(["skopeo", "inspect", "--format", "{{.Digest}}", "--tls-verify=false", ref]))
    .trim();
}

async function manifestLayers(ref: string): Promise<string[]> {
  const raw = JSON.parse(await run(["skopeo", "inspect", "--raw", "--tls-verify=false", ref]));
  return raw.layers.map((l: { digest: string }) => l.digest);
}

Deno.test("an all-cached build pushed from an empty state downloads no layer, mounts them, and the stored image still saves and unpacks", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  await using proxy = await startFaultProxy(registry.host, { times: 0 });
  const host = proxy.host;
  const base = `${host}/library/busybox:latest`;
  const cacheRef = `${host}/cache/app:max`;
  const tmp = await Deno.makeTempDir({ prefix: "img-cache-lazy-" });
  const build = (ctx: string, state: string, ...extra: string[]) =>
    imgOk(["build", "--no-console", "--build-arg", `BASE=${base}`, ...extra, ctx], {
      state,
      env: ENV,
    });
  try {
    // Machine A: builds, keeps the image locally, exports the cache (mode=max).
    const a = await build(
      await writeContext(`${tmp}/a/ctx`, "c\n"),
      `${tmp}/a/state`,
      "-t",
      "app",
      "--metadata-file",
      `${tmp}/a/meta.json`,
      "--cache-to",
      `type=registry,ref=${cacheRef},mode=max`,
    );
    const digestA = JSON.parse(await Deno.readTextFile(`${tmp}/a/meta.json`))[
      "containerimage.digest"
    ];
    ok(digestA, a.stderr);
    const cacheLayers = await manifestLayers(`docker://${cacheRef}`);
    const baseLayers = await manifestLayers(`docker://${base}`);
    const layerSet = new Set([...cacheLayers, ...baseLayers]);

    // Machine B, empty: every step is CACHED, the image is pushed, and no layer is downloaded.
    const ctxB = await writeContext(`${tmp}/b/ctx`, "c\n");
    const stateB = `${tmp}/b/state`;
    const seenB = proxy.requests.length;
    const b = await build(
      ctxB,
      stateB,
      "--cache-from",
      `type=registry,ref=${cacheRef}`,
      "--push",
      "-t",
      `${host}/app/b:v1`,
      "--metadata-file",
      `${tmp}/b/meta.json`,
    );
    const requestsB = proxy.requests.slice(seenB);
    allCached(b.stderr);
    deepEqual(
      downloaded(requestsB).filter((d) => layerSet.has(d)),
      [],
      `B downloaded layers:\n${summary(requestsB)}`,
    );
    const imageLayers = await manifestLayers(`docker://${host}/app/b:v1`);
    equal(
      JSON.parse(await Deno.readTextFile(`${tmp}/b/meta.json`))["containerimage.digest"],
      digestA,
      "B pushed A's image",
    );
    equal(await pushedDigest(`docker://${host}/app/b:v1`), digestA, "the registry has A's image");
    deepEqual(
      new Set(mounted(requestsB)),
      new Set(imageLayers),
      `every layer was mounted:\n${summary(requestsB)}`,
    );

    // The same with -o type=image,push=true, to another tag of the same repository: the
    // registry has every blob, nothing moves.
    const seenB2 = proxy.requests.length;
    const b2 = await build(
      ctxB,
      stateB,
      "--cache-from",
      `type=registry,ref=${cacheRef}`,
      "-o",
      `type=image,name=${host}/app/b:v2,push=true`,
    );
    allCached(b2.stderr);
    const requestsB2 = proxy.requests.slice(seenB2);
    deepEqual(downloaded(requestsB2).filter((d) => layerSet.has(d)), [], summary(requestsB2));
    deepEqual(uploads(requestsB2), new Map(), summary(requestsB2));

    // The build cache commands take a state whose image has no layer here.
    match((await imgOk(["du"], { state: stateB })).stdout, /^ID\s+RECLAIMABLE/);
    await imgOk(["prune", "-a", "-f"], { state: stateB });
    match((await imgOk(["ls"], { state: stateB })).stdout, /\/app\/b:v1 /);

    // img push to another repository of the registry mounts every blob: nothing moves.
    const seenMirror = proxy.requests.length;
    await imgOk(["tag", `${host}/app/b:v1`, `${host}/mirror/app:v1`], { state: stateB });
    await imgOk(["push", `${host}/mirror/app:v1`], { state: stateB });
    const requestsMirror = proxy.requests.slice(seenMirror);
    deepEqual(downloaded(requestsMirror), [], summary(requestsMirror));
    deepEqual(uploads(requestsMirror), new Map(), summary(requestsMirror));

    // img push to another registry fetches the layers (each once) and uploads them there.
    await using other = await startRegistry();
    const seenOther = proxy.requests.length;
    await imgOk(["tag", `${host}/app/b:v1`, `${other.host}/app:v1`], { state: stateB });
    await imgOk(["push", `${other.host}/app:v1`], { state: stateB });
    deepEqual(
      downloaded(proxy.requests.slice(seenOther)).sort(),
      [...imageLayers].sort(),
      "the push elsewhere fetched each layer once",
    );
    equal(await pushedDigest(`docker://${other.host}/app:v1`), digestA);

    // The layers are here now: unpack and save read them without another download.
    const seenUse = proxy.requests.length;
    await imgOk(["unpack", "-o", `${tmp}/b/rootfs`, `${host}/app/b:v1`], { state: stateB });
    equal(await Deno.readTextFile(`${tmp}/b/rootfs/all.txt`), "A\nc\n");
    await imgOk(["save", "-o", `${tmp}/b/app.tar`, `${host}/app/b:v1`], { state: stateB });
    const saved = JSON.parse(
      await run(["skopeo", "inspect", "--raw", `docker-archive:${tmp}/b/app.tar`]),
    );
    equal(saved.layers.length, imageLayers.length);
    deepEqual(downloaded(proxy.requests.slice(seenUse)), []);

    // Machine D, empty, saves and unpacks the image it built from the cache alone: both fetch
    // the layers they need, on demand.
    const stateD = `${tmp}/d/state`;
    await build(ctxB, stateD, "--cache-from", `type=registry,ref=${cacheRef}`, "-t", "app:d");
    const seenD = proxy.requests.length;
    await imgOk(["save", "-o", `${tmp}/d/app.tar`, "app:d"], { state: stateD });
    deepEqual(downloaded(proxy.requests.slice(seenD)).sort(), [...imageLayers].sort());
    await imgOk(["unpack", "-o", `${tmp}/d/rootfs`, "app:d"], { state: stateD });
    equal(await Deno.readTextFile(`${tmp}/d/rootfs/all.txt`), "A\nc\n");

    // Machine C, empty, with c.txt changed: the layers under COPY c.txt are all it fetches.
    const seenC = proxy.requests.length;
    const c = await build(
      await writeContext(`${tmp}/c/ctx`, "c changed\n"),
      `${tmp}/c/state`,
      "--cache-from",
      `type=registry,ref=${cacheRef}`,
      "--push",
      "-t",
      `${host}/app/b:v3`,
    );
    const requestsC = proxy.requests.slice(seenC);
    deepEqual([...stepStatus(c.stderr)].sort(), [
      ["[stage-1 2/4] COPY --from=build /src/A.txt /A.txt", "CACHED"],
      ["[stage-1 3/4] COPY c.txt /c.txt", "DONE"],
      ["[stage-1 4/4] RUN cat /A.txt /c.txt > /all.txt", "DONE"],
    ], c.stderr);
    deepEqual(
      downloaded(requestsC).filter((d) => layerSet.has(d)).sort(),
      imageLayers.slice(0, 2).sort(),
      `C fetched only the base and the COPY --from layer:\n${c.stderr}\n${summary(requestsC)}`,
    );
    await imgOk(["unpack", "-o", `${tmp}/c/rootfs`, `${host}/app/b:v3`], {
      state: `${tmp}/c/state`,
    });
    equal(await Deno.readTextFile(`${tmp}/c/rootfs/all.txt`), "A\nc changed\n");

    // Over the whole scenario, no blob was uploaded twice.
    for (const [digest, n] of uploads(proxy.requests)) {
      equal(n, 1, `${digest} was uploaded ${n} times:\n${summary(proxy.requests)}`);
    }
  } finally {
    await removeTree(tmp);
  }
});

/**
 * Build cache that travels between machines (`--cache-to`/`--cache-from`): two state dirs
 * stand for two machines, one real registry (behind a counting proxy) for the cache.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { type ProxiedRequest, startFaultProxy } from "./_util/fault_proxy.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { builtDigest, img, imgOk, removeTree, run } from "./_util/img.ts";
import { allCached, stepStatus } from "./_util/build_steps.ts";
import { mountedBlobs, uploadedBlobs } from "./_util/registry_log.ts";

const DOCKERFILE = `ARG BASE
FROM \${BASE} AS build
WORKDIR /src
COPY a.txt .
RUN tr a-z A-Z < a.txt > A.txt
COPY b.txt .
RUN cat A.txt b.txt > out.txt

FROM \${BASE}
COPY --from=build /src/out.txt /out.txt
COPY c.txt /c.txt
RUN cat /out.txt /c.txt > /all.txt
`;

const ENV = { SOURCE_DATE_EPOCH: "1700000000" };

async function writeContext(dir: string, files: Record<string, string>): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  return dir;
}

function contextFiles(c = "c\n"): Record<string, string> {
  return { Dockerfile: DOCKERFILE, "a.txt": "a\n", "b.txt": "b\n", "c.txt": c };
}

async function withEnv(
  fn: (e: {
    host: string;
    base: string;
    tmp: string;
    puts: () => Map<string, number>;
    requests: () => ProxiedRequest[];
  }) => Promise<void>,
) {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  // Every request of img goes through the proxy, which counts them.
  await using proxy = await startFaultProxy(registry.host, { times: 0 });
  const tmp = await Deno.makeTempDir({ prefix: "img-cache-travel-" });
  const puts = () => uploadedBlobs(proxy.requests);
  try {
    await fn({
      host: proxy.host,
      base: `${proxy.host}/library/busybox:latest`,
      tmp,
      puts,
      requests: () => proxy.requests,
    });
  } finally {
    await removeTree(tmp);
  }
}

function buildArgs(base: string, ctx: string, ...extra: string[]): string[] {
  return ["build", "--no-console", "--build-arg", `BASE=${base}`, ...extra, ctx];
}

Deno.test("registry cache: mode=max from machine A makes every step CACHED on empty machine B, same image; a changed file re-runs only the steps after it", async () => {
  await withEnv(async ({ host, base, tmp, puts, requests }) => {
    const image = `${host}/app/hello:v1`;
    const cacheRef = `${host}/cache/hello:max`;
    const a = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/a/ctx`, contextFiles()),
        "-o",
        `type=image,name=${image},push=true`,
        "--cache-to",
        `type=registry,ref=${cacheRef},mode=max`,
      ),
      { state: `${tmp}/a/state`, env: ENV },
    );
    const stepsA = stepStatus(a.stderr);
    equal(stepsA.size, 8, a.stderr);
    ok([...stepsA.values()].every((s) => s === "DONE"), a.stderr);
    match(a.stderr, /exporting cache to /);

    // Nothing uploaded twice: the cache push mounts or skips the image's blobs.
    const putsA = puts();
    for (const [digest, n] of putsA) equal(n, 1, `${digest} was uploaded ${n} times`);

    // skopeo reads the cache artifact; its layers include the image's.
    const raw = JSON.parse(
      await run(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${cacheRef}`]),
    );
    equal(raw.artifactType, "application/vnd.img.cache.v1");
    equal(raw.config.mediaType, "application/vnd.img.cache.config.v1+json");
    const imageLayers = JSON.parse(
      await run(["skopeo", "inspect", "--tls-verify=false", `docker://${image}`]),
    ).Layers as string[];
    const cacheLayers = new Set(raw.layers.map((l: { digest: string }) => l.digest));
    ok(imageLayers.every((d) => cacheLayers.has(d)), "the cache holds the image's own layers");
    ok(cacheLayers.size > imageLayers.length, "mode=max also holds the build stage's layers");
    // The base image's layer is mounted from its own repository, the others are uploaded.
    const mountsA = new Set(mountedBlobs(requests()));
    ok(
      imageLayers.every((d) => putsA.has(d) || mountsA.has(d)),
      "the proxy saw the image's uploads",
    );
    // skopeo copies it, too.
    await run([
      "skopeo",
      "copy",
      "--src-tls-verify=false",
      `docker://${cacheRef}`,
      `oci:${tmp}/copied:cache`,
    ]);

    // Machine B: another state and another checkout of the same context.
    const ctxB = await writeContext(`${tmp}/b/checkout`, contextFiles());
    const seen = requests().length;
    const b = await imgOk(
      buildArgs(
        base,
        ctxB,
        "-t",
        "hello",
        "--cache-from",
        `type=registry,ref=${cacheRef}`,
        "--cache-to",
        `type=registry,ref=${cacheRef}-b,mode=max`,
      ),
      { state: `${tmp}/b/state`, env: ENV },
    );
    allCached(b.stderr);
    // Lazy: B downloaded the final image's layers only, never the build stage's.
    const fetched = requests().slice(seen).filter((r) => r.method === "GET")
      .map((r) => r.path.match(/\/blobs\/(sha256:[a-f0-9]{64})/)?.[1]).filter((d) => d);
    ok(fetched.length > 0);
    for (const d of fetched) {
      ok(!cacheLayers.has(d) || imageLayers.includes(d!), `${d} of the build stage was fetched`);
    }
    // B's own mode=max export keeps every record it imported, and uploads no layer again.
    const rawB = JSON.parse(
      await run(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${cacheRef}-b`]),
    );
    deepEqual(new Set(rawB.layers.map((l: { digest: string }) => l.digest)), cacheLayers);
    for (const [digest, n] of puts()) equal(n, 1, `${digest} was uploaded ${n} times`);
    equal(builtDigest(b.stdout), builtDigest(a.stdout), "the same image on both machines");
    await imgOk(["unpack", "-o", `${tmp}/b/rootfs`, "hello"], { state: `${tmp}/b/state` });
    equal(await Deno.readTextFile(`${tmp}/b/rootfs/all.txt`), "A\nb\nc\n");

    // Machine C, empty too, with c.txt changed: only the steps from COPY c.txt on run.
    const ctxC = await writeContext(`${tmp}/c/checkout`, contextFiles("c changed\n"));
    const c = await imgOk(
      buildArgs(base, ctxC, "-t", "hello", "--cache-from", cacheRef),
      { state: `${tmp}/c/state`, env: ENV },
    );
    const stepsC = stepStatus(c.stderr);
    deepEqual(
      [...stepsC].sort(),
      [
        ["[stage-1 2/4] COPY --from=build /src/out.txt /out.txt", "CACHED"],
        ["[stage-1 3/4] COPY c.txt /c.txt", "DONE"],
        ["[stage-1 4/4] RUN cat /out.txt /c.txt > /all.txt", "DONE"],
      ],
      c.stderr,
    );
    await imgOk(["unpack", "-o", `${tmp}/c/rootfs`, "hello"], { state: `${tmp}/c/state` });
    equal(await Deno.readTextFile(`${tmp}/c/rootfs/all.txt`), "A\nb\nc changed\n");
  });
});

Deno.test("local cache: an OCI layout directory round-trips between two state dirs, every step CACHED", async () => {
  await withEnv(async ({ base, tmp }) => {
    const cacheDir = `${tmp}/ci-cache`;
    const a = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/a/ctx`, contextFiles()),
        "-t",
        "hello",
        "--cache-to",
        `type=local,dest=${cacheDir},mode=max`,
      ),
      { state: `${tmp}/a/state`, env: ENV },
    );
    const raw = JSON.parse(await run(["skopeo", "inspect", "--raw", `oci:${cacheDir}:latest`]));
    equal(raw.artifactType, "application/vnd.img.cache.v1");
    const b = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/b/ctx`, contextFiles()),
        "-t",
        "hello",
        "--cache-from",
        `type=local,src=${cacheDir}`,
      ),
      { state: `${tmp}/b/state`, env: ENV },
    );
    allCached(b.stderr);
    equal(builtDigest(b.stdout), builtDigest(a.stdout));

    // mode=min (the default) holds only the final stage's steps.
    const minDir = `${tmp}/min-cache`;
    await imgOk(
      buildArgs(base, `${tmp}/a/ctx`, "-t", "hello", "--cache-to", `type=local,dest=${minDir}`),
      { state: `${tmp}/a/state`, env: ENV },
    );
    const c = await imgOk(
      buildArgs(base, `${tmp}/b/ctx`, "-t", "hello", "--cache-from", `type=local,src=${minDir}`),
      { state: `${tmp}/c/state`, env: ENV },
    );
    allCached(c.stderr);
    equal(builtDigest(c.stdout), builtDigest(a.stdout));
    const minRaw = JSON.parse(await run(["skopeo", "inspect", "--raw", `oci:${minDir}:latest`]));
    ok(minRaw.layers.length < raw.layers.length, "mode=min leaves the build stage's layers out");
  });
});

Deno.test("inline cache: the image's own config carries the cache, --cache-from IMAGE reuses its layers", async () => {
  await withEnv(async ({ host, base, tmp }) => {
    const image = `${host}/app/inline:latest`;
    const a = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/a/ctx`, contextFiles()),
        "-o",
        `type=image,name=${image},push=true`,
        "--cache-to",
        "type=inline",
      ),
      { state: `${tmp}/a/state`, env: ENV },
    );
    const config = JSON.parse(
      await run([
        "skopeo",
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        `docker://${image}`,
      ]),
    );
    equal(config["img.cache.v1"].records.length, 3, "the final stage's three steps");

    const b = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/b/ctx`, contextFiles()),
        "-t",
        "inline",
        "--cache-from",
        image,
        "--cache-to",
        "type=inline",
      ),
      { state: `${tmp}/b/state`, env: ENV },
    );
    allCached(b.stderr);
    equal(builtDigest(b.stdout), builtDigest(a.stdout));

    // A changed c.txt: COPY --from=build is still the image's second layer.
    const c = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/c/ctx`, contextFiles("c2\n")),
        "-t",
        "inline",
        "--cache-from",
        image,
      ),
      { state: `${tmp}/c/state`, env: ENV },
    );
    deepEqual([...stepStatus(c.stderr).values()].sort(), ["CACHED", "DONE", "DONE"], c.stderr);
    await imgOk(["unpack", "-o", `${tmp}/c/rootfs`, "inline"], { state: `${tmp}/c/state` });
    equal(await Deno.readTextFile(`${tmp}/c/rootfs/all.txt`), "A\nb\nc2\n");
  });
});

Deno.test("a cached layer that cannot be fetched when the build needs its files is a warning: the step runs; an image left in the registry says what to do", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-cache-travel-" });
  try {
    const cacheRef = (host: string) => `${host}/cache/hello:max`;
    const a = await imgOk(
      buildArgs(
        `${registry.host}/library/busybox:latest`,
        await writeContext(`${tmp}/a/ctx`, contextFiles()),
        "-o",
        `type=image,name=${registry.host}/app/hello:v1,push=true`,
        "--cache-to",
        `type=registry,ref=${cacheRef(registry.host)},mode=max`,
      ),
      { state: `${tmp}/a/state`, env: ENV },
    );
    match(a.stdout, /Successfully built/);
    const layers = JSON.parse(
      await run([
        "skopeo",
        "inspect",
        "--tls-verify=false",
        `docker://${registry.host}/app/hello:v1`,
      ]),
    ).Layers as string[];
    // The registry loses the top layer (the final RUN's) once B has read the cache manifest.
    await using proxy = await startFaultProxy(registry.host, {
      fault: "status",
      status: 404,
      matchMethod: "GET",
      matchPath: new RegExp(`/blobs/${layers[layers.length - 1]}`),
      times: Infinity,
    });
    // The local output needs the files: B downloads the cached result, and the layer is lost.
    const b = await imgOk(
      buildArgs(
        `${proxy.host}/library/busybox:latest`,
        await writeContext(`${tmp}/b/ctx`, contextFiles()),
        "-t",
        "hello",
        "-o",
        `type=local,dest=${tmp}/b/out`,
        "--cache-from",
        cacheRef(proxy.host),
      ),
      { state: `${tmp}/b/state`, env: ENV },
    );
    match(
      b.stderr,
      /The cached result of \[stage-1 4\/4\] RUN [^\n]* could not be fetched, running the step/,
    );
    equal(
      stepStatus(b.stderr).get("[stage-1 4/4] RUN cat /out.txt /c.txt > /all.txt"),
      "DONE",
      b.stderr,
    );
    ok(proxy.resets > 0, "the fault was injected");
    equal(await Deno.readTextFile(`${tmp}/b/out/all.txt`), "A\nb\nc\n");
    // The image stored with it has the layers of the step that ran, not the lost one.
    await imgOk(["unpack", "-o", `${tmp}/b/rootfs`, "hello"], { state: `${tmp}/b/state` });
    equal(await Deno.readTextFile(`${tmp}/b/rootfs/all.txt`), "A\nb\nc\n");

    // An image store needs no files: C stores the image with its layers left in the registry,
    // and unpacking it, which needs the lost layer, says so in one line.
    const c = await imgOk(
      buildArgs(
        `${proxy.host}/library/busybox:latest`,
        `${tmp}/b/ctx`,
        "-t",
        "hello",
        "--cache-from",
        cacheRef(proxy.host),
      ),
      { state: `${tmp}/c/state`, env: ENV },
    );
    allCached(c.stderr);
    const unpack = await img(["unpack", "-o", `${tmp}/c/rootfs`, "hello"], {
      state: `${tmp}/c/state`,
    });
    equal(unpack.code, 1, unpack.stderr);
    match(
      unpack.stderr,
      new RegExp(`Layer ${layers[layers.length - 1]} could not be fetched from .*cache/hello`),
    );
    equal(unpack.stderr.trim().split("\n").length, 1, unpack.stderr);
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("an unreachable cache source warns and builds; a failing --cache-to fails unless ignore-error=true; bad specs are refused", async () => {
  await withEnv(async ({ base, tmp }) => {
    const ctx = await writeContext(`${tmp}/ctx`, contextFiles());
    const state = `${tmp}/state`;
    const unreachable = "127.0.0.1:1/nothing/here:cache";
    const warned = await imgOk(
      buildArgs(base, ctx, "-t", "hello", "--cache-from", `type=registry,ref=${unreachable}`),
      { state, env: ENV },
    );
    match(warned.stderr, /Cache source 127\.0\.0\.1:1\/nothing\/here:cache could not be read/);
    match(warned.stdout, /Successfully built/);

    const missing = await imgOk(
      buildArgs(base, ctx, "-t", "hello", "--cache-from", `type=local,src=${tmp}/none`),
      { state, env: ENV },
    );
    match(missing.stderr, /could not be read/);

    const failed = await img(
      buildArgs(base, ctx, "--cache-to", `type=registry,ref=${unreachable}`),
      { state, env: ENV },
    );
    equal(failed.code, 1, failed.stderr);
    match(failed.stderr, /Exporting the build cache failed/);
    const ignored = await imgOk(
      buildArgs(base, ctx, "--cache-to", `type=registry,ref=${unreachable},ignore-error=true`),
      { state, env: ENV },
    );
    match(ignored.stderr, /Exporting the build cache failed, ignored/);

    for (
      const [flag, spec, message] of [
        ["--cache-to", "type=registry,ref=x/y:z,colour=red", /Unknown attribute "colour"/],
        ["--cache-to", "type=s3,bucket=b", /Unknown cache type "s3"/],
        ["--cache-from", "type=inline", /type=inline does not exist/],
        ["--cache-to", "type=inline,mode=max", /inline cache holds mode=min only/],
        ["--cache-from", "type=local", /Missing src=/],
        ["--cache-to", "type=registry,ref=x/y:z,mode=all", /Invalid mode="all"/],
      ] as const
    ) {
      const r = await img(buildArgs(base, ctx, flag, spec), { state });
      equal(r.code, 1, r.stderr);
      match(r.stderr, message);
      equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});

/** The records `img du --format json` lists, of `type` when given. */
async function duRecords(state: string, type?: string): Promise<Record<string, string>[]> {
  const du = await imgOk(
    ["du", "--format", "json", ...(type ? ["--filter", `type=${type}`] : [])],
    { state },
  );
  return du.stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

Deno.test("imported cache records: img du lists them (lazy ones at 0B), later builds reuse them, img prune removes them and a later build misses and runs", async () => {
  await withEnv(async ({ host, base, tmp }) => {
    const cacheRef = `${host}/cache/du:max`;
    const a = await imgOk(
      buildArgs(
        base,
        await writeContext(`${tmp}/a/ctx`, contextFiles()),
        "--cache-to",
        `type=registry,ref=${cacheRef},mode=max`,
      ),
      { state: `${tmp}/a/state`, env: ENV },
    );
    const stateB = `${tmp}/b/state`;
    const ctxB = await writeContext(`${tmp}/b/ctx`, contextFiles());
    // B imports the cache and exports all of it again (mode=max, to the registry that has the
    // blobs), so it uses every record without downloading the build stage.
    const b = await imgOk(
      buildArgs(
        base,
        ctxB,
        "-t",
        "hello",
        "--cache-from",
        cacheRef,
        "--cache-to",
        `type=registry,ref=${cacheRef}-b,mode=max`,
      ),
      { state: stateB, env: ENV },
    );
    allCached(b.stderr);
    const imported = await duRecords(stateB, "cache.imported");
    equal(imported.length, 8, JSON.stringify(imported));
    for (const r of imported) {
      equal(r.Type, "cache.imported");
      match(r.Description, new RegExp(`^imported from ${host}/cache/du:max: \\[`));
      match(r.ID, /^imported:sha256:[a-f0-9]{64}$/);
      ok(r.LastUsedAt, "a last-used time");
    }
    // The build stage was never downloaded: its records hold remote bytes only.
    const lazy = imported.filter((r) => /\] RUN tr a-z/.test(r.Description));
    equal(lazy.length, 1);
    equal(lazy[0].Size, "0B");
    ok(lazy[0].RemoteSize !== "0B", JSON.stringify(lazy[0]));
    // Nor was the final stage (the image keeps its layers in the registry until needed); once
    // `img unpack` needs them, its records hold the downloaded bytes.
    ok(imported.every((r) => r.Size === "0B"), JSON.stringify(imported));
    await imgOk(["unpack", "-o", `${tmp}/b/first`, "hello"], { state: stateB });
    ok(
      (await duRecords(stateB, "cache.imported")).some((r) => r.Size !== "0B"),
      "the final stage's layers were downloaded",
    );
    // The table and Go templates show them too; the template fields are checked.
    match((await imgOk(["du"], { state: stateB })).stdout, /imported from /);
    const template = await imgOk(
      ["du", "--filter", "type=cache.imported", "--format", "{{.Type}} {{.Size}}"],
      { state: stateB },
    );
    equal(template.stdout.trim().split("\n").length, 8);
    ok(template.stdout.trim().split("\n").every((l) => /^cache\.imported \S+$/.test(l)));
    const table = await imgOk(
      ["du", "--format", "table {{.ID}}\\t{{.Type}}\\t{{.LastUsedAt}}"],
      { state: stateB },
    );
    match(table.stdout, /^ID\s+TYPE\s+LAST ACCESSED\n/);
    match(table.stdout, /Total:/);
    const unknown = await img(["du", "--format", "{{.Colour}}"], { state: stateB });
    equal(unknown.code, 1);
    match(unknown.stderr, /the field \.Colour does not exist/);
    const badType = await img(["prune", "-f", "--filter", "type=lazy"], { state: stateB });
    equal(badType.code, 1);
    match(badType.stderr, /use regular, exec\.cachemount, cache\.imported/);

    // A later build in B without --cache-from reuses the kept records.
    const again = await imgOk(buildArgs(base, ctxB, "-t", "hello"), { state: stateB, env: ENV });
    allCached(again.stderr);

    // Records used within the hour, or that fit in --keep-storage, stay.
    await imgOk(
      ["prune", "-f", "-a", "--filter", "type=cache.imported", "--filter", "until=1h"],
      { state: stateB },
    );
    await imgOk(
      ["prune", "-f", "-a", "--filter", "type=cache.imported", "--keep-storage", "10GB"],
      { state: stateB },
    );
    equal((await duRecords(stateB, "cache.imported")).length, 8);
    // prune without -a keeps the records whose layers the image "hello" holds; -a removes all.
    const pruned = await imgOk(["prune", "-f", "--filter", "type=cache.imported"], {
      state: stateB,
    });
    match(pruned.stdout, /imported from /);
    const left = await duRecords(stateB, "cache.imported");
    ok(left.length > 0 && left.length < 8, JSON.stringify(left));
    ok(left.every((r) => r.UsedByImage === "true"));
    await imgOk(["prune", "-a", "-f", "--filter", "type=cache.imported"], { state: stateB });
    deepEqual(await duRecords(stateB, "cache.imported"), []);
    // Other records are still listed as JSON.
    ok((await duRecords(stateB)).every((r) => r.Type === "regular"));

    // A pruned record is a miss: the steps run (new layers: RUN writes new mtimes), same files.
    const after = await imgOk(buildArgs(base, ctxB, "-t", "hello"), { state: stateB, env: ENV });
    const ran = [...stepStatus(after.stderr)].filter(([name, status]) =>
      /\] RUN /.test(name) && status === "DONE"
    );
    equal(ran.length, 3, after.stderr);
    ok(builtDigest(after.stdout) !== builtDigest(a.stdout), "the steps ran again");
    await imgOk(["unpack", "-o", `${tmp}/b/rootfs`, "hello"], { state: stateB });
    equal(await Deno.readTextFile(`${tmp}/b/rootfs/all.txt`), "A\nb\nc\n");
  });
});

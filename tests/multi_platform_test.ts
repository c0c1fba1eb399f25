/**
 * Multi-platform builds end to end (`img build --platform linux/amd64,linux/arm64`), as the
 * user running the suite: a real two-architecture busybox base (the host's busybox-static
 * and Debian's `busybox-static:arm64`, which `.ci/run` downloads), foreign RUN steps through
 * the host's qemu-user binfmt_misc handler, the index pushed and read back with skopeo, and
 * each platform's image run under crun.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { hostPlatform, parsePlatform } from "../core/mod.ts";
import { checkEmulation } from "../core/sys/mod.ts";
import { foreignBusybox, pushBusyboxIndex } from "./_util/busybox.ts";
import { runWithCrun } from "./_util/crun.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";
import { startRegistry, type TestRegistry } from "./_util/registry.ts";

const ARM64 = parsePlatform("linux/arm64");
const host = hostPlatform();

/** Why foreign RUN steps cannot run here (no qemu-user handler), or undefined. */
const noEmulation = host.architecture !== "amd64"
  ? `the host is ${host.architecture}: these tests build amd64 natively and arm64 through qemu`
  : await checkEmulation(ARM64).then(() => undefined, (e: Error) => e.message);
if (noEmulation) console.error(`multi_platform_test: skipping foreign RUN tests: ${noEmulation}`);

async function withEnv(
  fn: (ctx: { registry: TestRegistry; base: string; state: string; tmp: string }) => Promise<void>,
) {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-multi-" });
  try {
    const arm64 = await foreignBusybox("arm64", `${tmp}/deb-arm64`);
    if ("reason" in arm64) throw new Error(`Cannot build the arm64 base: ${arm64.reason}`);
    await pushBusyboxIndex(registry.host, "library/busybox", "multi", {
      binaries: { arm64: arm64.path },
    });
    await fn({
      registry,
      base: `${registry.host}/library/busybox:multi`,
      state: `${tmp}/state`,
      tmp,
    });
  } finally {
    await removeTree(tmp);
  }
}

async function writeContext(dir: string, files: Record<string, string>): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return dir;
}

function skopeo(...args: string[]): Promise<string> {
  return run(["skopeo", ...args.slice(0, -1), "--tls-verify=false", args.at(-1)!]);
}

/** The ELF machine of a binary: 62 = x86-64, 183 = AArch64. */
async function elfMachine(path: string): Promise<number> {
  const bytes = await Deno.readFile(path);
  return new DataView(bytes.buffer).getUint16(18, true);
}

Deno.test({
  name:
    "build --platform linux/amd64,linux/arm64 pushes an index skopeo reads; each image runs its CMD under its architecture",
  ignore: noEmulation !== undefined,
  async fn() {
    await withEnv(async ({ registry, base, state, tmp }) => {
      const ctx = await writeContext(`${tmp}/ctx`, {
        "Dockerfile": `ARG BASE
FROM \${BASE}
ARG TARGETARCH
RUN uname -m > /uname.txt && echo "$TARGETARCH" > /targetarch.txt && sha256sum /bin/busybox > /busybox.sha256
CMD ["sh", "-c", "echo run: $(uname -m) built: $(cat /uname.txt) for $(cat /targetarch.txt)"]
`,
      });
      const name = `${registry.host}/team/app:v1`;
      const built = await imgOk([
        "build",
        "--no-console",
        "--platform",
        "linux/amd64,linux/arm64",
        "--build-arg",
        `BASE=${base}`,
        "-o",
        `type=image,name=${name},push=true`,
        ctx,
      ], { state });
      match(built.stdout, /^Successfully built sha256:[a-f0-9]{64}$/m);

      const raw = JSON.parse(await skopeo("inspect", "--raw", `docker://${name}`));
      equal(raw.mediaType, "application/vnd.oci.image.index.v1+json");
      deepEqual(
        raw.manifests.map((m: { platform: unknown }) => m.platform),
        [{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux" }],
      );
      const rawText = await skopeo("inspect", "--raw", `docker://${name}`);
      await Deno.writeTextFile(`${tmp}/index.json`, rawText);
      const digest = (await run(["skopeo", "manifest-digest", `${tmp}/index.json`])).trim();
      ok(built.stdout.includes(`Successfully built ${digest}`), built.stdout);

      for (const [arch, uname, machine] of [["amd64", "x86_64", 62], ["arm64", "aarch64", 183]]) {
        const config = JSON.parse(
          await skopeo("inspect", "--config", "--override-arch", `${arch}`, `docker://${name}`),
        );
        equal(config.architecture, arch);
        const rootfs = `${tmp}/rootfs-${arch}`;
        await imgOk(["unpack", "--platform", `linux/${arch}`, "-o", rootfs, name], { state });
        equal(await elfMachine(`${rootfs}/bin/busybox`), machine, `${arch} busybox`);
        equal(await Deno.readTextFile(`${rootfs}/uname.txt`), `${uname}\n`);
        equal(await Deno.readTextFile(`${rootfs}/targetarch.txt`), `${arch}\n`);
        // The image's CMD runs under its own architecture: natively, or through qemu.
        equal(
          await runWithCrun(rootfs, config),
          `run: ${uname} built: ${uname} for ${arch}\n`,
        );
      }
    });
  },
});

Deno.test({
  name:
    "cross-compilation: a --platform=$BUILDPLATFORM stage runs natively, once per target, and its files land in each platform's image",
  ignore: noEmulation !== undefined,
  async fn() {
    await withEnv(async ({ registry, base, state, tmp }) => {
      const ctx = await writeContext(`${tmp}/ctx`, {
        "Dockerfile": `ARG BASE
FROM --platform=$BUILDPLATFORM \${BASE} AS build
RUN echo shared step on $(uname -m) > /shared.txt
ARG TARGETARCH TARGETPLATFORM BUILDPLATFORM
RUN echo "compiled on $(uname -m) ($BUILDPLATFORM) for $TARGETARCH ($TARGETPLATFORM)" > /out.txt

FROM \${BASE}
COPY --from=build /out.txt /shared.txt /
CMD ["cat", "/out.txt"]
`,
      });
      const name = `${registry.host}/team/cross:v1`;
      const built = await imgOk([
        "build",
        "--platform",
        "linux/amd64,linux/arm64",
        "--progress",
        "plain",
        "--build-arg",
        `BASE=${base}`,
        "-o",
        `type=image,name=${name},push=true`,
        ctx,
      ], { state });
      // Step names say which platform they run for, as BuildKit's do.
      match(built.stderr, /^#\d+ \[linux\/amd64 build 2\/3\] RUN echo shared step/m);
      match(built.stderr, /^#\d+ \[linux\/arm64 stage-1 2\/2\] COPY --from=build/m);
      // The shared step runs once; the per-target step once per target.
      equal(countRuns(built.stderr, "RUN echo shared step"), 1, built.stderr);
      equal(countRuns(built.stderr, 'RUN echo "compiled on'), 2, built.stderr);
      for (const arch of ["amd64", "arm64"]) {
        const rootfs = `${tmp}/rootfs-${arch}`;
        await imgOk(["unpack", "--platform", `linux/${arch}`, "-o", rootfs, name], { state });
        equal(
          await Deno.readTextFile(`${rootfs}/out.txt`),
          `compiled on x86_64 (linux/amd64) for ${arch} (linux/${arch})\n`,
        );
        equal(await Deno.readTextFile(`${rootfs}/shared.txt`), "shared step on x86_64\n");
        const config = JSON.parse(
          await skopeo("inspect", "--config", "--override-arch", arch, `docker://${name}`),
        );
        equal(config.architecture, arch);
        equal(
          await runWithCrun(rootfs, config),
          `compiled on x86_64 (linux/amd64) for ${arch} (linux/${arch})\n`,
        );
      }
    });
  },
});

Deno.test({
  name:
    "build --platform linux/arm64 alone: the arm64 base, RUN through qemu, and no cache shared with amd64",
  ignore: noEmulation !== undefined,
  async fn() {
    await withEnv(async ({ base, state, tmp }) => {
      const ctx = await writeContext(`${tmp}/ctx`, {
        "Dockerfile": `ARG BASE\nFROM \${BASE}\nRUN uname -m > /uname.txt\n`,
      });
      const build = (platform: string) =>
        imgOk([
          "build",
          "--progress",
          "plain",
          "--platform",
          platform,
          "--build-arg",
          `BASE=${base}`,
          "-o",
          `type=docker,dest=${tmp}/${platform.replace("/", "_")}.tar`,
          "-o",
          `type=local,dest=${tmp}/${platform.replace("/", "_")}`,
          ctx,
        ], { state });
      await build("linux/amd64");
      const arm = await build("linux/arm64");
      match(arm.stderr, /\[2\/2\] RUN uname -m > \/uname\.txt\n#\d+ DONE/);
      equal(await Deno.readTextFile(`${tmp}/linux_arm64/uname.txt`), "aarch64\n");
      equal(await elfMachine(`${tmp}/linux_arm64/bin/busybox`), 183);
      equal(await Deno.readTextFile(`${tmp}/linux_amd64/uname.txt`), "x86_64\n");
      // Same inputs for both platforms (scratch + the same amd64 file): the RUN still is not
      // shared, since the platform is part of its cache key.
      const same = await writeContext(`${tmp}/same`, {
        "Dockerfile": `ARG BASE
FROM --platform=linux/amd64 \${BASE} AS tools
FROM scratch
COPY --from=tools /bin/busybox /bin/sh
RUN ["/bin/sh", "-c", "echo built > /built.txt"]
`,
      });
      const sameBuild = (platform: string) =>
        imgOk([
          "build",
          "--progress",
          "plain",
          "--platform",
          platform,
          "--build-arg",
          `BASE=${base}`,
          "-o",
          `type=tar,dest=${tmp}/same.tar`,
          same,
        ], { state });
      const step =
        /\[stage-1 3\/3\] RUN \["\/bin\/sh", "-c", "echo built > \/built.txt"\]\n#\d+ (DONE|CACHED)/;
      equal((await sameBuild("linux/amd64")).stderr.match(step)?.[1], "DONE");
      equal((await sameBuild("linux/amd64")).stderr.match(step)?.[1], "CACHED");
      equal((await sameBuild("linux/arm64")).stderr.match(step)?.[1], "DONE");
      // A single platform: the docker archive holds its image.
      const manifest = JSON.parse(
        await run(["tar", "-xOf", `${tmp}/linux_arm64.tar`, "manifest.json"]),
      );
      const config = JSON.parse(
        await run(["tar", "-xOf", `${tmp}/linux_arm64.tar`, manifest[0].Config]),
      );
      equal(config.architecture, "arm64");
    });
  },
});

Deno.test({
  name:
    "--cache-to with two platforms: mode=max and mode=min carry both platforms' steps to an empty state; type=inline is refused",
  ignore: noEmulation !== undefined,
  async fn() {
    await withEnv(async ({ base, tmp }) => {
      const ctx = await writeContext(`${tmp}/ctx`, {
        "Dockerfile": `ARG BASE
FROM --platform=$BUILDPLATFORM \${BASE} AS build
ARG TARGETARCH
RUN echo for $TARGETARCH > /target.txt

FROM \${BASE}
COPY --from=build /target.txt /
RUN echo on $(uname -m) > /arch.txt
`,
      });
      const build = (state: string, out: string, ...extra: string[]) =>
        img([
          "build",
          "--platform",
          "linux/amd64,linux/arm64",
          "--progress",
          "plain",
          "--build-arg",
          `BASE=${base}`,
          "-o",
          `type=local,dest=${out}`,
          ...extra,
          ctx,
        ], { state });
      const check = async (out: string) => {
        for (const [arch, uname] of [["amd64", "x86_64"], ["arm64", "aarch64"]]) {
          equal(await Deno.readTextFile(`${out}/linux_${arch}/target.txt`), `for ${arch}\n`);
          equal(await Deno.readTextFile(`${out}/linux_${arch}/arch.txt`), `on ${uname}\n`);
        }
      };
      const a = await build(
        `${tmp}/a`,
        `${tmp}/out-a`,
        "--cache-to",
        `type=local,dest=${tmp}/max,mode=max`,
        "--cache-to",
        `type=local,dest=${tmp}/min,mode=min`,
      );
      equal(a.code, 0, a.stderr);
      equal(countRuns(a.stderr, "RUN echo on"), 2, a.stderr);
      await check(`${tmp}/out-a`);

      // mode=max, empty state: no RUN of either platform runs again.
      const b = await build(
        `${tmp}/b`,
        `${tmp}/out-b`,
        "--cache-from",
        `type=local,src=${tmp}/max`,
      );
      equal(b.code, 0, b.stderr);
      equal(countRuns(b.stderr, "RUN echo for"), 0, b.stderr);
      equal(countRuns(b.stderr, "RUN echo on"), 0, b.stderr);
      match(b.stderr, /\[linux\/arm64 stage-1 3\/3\] RUN echo on .*\n#\d+ CACHED/);
      match(b.stderr, /\[linux\/amd64 stage-1 3\/3\] RUN echo on .*\n#\d+ CACHED/);
      await check(`${tmp}/out-b`);

      // mode=min: each platform's final stage is in the cache.
      const c = await build(
        `${tmp}/c`,
        `${tmp}/out-c`,
        "--cache-from",
        `type=local,src=${tmp}/min`,
      );
      equal(c.code, 0, c.stderr);
      equal(countRuns(c.stderr, "RUN echo on"), 0, c.stderr);
      await check(`${tmp}/out-c`);

      // An inline cache lives in one image config: refused for an index, before building.
      const d = await build(`${tmp}/d`, `${tmp}/out-d`, "--cache-to", "type=inline");
      equal(d.code, 1, d.stderr);
      match(d.stderr, /--cache-to type=inline cannot hold the cache of 2 platforms/);
      equal(countRuns(d.stderr, "RUN echo"), 0, d.stderr);
    });
  },
});

/**
 * How many times a step ran in plain progress output: its vertices (`#N [...] STEP`, a name
 * printed again when other output came between counts once) that were not CACHED.
 */
function countRuns(stderr: string, step: string): number {
  const vertices = new Set<string>();
  const cached = new Set<string>();
  for (const line of stderr.split("\n")) {
    const named = /^#(\d+) \[/.exec(line);
    if (named && line.includes(step)) vertices.add(named[1]);
    const hit = /^#(\d+) CACHED/.exec(line);
    if (hit) cached.add(hit[1]);
  }
  return [...vertices].filter((v) => !cached.has(v)).length;
}

Deno.test({
  name: "a foreign platform without a qemu handler is refused before anything runs",
  ignore: host.architecture !== "amd64",
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "img-multi-" });
    try {
      const ctx = await writeContext(`${tmp}/ctx`, {
        "Dockerfile": `FROM scratch\nCOPY sh /sh\nRUN ["/sh", "-c", "touch /ran"]\n`,
        "sh": "not a binary\n",
      });
      const handler = await checkEmulation(parsePlatform("linux/s390x")).then(
        () => true,
        () => false,
      );
      if (handler) {
        console.error("skipping: a qemu-s390x handler is registered on this host");
        return;
      }
      const r = await img(
        [
          "build",
          "--progress",
          "plain",
          "--platform",
          "linux/amd64,linux/s390x",
          "-o",
          `type=oci,dest=${tmp}/out.tar`,
          ctx,
        ],
        { state: `${tmp}/state` },
      );
      equal(r.code, 1);
      match(
        r.stderr,
        /Cannot run RUN steps for linux\/s390x on this linux\/amd64 host: no qemu-s390x handler in \/proc\/sys\/fs\/binfmt_misc; install qemu-user-static/,
      );
      // Nothing ran: not even the context transfer or the COPY.
      ok(!/^#\d+ \[/m.test(r.stderr), r.stderr);
      ok(!(await Deno.stat(`${tmp}/out.tar`).catch(() => false)));
    } finally {
      await removeTree(tmp);
    }
  },
});

async function tarEntries(file: string): Promise<string[]> {
  return (await run(["tar", "-tf", file])).trim().split("\n");
}

Deno.test("several platforms: oci holds the index, local and tar a tree per platform, docker refuses", async () => {
  await withEnv(async ({ registry, base, state, tmp }) => {
    const ctx = await writeContext(`${tmp}/ctx`, {
      "Dockerfile":
        `ARG BASE\nFROM \${BASE}\nARG TARGETARCH\nENV ARCH=$TARGETARCH\nCOPY hello.txt /\n`,
      "hello.txt": "hello\n",
    });
    const name = `${registry.host}/team/files:v1`;
    const args = ["build", "--platform", "linux/amd64,linux/arm64", "--build-arg", `BASE=${base}`];
    await imgOk([
      ...args,
      "-t",
      name,
      "-o",
      `type=oci,dest=${tmp}/oci.tar`,
      "-o",
      `type=local,dest=${tmp}/local`,
      "-o",
      `type=tar,dest=${tmp}/rootfs.tar`,
      "-o",
      `type=image,name=${name}`,
      ctx,
    ], { state });

    // oci: index.json points at one image index over both platforms, as skopeo reads it.
    for (const [arch, machine] of [["amd64", 62], ["arm64", 183]] as const) {
      const inspected = JSON.parse(
        await run(["skopeo", "inspect", "--override-arch", arch, `oci-archive:${tmp}/oci.tar`]),
      );
      equal(inspected.Architecture, arch);
      ok(inspected.Env.includes(`ARCH=${arch}`));
      // local: one directory per platform, each with its own architecture's busybox.
      equal(await elfMachine(`${tmp}/local/linux_${arch}/bin/busybox`), machine);
      equal(await Deno.readTextFile(`${tmp}/local/linux_${arch}/hello.txt`), "hello\n");
    }
    const tarred = await tarEntries(`${tmp}/rootfs.tar`);
    for (
      const entry of ["linux_amd64/bin/busybox", "linux_arm64/bin/busybox", "linux_arm64/hello.txt"]
    ) {
      ok(tarred.includes(entry), `${entry} in the tar`);
    }

    // docker: one platform per archive, refused before anything is built.
    const refused = await img([
      ...args,
      "--progress",
      "plain",
      "-o",
      `type=docker,dest=${tmp}/d.tar`,
      ctx,
    ], {
      state,
    });
    equal(refused.code, 1);
    match(
      refused.stderr,
      /type=docker cannot export 2 platforms: use type=oci for an image index, or build one --platform/,
    );
    ok(!/^#\d+ \[/m.test(refused.stderr), refused.stderr);

    // oci-mediatypes=false: a Docker manifest list, pushed.
    const listName = `${registry.host}/team/files:list`;
    await imgOk(
      [...args, "-o", `type=image,name=${listName},oci-mediatypes=false,push=true`, ctx],
      {
        state,
      },
    );
    const list = JSON.parse(await skopeo("inspect", "--raw", `docker://${listName}`));
    equal(list.mediaType, "application/vnd.docker.distribution.manifest.list.v2+json");
    deepEqual(
      list.manifests.map((m: { mediaType: string; platform: { architecture: string } }) => [
        m.mediaType,
        m.platform.architecture,
      ]),
      [
        ["application/vnd.docker.distribution.manifest.v2+json", "amd64"],
        ["application/vnd.docker.distribution.manifest.v2+json", "arm64"],
      ],
    );

    // ls shows the index once, with its platforms; push sends the whole index.
    const ls = await imgOk(["ls", "-f", `reference=*/team/files:v1`], { state });
    const rows = ls.stdout.trimEnd().split("\n").slice(1);
    equal(rows.length, 1, ls.stdout);
    match(rows[0], /\s+sha256:[a-f0-9]{64}\s+linux\/amd64,linux\/arm64$/);
    const copy = `${registry.host}/team/copy:v1`;
    await imgOk(["tag", name, copy], { state });
    await imgOk(["push", copy], { state });
    const pushed = JSON.parse(await skopeo("inspect", "--raw", `docker://${copy}`));
    equal(pushed.mediaType, "application/vnd.oci.image.index.v1+json");
    equal(pushed.manifests.length, 2);

    // save: oci keeps the index; docker needs one --platform.
    await imgOk(["save", "--format", "oci", "-o", `${tmp}/saved.tar`, name], { state });
    const saved = JSON.parse(
      await run(["skopeo", "inspect", "--override-arch", "arm64", `oci-archive:${tmp}/saved.tar`]),
    );
    equal(saved.Architecture, "arm64");
    const noPlatform = await img(["save", "-o", `${tmp}/docker.tar`, name], { state });
    equal(noPlatform.code, 1);
    match(noPlatform.stderr, /multi-platform index.*--platform/);
    await imgOk(["save", "--platform", "linux/arm64", "-o", `${tmp}/docker.tar`, name], { state });
    const manifest = JSON.parse(await run(["tar", "-xOf", `${tmp}/docker.tar`, "manifest.json"]));
    const config = JSON.parse(
      await run(["tar", "-xOf", `${tmp}/docker.tar`, manifest[0].Config]),
    );
    equal(config.architecture, "arm64");
  });
});

Deno.test("pull --all-platforms stores the whole index; unpack --platform picks one", async () => {
  await withEnv(async ({ base, state, tmp }) => {
    const pulled = await imgOk(["pull", "--all-platforms", base], { state });
    match(pulled.stdout, /Platforms: linux\/amd64, linux\/arm64\n/);
    const raw = await skopeo("inspect", "--raw", `docker://${base}`);
    await Deno.writeTextFile(`${tmp}/index.json`, raw);
    const digest = (await run(["skopeo", "manifest-digest", `${tmp}/index.json`])).trim();
    match(pulled.stdout, new RegExp(`Digest: ${digest}\n`));
    const ls = await imgOk(["ls"], { state });
    match(ls.stdout, new RegExp(`${digest}\\s+linux/amd64,linux/arm64\n`));
    for (const [arch, machine] of [["amd64", 62], ["arm64", 183]] as const) {
      await imgOk(["unpack", "--platform", `linux/${arch}`, "-o", `${tmp}/${arch}`, base], {
        state,
      });
      equal(await elfMachine(`${tmp}/${arch}/bin/busybox`), machine);
    }
    const none = await img(["unpack", "--platform", "linux/s390x", "-o", `${tmp}/s390x`, base], {
      state,
    });
    equal(none.code, 1);
    match(none.stderr, /no manifest for platform linux\/s390x/);
    const both = await img(["pull", "--all-platforms", "--platform", "linux/arm64", base], {
      state,
    });
    equal(both.code, 1);
    match(both.stderr, /--all-platforms and --platform cannot be combined/);
  });
});

/**
 * Named build contexts (issue 10), end to end against a real registry, as the user running
 * the tests (`.ci/run`: the unprivileged `imgtest`): `--build-context NAME=DIR` (its own
 * `.dockerignore` honoured, as BuildKit's `local:` named context), `docker-image://` (from the
 * registry, never the local image store: BuildKit's container driver has none) and
 * `oci-layout://` (a layout `img build -o type=oci,tar=false` wrote), each replacing `FROM`,
 * a stage of the same name, `COPY --from` and `RUN --mount from=`. Also `img pull --all-tags`
 * and `img version --format`. Expectations follow current BuildKit (dockerui's named
 * contexts, dockerfile2llb's stage replacement); the local BuildKit 0.8 has no
 * `--build-context`.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Builds `dockerfile` in an empty context as `tag` with `args`, and unpacks it to `out`. */
async function buildAndUnpack(
  tmp: string,
  state: string,
  tag: string,
  dockerfile: string,
  args: string[],
): Promise<string> {
  const ctx = `${tmp}/ctx-${tag}`;
  await Deno.mkdir(ctx, { recursive: true });
  await Deno.writeTextFile(`${ctx}/Dockerfile`, dockerfile);
  await imgOk(["build", "--progress=plain", "-t", tag, ...args, ctx], { state });
  const out = `${tmp}/rootfs-${tag}`;
  await imgOk(["unpack", "-o", out, tag], { state });
  return out;
}

Deno.test("--build-context: a directory, docker-image:// and oci-layout:// replace what the Dockerfile names", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `${registry.host}/library/busybox:latest`;
  const tmp = await Deno.makeTempDir({ prefix: "img-build-context-" });
  const state = `${tmp}/state`;
  try {
    // A directory context with its own .dockerignore (BuildKit reads it for local: contexts).
    const extra = `${tmp}/extra`;
    await Deno.mkdir(`${extra}/sub`, { recursive: true });
    await Deno.writeTextFile(`${extra}/hello.txt`, "hello from extra\n");
    await Deno.writeTextFile(`${extra}/sub/deep.txt`, "deep\n");
    await Deno.writeTextFile(`${extra}/ignored.txt`, "must not be copied\n");
    await Deno.writeTextFile(`${extra}/.dockerignore`, "ignored.txt\n");

    // 1. COPY --from=NAME and RUN --mount from=NAME read the directory.
    let root = await buildAndUnpack(
      tmp,
      state,
      "dir-copy",
      [
        `FROM ${base}`,
        "COPY --from=extra /hello.txt /from-copy.txt",
        "COPY --from=extra / /extra/",
        "RUN --mount=from=extra,target=/mnt cat /mnt/sub/deep.txt > /from-mount.txt && ls /mnt > /mount-list.txt",
        "",
      ].join("\n"),
      ["--build-context", `extra=${extra}`],
    );
    equal(await Deno.readTextFile(`${root}/from-copy.txt`), "hello from extra\n");
    equal(await Deno.readTextFile(`${root}/from-mount.txt`), "deep\n");
    equal(await Deno.readTextFile(`${root}/extra/sub/deep.txt`), "deep\n");
    equal(await exists(`${root}/extra/ignored.txt`), false, "the context's .dockerignore");
    ok(!(await Deno.readTextFile(`${root}/mount-list.txt`)).includes("ignored.txt"));

    // 2. A directory as FROM (its files on an empty config), and a stage replaced by a
    // docker-image:// context: without the replacement its COPY of a missing file would fail.
    root = await buildAndUnpack(
      tmp,
      state,
      "dir-from",
      [
        "FROM scratch AS tools",
        "COPY does-not-exist /",
        "FROM extra",
        "COPY --from=tools /bin/busybox /busybox",
        "",
      ].join("\n"),
      ["--build-context", `extra=${extra}`, "--build-context", `tools=docker-image://${base}`],
    );
    equal(await Deno.readTextFile(`${root}/hello.txt`), "hello from extra\n");
    equal(await exists(`${root}/ignored.txt`), false);
    ok((await Deno.stat(`${root}/busybox`)).size > 100_000, "busybox from the registry image");
    const inspect = JSON.parse(
      (await imgOk(["ls", "--format", "json", "--filter", "reference=dir-from"], { state }))
        .stdout,
    );
    ok(inspect.Digest, "dir-from is stored");

    // 3. docker-image:// replacing a FROM comes from the registry even when the local store
    // has another image of that name (BuildKit's container driver never sees a local store).
    await imgOk(["tag", "dir-copy", `${registry.host}/library/busybox:latest`], { state });
    root = await buildAndUnpack(
      tmp,
      state,
      "image-from",
      ["FROM alpine", "RUN echo ran > /ran.txt", ""].join("\n"),
      ["--build-context", `alpine=docker-image://${base}`],
    );
    equal(await Deno.readTextFile(`${root}/ran.txt`), "ran\n");
    equal(await exists(`${root}/from-copy.txt`), false, "not the local image of that name");

    // 4. oci-layout://: a layout written by img build -o type=oci,tar=false (two names, so
    // two index.json entries), by tag and by digest.
    const layoutCtx = `${tmp}/layout-ctx`;
    await Deno.mkdir(layoutCtx);
    await Deno.writeTextFile(
      `${layoutCtx}/Dockerfile`,
      `FROM ${base}\nRUN echo from-layout > /layout.txt\n`,
    );
    const layout = `${tmp}/layout`;
    await imgOk([
      "build",
      "-o",
      `type=oci,tar=false,"name=example.com/layout:v3,example.com/layout:v4",dest=${layout}`,
      layoutCtx,
    ], { state });
    const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
    const digest = index.manifests[0].digest as string;
    for (const spec of [`${layout}:v3`, `${layout}@${digest}`]) {
      root = await buildAndUnpack(
        tmp,
        state,
        `layout-${spec.includes("@") ? "digest" : "tag"}`,
        [
          "FROM base",
          "RUN cat /layout.txt > /copied.txt",
          "FROM scratch AS files",
          "COPY --from=base /layout.txt /again.txt",
          "FROM base",
          "COPY --from=files /again.txt /",
          "",
        ].join("\n"),
        ["--build-context", `base=oci-layout://${spec}`],
      );
      equal(await Deno.readTextFile(`${root}/layout.txt`), "from-layout\n");
      equal(await Deno.readTextFile(`${root}/again.txt`), "from-layout\n");
    }
    // The cache knows the image by digest, not by the layout it came through (a copy here).
    await run(["cp", "-a", layout, `${layout}-copy`]);
    const again = await imgOk([
      "build",
      "--progress=plain",
      "--build-context",
      `base=oci-layout://${layout}-copy:v4`,
      `${tmp}/ctx-layout-tag`,
    ], { state });
    match(again.stderr, /COPY --from=files \/again\.txt \/\n#\d+ CACHED/);
    // An `img save --format oci` archive unpacked is a layout too (its entry tagged latest).
    const saved = `${tmp}/saved`;
    await Deno.mkdir(saved);
    await imgOk(["save", "--format", "oci", "-o", `${tmp}/saved.tar`, "layout-tag"], { state });
    await run(["tar", "-xf", `${tmp}/saved.tar`, "-C", saved]);
    root = await buildAndUnpack(
      tmp,
      state,
      "layout-saved",
      "FROM saved\nRUN cp /again.txt /saved.txt\n",
      ["--build-context", `saved=oci-layout://${saved}`],
    );
    equal(await Deno.readTextFile(`${root}/saved.txt`), "from-layout\n");
    const noTag = await img(
      ["build", "--build-context", `base=oci-layout://${layout}`, layoutCtx],
      { state },
    );
    equal(noTag.code, 1);
    // buildx: the entry tagged latest, else the only one; this layout has two, neither latest.
    match(noTag.stderr, /has no image tagged latest and more than one image; add :TAG or @DIGEST/);

    // Git and URLs are other sources: refused, naming the option.
    const git = await img([
      "build",
      "--build-context",
      "src=https://github.com/moby/buildkit.git",
      layoutCtx,
    ], { state });
    equal(git.code, 1);
    match(
      git.stderr,
      /--build-context src=https:\/\/github\.com\/moby\/buildkit\.git: .*not supported yet/,
    );
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("pull --all-tags pulls every tag of the repository", async () => {
  await using registry = await startRegistry();
  for (const tag of ["a", "b", "c"]) await pushBusybox(registry.host, "team/tagged", tag);
  const tmp = await Deno.makeTempDir({ prefix: "img-pull-all-" });
  const state = `${tmp}/state`;
  try {
    const repo = `${registry.host}/team/tagged`;
    const out = await imgOk(["pull", "-a", repo], { state });
    match(out.stdout, /Digest: sha256:/);
    const names = (await imgOk(["ls", "--format", "{{.Repository}}:{{.Tag}}"], { state }))
      .stdout.trim().split("\n").sort();
    deepEqual(names, [`${repo}:a`, `${repo}:b`, `${repo}:c`]);
    const tagged = await img(["pull", "--all-tags", `${repo}:a`], { state });
    equal(tagged.code, 1);
    match(tagged.stderr, /tag can't be used with --all-tags\/-a/);
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("version --format: json and Go-template fields as docker version", async () => {
  const json = JSON.parse((await imgOk(["version", "--format", "json"])).stdout);
  match(json.Client.Version, /^\d+\.\d+\.\d+/);
  equal(json.Client.DenoVersion, Deno.version.deno);
  equal(json.Server, null);
  ok(json.Client.Plugins.some((p: { Name: string }) => p.Name === "dockerfile"));
  const line =
    (await imgOk(["version", "--format", "{{.Client.Version}} {{.Client.Os}}/{{.Client.Arch}}"]))
      .stdout;
  equal(line, `${json.Client.Version} ${json.Client.Os}/${json.Client.Arch}\n`);
  const bad = await img(["version", "--format", "{{.Client.Nope}}"]);
  equal(bad.code, 1);
  match(bad.stderr, /Invalid --format: the field \.Client\.Nope does not exist/);
});

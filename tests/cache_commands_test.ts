/**
 * `img du` and `img prune` on a real build's cache: what they print, what prune keeps, that
 * `prune -a` with no images leaves no blob and no snapshot, and that a prune started during a
 * build leaves the build working.
 */
import { equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, ROOT, spawnImg } from "./_util/img.ts";

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      n += e.isDirectory ? await countFiles(`${dir}/${e.name}`) : 1;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return n;
}

/** Snapshot directories of every backend (`snapshots/<backend>/snapshots/<id>`). */
function countSnapshots(state: string): number {
  let n = 0;
  try {
    for (const backend of Deno.readDirSync(`${state}/snapshots`)) {
      if (!backend.isDirectory) continue;
      try {
        n += [...Deno.readDirSync(`${state}/snapshots/${backend.name}/snapshots`)].length;
      } catch { /* no snapshots dir */ }
    }
  } catch { /* no snapshots at all */ }
  return n;
}

Deno.test("du lists the build cache; prune keeps what images use; prune -a with no images empties the state", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-cache-" });
  const state = `${tmp}/state`;
  const base = `${registry.host}/library/busybox:latest`;
  try {
    await imgOk([
      "build",
      "--no-console",
      "--build-arg",
      `BASE=${base}`,
      "-t",
      "hello",
      `${ROOT}examples/hello`,
    ], { state });
    ok(countSnapshots(state) > 0, "the build made snapshots");
    const du = await imgOk(["du"], { state });
    const lines = du.stdout.trimEnd().split("\n");
    match(lines[0], /^ID\s+RECLAIMABLE\s+SIZE\s+DESCRIPTION$/);
    match(
      du.stdout,
      /\s+true\s+[\d.]+(B|KiB|MiB)\s+mount \/ from exec \/bin\/sh -c tr 'a-z' 'A-Z' < g\.\.\.\n/,
    );
    match(
      du.stdout,
      new RegExp(`pulled from ${registry.host.replace(/\./g, "\\.")}/library/busybox:lat\\.\\.\\.`),
    );
    match(lines.at(-2)!, /^Reclaimable:\s+[\d.]+MiB$/);
    match(lines.at(-1)!, /^Total:\s+[\d.]+MiB$/);
    ok(
      lines.slice(1, -2).every((l) => l.split(/\s{2,}/)[3].length <= 50),
      "descriptions are cut to 50 characters",
    );
    const verbose = await imgOk(["--debug", "du"], { state });
    match(
      verbose.stdout,
      /Description:\s+mount \/ from exec \/bin\/sh -c tr 'a-z' 'A-Z' < greeting.txt > loud.txt/,
    );
    match(verbose.stdout, /Used by an image:\s+true/);

    const nothing = await imgOk(["prune", "--filter", "until=1h"], { state });
    match(nothing.stdout, /^Reclaimed:\s+0B\n/);

    const pruned = await imgOk(["prune"], { state });
    match(pruned.stdout, /mount \/ from exec/);
    ok(!/pulled from/.test(pruned.stdout), "layers the image uses are kept");
    match(pruned.stdout, /Reclaimed:\s+[\d.]+(KiB|MiB)\nTotal:\s+[\d.]+(KiB|MiB)\n$/);
    // The image still unpacks, and a rebuild still works.
    await imgOk(["unpack", "-o", `${tmp}/rootfs`, "hello"], { state });
    equal(await Deno.readTextFile(`${tmp}/rootfs/srv/loud.txt`), "HELLO FROM IMG\n");

    await imgOk(["rm", "hello", base], { state });
    const all = await imgOk(["prune", "-a"], { state });
    match(all.stdout, /Total:\s+0B\n$/);
    equal(await countFiles(`${state}/content/blobs`), 0, "no blob is left");
    ok(countSnapshots(state) === 0, "no snapshot is left");
    const empty = await imgOk(["du"], { state });
    match(
      empty.stdout,
      /^ID\s+RECLAIMABLE\s+SIZE\s+DESCRIPTION\nReclaimable:\s+0B\nTotal:\s+0B\n$/,
    );

    const bad = await img(["prune", "--filter", "color=red"], { state });
    equal(bad.code, 1);
    match(bad.stderr, /Invalid filter "color"/);
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("a prune -a started during a build does not break the build", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-cache-race-" });
  const state = `${tmp}/state`;
  try {
    await Deno.mkdir(`${tmp}/ctx`);
    await Deno.writeTextFile(`${tmp}/ctx/a.txt`, "a\n");
    await Deno.writeTextFile(
      `${tmp}/ctx/Dockerfile`,
      `FROM ${registry.host}/library/busybox:latest\nCOPY a.txt /a.txt\nRUN sleep 8 && cp /a.txt /b.txt\nRUN cat /b.txt > /c.txt\n`,
    );
    const build = spawnImg(["build", "--no-console", "-t", "raced", `${tmp}/ctx`], { state });
    // Wait until the RUN is running, then prune everything that can be pruned.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const du = await img(["du"], { state });
      if (/mount \/ from exec \/bin\/sh -c sleep/.test(du.stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const pruned = await imgOk(["prune", "-a"], { state });
    match(pruned.stderr, /Blobs were kept: a build or pull is running/);
    const out = await build.output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    await imgOk(["unpack", "-o", `${tmp}/rootfs`, "raced"], { state });
    equal(await Deno.readTextFile(`${tmp}/rootfs/c.txt`), "a\n");
  } finally {
    await removeTree(tmp);
  }
});

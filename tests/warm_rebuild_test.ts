/**
 * A rebuild with nothing changed runs in img's own process, without entering the user
 * namespace (issue 12): `core/rootless/without_namespace.ts`. What needs the namespace (a step
 * to run, an output that writes files) still gets it, with the same result. Run as the
 * unprivileged user, as `.ci/run` runs the suite: as root there is no namespace to skip.
 *
 * The fast path before it (a rebuild answered from its record, `cli/rebuild.ts`, tested in
 * `rebuild_records_test.ts`) is turned off here (`IMG_REBUILD_RECORDS=0`): these builds are
 * the ones it does not answer (a record missing or dropped, flags it does not take).
 */
import { equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { builtDigest, imgOk, removeTree } from "./_util/img.ts";

const ROOT = Deno.uid() === 0;
const REEXEC = "rootless re-exec";
/** The fast path of rebuild records off: these tests are about the full build. */
const NO_RECORDS = { IMG_REBUILD_RECORDS: "0" };

function dockerfile(base: string): string {
  return `FROM ${base}\nWORKDIR /app\nCOPY a.txt .\nRUN cat a.txt > copy.txt\nCOPY b.txt .\n`;
}

/** The steps a plain progress log shows run (DONE), by name, leaving out metadata loads. */
function ranSteps(stderr: string): string[] {
  return [...stderr.matchAll(/^#\d+ (\[[^\]]+\] [^\n]*)\n(?:#\d+ [^\n]*\n)*?#\d+ DONE/gm)]
    .map((m) => m[1]);
}

/** Pushes the busybox base and writes the case's context (`a.txt`, `b.txt`) in a new temp dir. */
async function writeCase(host: string, prefix: string): Promise<{ tmp: string; ctx: string }> {
  await pushBusybox(host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix });
  const ctx = `${tmp}/ctx`;
  await Deno.mkdir(ctx);
  await Deno.writeTextFile(`${ctx}/Dockerfile`, dockerfile(`${host}/library/busybox:latest`));
  await Deno.writeTextFile(`${ctx}/a.txt`, "a\n");
  await Deno.writeTextFile(`${ctx}/b.txt`, "b\n");
  return { tmp, ctx };
}

Deno.test({
  name: "a rebuild with nothing changed does not enter the user namespace; a change does",
  ignore: ROOT,
  async fn() {
    await using registry = await startRegistry();
    const { tmp, ctx } = await writeCase(registry.host, "img-warm-");
    try {
      const state = `${tmp}/state`;
      const env = { ...NO_RECORDS, IMG_TRACE: "1", SOURCE_DATE_EPOCH: "1700000000" };
      const build = (...extra: string[]) =>
        imgOk(["build", "--no-console", ...extra, "-t", "warm", ctx], { state, env });

      const cold = await build();
      match(cold.stderr, new RegExp(REEXEC), "a cold build runs its steps in the namespace");
      equal(ranSteps(cold.stderr).filter((s) => / (RUN|COPY) /.test(s)).length, 3);

      const warm = await build();
      ok(!warm.stderr.includes(REEXEC), `no re-exec on a warm rebuild:\n${warm.stderr}`);
      ok(!/^child /m.test(warm.stderr), "one process");
      match(warm.stderr, /^#\d+ CACHED$/m);
      equal(ranSteps(warm.stderr).filter((s) => / (RUN|COPY) /.test(s)).length, 0);
      equal(builtDigest(warm.stdout), builtDigest(cold.stdout), "the same image");

      // The image it stored is whole: its files come out of the store as built.
      const out = `${tmp}/rootfs`;
      await imgOk(["unpack", "warm", "-o", out], { state });
      equal(await Deno.readTextFile(`${out}/app/copy.txt`), "a\n");

      // The last COPY's file changes: that step runs, so the build enters the namespace.
      await Deno.writeTextFile(`${ctx}/b.txt`, "b2\n");
      const changed = await build("--debug");
      match(changed.stderr, /entering the user namespace: snapshot \w+ needs the user namespace/);
      match(changed.stderr, new RegExp(REEXEC));
      const ran = ranSteps(changed.stderr).filter((s) => / (RUN|COPY) /.test(s));
      equal(ran.length, 1, changed.stderr);
      match(ran[0], /COPY b\.txt/);
      ok(builtDigest(changed.stdout) !== builtDigest(cold.stdout));

      // An output that writes files needs the namespace, even when every step is cached.
      const local = await build("-o", `type=local,dest=${tmp}/local`);
      match(local.stderr, new RegExp(REEXEC));
      equal(await Deno.readTextFile(`${tmp}/local/app/b.txt`), "b2\n");

      // IMG_NAMESPACE=always turns the try off.
      const always = await imgOk(["build", "--no-console", "-t", "warm", ctx], {
        state,
        env: { ...env, IMG_NAMESPACE: "always" },
      });
      match(always.stderr, new RegExp(REEXEC));
      equal(builtDigest(always.stdout), builtDigest(changed.stdout));
    } finally {
      await removeTree(tmp);
    }
  },
});

Deno.test({
  name:
    "without SOURCE_DATE_EPOCH a rebuild with nothing changed makes the same image, as BuildKit",
  ignore: ROOT,
  async fn() {
    // Recorded from BuildKit in Debian's docker.io 20.10 engine: two builds of one Dockerfile
    // a second apart write the same --iidfile, the image's Created that of the first build.
    await using registry = await startRegistry();
    const { tmp, ctx } = await writeCase(registry.host, "img-warm-id-");
    try {
      const opts = { state: `${tmp}/state`, env: { ...NO_RECORDS, IMG_NAMESPACE: "always" } };
      const build = () => imgOk(["build", "--no-console", "-t", "same", ctx], opts);
      const first = builtDigest((await build()).stdout);
      await new Promise((r) => setTimeout(r, 1100));
      equal(builtDigest((await build()).stdout), first, "entering the namespace");
      delete (opts.env as Record<string, string>).IMG_NAMESPACE;
      equal(builtDigest((await build()).stdout), first, "without the namespace");
      await Deno.writeTextFile(`${ctx}/b.txt`, "b2\n");
      ok(builtDigest((await build()).stdout) !== first, "a change makes another image");
    } finally {
      await removeTree(tmp);
    }
  },
});

Deno.test({
  name: "a cached build whose layers were never made (first output a tar) makes them inside",
  ignore: ROOT,
  async fn() {
    await using registry = await startRegistry();
    const { tmp, ctx } = await writeCase(registry.host, "img-warm-tar-");
    try {
      const state = `${tmp}/state`;
      await imgOk(["build", "--no-console", "-o", `type=tar,dest=${tmp}/fs.tar`, ctx], { state });
      // Every step is cached, but no layer blob exists: the try outside the namespace stops at
      // the first diff, and the build inside makes them.
      const built = await imgOk(["build", "--no-console", "-t", "fromtar", ctx], {
        state,
        env: { ...NO_RECORDS, IMG_TRACE: "1" },
      });
      match(built.stderr, new RegExp(REEXEC));
      const out = `${tmp}/rootfs`;
      await imgOk(["unpack", "fromtar", "-o", out], { state });
      equal(await Deno.readTextFile(`${out}/app/b.txt`), "b\n");
    } finally {
      await removeTree(tmp);
    }
  },
});

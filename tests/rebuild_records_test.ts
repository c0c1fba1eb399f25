/**
 * The fast path of a rebuild with nothing changed (`cli/rebuild.ts`, issue 12): the second of
 * two identical builds is answered from the first one's rebuild record, in the process the
 * user started, before the rest of img loads, with the same output a cached build shows; and
 * every change a build depends on (context files, the Dockerfile outside the context, the
 * environment, image names, a prune) makes the next build a real one, with the right result.
 * Run as the user running the suite (CI: the unprivileged test user).
 */
import { equal, match, notEqual, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { builtDigest, img, imgOk, removeTree } from "./_util/img.ts";
import { allCached, stepStatus } from "./_util/build_steps.ts";

const FAST = "rebuild record check";
const FULL = "full CLI loaded";

/** Whether the build was answered from its record (one process, the full CLI never loaded). */
function answeredFromRecord(stderr: string): boolean {
  return stderr.includes(FAST) && !stderr.includes(FULL);
}

/** Steps that ran (DONE), RUN and COPY only. */
function ran(stderr: string): string[] {
  return [...stepStatus(stderr)].filter(([name, s]) => s === "DONE" && / (RUN|COPY) /.test(name))
    .map(([name]) => name);
}

Deno.test("a rebuild with nothing changed is answered from its record; changes are built", async (t) => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `${registry.host}/library/busybox:latest`;
  const tmp = await Deno.makeTempDir({ prefix: "img-rebuild-" });
  try {
    const ctx = `${tmp}/ctx`;
    await Deno.mkdir(`${ctx}/sub`, { recursive: true });
    // The Dockerfile lives outside the context (-f), as a file the walk does not see.
    await Deno.writeTextFile(
      `${tmp}/Dockerfile`,
      `FROM ${base}\nARG FROM_ENV\nCOPY . /app\nRUN cat /app/a.txt > /copy.txt && echo "$FROM_ENV" > /env.txt\n`,
    );
    await Deno.writeTextFile(`${ctx}/a.txt`, "a\n");
    await Deno.writeTextFile(`${ctx}/sub/b.txt`, "b\n");
    const state = `${tmp}/state`;
    const env = { IMG_TRACE: "1", FROM_ENV: "one" };
    const build = (options: { env?: Record<string, string>; extra?: string[] } = {}) =>
      imgOk(
        [
          "build",
          "--no-console",
          "-f",
          `${tmp}/Dockerfile`,
          "--build-arg",
          "FROM_ENV",
          ...(options.extra ?? []),
          "-t",
          "fast",
          ctx,
        ],
        { state, env: { ...env, ...options.env } },
      );
    const file = async (image: string, path: string) => {
      const out = `${tmp}/unpacked-${crypto.randomUUID()}`;
      await imgOk(["unpack", image, "-o", out], { state });
      return await Deno.readTextFile(`${out}${path}`);
    };
    // Files written just now are racy (their times too close to the walk): wait past that.
    await new Promise((r) => setTimeout(r, 100));

    const cold = await build();
    equal(ran(cold.stderr).length, 2, cold.stderr);
    ok(!answeredFromRecord(cold.stderr));
    let digest = builtDigest(cold.stdout);

    await t.step("the same build again: answered from the record, shown cached", async () => {
      const warm = await build();
      ok(answeredFromRecord(warm.stderr), warm.stderr);
      ok(!/^child /m.test(warm.stderr), "one process");
      allCached(warm.stderr);
      match(warm.stderr, /\[internal\] load metadata for .*busybox:latest\n#\d+ DONE 0\.0s/);
      equal(builtDigest(warm.stdout), digest, "the same image");
      // -q is another invocation: built once fully, then answered with the same image ID.
      const quiet = await img(["build", "-q", "-f", `${tmp}/Dockerfile`, "-t", "fast", ctx], {
        state,
        env: { FROM_ENV: "one" },
      });
      const quietAgain = await img(["build", "-q", "-f", `${tmp}/Dockerfile`, "-t", "fast", ctx], {
        state,
        env: { FROM_ENV: "one", IMG_TRACE: "1" },
      });
      ok(answeredFromRecord(quietAgain.stderr), quietAgain.stderr);
      equal(quietAgain.stdout, quiet.stdout);
      match(quiet.stdout, /^sha256:[a-f0-9]{64}\n$/);
    });

    await t.step("a context file changed with its size and mtime kept: built again", async () => {
      const path = `${ctx}/a.txt`;
      const { mtime } = await Deno.stat(path);
      await Deno.writeTextFile(path, "A\n");
      await Deno.utime(path, mtime!, mtime!);
      await new Promise((r) => setTimeout(r, 100));
      const changed = await build();
      ok(!answeredFromRecord(changed.stderr), changed.stderr);
      equal(ran(changed.stderr).length, 2, changed.stderr);
      notEqual(builtDigest(changed.stdout), digest);
      digest = builtDigest(changed.stdout);
      equal(await file("fast", "/copy.txt"), "A\n");
      ok(answeredFromRecord((await build()).stderr), "recorded again");
    });

    await t.step("a file added deep in the context: built again", async () => {
      await Deno.writeTextFile(`${ctx}/sub/new.txt`, "new\n");
      await new Promise((r) => setTimeout(r, 100));
      const changed = await build();
      ok(!answeredFromRecord(changed.stderr));
      equal(await file("fast", "/app/sub/new.txt"), "new\n");
      digest = builtDigest(changed.stdout);
    });

    await t.step("the Dockerfile outside the context changed: built again", async () => {
      const text = await Deno.readTextFile(`${tmp}/Dockerfile`);
      await Deno.writeTextFile(`${tmp}/Dockerfile`, `${text}LABEL changed=yes\n`);
      const changed = await build();
      ok(!answeredFromRecord(changed.stderr));
      notEqual(builtDigest(changed.stdout), digest);
      digest = builtDigest(changed.stdout);
    });

    await t.step("a variable a --build-arg takes from the environment changed", async () => {
      const changed = await build({ env: { FROM_ENV: "two" } });
      ok(!answeredFromRecord(changed.stderr));
      equal(await file("fast", "/env.txt"), "two\n");
      // Its image took the name "fast", which drops every record (the names moved).
      const back = await build();
      ok(!answeredFromRecord(back.stderr), back.stderr);
      equal(ran(back.stderr).length, 0, "every step cached");
      equal(builtDigest(back.stdout), digest);
      ok(answeredFromRecord((await build()).stderr));
    });

    await t.step("the name removed, or repointed: built (tagged) again", async () => {
      await imgOk(["rm", "fast"], { state });
      const retagged = await build();
      ok(!answeredFromRecord(retagged.stderr));
      equal(builtDigest(retagged.stdout), digest);
      equal(ran(retagged.stderr).length, 0, "every step cached");
      // The base's name now points at another image: the build uses it.
      const other = `${tmp}/other`;
      await Deno.mkdir(other);
      await Deno.writeTextFile(
        `${other}/Dockerfile`,
        `FROM ${base}\nRUN echo other > /other.txt\n`,
      );
      await imgOk(["build", "--no-console", "-t", "other", other], { state });
      await imgOk(["tag", "other", base], { state });
      const rebased = await build();
      ok(!answeredFromRecord(rebased.stderr));
      notEqual(builtDigest(rebased.stdout), digest);
      equal(await file("fast", "/other.txt"), "other\n", "built FROM the other image");
    });

    await t.step("a prune drops the records with the cache they name", async () => {
      await imgOk(["prune", "-a", "-f"], { state });
      const pruned = await build();
      ok(!answeredFromRecord(pruned.stderr));
      equal(ran(pruned.stderr).length, 2, "the steps ran again");
    });

    await t.step("IMG_REBUILD_RECORDS=0 turns the fast path off", async () => {
      const off = await build({ env: { IMG_REBUILD_RECORDS: "0" } });
      ok(!off.stderr.includes(FAST));
      allCached(off.stderr);
    });
  } finally {
    await removeTree(tmp);
  }
});

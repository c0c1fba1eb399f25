/**
 * The image commands where docker habits apply (issue 10): `ls -q`, `ls --format`,
 * `ls --filter label=|before=|since=|dangling=`, `rm -f`, `prune -f` and `--filter`,
 * `push --all-tags`, `pull --all-tags`, against a real registry, checked with
 * skopeo.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";

Deno.test("ls -q/--format/--filter, rm -f, prune -f, push --all-tags as docker's", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-habits-" });
  const state = `${tmp}/state`;
  try {
    const base = `${registry.host}/library/busybox:latest`;
    await Deno.mkdir(`${tmp}/ctx`);
    await Deno.writeTextFile(
      `${tmp}/ctx/Dockerfile`,
      `ARG BASE\nFROM \${BASE}\nLABEL team=core\nRUN echo built > /built.txt\n`,
    );
    await imgOk(["pull", base], { state });
    // busybox's config has an older `created` than the build.
    await imgOk(["build", "-q", "--build-arg", `BASE=${base}`, "-t", "app:v1", `${tmp}/ctx`], {
      state,
    });
    await imgOk(["tag", "app:v1", "app:v2"], { state });
    await imgOk(["tag", "app:v1", `${registry.host}/team/app:v1`], { state });
    await imgOk(["tag", "app:v1", `${registry.host}/team/app:v2`], { state });

    const quiet = await imgOk(["ls", "-q"], { state });
    const ids = quiet.stdout.trimEnd().split("\n");
    equal(ids.length, 5);
    for (const id of ids) match(id, /^[a-f0-9]{12}$/);

    const tmpl = await imgOk(["ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], { state });
    match(tmpl.stdout, /^app:v1 [a-f0-9]{12}$/m);
    match(
      tmpl.stdout,
      new RegExp(`^${registry.host.replace(/\./g, "\\.")}/team/app:v2 [a-f0-9]{12}$`, "m"),
    );
    const json = (await imgOk(["ls", "--format", "json"], { state })).stdout.trimEnd().split("\n")
      .map((l) => JSON.parse(l));
    const v1 = json.find((j) => j.Repository === "app" && j.Tag === "v1");
    deepEqual(
      Object.keys(v1).filter((k) =>
        ["Repository", "Tag", "ID", "Digest", "Size", "CreatedAt", "CreatedSince"].includes(k)
      ).length,
      7,
    );
    match(v1.CreatedAt, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    const table = await imgOk(["ls", "--format", "table {{.Repository}}\\t{{.Tag}}"], { state });
    match(table.stdout, /^REPOSITORY\s+TAG\n/);
    const bad = await img(["ls", "--format", "{{.Nope}}"], { state });
    equal(bad.code, 1);
    match(bad.stderr, /img: Invalid --format: the field \.Nope does not exist/);

    const names = async (...filter: string[]) =>
      (await imgOk([
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        ...filter.flatMap((f) => ["--filter", f]),
      ], { state }))
        .stdout.trimEnd().split("\n").filter(Boolean).sort();
    deepEqual(await names("label=team=core", "reference=app"), ["app:v1", "app:v2"]);
    deepEqual(await names("label=team=other"), []);
    deepEqual(await names("since=" + base, "reference=app"), ["app:v1", "app:v2"]);
    deepEqual(await names("before=app:v1"), [`${registry.host}/library/busybox:latest`]);
    deepEqual(await names("dangling=true"), []);
    equal((await names("dangling=false")).length, 5);

    // rm: an ID named in two repositories needs -f, as docker's rmi.
    const refused = await img(["rm", v1.ID], { state });
    equal(refused.code, 1);
    match(
      refused.stderr,
      /conflict: unable to delete [a-f0-9]{12} \(must be forced\) - image is referenced in multiple repositories/,
    );

    // push --all-tags pushes every local tag of the repository.
    const pushed = await imgOk(["push", "--all-tags", `${registry.host}/team/app`], { state });
    match(pushed.stdout, /Successfully pushed .*team\/app:v1\n/);
    match(pushed.stdout, /Successfully pushed .*team\/app:v2\n/);
    const tags = JSON.parse(
      await run([
        "skopeo",
        "list-tags",
        "--tls-verify=false",
        `docker://${registry.host}/team/app`,
      ]),
    );
    deepEqual(tags.Tags.sort(), ["v1", "v2"]);
    // pull --all-tags: every tag the registry lists (tests/build_context_test.ts has more).
    const allTagsPull = await imgOk(["pull", "--all-tags", `${registry.host}/team/app`], {
      state,
    });
    match(
      allTagsPull.stdout,
      /Pulling \S*team\/app:v1\.\.\.\n[\s\S]*Pulling \S*team\/app:v2\.\.\./,
    );

    const forced = await imgOk(["rm", "-f", v1.ID], { state });
    equal(forced.stdout.trim().split("\n").length, 4, forced.stdout);

    // prune: -f is --force now; the filter is --filter only.
    await imgOk(["prune", "-f", "--filter", "until=1h"], { state });
    const oldFilter = await img(["prune", "-f", "until=1h"], { state });
    equal(oldFilter.code, 1, "a filter after -f is an extra argument now");
  } finally {
    await removeTree(tmp);
  }
});

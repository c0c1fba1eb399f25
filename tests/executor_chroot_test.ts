/**
 * The chroot executor end to end, on a `PATH` without crun or runc: `img build` with
 * `--executor auto` picks it, builds the Dockerfiles with RUN steps the build tests and the
 * corpus use, and the image holds what the steps wrote, with their owners; a failing RUN
 * reports its Dockerfile line and exit code.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, outsideId, removeTree, ROOT } from "./_util/img.ts";
import { HIDDEN, pathWithoutRuntimes } from "./_util/hidden_runtimes.ts";

Deno.test("without crun or runc, img build runs RUN steps with the chroot executor", async () => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `${registry.host}/library/busybox:latest`;
  const tmp = await Deno.makeTempDir({ prefix: "img-chroot-" });
  const state = `${tmp}/state`;
  try {
    const PATH = await pathWithoutRuntimes(`${tmp}/bin`);
    for (const name of HIDDEN) {
      ok(!(await Deno.lstat(`${PATH}/${name}`).catch(() => false)), `${name} is hidden`);
    }
    const env = { PATH };
    const build = (dir: string, tag: string, extra: string[] = []) =>
      img(
        [
          "--debug",
          "build",
          "--no-console",
          "--build-arg",
          `BASE=${base}`,
          "-t",
          tag,
          ...extra,
          dir,
        ],
        { state, env },
      );
    const unpack = async (tag: string) => {
      const dir = `${tmp}/unpacked-${tag}`;
      await imgOk(["unpack", "-o", dir, tag], { state, env });
      return dir;
    };

    // The example: auto chooses chroot, and says why.
    const hello = await build(`${ROOT}examples/hello`, "hello");
    equal(hello.code, 0, hello.stderr);
    match(hello.stderr, /executor: chroot \(auto: neither crun nor runc is in PATH\)/);
    match(
      hello.stderr,
      /\[build 4\/4\] RUN tr 'a-z' 'A-Z' < greeting.txt > loud.txt\n(DEBU .*\n)*#\d+ DONE/,
    );
    equal(await Deno.readTextFile(`${await unpack("hello")}/srv/loud.txt`), "HELLO FROM IMG\n");

    // The corpus cases with RUN steps: users and groups, working directories, heredocs.
    for (const name of ["user", "run-forms", "heredoc-run", "workdir", "shell"]) {
      const r = await build(`${ROOT}tests/corpus/${name}`, name);
      equal(r.code, 0, `${name}: ${r.stderr}`);
    }
    const user = await unpack("user");
    const read = (p: string) => Deno.readTextFile(p);
    equal(await read(`${user}/tmp/id-name.txt`), "1000:1000 builder\n");
    equal(await read(`${user}/tmp/id-numeric.txt`), "1000:1000\n");
    equal(await read(`${user}/root-id.txt`), "0:0\n");
    equal(await read(`${user}/tmp/id-group.txt`), "1000:0\n");
    const owned = await Deno.stat(`${user}/home/builder/owned.txt`);
    equal(owned.uid, await outsideId(1000), "a file a step wrote as builder belongs to builder");
    equal(owned.gid, await outsideId(1000, "/etc/subgid"));
    const made = await Deno.stat(`${user}/home/builder/work/made-by-builder`);
    equal(made.uid, await outsideId(1000));

    const forms = await unpack("run-forms");
    equal(await read(`${forms}/shell.txt`), "hello shell\n");
    equal(await read(`${forms}/exec.txt`), "hello exec\n");
    equal((await Deno.lstat(`${forms}/out/link`)).isSymlink, true);
    equal((await Deno.stat(`${forms}/out/a`)).mode! & 0o777, 0o640);
    ok(!(await Deno.lstat(`${forms}/etc/group`).catch(() => false)), "a RUN can remove a file");

    const heredoc = await unpack("heredoc-run");
    equal(await read(`${heredoc}/expanded.txt`), "hello world\nsecond line\n");
    equal(await read(`${heredoc}/stdin.txt`), "from stdin world\n");

    // RUN mounts and options: cache, tmpfs, bind from a stage, network none; the mount
    // targets the step needed do not stay in the image.
    await Deno.mkdir(`${tmp}/mounts`);
    await Deno.writeTextFile(
      `${tmp}/mounts/Dockerfile`,
      [
        "ARG BASE",
        "FROM ${BASE} AS data",
        "RUN mkdir /d && echo from-stage > /d/file",
        "FROM ${BASE}",
        "RUN --mount=type=cache,target=/cache echo cached > /cache/c && cat /cache/c > /cache.txt",
        "RUN --mount=type=cache,target=/cache cat /cache/c > /cache-again.txt",
        "RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/x && grep -c tmpfs /proc/mounts > /tmpfs.txt",
        "RUN --mount=type=bind,from=data,target=/mnt/d cat /mnt/d/d/file > /bound.txt",
        "RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /net.txt",
        "RUN hostname > /hostname.txt && cat /etc/hosts > /hosts.txt && ls /dev > /dev.txt",
        "RUN echo $$ > /pid.txt",
        "",
      ].join("\n"),
    );
    const mounts = await build(`${tmp}/mounts`, "mounts");
    equal(mounts.code, 0, mounts.stderr);
    const m = await unpack("mounts");
    equal(await read(`${m}/cache.txt`), "cached\n");
    equal(await read(`${m}/cache-again.txt`), "cached\n", "a cache mount keeps its contents");
    ok(Number((await read(`${m}/tmpfs.txt`)).trim()) >= 1);
    equal(await read(`${m}/bound.txt`), "from-stage\n");
    equal(await read(`${m}/net.txt`), "lo\n", "--network=none: only lo");
    equal(await read(`${m}/hostname.txt`), "buildkitsandbox\n");
    match(await read(`${m}/hosts.txt`), /^127\.0\.0\.1\tlocalhost buildkitsandbox\n/);
    for (const dev of ["null", "zero", "urandom", "pts", "shm", "mqueue"]) {
      ok((await read(`${m}/dev.txt`)).split("\n").includes(dev), `/dev/${dev}`);
    }
    equal(await read(`${m}/pid.txt`), "1\n", "the step is pid 1 of its own pid namespace");
    deepEqual(
      ["cache", "scratch", "mnt"].filter((d) => {
        try {
          Deno.lstatSync(`${m}/${d}`);
          return true;
        } catch {
          return false;
        }
      }),
      [],
      "mount targets the steps needed are not in the image",
    );

    // A failing RUN: its Dockerfile line and exit code.
    await Deno.mkdir(`${tmp}/fails`);
    await Deno.writeTextFile(`${tmp}/fails/Dockerfile`, `ARG BASE\nFROM \${BASE}\nRUN exit 3\n`);
    const failed = await build(`${tmp}/fails`, "fails");
    equal(failed.code, 1);
    match(
      failed.stderr,
      /Dockerfile:3: process "\/bin\/sh -c exit 3" did not complete successfully: exit code: 3/,
    );

    // An executor that does not exist is refused, naming those that do.
    const unknown = await build(`${tmp}/fails`, "x", ["--executor", "nope"]);
    equal(unknown.code, 1);
    match(unknown.stderr, /Unknown executor "nope": available: chroot, oci/);
  } finally {
    await removeTree(tmp);
  }
});

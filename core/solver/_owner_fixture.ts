/**
 * The ownership scenarios of `file_actions_test.ts`, in a module of their own so that the
 * test can run them as root of a user namespace (`unshare --user --map-auto
 * --map-root-user`) when the suite runs as an ordinary user. Run as a program, it takes a
 * scratch directory and prints the owners it observed as JSON.
 *
 * @module
 */
import { lchownSync } from "node:fs";
import { applyFileActions } from "./file_actions.ts";

/** uid, gid and permission bits of a path, by path relative to the destination. */
export type Owners = Record<string, [number, number, number]>;

/** Runs the ownership scenarios in the directory `base` and reports what they produced. */
export async function ownerScenarios(base: string): Promise<Owners> {
  const ctx = `${base}/ctx`, stage = `${base}/stage`, dest = `${base}/dest`;
  for (const d of [ctx, `${ctx}/dir`, stage, dest, `${dest}/etc`]) Deno.mkdirSync(d);
  Deno.writeTextFileSync(`${ctx}/a.txt`, "a");
  Deno.writeTextFileSync(`${ctx}/dir/b.txt`, "b");
  lchownSync(`${ctx}/a.txt`, 1234, 1234); // a local context is copied as root's anyway
  Deno.writeTextFileSync(`${stage}/s.txt`, "s");
  lchownSync(`${stage}/s.txt`, 1500, 1600);
  Deno.chmodSync(`${stage}/s.txt`, 0o4755); // after chown, which clears setuid
  Deno.writeTextFileSync(
    `${dest}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nbuilder:x:1001:1002::/home/builder:/bin/sh\n",
  );
  Deno.writeTextFileSync(`${dest}/etc/group`, "root:x:0:\nbuilder:x:1002:\nstaff:x:50:builder\n");

  const options = { createDestPath: true, followSymlinks: true, allowWildcard: true };
  await applyFileActions([
    {
      action: "copy",
      input: 0,
      src: ["a.txt"],
      dest: "/named/a.txt",
      chown: "builder:staff",
      options,
    },
    { action: "copy", input: 0, src: ["dir"], dest: "/user/", chown: "builder", options },
    { action: "copy", input: 0, src: ["a.txt"], dest: "/num/deep/", chown: "1000", options },
    { action: "copy", input: 0, src: ["a.txt"], dest: "/numpair", chown: "1000:2000", options },
    { action: "copy", input: 0, src: ["a.txt"], dest: "/plain", options },
    { action: "copy", input: 1, src: ["s.txt"], dest: "/stage.txt", options },
    { action: "mkdir", path: "/made/sub", mode: 0o750, parents: true, chown: "builder" },
    { action: "mkfile", path: "/made/f", mode: 0o600, data: "x", chown: "7:8" },
  ], {
    dest,
    inputs: [ctx, stage],
    sameOwner: true,
    rootOwnedInputs: [true, false],
  });

  const out: Owners = {};
  for (
    const p of [
      "named",
      "named/a.txt",
      "user",
      "user/b.txt",
      "num",
      "num/deep",
      "num/deep/a.txt",
      "numpair",
      "plain",
      "stage.txt",
      "made",
      "made/sub",
      "made/f",
    ]
  ) {
    const info = Deno.lstatSync(`${dest}/${p}`);
    out[p] = [info.uid!, info.gid!, info.mode! & 0o7777];
  }
  return out;
}

if (import.meta.main) {
  console.log(JSON.stringify(await ownerScenarios(Deno.args[0])));
}

import { equal } from "node:assert/strict";
import { askHelp, helpCacheFile, programHelp } from "./_help_cache.ts";

Deno.test("helpCacheFile is under XDG_RUNTIME_DIR, and there is none without it", () => {
  const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });
  equal(helpCacheFile(env({ XDG_RUNTIME_DIR: "/run/user/7/" })), "/run/user/7/img/help.json");
  equal(helpCacheFile(env({})), undefined);
});

Deno.test("programHelp asks a program once while it is unchanged, and again once it changes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const program = `${dir}/tool`;
    await Deno.writeTextFile(program, "#!/bin/sh\necho 'Usage: tool --kill-child'\n");
    await Deno.chmod(program, 0o755);
    const file = `${dir}/cache/img/help.json`;
    let asked = 0;
    const ask = (p: string) => {
      asked++;
      return askHelp(p);
    };
    equal(await programHelp(program, { file, ask }), "Usage: tool --kill-child\n");
    equal(await programHelp(program, { file, ask }), "Usage: tool --kill-child\n");
    equal(asked, 1);
    // An upgrade: another inode, size and times.
    await Deno.writeTextFile(`${program}.new`, "#!/bin/sh\necho 'Usage: tool (new)'\n");
    await Deno.chmod(`${program}.new`, 0o755);
    await Deno.rename(`${program}.new`, program);
    equal(await programHelp(program, { file, ask }), "Usage: tool (new)\n");
    equal(asked, 2);
    // A damaged file is not an error: the program is asked.
    await Deno.writeTextFile(file, "{not json");
    equal(await programHelp(program, { file, ask }), "Usage: tool (new)\n");
    equal(asked, 3);
    // Without a file, every call asks.
    equal(await programHelp(program, { file: undefined, ask }), "Usage: tool (new)\n");
    equal(asked, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("programHelp keeps nothing for a program that cannot run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/img/help.json`;
    equal(await programHelp(`${dir}/missing`, { file }), "");
    equal(await Deno.stat(file).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

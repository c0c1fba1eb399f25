import assert from "node:assert/strict";
import { parseMount } from "./mount.ts";
import { ShellLex } from "./shell_lex.ts";

Deno.test("parseMount: unexpanded values, expansion, quoted CSV fields", () => {
  const m = parseMount("type=cache,target=$DIR,uid=$UID");
  assert.deepEqual([m.unexpanded, m.target, m.uid, m.type], [true, "$DIR", undefined, "cache"]);
  const lex = new ShellLex();
  const expanded = parseMount(
    "type=cache,target=$DIR,uid=$UID,mode=0755",
    (w) => lex.processWord(w, { DIR: "/c", UID: "1000" }),
  );
  assert.deepEqual(
    [expanded.unexpanded, expanded.target, expanded.uid, expanded.mode],
    [false, "/c", 1000, 0o755],
  );
  assert.deepEqual(parseMount('"type=bind","target=/a,b"').target, "/a,b");
});

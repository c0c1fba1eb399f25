import assert from "node:assert/strict";
import { parseMount } from "./mount.ts";
import { toExecMount } from "./exec_mount.ts";

const noInput = () => Promise.reject(new Error("no input expected"));

Deno.test("toExecMount: BuildKit's defaults for secret, ssh and cache mounts", async () => {
  assert.deepEqual(await toExecMount(parseMount("type=secret,id=tok"), "", 0, noInput), {
    type: "secret",
    id: "tok",
    target: "/run/secrets/tok",
    required: false,
  });
  assert.deepEqual(
    await toExecMount(parseMount("type=secret,id=tok,env=TOKEN,required"), "", 0, noInput),
    { type: "secret", id: "tok", env: "TOKEN", required: true },
  );
  assert.deepEqual(
    await toExecMount(parseMount("type=secret,target=/a/b,mode=0440,uid=1"), "/a/b", 0, noInput),
    { type: "secret", id: "b", target: "/a/b", required: false, mode: 0o440, uid: 1 },
  );
  assert.deepEqual(await toExecMount(parseMount("type=ssh"), "", 1, noInput), {
    type: "ssh",
    id: "default",
    target: "/run/buildkit/ssh_agent.1",
    required: false,
  });
  assert.deepEqual(
    await toExecMount(
      parseMount("type=cache,target=/c,from=st,source=/d,sharing=locked,ro,uid=5"),
      "/c",
      0,
      () => Promise.resolve(1),
    ),
    {
      type: "cache",
      target: "/c",
      id: "/c",
      sharing: "locked",
      input: 1,
      source: "d",
      readonly: true,
      uid: 5,
    },
  );
});

import assert from "node:assert/strict";
import * as libc from "../libc.ts";
import { parseMountOptions } from "./mount_all.ts";

Deno.test("parseMountOptions splits flags from data", () => {
  assert.deepEqual(
    parseMountOptions(["lowerdir=/a:/b", "upperdir=/u", "workdir=/w", "userxattr"]),
    {
      flags: 0,
      data: "lowerdir=/a:/b,upperdir=/u,workdir=/w,userxattr",
    },
  );
  assert.deepEqual(parseMountOptions(["rbind", "ro", "nosuid"]), {
    flags: libc.MS_BIND | libc.MS_REC | libc.MS_RDONLY | libc.MS_NOSUID,
    data: "",
  });
  assert.equal(parseMountOptions(["ro", "rw"]).flags, 0);
});

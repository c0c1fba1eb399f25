import assert from "node:assert/strict";
import { lockedFlags } from "./_mountinfo.ts";

const MOUNTINFO = [
  "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
  "23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw",
  "24 22 0:22 / /tmp rw,nosuid,nodev shared:3 - tmpfs tmpfs rw",
  "25 22 0:23 / /my\\040dir ro,noexec shared:4 - tmpfs tmpfs rw",
  "26 24 0:24 / /tmp rw,noatime shared:5 - tmpfs tmpfs rw",
  "",
].join("\n");

Deno.test("lockedFlags: the flags of the topmost mount on the longest matching point", () => {
  assert.deepEqual(lockedFlags("/sys/kernel", MOUNTINFO), [
    "nosuid",
    "nodev",
    "noexec",
    "relatime",
  ]);
  assert.deepEqual(lockedFlags("/usr/bin", MOUNTINFO), ["relatime"]);
  assert.deepEqual(lockedFlags("/tmp/x", MOUNTINFO), ["noatime"]);
  assert.deepEqual(lockedFlags("/my dir/a", MOUNTINFO), ["noexec"]);
  assert.deepEqual(lockedFlags("/tmpx", MOUNTINFO), ["relatime"]);
});

import { equal } from "node:assert/strict";
import { formatTable } from "./table.ts";

Deno.test("formatTable aligns columns with a minimum width and padding", () => {
  const out = formatTable([["NAME", "SIZE", "DIGEST"], [
    "a-very-long-image-name:latest",
    "1KiB",
    "sha256:x",
  ]]);
  const lines = out.split("\n");
  equal(lines[0], "NAME".padEnd(32) + "SIZE".padEnd(20) + "DIGEST");
  equal(lines[1], "a-very-long-image-name:latest".padEnd(32) + "1KiB".padEnd(20) + "sha256:x");
  equal(lines[2], "");
});

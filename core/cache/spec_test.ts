import { deepEqual, equal, throws } from "node:assert/strict";
import { parseCacheExport, parseCacheImport } from "./spec.ts";

Deno.test("cache-to: defaults are mode=min, gzip, errors fail the build", () => {
  const spec = parseCacheExport("registry", { ref: "reg.example/app:cache" });
  equal(spec.type, "registry");
  equal(spec.mode, "min");
  equal(spec.compression, "gzip");
  equal(spec.ignoreError, false);
  deepEqual(
    parseCacheExport("local", {
      dest: "/c",
      mode: "max",
      compression: "zstd",
      "ignore-error": "true",
      "oci-mediatypes": "true",
    }),
    {
      type: "local",
      dest: "/c",
      tag: "latest",
      mode: "max",
      compression: "zstd",
      ignoreError: true,
    },
  );
});

Deno.test("cache-to and cache-from refuse what they would not honour", () => {
  throws(
    () => parseCacheExport("registry", { ref: "a/b", colour: "red" }),
    /Unknown attribute "colour"/,
  );
  throws(() => parseCacheExport("registry", {}), /Missing ref=/);
  throws(() => parseCacheExport("registry", { ref: "a/b", mode: "all" }), /Invalid mode="all"/);
  throws(
    () => parseCacheExport("registry", { ref: "a/b", compression: "lz4" }),
    /Invalid compression/,
  );
  throws(
    () => parseCacheExport("registry", { ref: "a/b", "oci-mediatypes": "false" }),
    /oci-mediatypes=false is not supported/,
  );
  equal(parseCacheExport("inline", {}).type, "inline");
  throws(() => parseCacheExport("inline", { mode: "max" }), /inline cache holds mode=min only/);
  throws(() => parseCacheImport("inline", {}), /type=inline does not exist/);
  throws(() => parseCacheExport("gha", {}), /Unknown cache type "gha"/);
  throws(() => parseCacheImport("local", {}), /Missing src=/);
  throws(
    () => parseCacheImport("registry", { ref: "a/b", mode: "max" }),
    /Unknown attribute "mode"/,
  );
  equal(parseCacheImport("local", { src: "/c", tag: "main" }).type, "local");
});

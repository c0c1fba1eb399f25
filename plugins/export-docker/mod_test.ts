import assert from "node:assert/strict";
import type { ExportContext } from "@img/core";
import { dockerExporter } from "./mod.ts";

Deno.test("type=docker refuses a result with attestations, as buildx does, and writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dest = `${dir}/image.tar`;
    const instance = await dockerExporter.resolve({ dest });
    await assert.rejects(
      () =>
        instance.export({
          config: { os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } },
          layers: () => Promise.reject(new Error("no layers are made")),
          rootfs: dir,
          names: [],
          attestations: [{ predicateType: "https://spdx.dev/Document", predicate: {} }],
        }, {} as ExportContext),
      (e: Error) => /^type=docker cannot hold attestations/.test(e.message),
    );
    assert.equal(await Deno.stat(dest).catch(() => undefined), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

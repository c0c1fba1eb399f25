import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import { parseSecretSpec, SecretStore } from "./secrets.ts";

Deno.test("parseSecretSpec reads buildx's forms", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-secret-spec-" });
  try {
    const file = `${dir}/token.txt`;
    await Deno.writeTextFile(file, "s3cret");
    assert.deepEqual(parseSecretSpec(`id=tok,src=${file}`, {}), { id: "tok", file });
    assert.deepEqual(parseSecretSpec(`source=${file}`, {}), { id: "token.txt", file });
    assert.deepEqual(parseSecretSpec("id=x,env=VAR", {}), { id: "x", env: "VAR" });
    assert.deepEqual(parseSecretSpec("type=env,src=VAR", {}), { id: "VAR", env: "VAR" });
    assert.deepEqual(parseSecretSpec("id=HOME_TOKEN", { HOME_TOKEN: "v" }), {
      id: "HOME_TOKEN",
      env: "HOME_TOKEN",
    });
    assert.throws(() => parseSecretSpec("type=ftp,src=x", {}), /Unsupported --secret type "ftp"/);
    assert.throws(() => parseSecretSpec("id=a,bogus=1", {}), /Unexpected key "bogus"/);
    assert.throws(() => parseSecretSpec(`id=a,src=${dir}/missing`, {}), ImgError);
    const store = SecretStore.parse([`id=tok,src=${file}`, "id=e,env=E"], { E: "from-env" });
    assert.equal(new TextDecoder().decode(await store.get("tok")), "s3cret");
    assert.equal(new TextDecoder().decode(await store.get("e")), "from-env");
    assert.equal(await store.get("other"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

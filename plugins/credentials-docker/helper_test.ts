import assert from "node:assert/strict";
import { ImgError } from "@img/core";
import { CredentialHelper, lookPath } from "./helper.ts";
import {
  FAIL_ENV,
  installFakeCredentialHelper,
  STORE_ENV,
} from "../../tests/_util/fake_credential_helper.ts";

async function withFakeHelper(
  fn: (env: Record<string, string>, storePath: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await installFakeCredentialHelper(`${dir}/bin`);
    const storePath = `${dir}/helper-store.json`;
    const env = {
      ...Deno.env.toObject(),
      PATH: `${dir}/bin:${Deno.env.get("PATH") ?? ""}`,
      [STORE_ENV]: storePath,
    };
    await fn(env, storePath);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("lookPath finds only executable files on PATH", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/docker-credential-x`, "#!/bin/sh\n");
    assert.equal(lookPath("docker-credential-x", `/nonexistent:${dir}`), undefined);
    await Deno.chmod(`${dir}/docker-credential-x`, 0o755);
    assert.equal(
      lookPath("docker-credential-x", `/nonexistent:${dir}`),
      `${dir}/docker-credential-x`,
    );
    assert.equal(lookPath("docker-credential-x", "/nonexistent"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the helper protocol: store, get, list, erase", async () => {
  await withFakeHelper(async (env, storePath) => {
    const helper = new CredentialHelper("fake", { env });
    assert.equal(await helper.get("localhost:5000"), undefined);
    await helper.store({ ServerURL: "localhost:5000", Username: "alice", Secret: "s3cret" });
    // The helper received the JSON docker sends on stdin.
    assert.deepEqual(JSON.parse(await Deno.readTextFile(storePath)), {
      "localhost:5000": { Username: "alice", Secret: "s3cret" },
    });
    assert.deepEqual(await helper.get("localhost:5000"), {
      ServerURL: "localhost:5000",
      Username: "alice",
      Secret: "s3cret",
    });
    assert.deepEqual(await helper.list(), { "localhost:5000": "alice" });
    assert.equal(await helper.erase("localhost:5000"), true);
    assert.equal(await helper.erase("localhost:5000"), false);
    assert.equal(await helper.get("localhost:5000"), undefined);
  });
});

Deno.test("a failing helper is an error naming the helper and its message", async () => {
  await withFakeHelper(async (env) => {
    const helper = new CredentialHelper("fake", {
      env: { ...env, [FAIL_ENV]: "keychain is locked" },
    });
    await assert.rejects(
      () => helper.get("localhost:5000"),
      (error: Error) =>
        error instanceof ImgError && error.message.includes("docker-credential-fake") &&
        error.message.includes("keychain is locked"),
    );
  });
});

Deno.test("a missing helper says it is not installed or not in PATH", async () => {
  const helper = new CredentialHelper("nope", { env: { PATH: "/nonexistent" } });
  await assert.rejects(
    () => helper.get("localhost:5000"),
    (error: Error) =>
      error instanceof ImgError &&
      error.message.startsWith("docker-credential-nope is not installed or not in PATH"),
  );
});

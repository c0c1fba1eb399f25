import assert from "node:assert/strict";
import {
  checkEmulation,
  hostBinfmtHandlers,
  parseBinfmtHandler,
  qemuHandlerName,
  runsNatively,
} from "./binfmt.ts";
import { parsePlatform } from "./platform.ts";

const AMD64 = parsePlatform("linux/amd64");
const ARM64 = parsePlatform("linux/arm64");

const QEMU_AARCH64 = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`;

async function binfmtDir(handlers: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "img-binfmt-" });
  await Deno.writeTextFile(`${dir}/status`, "enabled\n");
  for (const [name, text] of Object.entries(handlers)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  return dir;
}

Deno.test("parseBinfmtHandler reads a handler as the kernel shows it", () => {
  assert.deepEqual(parseBinfmtHandler("qemu-aarch64", QEMU_AARCH64), {
    name: "qemu-aarch64",
    enabled: true,
    interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
    flags: "POF",
  });
});

Deno.test("native platforms need no handler; others are named as qemu names them", () => {
  assert.equal(runsNatively(AMD64, AMD64), true);
  assert.equal(runsNatively(parsePlatform("linux/386"), AMD64), true);
  assert.equal(runsNatively(ARM64, AMD64), false);
  assert.equal(qemuHandlerName(ARM64), "qemu-aarch64");
  assert.equal(qemuHandlerName(parsePlatform("linux/arm/v7")), "qemu-arm");
  assert.equal(qemuHandlerName(AMD64), "qemu-x86_64");
});

Deno.test("checkEmulation: a registered F handler passes", async () => {
  const dir = await binfmtDir({ "qemu-aarch64": QEMU_AARCH64 });
  try {
    await checkEmulation(ARM64, { dir, host: AMD64 });
    await checkEmulation(AMD64, { dir: "/nonexistent", host: AMD64 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkEmulation: missing, disabled and non-F handlers are errors naming the fix", async () => {
  const dir = await binfmtDir({
    "qemu-s390x": QEMU_AARCH64.replace("enabled", "disabled"),
    "qemu-ppc64le": QEMU_AARCH64.replace("POF", "OC"),
  });
  try {
    await assert.rejects(
      () => checkEmulation(ARM64, { dir, host: AMD64 }),
      /^ImgError: Cannot run RUN steps for linux\/arm64 on this linux\/amd64 host: no qemu-aarch64 handler .*install qemu-user-static/,
    );
    await assert.rejects(
      () => checkEmulation(parsePlatform("linux/s390x"), { dir, host: AMD64 }),
      /linux\/s390x: the qemu-s390x handler .* is disabled/,
    );
    await assert.rejects(
      () => checkEmulation(parsePlatform("linux/ppc64le"), { dir, host: AMD64 }),
      /linux\/ppc64le: the qemu-ppc64le handler .* lacks the F flag.*qemu-user-static/,
    );
    await assert.rejects(
      () => checkEmulation(ARM64, { dir: `${dir}/none`, host: AMD64 }),
      /binfmt_misc is not mounted .*qemu-user-static/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkEmulation: inside img's namespace, the handlers the parent carried count", async () => {
  const dir = await binfmtDir({ "qemu-aarch64": QEMU_AARCH64 });
  try {
    const carried = hostBinfmtHandlers(dir);
    assert.ok(carried);
    assert.deepEqual(Object.keys(JSON.parse(carried)), ["qemu-aarch64"]);
    await checkEmulation(ARM64, { host: AMD64, hostHandlers: carried });
    await assert.rejects(
      () => checkEmulation(parsePlatform("linux/s390x"), { host: AMD64, hostHandlers: carried }),
      /no qemu-s390x handler/,
    );
    assert.equal(hostBinfmtHandlers("/nonexistent"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

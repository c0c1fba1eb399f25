import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { ExportDestination, type StandardOutput } from "./output.ts";
import { ImgError } from "../errors.ts";

function fakeStdout(terminal: boolean): StandardOutput & { chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  return {
    chunks,
    isTerminal: () => terminal,
    // Writes at most 3 bytes at a time, as a pipe may accept part of a write.
    write: (p) => {
      chunks.push(p.slice(0, 3));
      return Promise.resolve(Math.min(3, p.byteLength));
    },
  };
}

async function writeText(out: WritableStream<Uint8Array>, text: string): Promise<void> {
  const w = out.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
}

Deno.test("a file destination appears only when complete", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dest = ExportDestination.resolve(`${dir}/sub/out.tar`);
    equal(dest.isStdout, false);
    await dest.write((out) => writeText(out, "archive"));
    equal(await Deno.readTextFile(`${dir}/sub/out.tar`), "archive");
    deepEqual([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["out.tar"]);

    // A failure leaves the previous file alone and no temporary file behind.
    await rejects(
      dest.write(async (out) => {
        const w = out.getWriter();
        await w.write(new Uint8Array(10));
        throw new Error("failed halfway");
      }),
      /failed halfway/,
    );
    equal(await Deno.readTextFile(`${dir}/sub/out.tar`), "archive");
    deepEqual([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["out.tar"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("standard output receives everything and stays open; a terminal is refused", async () => {
  const stdout = fakeStdout(false);
  for (const dest of [undefined, "-"]) {
    const d = ExportDestination.resolve(dest, { stdout });
    ok(d.isStdout);
    equal(String(d), "stdout");
  }
  const d = ExportDestination.resolve("-", { stdout });
  await d.write((out) => writeText(out, "0123456789"));
  await d.write((out) => writeText(out, "!"));
  equal(
    new TextDecoder().decode(new Uint8Array(stdout.chunks.flatMap((c) => [...c]))),
    "0123456789!",
  );

  throws(
    () => ExportDestination.resolve(undefined, { stdout: fakeStdout(true) }),
    (e) =>
      e instanceof ImgError &&
      e.message ===
        "Refusing to write a tar archive to a terminal: give dest=FILE or redirect the output",
  );
  ok(ExportDestination.resolve("-", { stdout: fakeStdout(true), allowTerminal: true }).isStdout);
  throws(() => ExportDestination.resolve(""), /Empty dest=/);
});

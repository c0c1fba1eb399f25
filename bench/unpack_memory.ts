/**
 * Peak memory of applying layers (issue 8: under 150 MB whatever the compression ratio).
 * Writes two images into an OCI layout, pushes them to a loopback registry and measures
 * `img unpack` of each with `/usr/bin/time -v` (the maximum resident set size of the img
 * process tree: the largest of img and the child it re-executes inside the user namespace),
 * beside `umoci unpack --rootless` of the same layout:
 *
 * - `gzip bomb`: one gzip layer of ~2 MB that expands to a 2 GiB file of zeros;
 * - `1 GiB layer`: one gzip layer of 16 incompressible 64 MiB files.
 *
 * Not a test: numbers depend on the machine. Run with `deno task bench:unpack-memory` (as the
 * unprivileged user: `runuser -u imgtest -- deno task bench:unpack-memory`).
 *
 * Environment: `BENCH_BOMB_MIB` (default 2048), `BENCH_SIZE_MIB` (default 1024),
 * `BENCH_LIMIT_MB` (default 150), `BENCH_DIR` (default a temporary directory).
 *
 * @module
 */
import { createGzip } from "node:zlib";
import { join } from "node:path";
import { type Digest, Digester, digestHex } from "../core/digest.ts";
import { encodeHeader } from "../core/layer/tar_writer.ts";
import { MediaType } from "../core/media_types.ts";
import { hostArchitecture, OciLayoutWriter } from "../tests/_util/oci_layout.ts";
import { startRegistry } from "../tests/_util/registry.ts";
import { imgCommand, removeTree, run } from "../tests/_util/img.ts";
import { available } from "./_util.ts";

const BOMB_MIB = Number(Deno.env.get("BENCH_BOMB_MIB") ?? 2048);
const SIZE_MIB = Number(Deno.env.get("BENCH_SIZE_MIB") ?? 1024);
const LIMIT_MB = Number(Deno.env.get("BENCH_LIMIT_MB") ?? 150);
const TIME = "/usr/bin/time";
const MIB = 1024 * 1024;
const decoder = new TextDecoder();

/** A layer blob written to the layout: its descriptor and diff ID. */
interface WrittenLayer {
  digest: Digest;
  size: number;
  diffID: Digest;
}

/**
 * Writes a gzip layer into `layout`'s blobs, streaming: `files` is a list of (name, size in
 * MiB, whether random); each file is written 1 MiB at a time.
 */
async function writeLayer(
  layout: string,
  files: { name: string; mib: number; random: boolean }[],
): Promise<WrittenLayer> {
  const tmp = join(layout, "blobs", "sha256", "layer.partial");
  using out = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const blob = new Digester();
  const diff = new Digester();
  const gz = createGzip({ level: files.some((f) => f.random) ? 1 : 9 });
  gz.on("data", (c: Uint8Array) => {
    blob.update(c);
    out.writeSync(c);
  });
  const ended = new Promise((r) => gz.on("end", r));
  const write = async (bytes: Uint8Array) => {
    diff.update(bytes);
    if (!gz.write(bytes)) await new Promise((r) => gz.once("drain", r));
  };
  const chunk = new Uint8Array(MIB);
  for (const f of files) {
    await write(encodeHeader({
      name: f.name,
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: f.mib * MIB,
    }));
    chunk.fill(0);
    for (let i = 0; i < f.mib; i++) {
      if (f.random) {
        for (let off = 0; off < MIB; off += 65536) {
          crypto.getRandomValues(chunk.subarray(off, off + 65536));
        }
      }
      await write(chunk.slice());
    }
  }
  await write(new Uint8Array(1024));
  gz.end();
  await ended;
  const digest = blob.digest();
  await Deno.rename(tmp, join(layout, "blobs", "sha256", digestHex(digest)));
  return { digest, size: blob.size, diffID: diff.digest() };
}

/** Writes an image of the one `layer` into `layout` under `tag`. */
async function writeImage(w: OciLayoutWriter, tag: string, layer: WrittenLayer): Promise<void> {
  const config = await w.writeJSON(MediaType.ociConfig, {
    architecture: hostArchitecture(),
    os: "linux",
    rootfs: { type: "layers", diff_ids: [layer.diffID] },
    config: {},
  });
  const manifest = await w.writeJSON(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config,
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
  });
  await w.tag(manifest, tag);
}

/** Runs `cmd` under `/usr/bin/time -v`; returns its wall time and max RSS (MB). */
async function measure(cmd: string[]): Promise<{ seconds: number; maxRssMB: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(TIME, {
    args: ["-v", ...cmd],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = decoder.decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${stderr.slice(-3000)}`);
  const kb = stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  if (!kb) throw new Error(`${TIME} -v printed no maximum resident set size:\n${stderr}`);
  return { seconds, maxRssMB: Number(kb[1]) * 1024 / 1e6 };
}

async function main(): Promise<void> {
  if (!(await Deno.stat(TIME).catch(() => undefined))) {
    throw new Error(`${TIME} is missing: apt-get install time`);
  }
  const dir = Deno.env.get("BENCH_DIR") ?? await Deno.makeTempDir({ prefix: "img-bench-unpack-" });
  const layout = join(dir, "layout");
  const state = join(dir, "state");
  await using registry = await startRegistry();
  try {
    const w = new OciLayoutWriter(layout);
    console.log(`Writing a gzip bomb (${BOMB_MIB} MiB of zeros) and a ${SIZE_MIB} MiB layer...`);
    const cases: [string, string, WrittenLayer][] = [
      [
        "gzip bomb",
        "bomb",
        await writeLayer(layout, [{ name: "zeros", mib: BOMB_MIB, random: false }]),
      ],
      [
        `${SIZE_MIB} MiB layer`,
        "ordinary",
        await writeLayer(
          layout,
          Array.from(
            { length: 16 },
            (_, i) => ({ name: `f${i}`, mib: SIZE_MIB / 16, random: true }),
          ),
        ),
      ],
    ];
    for (const [, tag, layer] of cases) await writeImage(w, tag, layer);
    const umoci = await available(["umoci", "--version"]);
    let worst = 0;
    for (const [label, tag, layer] of cases) {
      const ref = `${registry.host}/bench/${tag}:latest`;
      await run([
        "skopeo",
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `oci:${layout}:${tag}`,
        `docker://${ref}`,
      ]);
      await run(imgCommand(["pull", ref], state));
      const out = join(dir, "rootfs");
      const mine = await measure(imgCommand(["unpack", "-o", out, ref], state));
      await removeTree(out);
      worst = Math.max(worst, mine.maxRssMB);
      let peer = "umoci: not installed";
      if (umoci) {
        const bundle = join(dir, "bundle");
        const theirs = await measure([
          "umoci",
          "unpack",
          "--rootless",
          "--image",
          `${layout}:${tag}`,
          bundle,
        ]);
        await removeTree(bundle);
        peer = `umoci unpack peak ${theirs.maxRssMB.toFixed(0).padStart(4)} MB ${
          theirs.seconds.toFixed(1).padStart(5)
        } s`;
      }
      console.log(
        `${label.padEnd(14)} (${(layer.size / 1e6).toFixed(0)} MB blob)  img unpack peak ${
          mine.maxRssMB.toFixed(0).padStart(4)
        } MB ${mine.seconds.toFixed(1).padStart(5)} s   ${peer}`,
      );
    }
    const ok = worst < LIMIT_MB;
    console.log(
      `\nimg unpack: peak ${worst.toFixed(0)} MB, limit ${LIMIT_MB} MB: ${ok ? "OK" : "OVER"}`,
    );
    if (!ok) Deno.exitCode = 1;
  } finally {
    if (!Deno.env.get("BENCH_DIR")) await removeTree(dir);
  }
}

if (import.meta.main) await main();

/**
 * Snapshotter benchmark (issue 5, item 6): img with `-b native`, `-b overlayfs` and
 * `-b fuse-overlayfs`, and buildah with its overlay driver, on the same cases in one run,
 * printing times and ratios. Not a test: numbers depend on the machine. Run with
 * `deno task bench:backends` as root, and as an unprivileged user to measure img's rootless
 * path (`runuser -u imgtest -- deno task bench:backends`; fuse needs `/dev/fuse` open to it).
 *
 * The base image is generated here, reproducibly and without the internet: the busybox test
 * image plus a layer of 20,000 small files and a layer of 4 incompressible 24 MiB files
 * (about 128 MB unpacked), pushed to a loopback registry.
 *
 * Cases, each tool with a fresh state directory (storage root for buildah):
 * - `base`: a warm-up build (`FROM base` + one `RUN`) that pulls and unpacks the base;
 * - `30 layers`: 30 `RUN` steps that each write a small file, over the base, `--no-cache`;
 *   the goal is overlayfs at least 3x faster than native;
 * - `200 MB COPY`: one incompressible 200 MB file from the context, over the base, `--no-cache`.
 *
 * For img, each build runs with `--debug --no-console` and the per-step times from its plain
 * progress are summed, so the report says where the time goes: the `FROM` step (unpack),
 * the `RUN`/`COPY` steps (for native, each one copies the parent's whole tree first), and the
 * rest of the run (process start, frontend, and the export, which turns each new snapshot
 * into a compressed layer).
 *
 * Environment: `BENCH_RUNS` (default 1) timed builds per case (the median is shown);
 * `BENCH_TOOLS` (default `native,overlayfs,fuse-overlayfs,buildah`) picks tools;
 * `BENCH_LOGS=DIR` keeps every build's output in `DIR`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createHash } from "node:crypto";
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import type { TarEntry } from "../tests/_util/oci_layout.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";
import { available, buildahBud, median, type Run, timed, writeFiles } from "./_util.ts";

const RUNS = Math.max(1, Number(Deno.env.get("BENCH_RUNS") ?? 1));
const TOOLS = (Deno.env.get("BENCH_TOOLS") ?? "native,overlayfs,fuse-overlayfs,buildah").split(",");
const LOGS = Deno.env.get("BENCH_LOGS");
const ROOT = Deno.uid() === 0;
const decoder = new TextDecoder();

/** Small files in the base image, their size range, and the large incompressible files. */
const SMALL_FILES = 20_000;
const SMALL_DIRS = 200;
const LARGE_FILES = 4;
const LARGE_SIZE = 24 * 1024 * 1024;
const COPY_SIZE = 200 * 1000 * 1000;
const LAYERS = 30;

/** `size` deterministic, incompressible bytes: AES-128-CTR of zeros under a key from `seed`. */
function keystream(seed: string, size: number): Uint8Array {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return new Uint8Array(cipher.update(Buffer.alloc(size)));
}

/** The two layers stacked on busybox: many small files, then a few large ones. */
function baseLayers(): TarEntry[][] {
  const pool = keystream("small", 1 << 20);
  const small: TarEntry[] = [{ path: "data", type: "dir" }, { path: "data/small", type: "dir" }];
  for (let d = 0; d < SMALL_DIRS; d++) {
    const dir = `data/small/d${String(d).padStart(3, "0")}`;
    small.push({ path: dir, type: "dir" });
    for (let f = 0; f < SMALL_FILES / SMALL_DIRS; f++) {
      const i = d * (SMALL_FILES / SMALL_DIRS) + f;
      const size = 512 + (i * 7919) % 2048;
      const at = (i * 4099) % (pool.length - size);
      small.push({
        path: `${dir}/f${String(i).padStart(5, "0")}`,
        content: pool.subarray(at, at + size),
      });
    }
  }
  const large: TarEntry[] = [{ path: "data", type: "dir" }, { path: "data/large", type: "dir" }];
  for (let i = 0; i < LARGE_FILES; i++) {
    large.push({ path: `data/large/blob${i}.bin`, content: keystream(`large-${i}`, LARGE_SIZE) });
  }
  return [small, large];
}

/** Writes `size` incompressible bytes to `path`, 8 MiB at a time. */
async function writeIncompressible(path: string, seed: string, size: number): Promise<void> {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const zeros = Buffer.alloc(8 << 20);
  for (let left = size; left > 0; left -= zeros.length) {
    const chunk = cipher.update(left < zeros.length ? zeros.subarray(0, left) : zeros);
    let off = 0;
    while (off < chunk.length) off += await file.write(chunk.subarray(off));
  }
}

interface Tool {
  name: string;
  /** Builds `dir` with `BASE` set to the base image, `--no-cache`. */
  build(dir: string, tag: string): Promise<Run>;
  /** Removes what the tool stored. */
  cleanup(): Promise<void>;
}

function imgTool(backend: string, state: string, base: string): Tool {
  return {
    name: `img ${backend}`,
    build: (dir, tag) =>
      timed(imgCommand([
        "--debug",
        "-b",
        backend,
        "build",
        "--no-console",
        "--no-cache",
        "--build-arg",
        `BASE=${base}`,
        "-t",
        tag,
        dir,
      ], state)),
    cleanup: () => removeTree(state),
  };
}

function buildahTool(root: string, base: string): Tool {
  const global = [
    "--root",
    `${root}/storage`,
    "--runroot",
    `${root}/run`,
    "--storage-driver",
    "overlay",
    // Rootless buildah mounts its overlays through fuse-overlayfs.
    ...(ROOT ? [] : ["--storage-opt", "overlay.mount_program=/usr/bin/fuse-overlayfs"]),
  ];
  return {
    name: ROOT ? "buildah overlay" : "buildah overlay(fuse)",
    build: (dir, tag) => timed(buildahBud(global, dir, tag, { base, noCache: true })),
    cleanup: async () => {
      await new Deno.Command("buildah", {
        args: [...global, "rmi", "-a", "-f"],
        stdout: "null",
        stderr: "null",
      })
        .output().catch(() => {});
      // containers/storage leaves its overlay home mounted (private) as root.
      const mounts = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
      for (const line of mounts.split("\n").reverse()) {
        const point = line.split(" ")[4];
        if (point?.startsWith(`${root}/`)) {
          await new Deno.Command("umount", { args: ["-l", point], stdout: "null", stderr: "null" })
            .output().catch(() => {});
        }
      }
      await removeTree(root);
    },
  };
}

/** One step of img's plain progress: `#N [i/n] RUN ...` and its `#N DONE 1.2s`. */
interface Step {
  name: string;
  seconds: number;
}

function imgSteps(output: string): Step[] {
  const names = new Map<string, string>();
  const steps: Step[] = [];
  for (const line of output.split("\n")) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const done = /^DONE (\d+(?:\.\d+)?)s$/.exec(m[2]);
    if (done) {
      steps.push({ name: names.get(m[1]) ?? `#${m[1]}`, seconds: Number(done[1]) });
    } else if (!names.has(m[1])) names.set(m[1], m[2]);
  }
  return steps;
}

/** Where an img build's time went, from its steps. */
function breakdown(r: Run): string {
  const steps = imgSteps(r.output);
  const sum = (xs: Step[]) => xs.reduce((a, s) => a + s.seconds, 0);
  const from = steps.filter((s) => /\] FROM /.test(s.name));
  const work = steps.filter((s) => /\] (RUN|COPY) /.test(s.name));
  const rest = r.seconds - sum(steps);
  const per = work.length ? sum(work) / work.length : 0;
  const max = work.reduce((a, s) => Math.max(a, s.seconds), 0);
  return `FROM ${sum(from).toFixed(1)}s, ${work.length} RUN/COPY steps ${
    sum(work).toFixed(1)
  }s (mean ${per.toFixed(2)}s, max ${max.toFixed(1)}s), start+export ${rest.toFixed(1)}s`;
}

async function treeBytes(dir: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sb", dir], stdout: "piped" }).output();
  return Number(decoder.decode(out.stdout).split("\t")[0]);
}

// ---------------------------------------------------------------------------------------------

const t0 = performance.now();
const work = await Deno.makeTempDir({ prefix: "img-bench-backends-" });
await Deno.chmod(work, 0o755);
await using registry = await startRegistry();

console.log(
  `generating the base image (busybox + ${SMALL_FILES} small files + ${LARGE_FILES} x ${
    LARGE_SIZE >> 20
  } MiB)...`,
);
const layers = baseLayers();
const contentBytes = layers.flat().reduce(
  (a, e) => a + (e.content instanceof Uint8Array ? e.content.byteLength : 0),
  0,
);
const pushed = await pushBusybox(registry.host, "bench/base", "latest", { extraLayers: layers });
const base = pushed.reference;
const blobBytes = pushed.image!.layers.reduce((a, l) => a + l.size, 0);
console.log(
  `base ${base}: ${pushed.image!.layers.length} layers, ${
    (blobBytes / 1e6).toFixed(0)
  } MB compressed, ${(contentBytes / 1e6).toFixed(0)} MB of data files + busybox (${
    ((performance.now() - t0) / 1000).toFixed(1)
  }s to generate and push)`,
);

const warm = `${work}/warm`;
await writeFiles(warm, { Dockerfile: "ARG BASE\nFROM ${BASE}\nRUN echo warm > /warm\n" });
const many = `${work}/layers`;
await writeFiles(many, {
  Dockerfile: [
    "ARG BASE",
    "FROM ${BASE}",
    ...Array.from({ length: LAYERS }, (_, i) => `RUN echo step ${i + 1} > /step-${i + 1}.txt`),
    "",
  ].join("\n"),
});
const copy = `${work}/copy`;
await writeFiles(copy, { Dockerfile: "ARG BASE\nFROM ${BASE}\nCOPY big.bin /big.bin\n" });
await writeIncompressible(`${copy}/big.bin`, "copy", COPY_SIZE);

const tools: Tool[] = [];
for (const backend of ["native", "overlayfs", "fuse-overlayfs"]) {
  if (TOOLS.includes(backend)) tools.push(imgTool(backend, `${work}/img-${backend}`, base));
}
if (TOOLS.includes("buildah")) {
  if (await available(["buildah", "--version"])) tools.push(buildahTool(`${work}/buildah`, base));
  else console.log("buildah: not installed (apt-get install buildah), skipped");
}

interface Row {
  tool: string;
  warm: Run;
  layers: Run;
  copy: Run;
}
const rows: Row[] = [];
const keep = async (name: string, r: Run) => {
  if (LOGS) {
    await Deno.mkdir(LOGS, { recursive: true });
    await Deno.writeTextFile(`${LOGS}/${name.replaceAll(/[^\w.-]+/g, "_")}.log`, r.output);
  }
};
for (const tool of tools) {
  try {
    // Let the previous tool's writes and removals reach the disk before timing this one.
    await new Deno.Command("sync").output();
    console.log(`\n${tool.name}:`);
    const w = await tool.build(warm, "bench-warm");
    await keep(`${tool.name}-warm`, w);
    console.log(`  base pull + unpack (warm-up build): ${w.seconds.toFixed(2)}s`);
    const measure = async (dir: string, what: string): Promise<Run> => {
      const runs: Run[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await tool.build(dir, `bench-${what}`);
        await keep(`${tool.name}-${what}-${i}`, r);
        runs.push(r);
      }
      const m = median(runs.map((r) => r.seconds));
      const r = runs.find((x) => x.seconds === m)!;
      console.log(
        `  ${what}: ${r.seconds.toFixed(2)}s${
          tool.name.startsWith("img") ? `  (${breakdown(r)})` : ""
        }`,
      );
      return r;
    };
    const l = await measure(many, "30-layers");
    if (tool.name === "img native") {
      // How big the unpacked base is, from native's plain copy of it.
      const snaps = `${work}/img-native/snapshots/native/snapshots`;
      const sizes = await Promise.all(
        [...Deno.readDirSync(snaps)].map((e) => treeBytes(`${snaps}/${e.name}/fs`).catch(() => 0)),
      );
      console.log(
        `  largest native snapshot tree (base + 30 small files): ${
          (Math.max(...sizes) / 1e6).toFixed(0)
        } MB`,
      );
    }
    const c = await measure(copy, "copy-200mb");
    rows.push({ tool: tool.name, warm: w, layers: l, copy: c });
  } catch (e) {
    console.log(`  FAILED: ${(e as Error).message.split("\n").slice(0, 12).join("\n  ")}`);
  } finally {
    await tool.cleanup().catch((e) => console.log(`  cleanup failed: ${(e as Error).message}`));
  }
}

const fmt = (s: number) => `${s.toFixed(2)}s`;
console.log(
  `\n${ROOT ? "as root" : `as uid ${Deno.uid()} (rootless)`}, ${RUNS} run(s) per case, seconds\n`,
);
console.log(
  "tool".padEnd(24) + "base(warm)".padStart(12) + "30 layers".padStart(12) +
    "200MB COPY".padStart(12),
);
for (const r of rows) {
  console.log(
    r.tool.padEnd(24) + fmt(r.warm.seconds).padStart(12) + fmt(r.layers.seconds).padStart(12) +
      fmt(r.copy.seconds).padStart(12),
  );
}
const find = (name: string) => rows.find((r) => r.tool === name);
const native = find("img native");
console.log("\nratios (a / b; > 1 means b is faster)");
for (
  const [a, b] of [
    ["img native", "img overlayfs"],
    ["img native", "img fuse-overlayfs"],
    ["img fuse-overlayfs", "img overlayfs"],
    ["img overlayfs", rows.find((r) => r.tool.startsWith("buildah"))?.tool ?? "buildah"],
    ["img fuse-overlayfs", rows.find((r) => r.tool.startsWith("buildah"))?.tool ?? "buildah"],
  ]
) {
  const ra = find(a), rb = find(b);
  if (!ra || !rb) continue;
  console.log(
    `  ${`${a} / ${b}`.padEnd(46)} 30 layers ${
      (ra.layers.seconds / rb.layers.seconds).toFixed(2)
    }x   200MB COPY ${(ra.copy.seconds / rb.copy.seconds).toFixed(2)}x`,
  );
}
const overlay = find("img overlayfs");
if (native && overlay) {
  const ratio = native.layers.seconds / overlay.layers.seconds;
  console.log(
    `\noverlayfs vs native on the 30-layer build over the ${
      (contentBytes / 1e6).toFixed(0)
    } MB base: ${ratio.toFixed(2)}x faster ${ratio >= 3 ? "(OK: at least 3x)" : "(NOT MET: < 3x)"}`,
  );
}
await removeTree(work);
console.log(`total bench time ${((performance.now() - t0) / 1000).toFixed(0)}s`);

/**
 * Peak memory of exporting a 1 GiB layer (issue 4: under 300 MB). Makes a build context with
 * a 1 GiB incompressible file, `COPY`s it into a `FROM scratch` image, and exports it as
 * `type=oci` with gzip, then zstd, measuring the maximum resident set size of the img process
 * tree with `/usr/bin/time -v` (the largest of img and the child it re-executes inside the user
 * namespace). Not a test: numbers depend on the machine. Run with `deno task bench:memory`
 * (as the unprivileged user: `runuser -u imgtest -- deno task bench:memory`).
 *
 * Runs:
 * - `gzip (build + export)`: a fresh state dir, so it includes the COPY of the file;
 * - `zstd (export)`: the same state, the build cached, so it is the export alone;
 * - `gzip (export, level 9)`: the same, another variant of the layer.
 *
 * Environment: `BENCH_SIZE_MIB` (default 1024), `BENCH_LIMIT_MB` (default 300),
 * `BENCH_BACKEND` (default auto), `BENCH_DIR` (default a temporary directory).
 *
 * @module
 */
import { imgCommand, removeTree } from "../tests/_util/img.ts";

const SIZE_MIB = Number(Deno.env.get("BENCH_SIZE_MIB") ?? 1024);
const LIMIT_MB = Number(Deno.env.get("BENCH_LIMIT_MB") ?? 300);
const BACKEND = Deno.env.get("BENCH_BACKEND") ?? "auto";
const TIME = "/usr/bin/time";
const decoder = new TextDecoder();

/** Writes `mib` MiB of random (incompressible) bytes to `path`, 1 MiB at a time. */
async function writeRandomFile(path: string, mib: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(1024 * 1024);
  for (let i = 0; i < mib; i++) {
    // getRandomValues fills at most 64 KiB per call.
    for (let off = 0; off < chunk.length; off += 65536) {
      crypto.getRandomValues(chunk.subarray(off, off + 65536));
    }
    let written = 0;
    while (written < chunk.length) written += await file.write(chunk.subarray(written));
  }
}

interface Measured {
  label: string;
  seconds: number;
  maxRssMB: number;
  archiveMB: number;
}

/** Runs img with `args` under `/usr/bin/time -v`; returns its wall time and max RSS (MB). */
async function measure(label: string, args: string[], state: string, dest: string) {
  const t0 = performance.now();
  const out = await new Deno.Command(TIME, {
    args: ["-v", ...imgCommand(args, state)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = decoder.decode(out.stderr);
  if (!out.success) throw new Error(`img ${args.join(" ")} failed:\n${stderr.slice(-3000)}`);
  const kb = stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  if (!kb) throw new Error(`${TIME} -v printed no maximum resident set size:\n${stderr}`);
  const archive = (await Deno.stat(dest)).size;
  return {
    label,
    seconds,
    maxRssMB: Number(kb[1]) * 1024 / 1e6,
    archiveMB: archive / 1e6,
  } satisfies Measured;
}

async function main(): Promise<void> {
  if (!(await Deno.stat(TIME).catch(() => undefined))) {
    throw new Error(`${TIME} is missing: apt-get install time`);
  }
  const dir = Deno.env.get("BENCH_DIR") ?? await Deno.makeTempDir({ prefix: "img-bench-mem-" });
  const ctx = `${dir}/ctx`;
  const state = `${dir}/state`;
  try {
    await Deno.mkdir(ctx, { recursive: true });
    await Deno.writeTextFile(`${ctx}/Dockerfile`, "FROM scratch\nCOPY big.bin /big.bin\n");
    console.log(`Writing a ${SIZE_MIB} MiB incompressible file...`);
    await writeRandomFile(`${ctx}/big.bin`, SIZE_MIB);

    const runs: [string, string][] = [
      ["gzip (build + export)", "compression=gzip"],
      ["zstd (export)", "compression=zstd"],
      ["gzip (export, level 9)", "compression=gzip,compression-level=9"],
    ];
    const results: Measured[] = [];
    for (const [label, attrs] of runs) {
      const dest = `${dir}/out.tar`;
      const args = [
        "--backend",
        BACKEND,
        "build",
        "--no-console",
        "-o",
        `type=oci,dest=${dest},${attrs}`,
        ctx,
      ];
      const r = await measure(label, args, state, dest);
      results.push(r);
      console.log(
        `${r.label.padEnd(24)} peak ${r.maxRssMB.toFixed(0).padStart(4)} MB  ` +
          `${r.seconds.toFixed(1).padStart(5)} s  archive ${r.archiveMB.toFixed(0)} MB`,
      );
      await Deno.remove(dest);
    }
    const worst = Math.max(...results.map((r) => r.maxRssMB));
    const ok = worst < LIMIT_MB;
    console.log(
      `\nExporting a ${SIZE_MIB} MiB layer: peak ${worst.toFixed(0)} MB, limit ${LIMIT_MB} MB: ${
        ok ? "OK" : "OVER"
      }`,
    );
    if (!ok) Deno.exitCode = 1;
  } finally {
    if (!Deno.env.get("BENCH_DIR")) await removeTree(dir);
  }
}

if (import.meta.main) await main();

/**
 * Where img's time goes (issue 12, "measure first"): runs img with `IMG_TRACE=1` on the cases
 * of the table, cold (fresh state directory) and warm (the same build again, nothing
 * changed), and prints each run's per-phase table, plus the fixed cost of starting a Deno
 * program and `img --version`. Run it as the unprivileged user to measure the rootless path:
 * `runuser -u imgtest -- env HOME=/home/imgtest deno task bench:profile`. `BENCH_RUNS` (default
 * 3) is the number of runs of each measurement (cold runs each in a fresh state directory); the
 * one with the median wall time is printed. The big-context case is also rebuilt after touching
 * one small file (its mtime and ctime change, its content does not).
 * `BENCH_CASES=simple,big-context,layers` picks cases. `bench/PROFILE.md` records a run.
 *
 * @module
 */
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";
import { median, type Run, timed, writeFiles } from "./_util.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "3");
const CASES = (Deno.env.get("BENCH_CASES") ?? "simple,big-context,layers").split(",");

/** Writes the context of case `name` into `dir`. */
async function context(name: string, dir: string): Promise<void> {
  switch (name) {
    case "simple":
      return await writeFiles(dir, {
        "Dockerfile": [
          "ARG BASE",
          "FROM $BASE",
          "ENV GREETING=hello",
          "WORKDIR /app",
          "COPY a.txt .",
          'RUN echo "$GREETING" > /app/greeting',
          'CMD ["cat", "/app/greeting"]',
        ].join("\n") + "\n",
        "a.txt": "a\n",
      });
    case "big-context": {
      await writeFiles(dir, { "Dockerfile": "ARG BASE\nFROM $BASE\nCOPY . /app\n" });
      for (let d = 0; d < 50; d++) {
        const files: Record<string, string> = {};
        for (let f = 0; f < 100; f++) files[`f${f}.txt`] = `file ${d}/${f}\n`.repeat(8);
        await writeFiles(`${dir}/d${d}`, files);
      }
      using big = await Deno.open(`${dir}/big.bin`, { write: true, create: true });
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 200; i++) {
        crypto.getRandomValues(chunk.subarray(0, 65536));
        for (let o = 65536; o < chunk.length; o += 65536) chunk.copyWithin(o, 0, 65536);
        chunk[0] = i; // each MiB differs from the others
        await big.write(chunk);
      }
      return;
    }
    case "layers":
      return await writeFiles(dir, {
        "Dockerfile": ["ARG BASE", "FROM $BASE"].concat(
          Array.from({ length: 30 }, (_, i) => `RUN echo ${i} > /f${i}`),
        ).join("\n") + "\n",
      });
    default:
      throw new Error(`Unknown case ${name}; pick from simple,big-context,layers`);
  }
}

const traceEnv = { ...Deno.env.toObject(), IMG_TRACE: "1" };

function build(state: string, dir: string, base: string): Promise<Run> {
  return timed(
    imgCommand(["build", "--no-console", "--build-arg", `BASE=${base}`, "-t", "bench", dir], state),
    traceEnv,
  );
}

/** The trace table of a run's output. */
function table(run: Run): string {
  const at = run.output.indexOf("img trace");
  return at < 0 ? "(no trace table)" : run.output.slice(at).trimEnd();
}

function show(label: string, run: Run): void {
  console.log(`\n### ${label}: ${run.seconds.toFixed(3)} s wall\n\n\`\`\`\n${table(run)}\n\`\`\``);
}

/** Runs `build` BENCH_RUNS times and shows the run with the median wall time. */
async function measure(label: string, build: () => Promise<Run>): Promise<void> {
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await build());
  const walls = runs.map((r) => r.seconds.toFixed(3)).join(", ");
  runs.sort((a, b) => a.seconds - b.seconds);
  show(`${label} (median of ${walls})`, runs[Math.floor(runs.length / 2)]);
}

const work = await Deno.makeTempDir({ prefix: "img-profile-" });
await Deno.chmod(work, 0o755);
try {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `${registry.host}/library/busybox:latest`;

  console.log(`# img profile (IMG_TRACE=1), uid ${Deno.uid()}, ${new Date().toISOString()}`);
  const empty = `${work}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const denoStarts = [];
  for (let i = 0; i < RUNS; i++) {
    denoStarts.push((await timed([Deno.execPath(), "run", "-A", "--quiet", empty])).seconds);
  }
  console.log(`\n\`deno run\` of an empty module: ${median(denoStarts).toFixed(3)} s (median)`);
  const versions: Run[] = [];
  for (let i = 0; i < RUNS; i++) versions.push(await timed(imgCommand(["--version"]), traceEnv));
  versions.sort((a, b) => a.seconds - b.seconds);
  show("`img --version` (median)", versions[Math.floor(versions.length / 2)]);

  for (const name of CASES) {
    const dir = `${work}/${name}`;
    const state = `${work}/state-${name}`;
    await context(name, dir);
    await measure(`${name}, cold`, async () => {
      await removeTree(state);
      return await build(state, dir, base);
    });
    await measure(`${name}, warm`, () => build(state, dir, base));
    if (name === "big-context") {
      await measure(`${name}, warm after touching one small file`, async () => {
        const now = new Date();
        await Deno.utime(`${dir}/d0/f0.txt`, now, now);
        return await build(state, dir, base);
      });
    }
    await removeTree(state);
    await Deno.remove(dir, { recursive: true });
  }
} finally {
  await removeTree(work);
}

/**
 * img beside its peers on the six cases of issue 12, in one run: buildah (rootless) and
 * BuildKit (in a Docker engine of the bench's own, `bench/_docker.ts`), printing the table of
 * cold and warm times with the img / BuildKit ratios, img's peak memory, and whether the goals
 * hold. Not a test: numbers depend on the machine. Run it as root (`deno task bench`): the
 * engine needs root, while img and buildah run as the unprivileged test user (`IMG_TEST_USER`,
 * default `imgtest`), as their users run them. Run as an ordinary user, BuildKit is skipped.
 *
 * img runs as users get it: the bundled CLI (`tools/bundle.ts`, `deno task bundle`, made at the start;
 * `BENCH_IMG=source` runs `cli/main.ts` instead), under `/usr/bin/time -v` for its peak resident
 * set size (the largest process of its tree). img and buildah are timed from inside the test
 * user's session (`_timer.ts`), without the start of the `runuser` that switches to it.
 *
 * Cases: `simple` (five instructions), `parallel` (two stages that each `RUN sleep 2`),
 * `big-context` (5,000 small files and one 200 MB file, `COPY . /app`), `layers` (30 `RUN`s),
 * `last-copy` (after `simple`, a change to the one file only its last `COPY` reads) and
 * `debian` (a Debian 12 base, `dpkg-query` and `useradd` `RUN`s; `tools/setup.ts`
 * bootstraps it once as root). Cold: an empty state (img, buildah) or an engine with its build
 * cache and images pruned (BuildKit: its daemon stays up, which is what it is for). Warm: the
 * same build again with nothing changed.
 *
 * Environment: `BENCH_RUNS` (default 3, medians), `BENCH_CASES` (comma list),
 * `BENCH_PEERS=img,buildah,buildkit`, `BENCH_IMG=bundle|source`.
 *
 * @module
 */
import { join } from "node:path";
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import { DEBIAN_BASE_TARBALL, fetchDebianBase } from "../tools/setup.ts";
import { MAIN, removeTree, ROOT } from "../tests/_util/img.ts";
import { makeSharedTempDir } from "../tests/_util/user.ts";
import {
  available,
  buildahBud,
  median,
  type Run,
  timed,
  timedAsTestUser,
  writeFiles,
} from "./_util.ts";
import { Engine } from "./_docker.ts";
import { bundle } from "../tools/bundle.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "3");
const ALL_CASES = ["simple", "parallel", "big-context", "layers", "last-copy", "debian"];
const CASES = (Deno.env.get("BENCH_CASES") ?? ALL_CASES.join(",")).split(",");
const PEERS = (Deno.env.get("BENCH_PEERS") ?? "img,buildah,buildkit").split(",");
const TIME = "/usr/bin/time";

/** One build's wall time, output, and (img) peak RSS in MB. */
interface Measured extends Run {
  rssMB?: number;
}

interface Tool {
  name: string;
  /** Forgets every cached result and image (a cold start). */
  reset(): Promise<void>;
  /** Builds `dir` with `BASE=base`. */
  build(dir: string, base: string): Promise<Measured>;
}

/** The RUN and COPY steps a BuildKit-style plain progress log shows done (not cached). */
function ranSteps(output: string): string[] {
  return [
    ...output.matchAll(/^#\d+ (\[[^\]]+\] (?:RUN|COPY)[^\n]*)\n(?:#\d+ [^\n]*\n)*?#\d+ DONE/gm),
  ].map((m) => m[1]);
}

function imgTool(work: string, entry: string): Tool {
  const state = join(work, "img-state");
  return {
    name: "img",
    reset: () => removeTree(state),
    async build(dir, base) {
      const r = await timedAsTestUser([
        TIME,
        "-v",
        Deno.execPath(),
        "run",
        "-A",
        "--quiet",
        `--config=${ROOT}deno.json`,
        entry,
        "--state",
        state,
        "build",
        "--no-console",
        // RUN steps on the host's network, as the peers' builds here (buildah `--network host`,
        // BuildKit `docker build --network host`: the bench's engine has no bridge).
        "--network",
        "host",
        "--build-arg",
        `BASE=${base}`,
        "-t",
        "bench",
        dir,
      ]);
      const kb = r.output.match(/Maximum resident set size \(kbytes\): (\d+)/);
      return { ...r, rssMB: kb ? Number(kb[1]) * 1024 / 1e6 : undefined };
    },
  };
}

function buildahTool(work: string): Tool {
  const root = join(work, "buildah");
  // Rootless buildah with the kernel's overlayfs (native in a user namespace since Linux 5.13).
  const global = [
    "--root",
    `${root}/storage`,
    "--runroot",
    `${root}/run`,
    "--storage-driver",
    "overlay",
  ];
  return {
    name: "buildah",
    reset: async () => {
      await removeTree(root);
      await Deno.mkdir(root, { recursive: true });
      await Deno.chmod(root, 0o777);
    },
    build: (dir, base) => timedAsTestUser(buildahBud(global, dir, "bench", { base })),
  };
}

function buildkitTool(engine: Engine): Tool {
  return {
    name: "buildkit",
    reset: async () => {
      await engine.docker(["system", "prune", "-af"]);
    },
    build: (dir, base) => engine.build(dir, ["--build-arg", `BASE=${base}`, "-t", "bench"]),
  };
}

/** Writes the context of `name` into `dir`; returns the base image the case builds on. */
async function writeCase(name: string, dir: string): Promise<"busybox" | "debian"> {
  switch (name) {
    case "simple":
    case "last-copy":
      await writeFiles(dir, {
        Dockerfile: [
          "ARG BASE",
          "FROM ${BASE}",
          "WORKDIR /app",
          "COPY a.txt .",
          "RUN cat a.txt > copy.txt",
          "COPY b.txt .",
          "",
        ].join("\n"),
        "a.txt": "a\n",
        "b.txt": "b\n",
      });
      return "busybox";
    case "parallel":
      await writeFiles(dir, {
        Dockerfile: [
          "ARG BASE",
          "FROM ${BASE} AS one",
          "RUN sleep 2 && echo one > /one",
          "FROM ${BASE} AS two",
          "RUN sleep 2 && echo two > /two",
          "FROM ${BASE}",
          "COPY --from=one /one /one",
          "COPY --from=two /two /two",
          "",
        ].join("\n"),
      });
      return "busybox";
    case "big-context": {
      await writeFiles(dir, { Dockerfile: "ARG BASE\nFROM ${BASE}\nCOPY . /app\n" });
      for (let d = 0; d < 50; d++) {
        const files: Record<string, string> = {};
        for (let f = 0; f < 100; f++) files[`f${f}.txt`] = `file ${d}/${f}\n`.repeat(8);
        await writeFiles(join(dir, `d${d}`), files);
      }
      using big = await Deno.open(join(dir, "big.bin"), { write: true, create: true });
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 200; i++) {
        for (let o = 0; o < chunk.length; o += 65536) {
          crypto.getRandomValues(chunk.subarray(o, o + 65536));
        }
        let n = 0;
        while (n < chunk.length) n += await big.write(chunk.subarray(n));
      }
      return "busybox";
    }
    case "layers":
      await writeFiles(dir, {
        Dockerfile: ["ARG BASE", "FROM ${BASE}"]
          .concat(Array.from({ length: 30 }, (_, i) => `RUN echo ${i} > /f${i}`))
          .join("\n") + "\n",
      });
      return "busybox";
    case "debian":
      await writeFiles(dir, {
        Dockerfile: [
          "ARG BASE",
          "FROM ${BASE}",
          "RUN dpkg-query -W > /packages.txt",
          "RUN useradd --create-home app",
          "",
        ].join("\n"),
      });
      return "debian";
    default:
      throw new Error(`Unknown case ${name}: pick from ${ALL_CASES.join(",")}`);
  }
}

interface Cell {
  cold: number;
  warm: number;
  /** Steps a warm build ran (from BuildKit-style progress: img and BuildKit). */
  warmRan?: number;
  rssMB?: number;
}

if (!await Deno.stat(TIME).catch(() => undefined)) {
  throw new Error(`${TIME} is missing: apt-get install time`);
}
const work = await makeSharedTempDir("img-bench-");
await using registry = await startRegistry();
await pushBusybox(registry.host, "library/busybox", "latest");
const bases: Record<string, string> = { busybox: `${registry.host}/library/busybox:latest` };
if (CASES.includes("debian")) {
  // The base of img's own image (tools/setup.ts debootstraps it once, as root), as an image.
  await fetchDebianBase();
  bases.debian = `${registry.host}/library/debian:bookworm`;
  await timed([
    "skopeo",
    "copy",
    "-q",
    "--dest-tls-verify=false",
    `tarball:${DEBIAN_BASE_TARBALL}`,
    `docker://${bases.debian}`,
  ]);
}

const tools: Tool[] = [];
let engine: Engine | undefined;
if (PEERS.includes("img")) {
  let entry = MAIN;
  if ((Deno.env.get("BENCH_IMG") ?? "bundle") === "bundle") {
    await bundle(join(work, "img"));
    entry = join(work, "img", "img.js");
  }
  console.log(`img: ${entry}`);
  tools.push(imgTool(work, entry));
}
if (PEERS.includes("buildah")) {
  if (await available(["buildah", "--version"])) tools.push(buildahTool(work));
  else console.log("buildah: not installed (apt-get install buildah), skipped");
}
if (PEERS.includes("buildkit")) {
  if (await Engine.available()) {
    engine = await Engine.start();
    tools.push(buildkitTool(engine));
  } else {
    console.log("buildkit: needs root and Debian's docker.io (apt-get install docker.io), skipped");
  }
}
await new Deno.Command("chmod", { args: ["-R", "a+rwX", work] }).output();

const results = new Map<string, Map<string, Cell>>();
try {
  for (const name of CASES) {
    const dir = join(work, `case-${name}`);
    const base = bases[await writeCase(name, dir)];
    await new Deno.Command("chmod", { args: ["-R", "a+rwX", dir] }).output();
    for (const tool of tools) {
      const colds: Measured[] = [];
      const warms: Measured[] = [];
      for (let i = 0; i < RUNS; i++) {
        await tool.reset();
        colds.push(await tool.build(dir, base));
        if (name === "last-copy") {
          // The changed file: a warm state, then b.txt differs (only the last COPY reads it).
          await writeFiles(dir, { "b.txt": `b ${tool.name} ${i} ${Date.now()}\n` });
        }
        warms.push(await tool.build(dir, base));
      }
      const rss = [...colds, ...warms].map((m) => m.rssMB).filter((x) => x !== undefined);
      const cell: Cell = {
        cold: median(colds.map((m) => m.seconds)),
        warm: median(warms.map((m) => m.seconds)),
        warmRan: tool.name === "buildah"
          ? undefined
          : ranSteps(warms[warms.length - 1].output).length,
        rssMB: rss.length ? Math.max(...rss) : undefined,
      };
      console.log(
        `${name} ${tool.name}: cold ${cell.cold.toFixed(2)} s, ${
          name === "last-copy" ? "after the change" : "warm"
        } ${cell.warm.toFixed(2)} s${
          cell.warmRan === undefined ? "" : ` (${cell.warmRan} steps ran)`
        }${cell.rssMB ? `, peak ${cell.rssMB.toFixed(0)} MB` : ""}`,
      );
      if (!results.has(name)) results.set(name, new Map());
      results.get(name)!.set(tool.name, cell);
    }
  }
} finally {
  await engine?.[Symbol.asyncDispose]();
}

// What any rootless, daemonless builder on Deno pays before its first step (_floor.ts),
// measured in this run: the machine's speed drifts from one hour to the next.
const floor: Record<string, number> = {};
if (PEERS.includes("img")) {
  const floorScript = new URL("./_floor.ts", import.meta.url).pathname;
  const samples: Record<string, number[]> = { empty: [], enter: [], modules: [] };
  for (let i = 0; i < Math.max(5, 3 * RUNS); i++) {
    for (const mode of Object.keys(samples)) {
      const r = await timedAsTestUser([Deno.execPath(), "run", "-A", "--quiet", floorScript, mode]);
      samples[mode].push(r.seconds);
    }
  }
  for (const [mode, xs] of Object.entries(samples)) floor[mode] = median(xs);
}

const fmt = (c?: Cell) => (c ? `${c.cold.toFixed(2)} / ${c.warm.toFixed(2)}` : "-");
const names = tools.map((t) => t.name);
console.log(
  `\nmedian wall seconds of ${RUNS} runs, cold / warm (last-copy: cold / after the change); ` +
    "ratio = img / BuildKit\n",
);
console.log(
  ["case".padEnd(12), ...names.map((n) => n.padEnd(14)), "img/BuildKit".padEnd(14), "img peak MB"]
    .join(" "),
);
const misses: string[] = [];
for (const [name, cells] of results) {
  const img = cells.get("img");
  const bk = cells.get("buildkit");
  const ratio = img && bk
    ? `${(img.cold / bk.cold).toFixed(2)}x / ${(img.warm / bk.warm).toFixed(2)}x`
    : "-";
  console.log(
    [
      name.padEnd(12),
      ...names.map((n) => fmt(cells.get(n)).padEnd(14)),
      ratio.padEnd(14),
      img?.rssMB?.toFixed(0) ?? "-",
    ].join(" "),
  );
  if (img && bk) {
    const limit = name === "big-context" || name === "debian" ? 0.8 : 1.0;
    if (img.cold / bk.cold > limit) misses.push(`${name}: cold ratio over ${limit}`);
    // The issue's last-copy row is the build after the change (the cache bust), not a cold one.
    if (name === "last-copy" && img.warm / bk.warm > limit) {
      misses.push(`${name}: ratio after the change over ${limit}`);
    }
  }
  if (img && name !== "last-copy" && img.warm > 0.15) {
    misses.push(`${name}: warm ${img.warm.toFixed(2)} s over 0.15 s`);
  }
  if (img?.rssMB !== undefined && img.rssMB > 150) {
    misses.push(`${name}: peak ${img.rssMB.toFixed(0)} MB over 150 MB`);
  }
  if (img?.warmRan && name !== "last-copy") {
    misses.push(`${name}: ${img.warmRan} steps ran on a rebuild with nothing changed`);
  }
}
if (floor.modules !== undefined) {
  console.log(
    `\nfloor of a rootless two-process Deno builder here (bench/_floor.ts, medians): ${
      floor.modules.toFixed(3)
    } s\n  (an empty Deno process ${floor.empty.toFixed(3)} s; two, the second in a user ` +
      `namespace, ${floor.enter.toFixed(3)} s; with node:crypto, node:zlib and node:sqlite ` +
      `loaded inside ${floor.modules.toFixed(3)} s)`,
  );
}
console.log(
  misses.length
    ? `\nissue 12 goals NOT MET:\n  ${misses.join("\n  ")}`
    : "\nissue 12 goals met on every case",
);
await removeTree(work);

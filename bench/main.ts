/**
 * Build benchmarks: img and its peers (buildah; BuildKit inside a Docker engine when one
 * answers) on the same cases in one run, printing times and ratios. Not a test: numbers
 * depend on the machine. Run with `deno task bench` (as the unprivileged user to measure
 * img's rootless path: `runuser -u imgtest -- deno task bench`).
 *
 * Cases (issue 3):
 * - `rebuild`: a rebuild with nothing changed (every step must be CACHED; img's goal < 1 s);
 * - `last-copy`: the one file that only the last COPY reads changes (only that step re-runs);
 * - `parallel`: two independent stages that each `RUN sleep 2` (goal < 3 s: they overlap).
 *
 * Environment: `BENCH_RUNS` (default 5) rebuilds per case; `DOCKER_HOST` to use a running
 * engine (else `unix:///var/run/docker.sock` if present); `BENCH_PEERS=img,buildah,buildkit`.
 *
 * @module
 */
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";
import { available, buildahBud, median, type Run, timed, writeFiles } from "./_util.ts";

interface Tool {
  name: string;
  /** Builds `dir` (Dockerfile inside) as `tag`; returns seconds and the combined output. */
  build(
    dir: string,
    tag: string,
    opts?: { noCache?: boolean },
  ): Promise<Run>;
  /** Steps the output says ran (not cached), for the report. */
  ranSteps(output: string): string[];
}

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 5);

/** The RUN and COPY steps a BuildKit-style plain progress log shows done (not cached). */
function buildkitSteps(output: string): string[] {
  return [
    ...output.matchAll(/^#\d+ (\[[^\]]+\] (?:RUN|COPY)[^\n]*)\n(?:#\d+ [^\n]*\n)*?#\d+ DONE/gm),
  ]
    .map((m) => m[1]);
}

function imgTool(state: string, base: string): Tool {
  return {
    name: "img",
    build: (dir, tag, opts) =>
      timed(
        imgCommand([
          "build",
          "--no-console",
          "--build-arg",
          `BASE=${base}`,
          ...(opts?.noCache ? ["--no-cache"] : []),
          "-t",
          tag,
          dir,
        ], state),
      ),
    ranSteps: buildkitSteps,
  };
}

function buildahTool(root: string, base: string): Tool {
  const storage = Deno.uid() === 0 ? [] : ["--storage-driver", "vfs"];
  const global = ["--root", `${root}/storage`, "--runroot", `${root}/run`, ...storage];
  return {
    name: "buildah",
    build: (dir, tag, opts) =>
      timed(buildahBud(global, dir, tag, { base, noCache: opts?.noCache })),
    ranSteps: (out) => {
      const lines = out.split("\n");
      return lines.flatMap((l, i) =>
        /^STEP \d+\/\d+: (RUN|COPY)/.test(l) && !lines[i + 1]?.startsWith("--> Using cache")
          ? [l.replace(/^STEP \d+\/\d+: /, "")]
          : []
      );
    },
  };
}

/** Debian's docker.io client (BuildKit built in); a newer client elsewhere on PATH needs buildx. */
const DOCKER = (await Deno.stat("/usr/bin/docker").catch(() => undefined))
  ? "/usr/bin/docker"
  : "docker";

function buildkitTool(host: string, base: string): Tool {
  const env = { ...Deno.env.toObject(), DOCKER_HOST: host, DOCKER_BUILDKIT: "1" };
  return {
    name: "buildkit",
    build: (dir, tag, opts) =>
      timed([
        DOCKER,
        "build",
        "--progress=plain",
        "--network",
        "host",
        ...(opts?.noCache ? ["--no-cache"] : []),
        "--build-arg",
        `BASE=${base}`,
        "-t",
        tag,
        dir,
      ], env),
    ranSteps: buildkitSteps,
  };
}

const work = await Deno.makeTempDir({ prefix: "img-bench-" });
await Deno.chmod(work, 0o755);
await using registry = await startRegistry();
await pushBusybox(registry.host, "library/busybox", "latest");
const base = `${registry.host}/library/busybox:latest`;

const peers = (Deno.env.get("BENCH_PEERS") ?? "img,buildah,buildkit").split(",");
const tools: Tool[] = [];
if (peers.includes("img")) tools.push(imgTool(`${work}/img-state`, base));
if (peers.includes("buildah") && await available(["buildah", "--version"])) {
  tools.push(buildahTool(`${work}/buildah`, base));
} else console.log("buildah: not installed (apt-get install buildah), skipped");
const dockerHost = Deno.env.get("DOCKER_HOST") ??
  ((await Deno.stat("/var/run/docker.sock").catch(() => undefined))
    ? "unix:///var/run/docker.sock"
    : undefined);
if (
  peers.includes("buildkit") && dockerHost &&
  await available([DOCKER, "-H", dockerHost, "version"])
) {
  tools.push(buildkitTool(dockerHost, base));
} else {
  console.log(
    "buildkit: no Docker engine answers (start one as root: dockerd --iptables=false --bridge=none; set DOCKER_HOST), skipped",
  );
}

const cached = `${work}/cached`;
await writeFiles(cached, {
  Dockerfile:
    "ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy.txt\nCOPY b.txt /b.txt\n",
  "a.txt": "a\n",
  "b.txt": "b\n",
});
const parallel = `${work}/parallel`;
await writeFiles(parallel, {
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

type Row = {
  tool: string;
  rebuild: number;
  rebuildRan: string[];
  lastCopy: number;
  lastCopyRan: string[];
  parallel: number;
};
const rows: Row[] = [];
for (const tool of tools) {
  console.log(`${tool.name}: warming up`);
  await writeFiles(cached, { "b.txt": "b\n" });
  await tool.build(cached, `bench-cached-${tool.name}`);
  const rebuilds: number[] = [];
  let rebuildRan: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await tool.build(cached, `bench-cached-${tool.name}`);
    rebuilds.push(r.seconds);
    rebuildRan = tool.ranSteps(r.output);
  }
  const copies: number[] = [];
  let lastCopyRan: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    await writeFiles(cached, { "b.txt": `b ${tool.name} ${i} ${Date.now()}\n` });
    const r = await tool.build(cached, `bench-cached-${tool.name}`);
    copies.push(r.seconds);
    lastCopyRan = tool.ranSteps(r.output);
  }
  const par = await tool.build(parallel, `bench-parallel-${tool.name}`, { noCache: true });
  rows.push({
    tool: tool.name,
    rebuild: median(rebuilds),
    rebuildRan,
    lastCopy: median(copies),
    lastCopyRan,
    parallel: par.seconds,
  });
}

const img = rows.find((r) => r.tool === "img");
console.log(`\nmedian of ${RUNS} runs, seconds (ratio = img / peer; < 1 means img is faster)\n`);
console.log("tool       rebuild   ran    last-copy  ran               parallel(2x sleep 2)");
for (const r of rows) {
  const ratio = (
    a: number,
    b: number,
  ) => (r.tool === "img" || !img ? "" : ` (${(a / b).toFixed(2)}x)`);
  console.log(
    `${r.tool.padEnd(10)} ${r.rebuild.toFixed(3)}${ratio(img?.rebuild ?? 0, r.rebuild)}`.padEnd(
      30,
    ) +
      `${r.rebuildRan.length} steps  ${r.lastCopy.toFixed(3)}${
        ratio(img?.lastCopy ?? 0, r.lastCopy)
      }`.padEnd(28) +
      `${r.lastCopyRan.join("; ") || "-"}  ${r.parallel.toFixed(3)}${
        ratio(img?.parallel ?? 0, r.parallel)
      }`,
  );
}
if (img) {
  console.log("");
  console.log(
    `img rebuild with nothing changed: ${
      img.rebuild.toFixed(3)
    } s, ${img.rebuildRan.length} steps ran ${
      img.rebuild < 1 && img.rebuildRan.length === 0 ? "(OK: all CACHED, < 1 s)" : "(NOT MET)"
    }`,
  );
  console.log(
    `img after changing b.txt: re-ran ${JSON.stringify(img.lastCopyRan)} ${
      img.lastCopyRan.length === 1 && /COPY b\.txt/.test(img.lastCopyRan[0])
        ? "(OK: only the last COPY)"
        : "(NOT MET)"
    }`,
  );
  console.log(
    `img two independent sleep-2 stages: ${img.parallel.toFixed(3)} s ${
      img.parallel < 3 ? "(OK: < 3 s)" : "(NOT MET)"
    }`,
  );
}
await removeTree(work);

/**
 * The cache that travels (issue 9), measured: a multistage build on a machine that starts
 * with an empty state, reusing a cache another machine pushed to the registry, beside
 * BuildKit's inline cache in a Docker engine with an empty data root, and beside img's own
 * cold build. Not a test: numbers depend on the machine. Run as root (`deno task
 * bench:cache`): the Docker engines it starts need root; img runs as the unprivileged test
 * user (`IMG_TEST_USER`, default `imgtest`), as users run it.
 *
 * For each tool, each run starts from nothing (a new state directory, a new engine data root):
 * - `cold`: the build with no cache at all;
 * - `cache-from`: the build reusing the registry cache a first machine exported
 *   (img: `--cache-to type=registry,mode=max`, then `--cache-from type=registry`;
 *   BuildKit: `--build-arg BUILDKIT_INLINE_CACHE=1` and push, then `--cache-from` the image:
 *   the engine's built-in BuildKit has no `--cache-to type=registry`).
 * And `pull`: img pulling the final image into an empty state, the time the goal allows for
 * fetching the final image's layers. The goal: img's `cache-from` no more than 1.5 s plus
 * `pull`.
 *
 * Environment: `BENCH_RUNS` (default 3, medians), `BENCH_PEERS=img,buildkit`.
 *
 * @module
 */
import { join } from "node:path";
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";
import { asTestUser, isRoot, makeSharedTempDir } from "../tests/_util/user.ts";
import { median, type Run, timed, writeFiles } from "./_util.ts";
import { Engine } from "./_docker.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "3");
const PEERS = (Deno.env.get("BENCH_PEERS") ?? "img,buildkit").split(",");

/** Runs img (as the test user when root) with its own state directory. */
function imgRun(args: string[], state: string): Promise<Run> {
  return timed(asTestUser(imgCommand(args, state)));
}

/** The RUN and COPY steps a BuildKit-style plain progress log shows done (not cached). */
function ranSteps(output: string): string[] {
  return [
    ...output.matchAll(/^#\d+ (\[[^\]]+\] (?:RUN|COPY)[^\n]*)\n(?:#\d+ [^\n]*\n)*?#\d+ DONE/gm),
  ].map((m) => m[1]);
}

/**
 * The case: three stages, the first two independent and slow (as dependency installation and
 * compilation are), the last copying their results over the base.
 */
async function writeContext(dir: string): Promise<void> {
  await writeFiles(dir, {
    Dockerfile: [
      "ARG BASE",
      "FROM ${BASE} AS deps",
      "RUN mkdir /deps && for i in $(seq 1 64); do head -c 65536 /dev/urandom > /deps/f$i; done && sleep 2",
      "FROM ${BASE} AS build",
      "WORKDIR /src",
      "COPY src/ ./",
      "RUN cat *.txt > /out.txt && sleep 2",
      "FROM ${BASE}",
      "COPY --from=deps /deps /opt/deps",
      "COPY --from=build /out.txt /app/out.txt",
      "RUN echo ready > /app/ready && sleep 1",
      "",
    ].join("\n"),
  });
  const files: Record<string, string> = {};
  for (let i = 0; i < 20; i++) files[`m${i}.txt`] = `module ${i}\n`.repeat(100);
  await writeFiles(join(dir, "src"), files);
}

interface Row {
  tool: string;
  cold: number;
  cacheFrom: number;
  cacheFromRan: string[];
}

if (!isRoot()) {
  console.log("Run as root: the Docker engines need it; img runs as the test user.");
  Deno.exit(2);
}
const work = await makeSharedTempDir("img-bench-cache-");
await using registry = await startRegistry();
await pushBusybox(registry.host, "library/busybox", "latest");
const base = `${registry.host}/library/busybox:latest`;
const ctx = join(work, "ctx");
await writeContext(ctx);
await new Deno.Command("chmod", { args: ["-R", "a+rX", work] }).output();
const buildArg = ["--build-arg", `BASE=${base}`];
const rows: Row[] = [];
let pullSeconds: number | undefined;

if (PEERS.includes("img")) {
  const cacheRef = `${registry.host}/bench/cache:img`;
  const image = `${registry.host}/bench/app:img`;
  console.log("img: first machine (cold build, --cache-to type=registry,mode=max, --push)");
  await imgRun([
    "build",
    "--no-console",
    ...buildArg,
    "--cache-to",
    `type=registry,ref=${cacheRef},mode=max`,
    "--push",
    "-t",
    image,
    ctx,
  ], join(work, "img-a"));
  const cold: number[] = [];
  const warm: number[] = [];
  const pulls: number[] = [];
  let last: Run | undefined;
  for (let i = 0; i < RUNS; i++) {
    cold.push(
      (await imgRun(["build", "--no-console", ...buildArg, "-t", "app", ctx], join(work, `c${i}`)))
        .seconds,
    );
    last = await imgRun([
      "build",
      "--no-console",
      ...buildArg,
      "--cache-from",
      `type=registry,ref=${cacheRef}`,
      "-t",
      "app",
      ctx,
    ], join(work, `w${i}`));
    warm.push(last.seconds);
    pulls.push((await imgRun(["pull", image], join(work, `p${i}`))).seconds);
    for (const s of [`c${i}`, `w${i}`, `p${i}`]) await removeTree(join(work, s));
  }
  pullSeconds = median(pulls);
  rows.push({
    tool: "img",
    cold: median(cold),
    cacheFrom: median(warm),
    cacheFromRan: ranSteps(last!.output),
  });
}

if (PEERS.includes("buildkit")) {
  if (!await Engine.available()) {
    console.log("buildkit: no dockerd (apt-get install docker.io), skipped");
  } else {
    const image = `${registry.host}/bench/app:buildkit`;
    console.log("buildkit: first engine (cold build, BUILDKIT_INLINE_CACHE=1, push)");
    {
      await using first = await Engine.start();
      await first.build(ctx, [...buildArg, "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", image]);
      await first.docker(["push", image]);
    }
    const cold: number[] = [];
    const warm: number[] = [];
    let last: Run | undefined;
    for (let i = 0; i < RUNS; i++) {
      {
        await using engine = await Engine.start();
        cold.push((await engine.build(ctx, [...buildArg, "-t", "app"])).seconds);
      }
      {
        await using engine = await Engine.start();
        last = await engine.build(ctx, [...buildArg, "--cache-from", image, "-t", "app"]);
        warm.push(last.seconds);
      }
    }
    rows.push({
      tool: "buildkit",
      cold: median(cold),
      cacheFrom: median(warm),
      cacheFromRan: ranSteps(last!.output),
    });
  }
}

console.log(
  `\nmultistage build from an empty state, median of ${RUNS} runs, seconds` +
    " (ratio = img / BuildKit)\n",
);
console.log("tool       cold          cache-from    steps that ran with the cache");
const bk = rows.find((r) => r.tool === "buildkit");
for (const r of rows) {
  const ratio = (a: number, b?: number) => r.tool === "img" && b ? ` (${(a / b).toFixed(2)}x)` : "";
  console.log(
    `${r.tool.padEnd(10)} ${(r.cold.toFixed(2) + ratio(r.cold, bk?.cold)).padEnd(13)} ${
      (r.cacheFrom.toFixed(2) + ratio(r.cacheFrom, bk?.cacheFrom)).padEnd(13)
    } ${r.cacheFromRan.join("; ") || "none"}`,
  );
}
const img = rows.find((r) => r.tool === "img");
if (img && pullSeconds !== undefined) {
  const goal = 1.5 + pullSeconds;
  console.log(
    `\nimg pull of the final image into an empty state: ${pullSeconds.toFixed(2)} s; ` +
      `img --cache-from: ${img.cacheFrom.toFixed(2)} s, goal <= 1.5 + pull = ${
        goal.toFixed(2)
      } s ` +
      (img.cacheFrom <= goal && img.cacheFromRan.length === 0 ? "(OK)" : "(NOT MET)"),
  );
}
await removeTree(work);

/**
 * Multi-platform build benchmark (issue 11): `img build --platform linux/amd64,linux/arm64`
 * beside `buildah build --platform linux/amd64,linux/arm64 --manifest`, on the same Dockerfile
 * in one run, printing times and ratios. Not a test: numbers depend on the machine. Run with
 * `deno task bench:platforms` (as the unprivileged user for img's rootless path:
 * `runuser -u imgtest -- deno task bench:platforms`). It needs a qemu-aarch64 binfmt_misc
 * handler with the `F` flag (README: Multi-platform builds) and Debian's
 * `busybox-static:arm64` package where `.ci/run` downloads it.
 *
 * The base image is a real two-architecture busybox index (the host's busybox-static and the
 * arm64 one), pushed to a loopback registry. The Dockerfile has a cross-compilation stage
 * (`FROM --platform=$BUILDPLATFORM`, one `RUN` per target, native) and a final stage with a
 * `RUN` per platform (the arm64 one through qemu):
 *
 * - `cold`: each tool with a fresh state (storage) directory: pulls both bases, runs all;
 * - `no-cache`: the same build again with `--no-cache` (the bases are local).
 *
 * Environment: `BENCH_RUNS` (default 3) timed `no-cache` builds (the median is shown);
 * `BENCH_PEERS=img,buildah` picks tools.
 *
 * @module
 */
import { parsePlatform } from "../core/mod.ts";
import { checkEmulation } from "../core/sys/mod.ts";
import { startRegistry } from "../tests/_util/registry.ts";
import { foreignBusybox, pushBusyboxIndex } from "../tests/_util/busybox.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";
import { available, buildahBud, median, type Run, timed, writeFiles } from "./_util.ts";

const RUNS = Math.max(1, Number(Deno.env.get("BENCH_RUNS") ?? 3));
const PEERS = (Deno.env.get("BENCH_PEERS") ?? "img,buildah").split(",");
const PLATFORMS = ["linux/amd64", "linux/arm64"];

await checkEmulation(parsePlatform("linux/arm64"));

interface Tool {
  name: string;
  /** Builds the context for both platforms as `tag`. */
  build(tag: string, opts: { noCache?: boolean }): Promise<Run>;
  /** Removes the tool's state (for the next cold build). */
  reset(): Promise<void>;
}

const work = await Deno.makeTempDir({ prefix: "img-bench-platforms-" });
await Deno.chmod(work, 0o755);
await using registry = await startRegistry();
const arm64 = await foreignBusybox("arm64", `${work}/deb-arm64`);
if ("reason" in arm64) throw new Error(`Cannot build the arm64 base: ${arm64.reason}`);
await pushBusyboxIndex(registry.host, "library/busybox", "multi", {
  binaries: { arm64: arm64.path },
});
const base = `${registry.host}/library/busybox:multi`;
const context = `${work}/context`;
await writeFiles(context, {
  Dockerfile: [
    "ARG BASE",
    "FROM --platform=$BUILDPLATFORM ${BASE} AS build",
    "ARG TARGETARCH",
    'RUN for i in $(seq 1 2000); do echo "$TARGETARCH $i"; done | sha256sum > /out.txt',
    "FROM ${BASE}",
    "COPY --from=build /out.txt /out.txt",
    "RUN for i in $(seq 1 2000); do echo $i; done | sha256sum > /native.txt && uname -m > /arch",
    'CMD ["cat", "/arch"]',
    "",
  ].join("\n"),
});

function imgTool(): Tool {
  const state = `${work}/img-state`;
  return {
    name: "img",
    build: (tag, opts) =>
      timed(
        imgCommand([
          "build",
          "--no-console",
          "--platform",
          PLATFORMS.join(","),
          "--build-arg",
          `BASE=${base}`,
          ...(opts.noCache ? ["--no-cache"] : []),
          "-t",
          tag,
          context,
        ], state),
      ),
    reset: () => removeTree(state),
  };
}

function buildahTool(): Tool {
  const root = `${work}/buildah`;
  const storage = Deno.uid() === 0 ? [] : ["--storage-driver", "vfs"];
  const global = ["--root", `${root}/storage`, "--runroot", `${root}/run`, ...storage];
  return {
    name: "buildah",
    build: async (tag, opts) => {
      // --manifest adds to an existing list: start each build with none.
      await timed(["buildah", ...global, "manifest", "rm", tag]).catch(() => {});
      return await timed(
        buildahBud(global, context, tag, { base, noCache: opts.noCache, platforms: PLATFORMS }),
      );
    },
    reset: () => removeTree(root),
  };
}

const tools: Tool[] = [];
if (PEERS.includes("img")) tools.push(imgTool());
if (PEERS.includes("buildah") && await available(["buildah", "--version"])) {
  tools.push(buildahTool());
} else console.log("buildah: not installed (apt-get install buildah), skipped");

const rows: { tool: string; cold: number; noCache: number }[] = [];
for (const tool of tools) {
  console.log(`${tool.name}: cold build`);
  await tool.reset();
  const cold = await tool.build("localhost/bench/platforms:latest", {});
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    console.log(`${tool.name}: --no-cache build ${i + 1}/${RUNS}`);
    times.push((await tool.build("localhost/bench/platforms:latest", { noCache: true })).seconds);
  }
  rows.push({ tool: tool.name, cold: cold.seconds, noCache: median(times) });
}

const img = rows.find((r) => r.tool === "img");
console.log(
  `\n${PLATFORMS.join(" + ")}, seconds; no-cache is the median of ${RUNS} ` +
    "(ratio = img / peer; < 1 means img is faster)\n",
);
console.log("tool       cold               no-cache");
for (const r of rows) {
  const ratio = (a: number | undefined, b: number) =>
    r.tool === "img" || a === undefined ? "" : ` (${(a / b).toFixed(2)}x)`;
  console.log(
    `${r.tool.padEnd(10)} ${`${r.cold.toFixed(3)}${ratio(img?.cold, r.cold)}`.padEnd(18)} ` +
      `${r.noCache.toFixed(3)}${ratio(img?.noCache, r.noCache)}`,
  );
}
for (const tool of tools) await tool.reset();
await removeTree(work);

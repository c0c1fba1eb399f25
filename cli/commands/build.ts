/**
 * `img build [OPTIONS] PATH`: build an image from a Dockerfile.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { basename, dirname, join, resolve } from "node:path";
import {
  ensureRootless,
  type ExporterInstance,
  guardExporter,
  hostPlatform,
  ImgError,
  parsePlatform,
  ProgressWriter,
  RESPONSE_STDOUT,
  runBuild,
} from "@img/core";
import { chooseFrontend, SYNTAX_BUILD_ARG } from "../frontend_select.ts";
import { contextOf } from "../program.ts";
import { collect, insecureRegistryOption } from "../ui/options.ts";
import { createProgressDisplay, parseProgressMode } from "../ui/progress.ts";
import { parseOutputs } from "./_outputs.ts";
import { parseCacheFrom, parseCacheTo } from "./_cache_flags.ts";

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return await new Response(stream).bytes();
}

function keyValues(
  values: string[],
  what: string,
  env?: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === 0) throw new ImgError(`Invalid ${what} "${v}": use KEY=VALUE`);
    if (eq < 0) {
      // docker: `--build-arg NAME` takes the value from the environment, if set.
      if (env && env[v] !== undefined) out[v] = env[v];
      else if (!env) throw new ImgError(`Invalid ${what} "${v}": use KEY=VALUE`);
      continue;
    }
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** The `build` command. */
export function buildCommand() {
  return new Command("build")
    .usage("[OPTIONS] PATH")
    .description("Build an image from a Dockerfile")
    .argument("<path>", "the build context directory")
    .option("-f, --file <file>", "name of the Dockerfile (default: PATH/Dockerfile; - reads stdin)")
    .option(
      "-t, --tag <name>",
      "name and optionally a tag in the 'name:tag' format (repeatable)",
      collect,
      [] as string[],
    )
    .option("--build-arg <arg>", "set build-time variables (repeatable)", collect, [] as string[])
    .option("--label <label>", "set metadata for an image (repeatable)", collect, [] as string[])
    .option("--target <stage>", "set the target build stage to build")
    .option(
      "--frontend <name>",
      "frontend plugin to build with (default: the file's # syntax=, else dockerfile)",
    )
    .option("--no-cache", "do not use cache when building the image")
    .option("--pull", "always resolve base images from their registry")
    .option("--no-console", "use non-console progress UI (BuildKit's plain output)")
    .addOption(
      new Option("--progress <type>", "set type of progress output").choices(
        ["auto", "plain", "tty"] as const,
      ).default("auto" as const),
    )
    .option(
      "-o, --output <spec>",
      "output destination: type=image|oci|docker|tar|local,KEY=VALUE... (- is a tar on stdout, PATH a directory)",
      collect,
      [] as string[],
    )
    .option(
      "--cache-from <spec>",
      "external cache sources: type=registry,ref=REF or type=local,src=DIR (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--cache-to <spec>",
      "cache export destinations: type=registry,ref=REF or type=local,dest=DIR, mode=min|max (repeatable)",
      collect,
      [] as string[],
    )
    .option("--platform <platform>", "set the platform for the build (the host's)")
    .addOption(insecureRegistryOption())
    .action(async (path, opts, cmd) => {
      const ctx = contextOf(cmd);
      // RUN steps and file ownership need root of a user namespace: re-run inside one.
      await ensureRootless({ debug: ctx.debug });
      const progressMode = parseProgressMode(opts.progress, opts.console === false);
      try {
        const contextDir = resolve(path);
        const st = await Deno.stat(contextDir).catch(() => undefined);
        if (!st?.isDirectory) {
          throw new ImgError(`unable to prepare context: path "${path}" not found`);
        }
        let dockerfileDir = contextDir;
        let filename = "Dockerfile";
        let dockerfileText: Uint8Array | undefined;
        if (opts.file === "-") {
          dockerfileText = await readAll(Deno.stdin.readable);
        } else if (opts.file) {
          const abs = resolve(opts.file);
          dockerfileDir = dirname(abs);
          filename = basename(abs);
        }
        const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
        const host = hostPlatform();
        if (platform.architecture !== host.architecture || platform.os !== host.os) {
          throw new ImgError(
            `Building for ${opts.platform} is not supported yet: img builds for the host's platform`,
          );
        }
        const frontendOptions: Record<string, string> = { filename };
        if (opts.target) frontendOptions.target = opts.target;
        for (const [k, v] of Object.entries(keyValues(opts.buildArg, "build argument", ctx.env))) {
          frontendOptions[`build-arg:${k}`] = v;
        }
        // SOURCE_DATE_EPOCH from the environment, as buildx passes it; a build arg wins.
        const epoch = ctx.env.SOURCE_DATE_EPOCH;
        if (
          epoch !== undefined && epoch !== "" && !("build-arg:SOURCE_DATE_EPOCH" in frontendOptions)
        ) {
          frontendOptions["source-date-epoch"] = epoch;
        }
        for (const [k, v] of Object.entries(keyValues(opts.label, "label"))) {
          frontendOptions[`label:${k}`] = v;
        }

        // --cache-from/--cache-to: refused before building when malformed.
        const cacheFrom = parseCacheFrom(opts.cacheFrom);
        const cacheTo = parseCacheTo(opts.cacheTo);
        const loader = await ctx.plugins();
        const outputs = parseOutputs(opts.output, opts.tag);
        const exporters: ExporterInstance[] = [];
        for (const o of outputs) {
          const plugin = await loader.get("exporter", o.type);
          // A plugin's errors are reported as its own: `img: exporter NAME: ...`.
          const exporter = await guardExporter(plugin, ctx.pluginContext);
          exporters.push(await exporter.resolve(o.attrs));
        }
        const chosen = chooseFrontend({
          flag: opts.frontend,
          buildArg: frontendOptions[`build-arg:${SYNTAX_BUILD_ARG}`],
          buildFile: dockerfileText ??
            await Deno.readFile(join(dockerfileDir, filename)).catch(() => undefined),
          aliases: await ctx.frontendAliases(),
          available: loader.names("frontend"),
        });
        // Consumed here, as BuildKit's frontend forwarder does.
        delete frontendOptions[`build-arg:${SYNTAX_BUILD_ARG}`];
        ctx.debug(
          `frontend: ${chosen.name} (from ${chosen.source}${
            chosen.syntax ? ` ${chosen.syntax}` : ""
          })`,
        );
        const frontend = (await loader.get("frontend", chosen.name)).create(ctx.pluginContext);
        const state = ctx.state;
        const backend = await ctx.backend();
        const snapshotter = await (await loader.get("snapshotter", backend)).create({
          ...ctx.pluginContext,
          root: state.snapshotsDir(backend),
        });
        const executor = await (await loader.get("executor", "oci")).create(ctx.pluginContext);
        const progress = new ProgressWriter();
        const display = createProgressDisplay({ mode: progressMode });
        progress.listen(display.listener);
        const abort = new AbortController();
        const onSignal = () => abort.abort(new ImgError("The build was canceled"));
        Deno.addSignalListener("SIGINT", onSignal);
        let result;
        try {
          result = await runBuild(
            {
              state,
              frontend,
              snapshotter,
              executor,
              exporters,
              registry: await ctx.registry(opts.insecureRegistry),
              progress,
              sameOwner: Deno.uid() === 0,
            },
            {
              contextDir,
              dockerfileDir,
              dockerfileText,
              frontendOptions,
              platform,
              noCache: opts.cache === false,
              pull: opts.pull,
              names: opts.tag,
              signal: abort.signal,
              cacheFrom,
              cacheTo,
            },
          );
          display.done("FINISHED");
        } catch (e) {
          display.done(abort.signal.aborted ? "CANCELED" : "ERROR");
          throw e;
        } finally {
          Deno.removeSignalListener("SIGINT", onSignal);
        }
        const digest = result.responses.find((r) => r["containerimage.digest"])
          ?.["containerimage.digest"];
        // Standard output carries an exported archive when an exporter wrote there.
        const stdoutTaken = result.responses.some((r) => r[RESPONSE_STDOUT] === "true");
        if (digest && !stdoutTaken) console.log(`Successfully built ${digest}`);
      } finally {
        ctx.close();
      }
    });
}

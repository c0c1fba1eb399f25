/**
 * The action of `img build [OPTIONS] PATH`: build an image from a Dockerfile.
 *
 * Loaded by `build.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { join } from "node:path";
import {
  type ExporterInstance,
  hostPlatform,
  ImgError,
  parsePlatform,
  type ProgressEvent,
  ProgressWriter,
  RESPONSE_STDOUT,
} from "@img/core";
import { guardExporter } from "@img/core/export";
import { ensureRootless, isNamespaceNeeded } from "@img/core/rootless";
import { runBuild, SecretStore, SshAgents } from "@img/core/solver";
import { isGitURL } from "@img/core/source";
import type { RecordedVertex } from "@img/core/rebuild_records";
import { span } from "@img/core/trace";
import { chooseFrontend, SYNTAX_BUILD_ARG } from "../frontend_select.ts";
import { type ActionCommand, contextOf } from "../context.ts";
import { createProgressDisplay, parseProgressMode } from "../ui/progress.ts";
import { parseOutputs } from "./_outputs.ts";
import { openBuildContext } from "./_build_context.ts";
import { parseCacheFrom, parseCacheTo, withInlineCacheArg } from "./_cache_flags.ts";
import { chooseExecutor } from "../executor_choice.ts";
import { gitConfigSource, parseAttestFlags, refuseUnattestedOutputs } from "./_attest_flags.ts";
import { VERSION } from "../version.ts";
import { checkoutGitContext, gitContextSpec, KEEP_GIT_DIR_ARG } from "./_git_context.ts";
import { mayBuildWithoutNamespace, namespaceNeededBeforeSolve } from "./_without_namespace.ts";
import { parseBuildContexts } from "./_build_contexts.ts";
import { pendingRebuild, recordRebuild } from "../rebuild.ts";
import { keyValues } from "./_key_values.ts";
import { awaitPrefetch } from "../prefetch.ts";
import {
  applyOutputFlags,
  type BuildxFlags,
  frontendFlagOptions,
  imageId,
  refuseUnsupported,
  writeBuildFiles,
} from "./_buildx_flags.ts";
import type { BuildOptions } from "./build.ts";

/** `--check`'s report, as buildx prints it (rule, its page, message, location). */
function printCheckResult(warnings: string[], filename: string): void {
  if (warnings.length === 0) {
    console.log("Check complete, no warnings found.");
    return;
  }
  const n = warnings.length;
  console.log(`Check complete, ${n} warning${n === 1 ? " has" : "s have"} been found!`);
  for (const w of warnings) {
    const m = /^(\w+): (.*?)(?: \(line (\d+)\))?$/.exec(w);
    console.log("");
    if (!m) {
      console.log(`WARN: ${w}`);
      continue;
    }
    const slug = m[1].replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2").replace(
      /([a-z0-9])([A-Z])/g,
      "$1-$2",
    )
      .toLowerCase();
    console.log(`WARN: ${m[1]} - https://docs.docker.com/go/dockerfile/rule/${slug}/`);
    console.log(m[2]);
    if (m[3]) console.log(`${filename}:${m[3]}`);
  }
}

/** The `build` command's action. */
export async function buildAction(
  path: string,
  opts: BuildOptions,
  cmd: ActionCommand,
): Promise<void> {
  // commander files `--no-cache-filter` under `cacheFilter` (a `--no-` option).
  const flags: BuildxFlags = {
    ...opts,
    noCacheFilter: (opts as { cacheFilter?: unknown }).cacheFilter instanceof Array
      ? (opts as unknown as { cacheFilter: string[] }).cacheFilter
      : [],
  };
  refuseUnsupported(flags);
  const attest = parseAttestFlags(opts.provenance, opts.sbom);
  const ctx = contextOf(cmd);
  // RUN steps and file ownership need root of a user namespace: re-run inside one, unless
  // the build may be all cached (then it is tried here first: _without_namespace.ts).
  const enterNamespace = async (why: string) => {
    ctx.debug(`rootless: entering the user namespace: ${why}`);
    ctx.close();
    await ensureRootless({ debug: ctx.debug });
  };
  // A git context is checked out once, inside the namespace (a re-exec would leave it).
  let withoutNamespace = !isGitURL(path) && mayBuildWithoutNamespace(path, opts);
  if (!withoutNamespace) await ensureRootless({ debug: ctx.debug });
  const progressMode = opts.quiet || opts.check
    ? "quiet"
    : parseProgressMode(opts.progress, opts.console === false);
  const ssh = SshAgents.parse(opts.ssh, ctx.env);
  const secrets = SecretStore.parse(opts.secret, ctx.env);
  try {
    // A git URL as the context: checked out here, removed after the build.
    const gitSpec = await gitContextSpec(
      path,
      keyValues(opts.buildArg, "build argument", ctx.env),
      ctx.env,
    );
    await using gitContext = gitSpec
      ? await checkoutGitContext(gitSpec, {
        env: ctx.env,
        sshSocket: () => ssh.socket("default"),
        secret: (id) => secrets.get(id),
      }).catch(async (e) => {
        await ssh.close();
        throw e;
      })
      : undefined;
    // A directory (or that checkout), a tarball URL or `-` (stdin); an unpacked context is
    // removed after the build. With a git context, -f names a file of the repository.
    await using context = await openBuildContext(gitContext?.dir ?? path, opts.file, {
      state: ctx.state,
      stdin: Deno.stdin.readable,
      fileInContext: gitContext !== undefined,
    });
    const { contextDir, dockerfileDir, filename, dockerfileText } = context;
    const platforms = opts.platform
      ? opts.platform.split(",").map((p) => p.trim()).filter(Boolean).map(parsePlatform)
      : [hostPlatform()];
    if (platforms.length === 0) {
      throw new ImgError("--platform needs a platform: e.g. --platform linux/arm64");
    }
    const frontendOptions: Record<string, string> = { filename };
    if (opts.target) frontendOptions.target = opts.target;
    const buildArgs = keyValues(opts.buildArg, "build argument", ctx.env);
    for (const [k, v] of Object.entries(buildArgs)) frontendOptions[`build-arg:${k}`] = v;
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

    // --build-context: BuildKit's context:NAME frontend options, with their inputs.
    const named = await parseBuildContexts(opts.buildContext);
    Object.assign(frontendOptions, named.options);
    // --cache-from/--cache-to: refused before building when malformed.
    const cacheFrom = parseCacheFrom(opts.cacheFrom);
    const cacheTo = withInlineCacheArg(parseCacheTo(opts.cacheTo), buildArgs);
    const setup = span("plugins, frontend, snapshotter, executor setup");
    const loader = await ctx.plugins();
    Object.assign(frontendOptions, frontendFlagOptions(flags));
    ctx.debug(
      `RUN steps use ${
        opts.network === "none"
          ? "no network (--network=none)"
          : opts.network === "host"
          ? "the host's network (--network=host)"
          : "a network namespace of their own that reaches out through slirp4netns, as BuildKit's default (the host's where slirp4netns cannot run)"
      }`,
    );
    const outputs = applyOutputFlags(parseOutputs(opts.output, opts.tag), flags);
    refuseUnattestedOutputs(attest, outputs);
    if (withoutNamespace) {
      const why = await namespaceNeededBeforeSolve(outputs, await ctx.chosenBackend()) ??
        (attest?.sbom ? "the SBOM reads the image's files" : undefined);
      if (why) {
        withoutNamespace = false;
        await enterNamespace(why);
      }
    }
    const exporters: ExporterInstance[] = [];
    for (const o of outputs) {
      const plugin = await loader.get("exporter", o.type);
      // A plugin's errors are reported as its own: `img: exporter NAME: ...`.
      const exporter = await guardExporter(plugin, ctx.pluginContext);
      const instance = await exporter.resolve(o.attrs);
      if (platforms.length > 1 && typeof instance.exportPlatforms !== "function") {
        // As buildx: a docker archive holds one platform's image.
        throw new ImgError(
          `type=${o.type} cannot export ${platforms.length} platforms: use type=oci for an image index, or build one --platform`,
        );
      }
      exporters.push(instance);
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
    delete frontendOptions[`build-arg:${KEEP_GIT_DIR_ARG}`];
    ctx.debug(
      `frontend: ${chosen.name} (from ${chosen.source}${chosen.syntax ? ` ${chosen.syntax}` : ""})`,
    );
    const frontend = (await loader.get("frontend", chosen.name)).create(ctx.pluginContext);
    const state = ctx.state;
    const backend = withoutNamespace ? (await ctx.chosenBackend())! : await ctx.backend();
    const snapshotter = await (await loader.get("snapshotter", backend)).create({
      ...ctx.pluginContext,
      root: state.snapshotsDir(backend),
    });
    const executorChoice = chooseExecutor(opts.executor, ctx.env);
    ctx.debug(`executor: ${executorChoice.name} (${executorChoice.reason})`);
    const executor = await (await loader.get("executor", executorChoice.name))
      .create(ctx.pluginContext);
    setup.end();
    const progress = new ProgressWriter();
    // The steps as shown, for the rebuild record (cli/rebuild.ts).
    const vertices = new Map<string, RecordedVertex>();
    progress.listen((e) => {
      if ((e.type === "vertex.started" || e.type === "vertex.cached") && !vertices.has(e.vertex)) {
        vertices.set(e.vertex, { vertex: e.vertex, name: e.name });
      }
    });
    const warnings: string[] = [];
    progress.listen((e) => {
      if (e.type === "warning") warnings.push(e.message);
    });
    const display = createProgressDisplay({ mode: progressMode });
    // Without the namespace, progress is held back: a build that turns out to need it
    // starts again inside and shows its progress from there.
    const held: ProgressEvent[] = [];
    progress.listen(withoutNamespace ? (e) => held.push(e) : display.listener);
    const abort = new AbortController();
    const onSignal = () => abort.abort(new ImgError("The build was canceled"));
    Deno.addSignalListener("SIGINT", onSignal);
    let result;
    try {
      // The process that started this one may be fetching the base image (prefetch.ts).
      await awaitPrefetch();
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
          withoutNamespace,
        },
        {
          contextDir,
          locals: named.locals,
          ociStores: named.ociStores,
          dockerfileDir,
          dockerfileText,
          frontendOptions,
          platform: platforms[0],
          platforms,
          noCache: opts.cache === false,
          pull: opts.pull,
          names: opts.tag,
          signal: abort.signal,
          secrets,
          ssh,
          evaluateOnly: opts.check,
          cacheFrom,
          cacheTo,
          ...(attest
            ? {
              attest: {
                ...attest,
                tool: `img-${VERSION}`,
                // BuildKit's name of its Dockerfile frontend, in the provenance.
                frontend: chosen.name === "dockerfile" ? "dockerfile.v0" : chosen.name,
                ...(gitContext ? { configSource: gitConfigSource(path, gitContext.commit) } : {}),
              },
            }
            : {}),
        },
      );
      for (const event of held) display.listener(event);
      display.done("FINISHED");
    } catch (e) {
      if (withoutNamespace && !abort.signal.aborted) {
        // What needs the namespace, or any other failure: the build inside it has the
        // last word (an error outside could come from not being in it).
        Deno.removeSignalListener("SIGINT", onSignal);
        await enterNamespace(
          isNamespaceNeeded(e) ? (e as Error).message : `retrying inside after: ${e}`,
        );
      }
      for (const event of held) display.listener(event);
      display.done(abort.signal.aborted ? "CANCELED" : "ERROR");
      if (opts.check) printCheckResult(warnings, filename);
      throw e;
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
    }
    if (opts.check) {
      printCheckResult(warnings, filename);
      return;
    }
    await writeBuildFiles(flags, result.responses);
    const pending = pendingRebuild();
    if (pending) {
      const recorded = recordRebuild(state.db, pending, {
        sources: result.sources,
        digest: result.responses.find((r) => r["containerimage.digest"])
          ?.["containerimage.digest"],
        imageId: imageId(result.responses),
        names: result.responses.flatMap((r) => r["image.name"]?.split(",") ?? []),
        vertices: [...vertices.values()],
      });
      ctx.debug(`rebuild record: ${recorded ? "recorded" : "not recordable"}`);
    }
    if (opts.quiet) {
      const id = imageId(result.responses);
      if (id) console.log(id);
      return;
    }
    const digest = result.responses.find((r) => r["containerimage.digest"])
      ?.["containerimage.digest"];
    // Standard output carries an exported archive when an exporter wrote there.
    const stdoutTaken = result.responses.some((r) => r[RESPONSE_STDOUT] === "true");
    if (digest && !stdoutTaken) console.log(`Successfully built ${digest}`);
  } finally {
    ctx.close();
  }
}

/**
 * `@img/executor-oci`: runs RUN steps through an OCI runtime, crun (preferred) or runc,
 * started inside img's user namespace with a `config.json` like BuildKit's rootless one:
 * namespaces pid, ipc, uts and mount, a network namespace of the step's own (reaching out
 * through slirp4netns for the default network, empty for `--network=none`, none for
 * `--network=host`), no cgroups, `/proc`, `/dev`, `/dev/pts`, `/dev/shm`, `/dev/mqueue`
 * and a read-only `/sys`.
 *
 * ```ts ignore
 * import executorPlugin from "@img/executor-oci";
 *
 * const executor = await executorPlugin.create({ stateDir, env: Deno.env.toObject(), debug() {} });
 * const code = await executor.run(
 *   [{ type: "bind", source: "/path/to/rootfs", options: ["rbind", "rw"] }],
 *   { args: ["/bin/sh", "-c", "echo hi"], env: ["PATH=/bin"], cwd: "/", uid: 0, gid: 0, network: "host" },
 *   [],
 *   { stdout: (chunk) => Deno.stdout.writeSync(chunk) },
 * );
 * ```
 *
 * The runtime is `IMG_RUNTIME` (`crun`, `runc` or a path) if set, else crun if it is in
 * `PATH`, else runc.
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import { API_VERSION, type ExecutorPlugin } from "@img/core";
import { OciExecutor } from "./executor.ts";

export { OciExecutor, type OciExecutorOptions } from "./executor.ts";
export {
  type CgroupMode,
  cgroupMode,
  findRuntime,
  KNOWN_RUNTIMES,
  lookPath,
  type OciRuntime,
  RUNTIME_ENV,
  type RuntimeFlavor,
} from "./runtime.ts";
export {
  dedupMounts,
  DEFAULT_CAPABILITIES,
  DEFAULT_HOSTNAME,
  DEFAULT_NOFILE,
  generateSpec,
  MASKED_PATHS,
  type OciMount,
  type OciRlimit,
  type OciSpec,
  READONLY_PATHS,
  specJSON,
  type SpecOptions,
  toOciMounts,
} from "./spec.ts";

/** The executor plugin `oci`. */
const plugin: ExecutorPlugin = {
  kind: "executor",
  name: "oci",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Runs RUN steps through crun or runc, rootless",
  create: (ctx) => new OciExecutor({ stateDir: ctx.stateDir, env: ctx.env, debug: ctx.debug }),
};

export default plugin;

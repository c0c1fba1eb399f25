/**
 * `@img/executor-chroot`: runs RUN steps where no OCI runtime can be installed. util-linux
 * `unshare` makes new mount, PID, UTS and IPC namespaces (and a network namespace for
 * `--network=none`) inside img's user namespace; a shell mounts `/proc`, `/dev` with its
 * device nodes, `/dev/pts`, `/dev/shm`, `/dev/mqueue`, a read-only `/sys`,
 * `/etc/resolv.conf`, `/etc/hosts` and the step's own mounts, as the OCI executor's
 * runtime would; `setpriv` sets the groups and the bounding set, and `unshare --root`
 * changes root, working directory and user.
 *
 * Compared with crun or runc it uses chroot(2), not pivot_root(2), and has no seccomp
 * filter, no cgroups and no AppArmor or SELinux profile.
 *
 * ```ts
 * import executorPlugin from "@img/executor-chroot";
 *
 * const stateDir = await Deno.makeTempDir();
 * const executor = await executorPlugin.create({ stateDir, env: Deno.env.toObject(), debug() {} });
 * const code = await executor.run(
 *   [{ type: "bind", source: "/path/to/rootfs", options: ["rbind", "rw"] }],
 *   { args: ["/bin/sh", "-c", "echo hi"], env: ["PATH=/bin"], cwd: "/", uid: 0, gid: 0, network: "host" },
 *   [],
 *   { stdout: (chunk) => Deno.stdout.writeSync(chunk) },
 * );
 * ```
 *
 * @module
 */
import { API_VERSION, type ExecutorPlugin } from "@img/core";
import { ChrootExecutor } from "./executor.ts";

export { ChrootExecutor, type ChrootExecutorOptions } from "./executor.ts";

/** The executor plugin `chroot`. */
const plugin: ExecutorPlugin = {
  kind: "executor",
  name: "chroot",
  version: "0.1.0",
  apiVersion: API_VERSION,
  description: "Runs RUN steps with util-linux unshare and chroot, no OCI runtime needed",
  create: (ctx) => new ChrootExecutor({ stateDir: ctx.stateDir, env: ctx.env, debug: ctx.debug }),
};

export default plugin;

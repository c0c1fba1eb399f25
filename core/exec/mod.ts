/**
 * `@img/core/exec`: what every executor plugin shares: the mounts of a step and their
 * stubs, mounting a root filesystem, the working directory, the hostname, hosts file,
 * network and limits BuildKit gives a step, and the host side of its process.
 *
 * Internal to img's own packages (plugin authors use `@img/core`); it may change in any
 * release.
 *
 * @module
 */
export * from "./mount_all.ts";
export * from "./stubs.ts";
export * from "./step_mounts.ts";
export * from "./step_defaults.ts";
export * from "./step_process.ts";
export * from "./workdir.ts";
export * from "./look_path.ts";
export * from "./fs.ts";
export * from "./step_network.ts";
export * from "./extra_hosts.ts";
export * from "./ulimit.ts";

/**
 * `img build --executor auto`: the OCI executor when an OCI runtime is installed, else the
 * chroot executor.
 *
 * @module
 */
import { lookPath } from "@img/core/exec";

/** The executor to load, and why. */
export interface ExecutorChoice {
  /** The executor plugin's name. */
  name: string;
  /** Why, for the `--debug` line. */
  reason: string;
}

/** Resolves `--executor` (`auto` or a plugin name) with the environment `env` (`PATH`, `IMG_RUNTIME`). */
export function chooseExecutor(requested: string, env: Record<string, string>): ExecutorChoice {
  if (requested !== "auto") return { name: requested, reason: "from --executor" };
  if (env.IMG_RUNTIME) return { name: "oci", reason: `auto: IMG_RUNTIME is ${env.IMG_RUNTIME}` };
  for (const runtime of ["crun", "runc"]) {
    const found = lookPath(runtime, env.PATH);
    if (found) return { name: "oci", reason: `auto: found ${runtime} at ${found}` };
  }
  return { name: "chroot", reason: "auto: neither crun nor runc is in PATH" };
}

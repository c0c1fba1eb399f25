/**
 * The floor under any rootless, daemonless builder written for Deno, which `deno task bench`
 * measures beside its table: what such a builder must do before its first step, and nothing
 * else. It starts Deno; it enters a user namespace with the user's subordinate ids mapped,
 * which a Deno process (always multi-threaded: `unshare(2)` refuses `CLONE_NEWUSER` to a
 * multi-threaded process) can only do by starting a program inside one; so it starts Deno
 * again there, and loads the Node modules a build needs (`node:crypto` for streaming sha256,
 * `node:zlib` for the gzip that keeps layers byte-identical, `node:sqlite` for its state). It
 * enters the way img does (`setpriv --pdeathsig`, `unshare --map-auto` with a PID namespace),
 * without img's own `sh` init.
 *
 * ```sh
 * deno run -A bench/_floor.ts empty     # an empty Deno process
 * deno run -A bench/_floor.ts enter     # two Deno processes and the namespace
 * deno run -A bench/_floor.ts modules   # ... and the Node modules, inside
 * ```
 *
 * No imports: the floor must not carry img's own modules.
 *
 * @module
 */

const [mode] = Deno.args;
const inside = Deno.env.get("BENCH_FLOOR_INSIDE") === "1";
if (mode === "empty") Deno.exit(0);
if (inside) {
  if (mode === "modules") {
    await Promise.all([import("node:crypto"), import("node:zlib"), import("node:sqlite")]);
  }
  Deno.exit(0);
}
const self = new URL(import.meta.url).pathname;
const child = new Deno.Command("setpriv", {
  args: [
    "--pdeathsig",
    "KILL",
    "--",
    "unshare",
    "--user",
    "--map-auto",
    "--map-root-user",
    "--mount",
    "--propagation",
    "private",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount-proc",
    "--",
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    self,
    mode,
  ],
  env: { BENCH_FLOOR_INSIDE: "1" },
  stdin: "null",
}).spawn();
Deno.exit((await child.status).code);

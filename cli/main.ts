/**
 * The `img` command line: `deno run -A jsr:@img/cli build .`
 *
 * The entry loads little: a rebuild with nothing changed is answered from its record
 * (`rebuild.ts`) before the rest of img (commander, the commands, the plugins) is imported.
 *
 * @module
 */
import { awaitGo } from "@img/core/rootless";
import { markStartup } from "@img/core/trace";
import { fastRebuild } from "./rebuild.ts";

const mainAt = performance.timeOrigin + performance.now();

/** Runs img with `args` and returns its exit code. */
export async function main(args: string[]): Promise<number> {
  const { runCli } = await import("./run.ts");
  return await runCli(args);
}

if (import.meta.main) {
  markStartup(mainAt);
  // Started held inside the namespace (rebuild.ts): run once the process outside says go.
  await awaitGo();
  Deno.exit(await fastRebuild(Deno.args) ?? await main(Deno.args));
}

import { deepEqual } from "node:assert/strict";

interface InfoDependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface InfoModule {
  specifier: string;
  kind?: string;
  npmPackage?: string;
  dependencies?: InfoDependency[];
}

/** The modules `root` loads before it runs: its static imports, transitively (`deno info`). */
async function staticGraph(root: URL): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root.href],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const modules = new Map<string, InfoModule>(
    (info.modules as InfoModule[]).map((m) => [m.specifier, m]),
  );
  const redirects: Record<string, string> = info.redirects ?? {};
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    specifier = redirects[specifier] ?? specifier;
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const d of modules.get(specifier)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) visit(d.code.specifier);
    }
  };
  visit(root.href);
  const base = new URL("../", import.meta.url).href;
  return [...seen].map((s) => {
    const m = modules.get(s);
    if (m?.kind === "npm" && m.npmPackage) return `npm:${m.npmPackage.replace(/@\d.*$/, "")}`;
    return s.startsWith(base) ? s.slice(base.length) : s.replace(/@[\d.]+.*$/, "");
  }).sort();
}

Deno.test("the program loads only the flags: each command's action is loaded when it runs", async () => {
  const graph = await staticGraph(new URL("./program.ts", import.meta.url));
  const ours = graph.filter((m) => !m.startsWith("npm:") && !m.startsWith("node:"));
  deepEqual(ours.filter((m) => /_action\.ts$/.test(m) && m !== "cli/commands/_load_action.ts"), []);
  // Of core, only what the flag definitions need: no state, solver, registry, zod...
  deepEqual(ours.filter((m) => m.startsWith("core/")), [
    "core/errors.ts",
    "core/state/default_dir.ts",
    "core/trace.ts",
  ]);
  // Of npm packages, commander only (imported directly; its own dependencies are not listed).
  deepEqual(graph.filter((m) => m.startsWith("npm:")), ["npm:@commander-js/extra-typings"]);
});

Deno.test("the entry loads only the fast path of a rebuild: no npm package, no node: module but sqlite", async () => {
  const graph = await staticGraph(new URL("./main.ts", import.meta.url));
  // The full CLI (commander, the commands, run.ts) is a dynamic import.
  deepEqual(graph.filter((m) => m.startsWith("npm:")), []);
  deepEqual(graph.filter((m) => m.startsWith("node:")), ["node:sqlite"]);
  deepEqual(graph.filter((m) => m === "cli/run.ts" || m === "cli/program.ts"), []);
  // Of the state, the database and the records only: no content store, image store or solver.
  deepEqual(
    graph.filter((m) => /^core\/(state|content|image|solver|registry)\//.test(m)),
    [
      "core/state/db.ts",
      "core/state/default_dir.ts",
      "core/state/rebuild_records.ts",
      "core/state/wal.ts",
    ],
  );
});

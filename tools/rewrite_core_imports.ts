/**
 * Rewrites the imports of `@img/core` in an img checkout so that each name comes from the
 * entry that exports it now: the narrow plugin API `@img/core` (core/mod.ts) or one of the
 * internal subpaths listed in core/deno.json `exports` (`@img/core/layer`, ...).
 *
 * ```sh
 * deno run -A tools/rewrite_core_imports.ts . [--check]
 * ```
 *
 * - Which entry exports which name is read from `deno doc --json` of every entry in
 *   core/deno.json `exports` (no hand-written list). A name exported by `@img/core` always
 *   comes from there; otherwise from the first subpath (by name) that exports it, so two
 *   subpaths must not export different things under one name.
 * - Every `import {..} from`, `import type {..} from`, `export {..} from` and
 *   `export type {..} from` whose specifier is `@img/core`, `@img/core/<sub>` or a relative
 *   path to one of the entry files (e.g. `../../core/mod.ts`) is regrouped: the imports of a
 *   file are replaced, at the place of the first one, by one statement per target, names
 *   sorted; the same for its re-exports. Relative specifiers stay relative (to the target
 *   entry file).
 * - Imports of single-module entries (`@img/core/errors`, `@img/core/trace`, ...: their file is
 *   not a `mod.ts`) are left as they are: they let a module load one small file, not a barrel.
 * - Names that no entry exports are left on the specifier they had and reported; the exit
 *   code is then 1 (add the name to core/mod.ts or to a subpath mod.ts, and run again).
 *   Forms it cannot rewrite (`import * as`, default imports, `export *`, dynamic `import()`)
 *   are reported and left alone.
 * - Changed files are formatted with `deno fmt`. Running it twice changes nothing the second
 *   time. `--check` reports what would change and writes nothing (exit 1 if anything would).
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

const args = Deno.args.filter((a) => !a.startsWith("--"));
const checkOnly = Deno.args.includes("--check");
if (args.length !== 1) {
  console.error(
    "usage: deno run -A rewrite_core_imports.ts <repo-dir> [--check]",
  );
  Deno.exit(2);
}
const repo = resolve(args[0]);
const coreDir = join(repo, "core");

// ---------------------------------------------------------------------------
// Which entry exports which name
// ---------------------------------------------------------------------------

const coreConfig = JSON.parse(
  await Deno.readTextFile(join(coreDir, "deno.json")),
);
const exportsField: Record<string, string> = typeof coreConfig.exports === "string"
  ? { ".": coreConfig.exports }
  : coreConfig.exports;
/** Subpath key ("." or "./layer") -> absolute entry file. */
const entries = new Map<string, string>();
for (const key of Object.keys(exportsField).sort(compareSubpaths)) {
  entries.set(key, resolve(coreDir, exportsField[key]));
}

function compareSubpaths(a: string, b: string): number {
  if (a === ".") return -1;
  if (b === ".") return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function bareSpecifier(key: string): string {
  return key === "." ? "@img/core" : `@img/core/${key.slice(2)}`;
}

const doc = new Deno.Command("deno", {
  args: ["doc", "--json", ...entries.values()],
  cwd: repo,
  stdout: "piped",
  stderr: "piped",
}).outputSync();
if (!doc.success) {
  console.error(new TextDecoder().decode(doc.stderr));
  console.error(
    "deno doc --json failed on the core entries: fix the errors above first",
  );
  Deno.exit(2);
}
const docJson = JSON.parse(new TextDecoder().decode(doc.stdout));
/** name -> subpath key that provides it. */
const provider = new Map<string, string>();
const ambiguous = new Map<string, string[]>();
for (const [key, file] of entries) {
  const url = new URL(`file://${file}`).href;
  const node = docJson.nodes?.[url];
  if (!node) {
    console.error(`deno doc gave nothing for ${file}`);
    Deno.exit(2);
  }
  for (const symbol of node.symbols as { name: string }[]) {
    const had = provider.get(symbol.name);
    if (had === undefined) provider.set(symbol.name, key);
    else if (had !== "." && had !== key) {
      ambiguous.set(symbol.name, [
        ...(ambiguous.get(symbol.name) ?? [had]),
        key,
      ]);
    }
  }
}
/** Absolute entry file -> subpath key, to recognise relative specifiers. */
const entryByFile = new Map([...entries].map(([k, f]) => [f, k]));

// ---------------------------------------------------------------------------
// Rewriting one file
// ---------------------------------------------------------------------------

interface Spec {
  name: string;
  alias?: string;
  type: boolean;
}

const STATEMENT =
  /^(import|export)(\s+type)?\s*\{([^}]*)\}\s*from\s*(["'])([^"'\n]+)\4[ \t]*;?[ \t]*(?:\r?\n)?/gm;
const UNSUPPORTED =
  /^(?:import\s+\*\s+as\s+\w+|import\s+\w+\s*(?:,\s*\{[^}]*\})?|export\s+\*(?:\s+as\s+\w+)?)\s+from\s*(["'])([^"'\n]+)\1|\bimport\(\s*(["'])([^"'\n]+)\3\s*\)/gm;

const problems: string[] = [];
const unmapped: string[] = [];

/**
 * Whether `key` is a single-module entry (`@img/core/errors`, `@img/core/trace`,
 * `@img/core/state/default-dir`...; its file is not a `mod.ts`). Those exist so that a module
 * can import one small file without a whole barrel (the fast path of a rebuild, the program's
 * flags: see cli/program_test.ts): imports of them are left as they are.
 */
function singleModule(key: string): boolean {
  return key !== "." && !entries.get(key)!.endsWith("/mod.ts");
}

/** The subpath key a specifier names, with its style, or undefined if it is not core. */
function coreTarget(
  file: string,
  spec: string,
): { key: string; relative: boolean } | undefined {
  let target: { key: string; relative: boolean } | undefined;
  if (spec === "@img/core") target = { key: ".", relative: false };
  else if (spec.startsWith("@img/core/")) {
    const key = `./${spec.slice("@img/core/".length)}`;
    if (entries.has(key)) target = { key, relative: false };
  } else if (spec.startsWith(".")) {
    const key = entryByFile.get(resolve(dirname(file), spec));
    if (key !== undefined) target = { key, relative: true };
  }
  return target && !singleModule(target.key) ? target : undefined;
}

function targetSpecifier(file: string, key: string, rel: boolean): string {
  if (!rel) return bareSpecifier(key);
  let path = relative(dirname(file), entries.get(key)!);
  if (!path.startsWith(".")) path = `./${path}`;
  return path;
}

function parseSpecs(body: string, statementType: boolean): Spec[] {
  const clean = body.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /\/\/[^\n]*/g,
    "",
  );
  const specs: Spec[] = [];
  for (const part of clean.split(",")) {
    const words = part.trim().split(/\s+/).filter(Boolean);
    if (!words.length) continue;
    let type = statementType;
    if (words[0] === "type" && words.length > 1 && words[1] !== "as") {
      type = true;
      words.shift();
    }
    const name = words[0];
    const alias = words[1] === "as" ? words[2] : undefined;
    specs.push({ name, alias, type });
  }
  return specs;
}

function compareSpecs(a: Spec, b: Spec): number {
  const x = a.name.toLowerCase(), y = b.name.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return (a.alias ?? "") < (b.alias ?? "") ? -1 : (a.alias ?? "") > (b.alias ?? "") ? 1 : 0;
}

function emit(kind: string, target: string, specs: Spec[]): string {
  const unique = new Map<string, Spec>();
  for (const s of specs) {
    const id = `${s.name} as ${s.alias ?? s.name}`;
    const had = unique.get(id);
    // A name imported both as a type and as a value is a value import.
    unique.set(id, had ? { ...s, type: had.type && s.type } : s);
  }
  const list = [...unique.values()].sort(compareSpecs);
  const allTypes = list.every((s) => s.type);
  const names = list.map((s) =>
    `${!allTypes && s.type ? "type " : ""}${s.name}${s.alias ? ` as ${s.alias}` : ""}`
  );
  return `${kind}${allTypes ? " type" : ""} { ${names.join(", ")} } from "${target}";\n`;
}

function rewrite(file: string, text: string): string {
  const rel = relative(repo, file);
  for (const m of text.matchAll(UNSUPPORTED)) {
    const spec = m[2] ?? m[4];
    if (coreTarget(file, spec)) {
      problems.push(`${rel}: left as it is: ${m[0].split("\n")[0]}`);
    }
  }
  interface Found {
    start: number;
    end: number;
    kind: string;
    relative: boolean;
    originKey: string;
    specs: Spec[];
  }
  const found: Found[] = [];
  for (const m of text.matchAll(STATEMENT)) {
    const target = coreTarget(file, m[5]);
    if (!target) continue;
    found.push({
      start: m.index!,
      end: m.index! + m[0].length,
      kind: m[1],
      relative: target.relative,
      originKey: target.key,
      specs: parseSpecs(m[3], m[2] !== undefined),
    });
  }
  if (!found.length) return text;
  // One replacement block per kind (import or export) and style (bare or relative), at the
  // place of the first statement of that kind and style.
  const blocks = new Map<number, string>();
  for (
    const [kind, style] of [["import", false], ["import", true], [
      "export",
      false,
    ], ["export", true]] as const
  ) {
    const mine = found.filter((f) => f.kind === kind && f.relative === style);
    if (!mine.length) continue;
    const groups = new Map<string, Spec[]>(); // "kind\0key" -> specs
    for (const f of mine) {
      for (const s of f.specs) {
        let key = provider.get(s.name);
        if (key === undefined) {
          unmapped.push(
            `${rel}: ${s.name} (from ${bareSpecifier(f.originKey)})`,
          );
          key = f.originKey;
        }
        const id = `${f.kind}\0${key}`;
        groups.set(id, [...(groups.get(id) ?? []), s]);
      }
    }
    const ids = [...groups.keys()].sort((a, b) => {
      const [ka, pa] = a.split("\0"), [kb, pb] = b.split("\0");
      if (ka !== kb) return ka === "import" ? -1 : 1;
      return compareSubpaths(pa, pb);
    });
    blocks.set(
      mine[0].start,
      ids.map((id) => {
        const [kind, key] = id.split("\0");
        return emit(kind, targetSpecifier(file, key, style), groups.get(id)!);
      }).join(""),
    );
  }
  let out = "";
  let pos = 0;
  for (const f of found) {
    out += text.slice(pos, f.start) + (blocks.get(f.start) ?? "");
    pos = f.end;
  }
  return out + text.slice(pos);
}

// ---------------------------------------------------------------------------
// Walking the repository
// ---------------------------------------------------------------------------

const SKIP = new Set([".git", "node_modules", "dist", "vendor", ".deno"]);

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  const names: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e);
  names.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of names) {
    if (SKIP.has(e.name)) continue;
    const path = join(dir, e.name);
    if (e.isDirectory) yield* sourceFiles(path);
    else if (
      e.isFile && /\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith(".d.ts")
    ) {
      yield path;
    }
  }
}

/** `text` as `deno fmt` (with the repository's configuration) formats it. */
async function format(file: string, text: string): Promise<string> {
  const child = new Deno.Command("deno", {
    args: ["fmt", "--quiet", "--ext", file.split(".").pop()!, "-"],
    cwd: dirname(file),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const result = await child.output();
  if (!result.success) {
    console.error(new TextDecoder().decode(result.stderr));
    console.error(`deno fmt failed on the rewritten ${relative(repo, file)}`);
    Deno.exit(2);
  }
  return new TextDecoder().decode(result.stdout);
}

const changed: string[] = [];
for await (const file of sourceFiles(repo)) {
  const text = await Deno.readTextFile(file);
  const rewritten = rewrite(file, text);
  if (rewritten === text) continue;
  // Only what differs once formatted is a change (this keeps a second run a no-op).
  const out = await format(file, rewritten);
  if (out === text) continue;
  changed.push(file);
  if (!checkOnly) await Deno.writeTextFile(file, out);
  console.log(
    `${checkOnly ? "would rewrite" : "rewrote"} ${relative(repo, file)}`,
  );
}
for (const [name, keys] of ambiguous) {
  console.error(
    `note: ${name} is exported by ${keys.map(bareSpecifier).join(" and ")}; using ${
      bareSpecifier(keys[0])
    }`,
  );
}
for (const p of problems) console.error(`note: ${p}`);
if (unmapped.length) {
  console.error(
    "error: no @img/core entry exports these names (left on their old specifier):",
  );
  for (const u of unmapped) console.error(`  ${u}`);
  console.error(
    "Export each from core/mod.ts or a subpath mod.ts, then run this again.",
  );
}
console.error(
  `${changed.length} file(s) ${checkOnly ? "would change" : "changed"}`,
);
Deno.exit(unmapped.length || (checkOnly && changed.length) ? 1 : 0);

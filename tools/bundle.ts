/**
 * `deno task bundle`: the CLI as users run it, without the sources: `deno bundle` of
 * `cli/main.ts` with code splitting, into `OUTDIR` (default `dist/`) as `img.js` and the chunks
 * it imports when it needs them (`deno run -A dist/img.js build .`). Split, a rebuild with
 * nothing changed loads only the entry and its fast path (`cli/rebuild.ts`), not commander,
 * the commands and the plugins.
 *
 * ```sh
 * deno run -A tools/bundle.ts [OUTDIR] [deno bundle flags, e.g. --frozen]
 * ```
 *
 * One rewrite follows: esbuild's runtime makes `require` for the bundled CommonJS packages
 * with `createRequire` from `node:module` when the chunk loads, and loading any `node:` module
 * starts Deno's Node compatibility layer (~30 ms); the bundle only ever requires Node's
 * built-in modules, so `require` becomes `process.getBuiltinModule`, which starts that layer
 * on the first call instead.
 *
 * @module
 */

const REPO = new URL("..", import.meta.url).pathname;

/** esbuild's CommonJS `require`, as it emits it for `--platform deno`. */
export const EAGER_REQUIRE =
  'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);\n";

/** What replaces {@linkcode EAGER_REQUIRE}. */
export const LAZY_REQUIRE =
  "var __require = (id) => globalThis.process.getBuiltinModule(id) ?? (() => {\n" +
  '  throw new Error(`The bundle requires "${id}", which is not a built-in module: bundle it`);\n' +
  "})();\n";

/**
 * Rewrites the eager `require` of the chunks in `dir` (see the module doc); returns the files
 * rewritten. Throws if a chunk imports `node:module` in a shape this does not know.
 */
export function lazyRequire(dir: string): string[] {
  const rewritten: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".js")) continue;
    const path = `${dir}/${entry.name}`;
    const text = Deno.readTextFileSync(path);
    if (!text.includes('from "node:module"')) continue;
    if (!text.includes(EAGER_REQUIRE)) {
      throw new Error(
        `${path} imports node:module in a way tools/bundle.ts does not know: update EAGER_REQUIRE`,
      );
    }
    Deno.writeTextFileSync(path, text.replace(EAGER_REQUIRE, LAZY_REQUIRE));
    rewritten.push(path);
  }
  return rewritten;
}

/** Bundles the CLI into `outDir` (emptied first) with extra `deno bundle` flags. */
export async function bundle(outDir: string, flags: string[] = []): Promise<void> {
  await Deno.remove(outDir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      `--config=${REPO}deno.json`,
      "--platform",
      "deno",
      "--code-splitting",
      ...flags,
      "--outdir",
      outDir,
      `${REPO}cli/main.ts`,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`deno bundle failed (exit ${code})`);
  Deno.renameSync(`${outDir}/main.js`, `${outDir}/img.js`);
  lazyRequire(outDir);
}

if (import.meta.main) {
  const [outDir = "dist", ...flags] = Deno.args;
  await bundle(outDir, flags);
  console.error(`bundled: ${outDir}/img.js`);
}

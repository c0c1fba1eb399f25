/**
 * The Dockerfile corpus (`tests/corpus/`): each case is built with `img build` from a busybox
 * base in a loopback registry, and the image's config fields, history, layer count and file
 * tree are compared field by field with what Docker (BuildKit) gave for the same Dockerfile
 * (`expected.json`, recorded by `tests/corpus/generate.ts`); the cases with RUN steps again
 * with the chroot executor, crun and runc hidden from `PATH`. Runs as the unprivileged test
 * user in CI.
 */
import { pushBusybox } from "./_util/busybox.ts";
import { startRegistry } from "./_util/registry.ts";
import { imgOk, removeTree, run } from "./_util/img.ts";
import {
  BASE_REPO,
  caseBuildArgs,
  compareFacts,
  configFacts,
  type CorpusCase,
  type Expected,
  type FileEntry,
  type ImageFacts,
  listCases,
  normalizeRegistry,
  parentReference,
  readTar,
  type Tree,
  treeFacts,
} from "./corpus/_corpus.ts";
import { snapshotEntries } from "./corpus/_snapshot.ts";
import { pathWithoutRuntimes } from "./_util/hidden_runtimes.ts";
import { match as assertMatch } from "node:assert/strict";

const SNAPSHOT = new URL("./corpus/_snapshot.ts", import.meta.url).pathname;

/** The tree img unpacked, with owners as the image's ids (read inside the user namespace). */
async function unpackedTree(dir: string): Promise<Tree> {
  const entries: FileEntry[] = Deno.uid() === 0 ? snapshotEntries(dir) : JSON.parse(
    await run([
      "unshare",
      "--user",
      "--map-auto",
      "--map-root-user",
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      SNAPSHOT,
      dir,
    ]),
  );
  return new Map(entries.map((e) => [e.path, e]));
}

/** The image config of `ref`, read from `img save --format oci`. */
async function savedConfig(
  ref: string,
  state: string,
  tmp: string,
): Promise<Record<string, unknown>> {
  const file = `${tmp}/save.tar`;
  await imgOk(["save", "--format", "oci", "-o", file, ref], { state });
  const files = new Map<string, Uint8Array>();
  await readTar(await Deno.readFile(file), (h, content) => {
    if (h.type === "file") files.set(h.name.replace(/^\.\//, ""), content);
  });
  await Deno.remove(file);
  const json = (path: string) => {
    const data = files.get(path);
    if (!data) throw new Error(`img save wrote no ${path}`);
    return JSON.parse(new TextDecoder().decode(data));
  };
  const blob = (digest: string) => json(`blobs/${digest.replace(":", "/")}`);
  const index = json("index.json");
  const manifest = blob(index.manifests[0].digest);
  return blob(manifest.config.digest);
}

async function unpack(ref: string, state: string, dir: string): Promise<Tree> {
  await imgOk(["unpack", "-o", dir, ref], { state });
  try {
    return await unpackedTree(dir);
  } finally {
    await removeTree(dir);
  }
}

/** Whether a case, or a case built on it, has RUN steps: the ones an executor changes. */
function runsCommands(c: CorpusCase, cases: CorpusCase[]): boolean {
  const hasRun = (x: CorpusCase) =>
    /^\s*RUN\s/im.test(Deno.readTextFileSync(`${x.dir}/Dockerfile`));
  return hasRun(c) || cases.some((x) => x.options.parent === c.name && hasRun(x));
}

for (const executor of ["auto", "chroot"] as const) {
  const title = executor === "auto"
    ? "every case of the corpus"
    : "every case with RUN steps, with the chroot executor (no crun or runc in PATH)";
  Deno.test(`img build gives the config and file tree Docker gives, for ${title}`, async (t) => {
    await corpus(t, executor);
  });
}

async function corpus(t: Deno.TestContext, executor: "auto" | "chroot"): Promise<void> {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-corpus-" });
  const state = `${tmp}/state`;
  try {
    // The chroot executor is what `auto` picks where no OCI runtime is installed.
    const env = executor === "chroot"
      ? { PATH: await pathWithoutRuntimes(`${tmp}/bin`) }
      : undefined;
    await pushBusybox(registry.host, BASE_REPO, "latest");
    const baseRef = `${registry.host}/${BASE_REPO}:latest`;
    await imgOk(["pull", baseRef], { state });
    const base = await unpack(baseRef, state, `${tmp}/base`);

    const cases = listCases().filter((c, _, all) => executor === "auto" || runsCommands(c, all));
    const isParent = (c: CorpusCase) => cases.some((x) => x.options.parent === c.name);
    for (const c of cases) {
      let expected: Expected | undefined;
      try {
        expected = JSON.parse(await Deno.readTextFile(`${c.dir}/expected.json`));
      } catch (e) {
        // Only a case Docker's engine could not record may lack its expectations.
        if (!(e instanceof Deno.errors.NotFound) || !c.options.needs) throw e;
      }
      await t.step({
        name: c.name,
        ignore: expected === undefined,
        fn: async () => {
          const tag = `img-corpus/${c.name}:latest`;
          const args = ["build", "--no-console", "-t", tag];
          for (const a of caseBuildArgs(c, registry.host)) args.push("--build-arg", a);
          if (c.options.target) args.push("--target", c.options.target);
          for (const [k, v] of Object.entries(c.options.labels ?? {})) {
            args.push("--label", `${k}=${v}`);
          }
          const debug = executor === "chroot" ? ["--debug"] : [];
          const built = await imgOk([...debug, ...args, c.dir], { state, env });
          if (executor === "chroot") assertMatch(built.stderr, /executor: chroot \(auto:/);
          if (isParent(c)) {
            const ref = parentReference(registry.host, c.name);
            await imgOk(["tag", tag, ref], { state });
            await imgOk(["push", ref], { state });
          }
          const config = await savedConfig(tag, state, tmp);
          const tree = await unpack(tag, state, `${tmp}/rootfs`);
          const actual: ImageFacts = {
            ...configFacts(config, registry.host),
            ...normalizeRegistry(treeFacts(tree, base), registry.host),
          };
          const diffs = compareFacts(expected!, actual);
          if (diffs.length) {
            const e = new Error(
              `${c.name}: img's image differs from Docker's in ${diffs.length} field(s):\n  ` +
                diffs.join("\n  "),
            );
            e.stack = e.message;
            throw e;
          }
        },
      });
    }
  } finally {
    await removeTree(tmp);
  }
}

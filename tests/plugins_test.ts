/**
 * Plugins chosen by name, end to end, as the user running the suite (CI: the unprivileged
 * test user): the third-party `reflink` snapshotter of `examples/plugins/reflink` builds with
 * `--backend reflink` the same tree as the built-in `native` backend; the third-party
 * `jsonspec` frontend of `examples/plugins/jsonspec`, chosen with `--frontend`, the
 * `BUILDKIT_SYNTAX` build argument, a `# syntax=` line loaded through `IMG_PLUGINS`, and a
 * config-file alias, builds the same tree as the equivalent Dockerfile; `img plugins ls`
 * lists them with their versions and sources; unknown names are refused in one line.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, ROOT } from "./_util/img.ts";
import { diffTrees, snapshotTree, type Tree } from "./_util/tree.ts";

const REFLINK = "./examples/plugins/reflink/mod.ts";
const JSONSPEC = "./examples/plugins/jsonspec/mod.ts";

const RUN = "echo $GREETING > greeting && mkdir -p /data/sub && echo x > /data/sub/x" +
  " && ln -s sub/x /data/link && ln /data/sub/x /data/hard && chmod 4755 /data/sub/x" +
  " && rm -rf /etc/group";

const DOCKERFILE = (base: string) =>
  `# syntax=docker/dockerfile:1
FROM ${base}
ENV GREETING=hello
WORKDIR /app
RUN ${RUN}
COPY app.txt /app/
`;

const SPEC = (base: string) => ({
  from: base,
  steps: [
    { env: { GREETING: "hello" } },
    { workdir: "/app" },
    { run: RUN },
    { copy: { src: ["app.txt"], dest: "/app/" } },
  ],
  config: { Cmd: ["cat", "/app/greeting"] },
});

/** What every build of the test must have made, so no comparison passes on an empty tree. */
function assertBuilt(tree: Tree, what: string): void {
  equal(tree.get("app/greeting")?.size, "hello\n".length, `${what}: RUN saw ENV and WORKDIR`);
  equal(tree.get("app/app.txt")?.size, "from the context\n".length, `${what}: COPY`);
  equal(tree.get("data/link")?.linkTarget, "sub/x", `${what}: symlink`);
  equal(tree.get("data/sub/x")?.mode, 0o4755, `${what}: setuid`);
  equal(tree.get("data/hard")?.ino, tree.get("data/sub/x")?.ino, `${what}: hard link`);
  ok(!tree.has("etc/group"), `${what}: a file of the base is deleted`);
  ok((tree.get("bin/busybox")?.size ?? 0) > 100_000, `${what}: busybox`);
}

function assertSameTree(a: Tree, b: Tree, what: string): void {
  const diff = diffTrees(a, b, { fields: ["type", "mode", "size", "content", "link"] });
  deepEqual(diff, [], `${what} built a different tree:\n${diff.join("\n")}`);
}

Deno.test({
  name: "third-party snapshotter and frontend plugins are chosen by name",
  sanitizeResources: false,
  async fn(t) {
    await using registry = await startRegistry();
    const pushed = await pushBusybox(registry.host, "library/busybox", "latest");
    const tmp = await Deno.makeTempDir({ prefix: "img-plugins-" });
    try {
      const ctx = `${tmp}/ctx`;
      await Deno.mkdir(ctx);
      await Deno.writeTextFile(`${ctx}/Dockerfile`, DOCKERFILE(pushed.reference));
      await Deno.writeTextFile(`${ctx}/app.txt`, "from the context\n");
      const spec = JSON.stringify(SPEC(pushed.reference), null, 2);
      await Deno.writeTextFile(`${ctx}/spec.json`, spec);
      await Deno.writeTextFile(`${ctx}/syntax.json`, `# syntax=img/frontend-jsonspec\n${spec}`);
      await Deno.writeTextFile(`${ctx}/alias.json`, `# syntax=spec\n${spec}`);
      const state = `${tmp}/state`;
      const opts = { state, cwd: ROOT };
      const build = async (name: string, args: string[], env?: Record<string, string>) => {
        const dest = `${tmp}/out-${name}`;
        const r = await imgOk(
          [
            ...args.slice(0, args.indexOf("build") + 1),
            "--no-console",
            ...args.slice(args.indexOf("build") + 1),
            "-o",
            `type=local,dest=${dest}`,
            ctx,
          ],
          { ...opts, env },
        );
        const tree = snapshotTree(dest);
        assertBuilt(tree, name);
        return { tree, stderr: r.stderr };
      };

      const reference = await build("native", ["--debug", "-b", "native", "build"]);
      match(
        reference.stderr,
        /frontend: dockerfile \(from syntax directive docker\/dockerfile:1\)/,
      );
      ok(!/syntax directive asks/.test(reference.stderr), "no warning for docker/dockerfile:1");

      await t.step("--backend reflink builds the same tree as native", async () => {
        const r = await build("reflink", [
          "--debug",
          "--plugin",
          REFLINK,
          "-b",
          "reflink",
          "build",
        ]);
        match(r.stderr, /backend: reflink \(from --backend\)/);
        assertSameTree(reference.tree, r.tree, "reflink");
        // Its snapshots are in its own directory of the state dir, one per step.
        const snapshots = [...Deno.readDirSync(`${state}/snapshots/reflink/snapshots`)];
        ok(snapshots.length >= 4, `reflink kept its snapshots (${snapshots.length})`);
        // A second build finds every step in the cache of its snapshots.
        const again = await build("reflink-again", ["--plugin", REFLINK, "-b", "reflink", "build"]);
        match(again.stderr, /CACHED/);
        assertSameTree(reference.tree, again.tree, "reflink (cached)");
        // Its cache shows in du, read through its walk() and usage().
        const du = await imgOk(["--plugin", REFLINK, "-b", "reflink", "du"], opts);
        match(du.stdout, /^ID\s+RECLAIMABLE\s+SIZE\s+DESCRIPTION$/m);
        ok(du.stdout.trim().split("\n").length >= 4, `du lists reflink's snapshots:\n${du.stdout}`);
        // Loaded, it takes part in auto; here kernel overlayfs still ranks first.
        const auto = await build("auto", ["--debug", "--plugin", REFLINK, "build"]);
        match(auto.stderr, /backend auto: chose overlayfs/);
      });

      await t.step("the jsonspec frontend builds the same tree as the Dockerfile", async () => {
        const flag = await build("jsonspec-flag", [
          "--debug",
          "--plugin",
          JSONSPEC,
          "build",
          "--frontend",
          "jsonspec",
          "-f",
          `${ctx}/spec.json`,
        ]);
        match(flag.stderr, /frontend: jsonspec \(from --frontend\)/);
        assertSameTree(reference.tree, flag.tree, "--frontend jsonspec");

        const arg = await build("jsonspec-arg", [
          "--debug",
          "--plugin",
          JSONSPEC,
          "build",
          "--build-arg",
          "BUILDKIT_SYNTAX=img/frontend-jsonspec",
          "-f",
          `${ctx}/spec.json`,
        ]);
        match(arg.stderr, /frontend: jsonspec \(from BUILDKIT_SYNTAX img\/frontend-jsonspec\)/);
        assertSameTree(reference.tree, arg.tree, "BUILDKIT_SYNTAX");

        const directive = await build(
          "jsonspec-directive",
          ["--debug", "build", "-f", `${ctx}/syntax.json`],
          { IMG_PLUGINS: `${ROOT}examples/plugins/jsonspec/mod.ts` },
        );
        match(
          directive.stderr,
          /frontend: jsonspec \(from syntax directive img\/frontend-jsonspec\)/,
        );
        assertSameTree(reference.tree, directive.tree, "# syntax=img/frontend-jsonspec");

        const config = `${tmp}/config`;
        await Deno.mkdir(`${config}/img`, { recursive: true });
        await Deno.writeTextFile(
          `${config}/img/config.json`,
          JSON.stringify({
            plugins: [`${ROOT}examples/plugins/jsonspec/mod.ts`],
            frontends: { spec: "jsonspec" },
          }),
        );
        const alias = await build(
          "jsonspec-alias",
          ["--debug", "build", "-f", `${ctx}/alias.json`],
          {
            XDG_CONFIG_HOME: config,
          },
        );
        match(alias.stderr, /frontend: jsonspec \(from syntax directive spec\)/);
        assertSameTree(reference.tree, alias.tree, "a config-file alias");
      });

      await t.step("img plugins ls lists them with versions, API and sources", async () => {
        const r = await imgOk(["--plugin", REFLINK, "--plugin", JSONSPEC, "plugins", "ls"], opts);
        const rows = r.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
        deepEqual(rows[0], ["KIND", "NAME", "VERSION", "API", "SOURCE"]);
        deepEqual(rows.find((c) => c[1] === "reflink"), [
          "snapshotter",
          "reflink",
          "0.1.0",
          "1",
          REFLINK,
        ]);
        deepEqual(rows.find((c) => c[1] === "jsonspec"), [
          "frontend",
          "jsonspec",
          "0.1.0",
          "1",
          JSONSPEC,
        ]);
        const cli = JSON.parse(await Deno.readTextFile(`${ROOT}cli/deno.json`)).version;
        const native = JSON.parse(
          await Deno.readTextFile(`${ROOT}plugins/snapshot-native/deno.json`),
        );
        deepEqual(rows.find((c) => c[1] === "native"), [
          "snapshotter",
          "native",
          native.version,
          "1",
          "builtin",
        ]);
        const version = await imgOk(["--plugin", REFLINK, "version"], opts);
        match(version.stdout, new RegExp(`^version\\s+: ${cli.replaceAll(".", "\\.")}$`, "m"));
        match(
          version.stdout,
          /^snapshotter plugin\s+: reflink 0\.1\.0 \(\.\/examples\/plugins\/reflink\/mod\.ts\)$/m,
        );
      });

      await t.step("unknown backends, frontends and syntaxes are refused in one line", async () => {
        const cases: [string[], string][] = [
          [
            ["-b", "nope", "build", ctx],
            'img: Unknown backend "nope": use auto or one of: fuse-overlayfs, native, overlayfs, reflink (load others with --plugin)',
          ],
          [
            ["build", "--frontend", "nope", ctx],
            'img: Unknown frontend "nope": available: dockerfile; load others with --plugin',
          ],
          [
            ["build", "-f", `${ctx}/syntax.json`, ctx],
            'img: Unknown frontend "jsonspec" (from syntax directive img/frontend-jsonspec): available: dockerfile; load others with --plugin',
          ],
          [
            ["build", "--build-arg", "BUILDKIT_SYNTAX=example.com/my/frontend:1", ctx],
            'img: The build argument BUILDKIT_SYNTAX asks for the frontend image "example.com/my/frontend:1", which img cannot pull: use img/frontend-NAME or --frontend NAME with one of: dockerfile',
          ],
        ];
        for (const [args, message] of cases) {
          const plugin = args[0] === "-b" ? ["--plugin", REFLINK] : [];
          const r = await img([...plugin, ...args], opts);
          equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
          equal(r.stderr.trim(), message);
        }
      });
    } finally {
      await removeTree(tmp);
    }
  },
});

/**
 * Dockerfile parity with current BuildKit (issue 10), end to end as the user running the
 * suite: each case builds against a local registry's busybox and checks the image (files,
 * modes, owners, config) or the refusal message. Where the local BuildKit 0.8 engine is
 * older than the behaviour checked, the case says so.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry, type TestRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";

interface Env {
  registry: TestRegistry;
  base: string;
  state: string;
  tmp: string;
}

async function withBuildEnv(fn: (env: Env) => Promise<void>) {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-parity-" });
  try {
    await fn({
      registry,
      base: `${registry.host}/library/busybox:latest`,
      state: `${tmp}/state`,
      tmp,
    });
  } finally {
    await removeTree(tmp);
  }
}

async function writeContext(dir: string, files: Record<string, string>): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return dir;
}

/** `tar -tv` of the exported root file system: path -> "mode uid/gid". */
async function listing(tarFile: string): Promise<Map<string, string>> {
  const out = await run(["tar", "--numeric-owner", "-tvf", tarFile]);
  const entries = new Map<string, string>();
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    entries.set(f.slice(5).join(" ").replace(/^\.?\//, "").replace(/\/$/, ""), `${f[0]} ${f[1]}`);
  }
  return entries;
}

interface Built {
  tree: Map<string, string>;
  // deno-lint-ignore no-explicit-any
  config: Record<string, any>;
  ref: string;
  stdout: string;
  stderr: string;
}

/** Builds `files` (a Dockerfile and its context), pushes it, and exports its tree. */
async function build(
  env: Env,
  name: string,
  files: Record<string, string>,
  extra: string[] = [],
): Promise<Built> {
  const ctx = await writeContext(`${env.tmp}/${name}`, files);
  const ref = `${env.registry.host}/parity/${name}:latest`;
  const r = await imgOk(
    [
      "build",
      "--no-console",
      "--build-arg",
      `BASE=${env.base}`,
      ...extra,
      "-o",
      `type=image,name=${ref},push=true`,
      "-o",
      `type=tar,dest=${ctx}.tar`,
      ctx,
    ],
    { state: env.state },
  );
  const config = JSON.parse(
    await run(["skopeo", "inspect", "--config", "--tls-verify=false", `docker://${ref}`]),
  );
  return { tree: await listing(`${ctx}.tar`), config, ref, stdout: r.stdout, stderr: r.stderr };
}

/** Builds and expects a failure whose last line matches `expected`. */
async function refused(
  env: Env,
  name: string,
  files: Record<string, string>,
  expected: RegExp,
  extra: string[] = [],
): Promise<void> {
  const ctx = await writeContext(`${env.tmp}/${name}`, files);
  const r = await img(
    ["build", "--no-console", "--build-arg", `BASE=${env.base}`, ...extra, ctx],
    { state: env.state },
  );
  equal(r.code, 1, `${name} fails: ${r.stderr}`);
  match(r.stderr.trimEnd().split("\n").at(-1)!, expected, `${name}: ${r.stderr}`);
}

Deno.test("BuildKit parity: EXPOSE ranges, --chown to a missing name, stage cycles, symbolic --chmod, #! heredocs", async () => {
  await withBuildEnv(async (env) => {
    const { tree, config } = await build(env, "wrong", {
      Dockerfile: `ARG BASE
FROM \${BASE}
EXPOSE 8000-8002 53/udp
COPY --chown=nosuchuser a.txt /owned/a.txt
COPY --chown=nosuchuser:nosuchgroup a.txt /owned/b.txt
COPY --chmod=u+x,g-w a.txt /modes/sym.txt
COPY --chmod=a=r a.txt /modes/ar.txt
COPY --chmod=u=rwx,go=rx <<EOF /modes/heredoc.sh
echo hi
EOF
RUN <<EOF
#!/bin/sh
# A script run by its shebang: \$0 is the script's path, not "sh".
echo "\$0" > /shebang.txt
EOF
RUN cat /shebang.txt && test "$(cat /shebang.txt)" = /dev/pipes/EOF
`,
      "a.txt": "a\n",
    });
    deepEqual(Object.keys(config.config.ExposedPorts).sort(), [
      "53/udp",
      "8000/tcp",
      "8001/tcp",
      "8002/tcp",
    ]);
    // BuildKit's file op leaves the ids of names missing from /etc/passwd and /etc/group at 0.
    equal(tree.get("owned/a.txt"), "-rw-r--r-- 0/0");
    equal(tree.get("owned/b.txt"), "-rw-r--r-- 0/0");
    // Symbolic --chmod is BuildKit 0.14+ (Dockerfile 1.14); the local 0.8 engine refuses it.
    equal(tree.get("modes/sym.txt"), "-rwxr--r-- 0/0");
    equal(tree.get("modes/ar.txt"), "-r--r--r-- 0/0");
    equal(tree.get("modes/heredoc.sh"), "-rwxr-xr-x 0/0");
    ok(!tree.has("dev/pipes/EOF"), "the script's mount leaves nothing in the image");

    await refused(
      env,
      "cycle",
      {
        Dockerfile:
          "FROM scratch AS a\nCOPY --from=b /x /y\n\nFROM scratch AS b\nCOPY --from=a /y /z\n",
      },
      // The COPY --from that closes the cycle (b needs a, whose line 2 needs b).
      /^img: Dockerfile:2: circular dependency detected on stage: b$/,
    );
  });
});

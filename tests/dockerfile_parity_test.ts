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

Deno.test("COPY --parents, --exclude, and --link build the image BuildKit builds", async () => {
  await withBuildEnv(async (env) => {
    const { tree } = await build(env, "copyflags", {
      Dockerfile: `ARG BASE
FROM \${BASE}
COPY --parents src/a/x.txt src/b/*.txt /keep/
COPY --parents ./src/./a/x.txt /pivot/
COPY --exclude=**/*.md --exclude=b src /excluded/
COPY --link src/a /linked/
`,
      "src/a/x.txt": "x\n",
      "src/a/README.md": "readme\n",
      "src/b/y.txt": "y\n",
      "src/b/z.txt": "z\n",
    });
    const under = (prefix: string) => [...tree.keys()].filter((k) => k.startsWith(prefix)).sort();
    // --parents is Dockerfile 1.7+ (BuildKit 0.13+); the local 0.8 engine has no such flag.
    deepEqual(under("keep/"), [
      "keep/src",
      "keep/src/a",
      "keep/src/a/x.txt",
      "keep/src/b",
      "keep/src/b/y.txt",
      "keep/src/b/z.txt",
    ]);
    deepEqual(under("pivot/"), ["pivot/a", "pivot/a/x.txt"]);
    // --exclude is Dockerfile 1.7+ too; its patterns are relative to each source, as BuildKit.
    deepEqual(under("excluded/"), ["excluded/a", "excluded/a/x.txt"]);
    deepEqual(under("linked/"), ["linked/README.md", "linked/x.txt"]);

    // --link: the copy is a layer of its own (cached whatever changes above it), and the
    // image holds what a plain COPY gives.
    const linkFiles = {
      Dockerfile: `ARG BASE
FROM \${BASE}
ARG STAMP
RUN echo "\$STAMP" > /stamp.txt
COPY --link --chmod=0750 --chown=7:8 src/a /linked/
COPY --link src/b/y.txt /usr/local/y.txt
`,
      "src/a/x.txt": "x\n",
      "src/b/y.txt": "y\n",
    };
    const linked = await build(env, "link", linkFiles, ["--build-arg", "STAMP=1"]);
    equal(linked.tree.get("linked"), "drwxr-xr-x 7/8"); // made for the copy, as a plain COPY
    equal(linked.tree.get("linked/x.txt"), "-rwxr-x--- 7/8");
    equal(linked.tree.get("usr/local/y.txt"), "-rw-r--r-- 0/0");
    equal(linked.tree.get("usr/local"), "drwxr-xr-x 0/0");
    ok(linked.tree.has("bin/busybox"), "the base is still there");
    const again = await build(env, "link", linkFiles, ["--build-arg", "STAMP=2"]);
    match(again.stderr, /RUN echo "\$STAMP" > \/stamp\.txt\n(#\d+ [^\n]*\n)*#\d+ DONE/);
    match(
      again.stderr,
      /COPY --link --chmod=0750 --chown=7:8 src\/a \/linked\/ \(link\)\n#\d+ CACHED/,
    );
    deepEqual(again.tree, new Map([...linked.tree].map(([k, v]) => [k, v])));
  });
});

Deno.test("build checks: warnings after the build as buildx prints them, --check, error=true", async () => {
  await withBuildEnv(async (env) => {
    const files = {
      Dockerfile: `ARG BASE
FROM \${BASE} as Base
MAINTAINER joe
ENV PASSWORD secret
CMD echo \${UNDEFINED_THING}
`,
    };
    const built = await build(env, "checks", files);
    const summary = built.stderr.slice(built.stderr.lastIndexOf("warnings found"));
    for (
      const line of [
        " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)",
        " - StageNameCasing: Stage name 'Base' should be lowercase (line 2)",
        " - MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)",
        ' - SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "PASSWORD") (line 4)',
        ' - LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format (line 4)',
        " - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 5)",
      ]
    ) ok(summary.includes(line), `${line}\n${built.stderr}`);

    const ctx = `${env.tmp}/checks`;
    const check = await imgOk(
      ["build", "--check", "--build-arg", `BASE=${env.base}`, ctx],
      { state: env.state },
    );
    match(check.stdout, /^Check complete, 6 warnings have been found!$/m);
    match(
      check.stdout,
      /WARN: JSONArgsRecommended - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/json-args-recommended\/\nJSON arguments recommended for CMD to prevent unintended behavior related to OS signals\nDockerfile:5/,
    );
    await Deno.writeTextFile(
      `${ctx}/Dockerfile`,
      `# check=skip=StageNameCasing,MaintainerDeprecated,SecretsUsedInArgOrEnv,LegacyKeyValueFormat,JSONArgsRecommended;error=true\n${files.Dockerfile}`,
    );
    const failed = await img(
      ["build", "--check", "--build-arg", `BASE=${env.base}`, ctx],
      { state: env.state },
    );
    equal(failed.code, 1);
    match(failed.stdout, /^Check complete, 1 warning has been found!$/m);
    match(failed.stderr, /img: lint violation found for rules: FromAsCasing\n$/);
    await Deno.writeTextFile(`${ctx}/Dockerfile`, `ARG BASE\nFROM \${BASE}\nCMD ["true"]\n`);
    const clean = await imgOk(["build", "--check", "--build-arg", `BASE=${env.base}`, ctx], {
      state: env.state,
    });
    equal(clean.stdout.trim(), "Check complete, no warnings found.");
  });
});

Deno.test("buildx flags: -q, --iidfile, --metadata-file, --push, --annotation, --no-cache-filter, --network; the rest refused by name; malformed --add-host, --shm-size, --ulimit refused", async () => {
  await withBuildEnv(async (env) => {
    const ctx = await writeContext(`${env.tmp}/flags`, {
      Dockerfile: `ARG BASE
FROM \${BASE} AS first
RUN date +%s%N > /first.txt
FROM first
RUN date +%s%N > /second.txt
`,
    });
    const ref = `${env.registry.host}/parity/flags:v1`;
    const args = [
      "build",
      "--build-arg",
      `BASE=${env.base}`,
      "-t",
      ref,
      "--push",
      "--annotation",
      "org.opencontainers.image.title=flags",
      "-q",
      "--iidfile",
      `${env.tmp}/iid`,
      "--metadata-file",
      `${env.tmp}/meta.json`,
      "--network",
      "none",
      ctx,
    ];
    const quiet = await imgOk(args, { state: env.state });
    const id = quiet.stdout.trim();
    match(id, /^sha256:[a-f0-9]{64}$/);
    equal(quiet.stderr, "", "-q prints no progress");
    equal(await Deno.readTextFile(`${env.tmp}/iid`), id);
    const meta = JSON.parse(await Deno.readTextFile(`${env.tmp}/meta.json`));
    equal(meta["containerimage.config.digest"], id);
    match(meta["containerimage.digest"], /^sha256:[a-f0-9]{64}$/);
    equal(meta["image.name"], ref);
    const manifest = JSON.parse(
      await run(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
    );
    equal(manifest.annotations?.["org.opencontainers.image.title"], "flags");
    equal(manifest.config.digest, id, "--push pushed the image -q printed");

    // --no-cache-filter: the named stage runs again, the cached steps of others stay.
    const again = await imgOk(
      [
        "build",
        "--no-console",
        "--build-arg",
        `BASE=${env.base}`,
        "--network",
        "none",
        "--no-cache-filter",
        "first",
        "-t",
        "flags:2",
        ctx,
      ],
      { state: env.state },
    );
    match(again.stderr, /\[first 2\/2\] RUN date \+%s%N > \/first\.txt\n(#\d+ [^\n]*\n)*#\d+ DONE/);
    ok(!/second\.txt\n#\d+ CACHED/.test(again.stderr), "what is built on it runs again too");

    for (
      const [flag, expected] of [
        [
          ["--build-context", "x=https://github.com/moby/buildkit.git"],
          /^img: --build-context x=https:\/\/github\.com\/moby\/buildkit\.git: a git repository as a named context is not supported yet/,
        ],
        [["--add-host", "a"], /^img: Invalid --add-host "a": use HOST:IP/],
        [["--shm-size", "lots"], /^img: Invalid --shm-size "lots"/],
        [["--ulimit", "nofile"], /^img: Invalid --ulimit "nofile": use NAME=SOFT\[:HARD\]$/],
        [["--provenance", "mode=full"], /^img: Invalid --provenance mode "full"/],
        [["--sbom", "generator=x/y"], /^img: --sbom generator=x\/y cannot run/],
        [["--allow", "device"], /^img: Invalid --allow "device"/],
      ] as const
    ) {
      const r = await img(["build", ...flag, "--build-arg", `BASE=${env.base}`, ctx], {
        state: env.state,
      });
      equal(r.code, 1, flag.join(" "));
      match(r.stderr.trimEnd().split("\n").at(-1)!, expected, r.stderr);
    }
    await imgOk([
      "build",
      "--provenance=false",
      "--sbom=false",
      "-q",
      "--build-arg",
      `BASE=${env.base}`,
      ctx,
    ], { state: env.state });

    await refused(
      env,
      "insecure",
      { Dockerfile: "ARG BASE\nFROM ${BASE}\nRUN --security=insecure true\n" },
      /^img: Dockerfile:3: security\.insecure is not allowed$/,
    );
    // Allowed, it runs (tests/run_isolation_test.ts checks what it grants).
    await imgOk([
      "build",
      "--no-console",
      "--allow",
      "security.insecure",
      "--build-arg",
      `BASE=${env.base}`,
      `${env.tmp}/insecure`,
    ], { state: env.state });
    await refused(
      env,
      "nethost",
      { Dockerfile: "ARG BASE\nFROM ${BASE}\nRUN --network=host true\n" },
      /^img: Dockerfile:3: network\.host is not allowed$/,
    );
    // As buildx: the --network host flag asks for the entitlement itself (docker build
    // --network host needs no --allow), so the step runs.
    await imgOk([
      "build",
      "--no-console",
      "--network",
      "host",
      "--build-arg",
      `BASE=${env.base}`,
      `${env.tmp}/nethost`,
    ], { state: env.state });
  });
});

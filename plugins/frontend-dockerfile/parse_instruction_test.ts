import assert from "node:assert/strict";
import { DockerfileError } from "./errors.ts";
import type { CopyInstruction, Instruction, RunInstruction } from "./instructions.ts";
import { expandInstruction } from "./expand.ts";
import { parseDockerfile } from "./stages.ts";
import { ShellLex } from "./shell_lex.ts";

function errorOf(text: string, fileName?: string): DockerfileError {
  try {
    parseDockerfile(text, { fileName });
  } catch (e) {
    assert.ok(e instanceof DockerfileError, String(e));
    return e;
  }
  assert.fail("expected a DockerfileError");
}

function commands(text: string): Instruction[] {
  return parseDockerfile(text).stages.flatMap((s) => s.commands);
}

Deno.test("the errors the issue names carry the file and line", () => {
  assert.equal(
    errorOf("FROM busybox\nRUN true\nFORM x\n").message,
    "Dockerfile:3: unknown instruction: FORM (did you mean FROM?)",
  );
  assert.match(
    errorOf("FROM busybox\nRUN true\nFORM x\n").message,
    /^Dockerfile:3: unknown instruction: FORM/,
  );
  assert.equal(errorOf("FROM a\nfoo bar\n").message, "Dockerfile:2: unknown instruction: FOO");
  const flag = errorOf("FROM a AS b\nRUN x\n\nCOPY --frm=b /a /b\n");
  assert.equal(flag.message, "Dockerfile:4: unknown flag: --frm (did you mean --from?)");
  assert.equal(flag.line, 4);
  assert.equal(flag.detail, "unknown flag: --frm (did you mean --from?)");
  assert.equal(
    errorOf("# comment\nRUN echo hi\nFROM a\n").message,
    "Dockerfile:2: no build stage in current context",
  );
  assert.equal(
    errorOf("ARG A=1\n", "ctx/app.Dockerfile").message,
    "ctx/app.Dockerfile: dockerfile contains no stages to build",
  );
  assert.equal(
    errorOf("FROM a\nRUN a \\\n  b\nMAINTAINER --boo=x joe\n").message,
    "Dockerfile:4: unknown flag: --boo",
  );
});

Deno.test("BuildKit's argument count errors", () => {
  for (const c of ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"]) {
    assert.equal(errorOf(`FROM a\n${c}\n`).detail, `${c} requires exactly one argument`);
  }
  for (const c of ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME", "ARG", "SHELL"]) {
    assert.equal(errorOf(`FROM a\n${c}\n`).detail, `${c} requires at least one argument`, c);
  }
  for (const c of ["ADD", "COPY"]) {
    assert.equal(
      errorOf(`FROM a\n${c} arg1\n`).detail,
      `${c} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  }
  assert.equal(errorOf("FROM a\nCOPY\t\n\t\tquux \\\n      bar").line, 2);
  assert.equal(errorOf("FROM a b\n").detail, "FROM requires either one or three arguments");
  assert.equal(
    errorOf("FROM a AS 1st\n").detail,
    'invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
  );
  assert.equal(errorOf("FROM a\nARG =x\n").detail, "ARG names can not be blank");
  assert.equal(errorOf("FROM a\nENV =x\n").detail, "ENV names can not be blank");
  assert.equal(
    errorOf('FROM a\nVOLUME [""]\n').detail,
    "VOLUME specified can not be an empty string",
  );
});

Deno.test("ONBUILD: the trigger is parsed; ONBUILD ONBUILD, FROM, MAINTAINER are refused", () => {
  const [ob] = commands("FROM a\nONBUILD RUN --mount=type=cache,target=/c make\n");
  assert.equal(ob.kind, "onbuild");
  if (ob.kind !== "onbuild") return;
  assert.equal(ob.expression, "RUN --mount=type=cache,target=/c make");
  assert.equal(ob.trigger.kind, "run");
  assert.deepEqual((ob.trigger as RunInstruction).mounts.map((m) => m.target), ["/c"]);
  assert.equal(
    errorOf("FROM a\nONBUILD ONBUILD RUN touch foobar\n").detail,
    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
  );
  assert.equal(
    errorOf("FROM a\nONBUILD FROM scratch\n").detail,
    "FROM isn't allowed as an ONBUILD trigger",
  );
  assert.equal(
    errorOf("FROM a\nONBUILD MAINTAINER docker.io\n").detail,
    "MAINTAINER isn't allowed as an ONBUILD trigger",
  );
  assert.equal(
    errorOf("FROM a\n\nONBUILD FORM x\n").message,
    "Dockerfile:3: unknown instruction: FORM (did you mean FROM?)",
  );
  const [heredoc] = commands("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n");
  assert.equal((heredoc as { expression: string }).expression, "RUN <<EOF\necho hi\nEOF");
});

Deno.test("RUN: shell and exec form, mounts, network, security, heredocs", () => {
  const [shell, exec, mounted, heredoc] = commands(`FROM a
RUN echo $HOME && \\
    make
RUN ["/bin/echo", "hi"]
RUN --mount=type=cache,target=/root/.cache,sharing=locked,id=pip \\
    --mount=type=secret,id=token,env=TOKEN,required \\
    --mount=type=bind,from=build,source=/out,target=/in,rw \\
    --mount=type=tmpfs,target=/tmp,size=64m \\
    --mount=type=ssh \\
    --network=none --security=insecure pip install .
RUN <<-EOF cat /dev/stdin
\techo hi $X
\tEOF
`) as RunInstruction[];
  assert.deepEqual([shell.cmdLine, shell.prependShell], [["echo $HOME &&     make"], true]);
  assert.deepEqual([exec.cmdLine, exec.prependShell], [["/bin/echo", "hi"], false]);
  assert.deepEqual([exec.network, exec.security, exec.mounts], ["default", "sandbox", []]);
  assert.deepEqual(mounted.cmdLine, ["pip install ."]);
  assert.deepEqual([mounted.network, mounted.security], ["none", "insecure"]);
  assert.deepEqual(mounted.flagsUsed.sort(), ["mount", "network", "security"]);
  const [cache, secret, bind, tmpfs, ssh] = mounted.mounts;
  assert.deepEqual(
    [cache.type, cache.target, cache.sharing, cache.id, cache.readOnly],
    ["cache", "/root/.cache", "locked", "pip", false],
  );
  assert.deepEqual(
    [secret.type, secret.id, secret.env, secret.required, secret.readOnly],
    ["secret", "token", "TOKEN", true, true],
  );
  assert.deepEqual(
    [bind.type, bind.from, bind.source, bind.target, bind.readOnly],
    ["bind", "build", "/out", "/in", false],
  );
  assert.deepEqual([tmpfs.type, tmpfs.sizeLimit, tmpfs.readOnly], [
    "tmpfs",
    64 * 1024 * 1024,
    false,
  ]);
  assert.deepEqual([ssh.type, ssh.readOnly], ["ssh", true]);
  assert.equal(mounted.startLine, 5);
  assert.equal(mounted.endLine, 10);
  assert.deepEqual(heredoc.cmdLine, ["<<-EOF cat /dev/stdin"]);
  assert.deepEqual(heredoc.files, [{
    name: "EOF",
    data: "\techo hi $X\n",
    chomp: true,
    expand: true,
  }]);
  assert.deepEqual([heredoc.startLine, heredoc.endLine], [11, 13]);
});

Deno.test("RUN --mount: errors and unexpanded values", () => {
  assert.equal(
    errorOf("FROM a\nRUN --mount=type=cahce,target=/x true\n").message,
    'Dockerfile:2: unsupported mount type "cahce" (did you mean cache?)',
  );
  assert.match(
    errorOf("FROM a\nRUN --mount=target=/x,foo=bar true\n").detail,
    /^unexpected key 'foo' in 'foo=bar'/,
  );
  assert.equal(
    errorOf("FROM a\nRUN --mount=type=bind,target=/x,mode=0700 true\n").detail,
    'mode not allowed for "bind" type mounts',
  );
  assert.equal(
    errorOf("FROM a\nRUN --mount=type=bind,sharing=locked,target=/x true\n").detail,
    "invalid cache sharing set for bind mount",
  );
  assert.equal(
    errorOf("FROM a\nRUN --mount=type=bind,from=$X,target=/x true\n").detail,
    "'from' doesn't support variable expansion, define alias stage instead",
  );
  assert.equal(
    errorOf("FROM a\nRUN --network=bridge true\n").detail,
    'unsupported network mode "bridge"',
  );
  assert.equal(errorOf("FROM a\nRUN --security=x true\n").detail, 'unsupported security mode "x"');
  assert.equal(
    errorOf("FROM a\nRUN --mount=type=secret true\n").detail,
    "invalid secret mount. one of source, target required",
  );
});

Deno.test("CMD, ENTRYPOINT, SHELL", () => {
  const [cmd, ep, emptyEp, sh] = commands(`FROM a
CMD ["nginx", "-g", "daemon off;"]
ENTRYPOINT exec top -b
ENTRYPOINT []
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
`);
  assert.deepEqual(cmd, {
    ...cmd,
    kind: "cmd",
    cmdLine: ["nginx", "-g", "daemon off;"],
    prependShell: false,
  });
  assert.deepEqual(ep, { ...ep, kind: "entrypoint", cmdLine: ["exec top -b"], prependShell: true });
  assert.deepEqual(emptyEp, { ...emptyEp, kind: "entrypoint", cmdLine: [], prependShell: false });
  assert.deepEqual(sh, { ...sh, kind: "shell", shell: ["/bin/bash", "-o", "pipefail", "-c"] });
  assert.equal(
    errorOf("FROM a\nSHELL /bin/sh -c\n").detail,
    "SHELL requires the arguments to be in JSON form",
  );
});

Deno.test("ENV, LABEL, ARG keep values as written until expanded", () => {
  const [env, legacy, label, arg] = commands(`FROM a
ENV A=1 B="two words" C=\${A}
ENV LEGACY some value
LABEL org.opencontainers.image.title="img" "with space"=yes
ARG X Y=2 Z=
`);
  assert.deepEqual(env, {
    ...env,
    kind: "env",
    env: [
      { key: "A", value: "1", noDelim: false },
      { key: "B", value: '"two words"', noDelim: false },
      { key: "C", value: "${A}", noDelim: false },
    ],
  });
  assert.deepEqual((legacy as { env: unknown }).env, [{
    key: "LEGACY",
    value: "some value",
    noDelim: true,
  }]);
  assert.deepEqual((label as { labels: unknown }).labels, [
    { key: "org.opencontainers.image.title", value: '"img"', noDelim: false },
    { key: '"with space"', value: "yes", noDelim: false },
  ]);
  assert.deepEqual((arg as { args: unknown }).args, [{ key: "X" }, { key: "Y", value: "2" }, {
    key: "Z",
    value: "",
  }]);

  const lex = new ShellLex();
  const vars = { A: "1", HOME: "/root" };
  assert.deepEqual((expandInstruction(env, lex, vars) as { env: unknown }).env, [
    { key: "A", value: "1", noDelim: false },
    { key: "B", value: "two words", noDelim: false },
    { key: "C", value: "1", noDelim: false },
  ]);
  assert.deepEqual(
    (expandInstruction(label, lex, vars) as { labels: { key: string }[] }).labels[1].key,
    "with space",
  );
});

Deno.test("EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER", () => {
  const [expose, vjson, vwords, user, workdir, stop, maint] = commands(`FROM a
EXPOSE 8080/tcp 53/udp $PORTS
VOLUME ["/data", "/logs"]
VOLUME /a /b
USER app:app
WORKDIR \${HOME}/src
STOPSIGNAL SIGTERM
MAINTAINER Jane <jane@example.com>
`);
  assert.deepEqual((expose as { ports: string[] }).ports, ["$PORTS", "53/udp", "8080/tcp"]);
  const lex = new ShellLex();
  const vars = { PORTS: "80 443", HOME: "/home/app" };
  assert.deepEqual(
    (expandInstruction(expose, lex, vars) as { ports: string[] }).ports,
    ["80", "443", "53/udp", "8080/tcp"],
  );
  assert.deepEqual((vjson as { volumes: string[] }).volumes, ["/data", "/logs"]);
  assert.deepEqual((vwords as { volumes: string[] }).volumes, ["/a", "/b"]);
  assert.equal((user as { user: string }).user, "app:app");
  assert.equal((expandInstruction(workdir, lex, vars) as { path: string }).path, "/home/app/src");
  assert.equal((stop as { signal: string }).signal, "SIGTERM");
  assert.equal((maint as { maintainer: string }).maintainer, "Jane <jane@example.com>");
});

Deno.test("COPY and ADD: flags, sources, heredoc sources", () => {
  const [copy, add, jsonCopy, heredoc] = commands(`FROM a
COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=.git a b/ /dest/
ADD --checksum=sha256:abc --keep-git-dir --unpack=false --chown=1 https://example.com/x.tar.gz /x
COPY ["with space", "/dest dir/"]
COPY <<-EOF <<'RAW' /etc/
\thello $NAME
\tEOF
raw $NAME
RAW
`);
  assert.deepEqual(copy, {
    ...copy,
    kind: "copy",
    from: "build",
    chown: "app:app",
    chmod: "0755",
    link: true,
    parents: true,
    excludePatterns: ["*.md", ".git"],
    sourcePaths: ["a", "b/"],
    sourceContents: [],
    destPath: "/dest/",
  });
  assert.deepEqual(add, {
    ...add,
    kind: "add",
    checksum: "sha256:abc",
    keepGitDir: true,
    unpack: false,
    chown: "1",
    chmod: "",
    link: false,
    sourcePaths: ["https://example.com/x.tar.gz"],
    destPath: "/x",
  });
  assert.deepEqual([
    (jsonCopy as CopyInstruction).sourcePaths,
    (jsonCopy as CopyInstruction).destPath,
  ], [[
    "with space",
  ], "/dest dir/"]);
  assert.deepEqual((heredoc as CopyInstruction).sourceContents, [
    { path: "EOF", data: "hello $NAME\n", expand: true },
    { path: "RAW", data: "raw $NAME\n", expand: false },
  ]);
  assert.deepEqual((heredoc as CopyInstruction).sourcePaths, []);
  assert.equal(
    errorOf("FROM a\nCOPY a <<EOF\nx\nEOF\n").detail,
    "COPY cannot accept a heredoc as a destination",
  );
  assert.equal(errorOf("FROM a\nADD --from=x a b\n").detail, "unknown flag: --from");
  assert.equal(
    errorOf("FROM a\nCOPY --link=maybe a b\n").detail,
    "expecting boolean value for flag --link, not: maybe",
  );
  // `--flag value` is read as `--flag=value`, as BuildKit does
  const spaced = commands("FROM a\nCOPY --from build --chown 1:1 b c\n")[0] as CopyInstruction;
  assert.deepEqual([spaced.from, spaced.chown, spaced.sourcePaths, spaced.destPath], [
    "build",
    "1:1",
    ["b"],
    "c",
  ]);
  assert.equal(
    errorOf("FROM a\nCOPY --from=x --from=y a b\n").detail,
    "duplicate flag specified: --from",
  );
  assert.equal(
    errorOf("FROM a\nCOPY --chown= --chmod a b\n").detail,
    "missing a value on flag: --chmod",
  );

  const lex = new ShellLex();
  const expanded = expandInstruction(copy as CopyInstruction, lex, {});
  assert.deepEqual(expanded.sourcePaths, ["a", "b/"]);
});

Deno.test("HEALTHCHECK: options, CMD and CMD-SHELL, NONE", () => {
  const [full, shell, none] = commands(`FROM a
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=2s --start-interval=500ms --retries=3 CMD ["curl", "-f", "http://localhost/"]
HEALTHCHECK CMD curl -f http://localhost/ || exit 1
HEALTHCHECK NONE
`);
  assert.deepEqual((full as { health: unknown }).health, {
    test: ["CMD", "curl", "-f", "http://localhost/"],
    interval: 30e9,
    timeout: 90e9,
    startPeriod: 2e9,
    startInterval: 500e6,
    retries: 3,
  });
  assert.deepEqual((shell as { health: { test: string[] } }).health.test, [
    "CMD-SHELL",
    "curl -f http://localhost/ || exit 1",
  ]);
  assert.deepEqual((none as { health: { test: string[] } }).health.test, ["NONE"]);
  assert.equal(
    errorOf("FROM a\nHEALTHCHECK NONE x\n").detail,
    "HEALTHCHECK NONE takes no arguments",
  );
  assert.equal(
    errorOf("FROM a\nHEALTHCHECK CONNECT TCP 7000\n").detail,
    'Unknown type "CONNECT" in HEALTHCHECK (try CMD)',
  );
  assert.equal(
    errorOf("FROM a\nHEALTHCHECK CMD\n").detail,
    "Missing command after HEALTHCHECK CMD",
  );
  assert.equal(
    errorOf("FROM a\nHEALTHCHECK --retries=-1 CMD x\n").detail,
    "--retries cannot be negative (-1)",
  );
  assert.equal(
    errorOf("FROM a\nHEALTHCHECK --interval=50ns CMD x\n").detail,
    'Interval "interval" cannot be less than 1ms',
  );
  assert.deepEqual(
    (commands("FROM a\nHEALTHCHECK --timeout=0s --retries=0 CMD x\n")[0] as {
      health: { timeout: number };
    })
      .health.timeout,
    0,
  );
});

Deno.test("keywords are case-insensitive and keep how they were written", () => {
  const df = parseDockerfile("from busybox as Base\nrun echo hi\nCopy . /\n");
  assert.equal(df.stages[0].name, "base");
  assert.deepEqual(df.stages[0].commands.map((c) => [c.kind, c.keyword, c.original]), [
    ["run", "run", "run echo hi"],
    ["copy", "Copy", "Copy . /"],
  ]);
});

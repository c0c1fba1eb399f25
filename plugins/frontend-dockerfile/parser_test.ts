import assert from "node:assert/strict";
import { DockerfileError } from "./errors.ts";
import { chompHeredocContent, heredocsFromLine, parseHeredoc } from "./heredoc.ts";
import { detectSyntax, dump, parse, parseWords, splitCommand } from "./parser.ts";

/** The nodes of `text`, dumped as BuildKit's `Node.Dump` does. */
function dumped(text: string): string {
  return dump(parse(text).nodes);
}

function parseError(text: string): DockerfileError {
  try {
    parse(text);
  } catch (e) {
    assert.ok(e instanceof DockerfileError, String(e));
    return e;
  }
  assert.fail("expected a DockerfileError");
}

// BuildKit's parser/testfiles, with the result files (ENV/LABEL dump their `=` separator).
Deno.test("testfiles/docker: tabs, continuations with tabs, legacy ENV, exec form", () => {
  const text = `# This file describes the standard way to build Docker, using docker
#
# Usage:
#

FROM\tubuntu:14.04
LABEL\tmaintainer\tTianon Gravi <admwiggin@gmail.com> (@tianon)

# Packaged dependencies
RUN\tapt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -yq \\
\tapt-utils \\
\taufs-tools \\
\t--no-install-recommends

ENV\tPATH\t/usr/local/go/bin:$PATH
ENV\tDOCKER_CROSSPLATFORMS\t\\
\tlinux/386 linux/arm \\
\tdarwin/amd64 darwin/386
RUN\tcd /usr/local/go/src && bash -xc 'for platform in $DOCKER_CROSSPLATFORMS; do GOOS=\${platform%/*} GOARCH=\${platform##*/} ./make.bash --no-clean 2>&1; done'
RUN\t/bin/echo -e '[default]\\naccess_key=$AWS_ACCESS_KEY\\nsecret_key=$AWS_SECRET_KEY' > /.s3cfg
VOLUME\t/var/lib/docker
WORKDIR\t/go/src/github.com/docker/docker
ENV\tDOCKER_BUILDTAGS\tapparmor selinux
ENTRYPOINT\t["hack/dind"]
COPY\t.\t/go/src/github.com/docker/docker
`;
  assert.equal(
    dumped(text),
    `(from "ubuntu:14.04")
(label "maintainer" "Tianon Gravi <admwiggin@gmail.com> (@tianon)" "")
(run "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -yq \\tapt-utils \\taufs-tools \\t--no-install-recommends")
(env "PATH" "/usr/local/go/bin:$PATH" "")
(env "DOCKER_CROSSPLATFORMS" "linux/386 linux/arm \\tdarwin/amd64 darwin/386" "")
(run "cd /usr/local/go/src && bash -xc 'for platform in $DOCKER_CROSSPLATFORMS; do GOOS=\${platform%/*} GOARCH=\${platform##*/} ./make.bash --no-clean 2>&1; done'")
(run "/bin/echo -e '[default]\\\\naccess_key=$AWS_ACCESS_KEY\\\\nsecret_key=$AWS_SECRET_KEY' > /.s3cfg")
(volume "/var/lib/docker")
(workdir "/go/src/github.com/docker/docker")
(env "DOCKER_BUILDTAGS" "apparmor selinux" "")
(entrypoint "hack/dind")
(copy "." "/go/src/github.com/docker/docker")
`,
  );
});

Deno.test("testfiles/health: HEALTHCHECK forms", () => {
  const text = `FROM debian
ADD check.sh main.sh /app/
CMD /app/main.sh
HEALTHCHECK
HEALTHCHECK --interval=5s --timeout=3s --retries=3 \\
  CMD /app/check.sh --quiet
HEALTHCHECK CMD
HEALTHCHECK   CMD   a b
HEALTHCHECK --timeout=3s CMD ["foo"]
HEALTHCHECK CONNECT TCP 7000
`;
  assert.equal(
    dumped(text),
    `(from "debian")
(add "check.sh" "main.sh" "/app/")
(cmd "/app/main.sh")
(healthcheck)
(healthcheck ["--interval=5s" "--timeout=3s" "--retries=3"] "CMD" "/app/check.sh --quiet")
(healthcheck "CMD")
(healthcheck "CMD" "a b")
(healthcheck ["--timeout=3s"] "CMD" "foo")
(healthcheck "CONNECT" "TCP 7000")
`,
  );
});

Deno.test("testfiles/continueIndent: continuation lines keep their indentation", () => {
  const text = `FROM ubuntu:14.04

RUN echo hello\\
  world\\
  goodnight  \\
  moon\\
  light\\
ning
RUN echo hello  \\
  world
RUN echo hello  \\
world
RUN echo hello \\
goodbye\\
frog
RUN echo hi \\
 \\
 world \\
\\
 good\\
\\
night
RUN echo goodbye\\
frog
RUN echo good\\
bye\\
frog

RUN echo hello \\
# this is a comment that is dropped: the continuation goes on
RUN echo this is some more useful stuff
`;
  assert.equal(
    dumped(text),
    `(from "ubuntu:14.04")
(run "echo hello  world  goodnight    moon  lightning")
(run "echo hello    world")
(run "echo hello  world")
(run "echo hello goodbyefrog")
(run "echo hi   world  goodnight")
(run "echo goodbyefrog")
(run "echo goodbyefrog")
(run "echo hello RUN echo this is some more useful stuff")
`,
  );
});

Deno.test("testfiles/ADD-COPY-with-JSON: exec form lists", () => {
  const text = `FROM\tubuntu:14.04
MAINTAINER\tSeongyeol Lim <seongyeol37@gmail.com>

COPY\t.\t/go/src/github.com/docker/docker
ADD\t\t.\t/
ADD\t\tnull /
COPY\tnullfile /tmp
ADD\t\t[ "vimrc", "/tmp" ]
COPY\t[ "bashrc", "/tmp" ]
COPY\t[ "test file", "/tmp" ]
ADD\t\t[ "test file", "/tmp/test file" ]
`;
  assert.equal(
    dumped(text),
    `(from "ubuntu:14.04")
(maintainer "Seongyeol Lim <seongyeol37@gmail.com>")
(copy "." "/go/src/github.com/docker/docker")
(add "." "/")
(add "null" "/")
(copy "nullfile" "/tmp")
(add "vimrc" "/tmp")
(copy "bashrc" "/tmp")
(copy "test file" "/tmp")
(add "test file" "/tmp/test file")
`,
  );
});

Deno.test("testfiles/escapes: backslashes are kept for the shell", () => {
  const text = `FROM ubuntu:14.04
MAINTAINER Erik \\\\Hollensbe <erik@hollensbe.org>\\"

RUN apt-get \\update && \\
  apt-get \\"install znc -y
ADD \\conf\\\\" /.znc

RUN foo \\
bar \\
baz

CMD [ "\\/usr\\\\\\"/bin/znc", "-f", "-r" ]
`;
  assert.equal(
    dumped(text),
    `(from "ubuntu:14.04")
(maintainer "Erik \\\\\\\\Hollensbe <erik@hollensbe.org>\\\\\\"")
(run "apt-get \\\\update &&   apt-get \\\\\\"install znc -y")
(add "\\\\conf\\\\\\\\\\"" "/.znc")
(run "foo bar baz")
(cmd "/usr\\\\\\"/bin/znc" "-f" "-r")
`,
  );
});

Deno.test("testfiles/escape: the backtick escape directive", () => {
  assert.equal(
    dumped("#escape = `\n\nFROM image\nMAINTAINER foo@bar.com\nENV GOPATH `\n\\go"),
    '(from "image")\n(maintainer "foo@bar.com")\n(env "GOPATH" "\\\\go" "")\n',
  );
  const r = parse("# escape=`\nFROM image\n");
  assert.equal(r.escapeToken, "`");
  assert.deepEqual(r.directives, [{ name: "escape", value: "`", line: 1 }]);
});

Deno.test("testfiles/escape-after-comment: a directive after a comment is a comment", () => {
  const text = `# Comment here. Should not be looking for the following parser directive.
# escape = \`

FROM image
MAINTAINER foo@bar.com
ENV GOPATH \\
\\go`;
  const r = parse(text);
  assert.equal(r.escapeToken, "\\");
  assert.deepEqual(r.directives, []);
  assert.equal(
    dump(r.nodes),
    '(from "image")\n(maintainer "foo@bar.com")\n(env "GOPATH" "\\\\go" "")\n',
  );
});

Deno.test("directives: syntax, escape and check, case-insensitive, only at the top", () => {
  const r = parse(
    "# syntax=docker/dockerfile:1.7\n#  ESCAPE = `\n# check=skip=all;error=true\nFROM a\n",
  );
  assert.deepEqual(r.directives, [
    { name: "syntax", value: "docker/dockerfile:1.7", line: 1 },
    { name: "escape", value: "`", line: 2 },
    { name: "check", value: "skip=all;error=true", line: 3 },
  ]);
  assert.equal(r.escapeToken, "`");
  // a directive after an instruction is an ordinary comment
  assert.deepEqual(parse("FROM a\n# escape=`\nRUN x \\\n y\n").directives, []);
  // an unknown directive ends the directives
  assert.deepEqual(parse("# foo=bar\n# syntax=x\nFROM a\n").directives, []);
  assert.equal(
    detectSyntax("\uFEFF# syntax = example.com/fe:1\nFROM a\n")?.value,
    "example.com/fe:1",
  );
});

Deno.test("directives: a repeated or invalid directive is an error on its line", () => {
  const dup = parseError("# escape=`\n# ESCAPE=`\nFROM a\n");
  assert.equal(dup.message, "Dockerfile:2: only one escape parser directive can be used");
  const bad = parseError("# escape=x\nFROM a\n");
  assert.equal(bad.line, 1);
  assert.match(bad.message, /^Dockerfile:1: invalid escape token 'x' does not match ` or \\$/);
});

Deno.test("line numbers: start and end of each instruction, BOM and CRLF", () => {
  const text =
    "\uFEFF# comment\r\n\r\nFROM busybox\r\n\r\nRUN echo a \\\r\n  b \\\r\n\r\n  # inside\r\n  c\r\nCMD x\r\n";
  const r = parse(text);
  assert.deepEqual(r.nodes.map((n) => [n.value, n.startLine, n.endLine]), [
    ["from", 3, 3],
    ["run", 5, 9],
    ["cmd", 10, 10],
  ]);
  assert.deepEqual(r.nodes[1].args, ["echo a   b   c"]);
  assert.equal(r.nodes[1].original, "RUN echo a   b   c");
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0].message, /^Empty continuation line found in: RUN echo a/);
});

Deno.test("empty continuation lines and comments inside continuations are dropped", () => {
  const text = `
FROM alpine:3.6

RUN something \\

    following \\

    more

RUN another \\

    thing
RUN non-indented \\
# this is a comment
   after-comment

RUN indented \\
    # this is an indented comment
    comment
`;
  const r = parse(text);
  assert.equal(
    dump(r.nodes),
    `(from "alpine:3.6")
(run "something     following     more")
(run "another     thing")
(run "non-indented    after-comment")
(run "indented     comment")
`,
  );
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0].message, /RUN something {5}following {5}more/);
  assert.match(r.warnings[1].message, /RUN another {5}thing/);
});

Deno.test("comments above an instruction are attached to it", () => {
  const r = parse("# syntax=docker/dockerfile:1\n# the base\n# image\nFROM a\n#\n# x\nRUN b\n");
  assert.deepEqual(r.nodes[0].comments, ["the base", "image"]);
  assert.deepEqual(r.nodes[1].comments, ["x"]);
});

Deno.test("JSON form, and invalid JSON falling back to shell form", () => {
  const r = parse(`FROM a
CMD ["echo", "hi"]
CMD [ "echo" , "a b" ]
CMD [echo, hi]
CMD ["echo", "hi"] trailing
CMD ['echo']
RUN ["a"
CMD []
VOLUME ["/a", "/b"]
VOLUME /c /d
SHELL ["/bin/bash", "-c"]
`);
  const cmds = r.nodes.slice(1).map((n) => [n.value, n.json, n.args]);
  assert.deepEqual(cmds, [
    ["cmd", true, ["echo", "hi"]],
    ["cmd", true, ["echo", "a b"]],
    ["cmd", false, ["[echo, hi]"]],
    ["cmd", false, ['["echo", "hi"] trailing']],
    ["cmd", false, ["['echo']"]],
    ["run", false, ['["a"']],
    ["cmd", true, []],
    ["volume", true, ["/a", "/b"]],
    ["volume", false, ["/c", "/d"]],
    ["shell", true, ["/bin/bash", "-c"]],
  ]);
  const err = parseError('FROM a\n\nRUN ["echo", 1]\n');
  assert.equal(
    err.message,
    "Dockerfile:3: when using JSON array syntax, arrays must be comprised of strings only",
  );
});

Deno.test("ENV and LABEL: new and legacy forms, quotes kept for the lexer", () => {
  const r = parse(`FROM a
ENV a=b c="d e" f=g\\ h
ENV legacy some value  here
LABEL "com.example.vendor"="ACME Inc" version=1.0
ARG x=1 y "z=a b"
`);
  assert.deepEqual(r.nodes[1].args, ["a", "b", "=", "c", '"d e"', "=", "f", "g\\ h", "="]);
  assert.deepEqual(r.nodes[2].args, ["legacy", "some value  here", ""]);
  assert.deepEqual(r.nodes[3].args, [
    '"com.example.vendor"',
    '"ACME Inc"',
    "=",
    "version",
    "1.0",
    "=",
  ]);
  assert.deepEqual(r.nodes[4].args, ["x=1", "y", '"z=a b"']);
  assert.equal(
    parseError("FROM a\nENV onlyname\n").message,
    "Dockerfile:2: ENV must have two arguments",
  );
  assert.equal(
    parseError("FROM a\nENV a=b c\n").message,
    `Dockerfile:2: Syntax error - can't find = in "c". Must be of the form: name=value`,
  );
});

Deno.test("flags are split off before the arguments", () => {
  assert.deepEqual(splitCommand("COPY --from=build --chown=1:1 a b"), [
    "COPY",
    ["--from=build", "--chown=1:1"],
    "a b",
  ]);
  assert.deepEqual(splitCommand('RUN --mount="type=cache,target=/x" make'), [
    "RUN",
    ["--mount=type=cache,target=/x"],
    "make",
  ]);
  assert.deepEqual(splitCommand("RUN --network none -- --not-a-flag"), [
    "RUN",
    ["--network=none"],
    "--not-a-flag",
  ]);
  assert.deepEqual(splitCommand("COPY --link --parents a/b c /d/"), [
    "COPY",
    ["--link", "--parents"],
    "a/b c /d/",
  ]);
  assert.deepEqual(splitCommand("  FROM  "), ["FROM", [], ""]);
});

Deno.test("parseWords keeps quotes and escapes", () => {
  const cases: [string, string[]][] = [
    ["foo", ["foo"]],
    ["foo bar", ["foo", "bar"]],
    ["foo\\ bar", ["foo\\ bar"]],
    ["foo=bar", ["foo=bar"]],
    ["foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]],
    ['foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']],
    ["àöû", ["àöû"]],
    ['föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseWords(input), expected, input);
});

Deno.test("ONBUILD nests its instruction", () => {
  const r = parse("FROM a\nONBUILD RUN echo hi\nONBUILD ADD --chown=1 . /app\n");
  assert.equal(
    dump(r.nodes.slice(1)),
    '(onbuild (run "echo hi"))\n(onbuild (add ["--chown=1"] "." "/app"))\n',
  );
  assert.equal(r.nodes[1].sub?.startLine, 2);
});

Deno.test("unknown instructions are kept for the instruction layer", () => {
  assert.equal(dumped("FROM a\nFORM b c\n"), '(from "a")\n(form)\n');
});

Deno.test("a file with no instructions is an error", () => {
  assert.equal(
    parseError("# only\n\n# comments\n").message,
    "Dockerfile:3: file with no instructions",
  );
  assert.equal(
    (() => {
      try {
        parse("", { fileName: "app.Dockerfile" });
      } catch (e) {
        return (e as Error).message;
      }
    })(),
    "app.Dockerfile: file with no instructions",
  );
});

// BuildKit's parser_heredoc_test.go
Deno.test("heredocs: extracted with their flags and bodies", () => {
  const r = parse(`
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<X <<Y /dest
Y
X
X
Y
`);
  const h = (name: string, content: string, extra: Partial<Record<string, unknown>> = {}) => ({
    name,
    fileDescriptor: 0,
    expand: true,
    chomp: false,
    content,
    ...extra,
  });
  const expected = [
    [], // ENV
    [], // RUN ls
    [], // USER <<INVALID
    [], // INVALID
    [h("EMPTY", "")],
    [h("EMPTY2", "", { fileDescriptor: 3 })],
    [], // RUN "<<NOHEREDOC"
    [h("INDENT", "\tfoo\n\tbar\n")],
    [h("UNINDENT", "\tbaz\n\tquux\n", { chomp: true })],
    [h("UNINDENT2", "\tbaz\n\tquux\n", { chomp: true })],
    [h("EXPAND", "\texpand $NAME\n", { chomp: true })],
    [h("NOEXPAND", "\tdon't expand $NAME\n", { chomp: true, expand: false })],
    [h("COPY", "echo hello world\necho foo bar\n")],
    [h("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n")],
    [h("MOUNT", "echo hello\n")],
    [h("FILE1", "content 1\n"), h("FILE2", "content 2\n")],
    [h("X", "Y\n"), h("Y", "X\n")],
  ];
  assert.equal(r.nodes.length, expected.length + 1);
  expected.forEach((want, i) => assert.deepEqual(r.nodes[i + 1].heredocs, want, `node ${i + 1}`));
  // the line numbers cover the bodies
  const copy = r.nodes[r.nodes.length - 1];
  assert.deepEqual([copy.startLine, copy.endLine], [63, 67]);
});

Deno.test("heredocs: not in exec form, and an unterminated one is an error", () => {
  const r = parse('FROM alpine\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n');
  for (const n of r.nodes.slice(1)) assert.deepEqual(n.heredocs, []);
  const err = parseError("FROM a\nRUN <<EOF\necho hi\n");
  assert.equal(err.message, "Dockerfile:2: unterminated heredoc");
  assert.equal(err.endLine, 3);
  const onbuild = parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").nodes[1];
  assert.deepEqual(onbuild.heredocs.map((x) => x.content), ["echo hi\n"]);
});

Deno.test("heredoc helpers: parseHeredoc, heredocsFromLine, chomp", () => {
  for (const src of ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"']) {
    assert.equal(parseHeredoc(src)?.name, "EOF", src);
  }
  assert.equal(parseHeredoc("<<'EOF'")?.expand, false);
  assert.equal(parseHeredoc('<<"EOF"')?.expand, false);
  assert.equal(parseHeredoc("<<EOF")?.expand, true);
  for (const src of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
    assert.throws(() => parseHeredoc(src), Error, src);
  }
  for (const src of ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF"]) {
    assert.equal(parseHeredoc(src), undefined, src);
  }
  const lines: [string, string[]][] = [
    ["RUN <<EOF", ["EOF"]],
    ["RUN <<-EOF", ["EOF"]],
    ["RUN <<'EOF'", ["EOF"]],
    ["RUN 4<<EOF", ["EOF"]],
    ["RUN <<EOF <<EOF2", ["EOF", "EOF2"]],
    ["RUN '<<EOF'", []],
    ['RUN "<<EOF"', []],
  ];
  for (const [line, names] of lines) {
    assert.deepEqual(heredocsFromLine(line).map((h) => h.name), names, line);
  }
  assert.equal(chompHeredocContent("\thello\n\t\tworld\n"), "hello\nworld\n");
});

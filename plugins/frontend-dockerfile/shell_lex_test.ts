import assert from "node:assert/strict";
import { expandsVariables, ShellLex, ShellLexError } from "./shell_lex.ts";

// Cases from BuildKit's frontend/dockerfile/shell/envVarTest (platform "A" and "U" lines),
// with env PWD=/home SHELL=bash KOREAN=한국어 NULL= .
const ENV = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="];
const ENV_VAR_CASES: [string, string | Error][] = [
  ["hello", "hello"],
  ["he'll'o", "hello"],
  ["he'llo", Error()],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", Error()],
  ["abc\\tdef", "abctdef"],
  ['"abc\\tdef"', "abc\\tdef"],
  ['"abc\\\\tdef"', "abc\\tdef"],
  ["'abc\\tdef'", "abc\\tdef"],
  ["hello\\", "hello"],
  ["hello\\\\", "hello\\"],
  ['"hello', Error()],
  ['"hello\\"', Error()],
  ['"hel\'lo"', "hel'lo"],
  ["'hello", Error()],
  ["'hello\\'", "hello\\"],
  ["'hello\\there'", "hello\\there"],
  ["'hello\\\\there'", "hello\\\\there"],
  ["\"'\\''\"", "'\\''"],
  ["$.", "$."],
  ["he$1x", "hex"],
  ["he$.x", "he$.x"],
  ["he$pwd.", "he."],
  ["he$PWD", "he/home"],
  ["he\\$PWD", "he$PWD"],
  ["he\\\\$PWD", "he\\/home"],
  ['"he\\$PWD"', "he$PWD"],
  ['"he\\\\$PWD"', "he\\/home"],
  ["\\${}", "${}"],
  ["\\${}aaa", "${}aaa"],
  ["he\\${}", "he${}"],
  ["he\\${}xx", "he${}xx"],
  ["${}", Error()],
  ["${}aaa", Error()],
  ["he${}", Error()],
  ["he${}xx", Error()],
  ["he${hi}", "he"],
  ["he${hi}xx", "hexx"],
  ["he${PWD}", "he/home"],
  ["he${.}", Error()],
  ["he${XXX:-000}xx", "he000xx"],
  ["he${PWD:-000}xx", "he/homexx"],
  ["he${XXX:-$PWD}xx", "he/homexx"],
  ["he${XXX:-${PWD:-yyy}}xx", "he/homexx"],
  ["he${XXX:-${YYY:-yyy}}xx", "heyyyxx"],
  ["he${XXX:YYY}", Error()],
  ["he${XXX?}", Error()],
  ["he${XXX:?}", Error()],
  ["he${PWD?}", "he/home"],
  ["he${PWD:?}", "he/home"],
  ["he${NULL?}", "he"],
  ["he${NULL:?}", Error()],
  ["he${XXX:+${PWD}}xx", "hexx"],
  ["he${PWD:+${XXX}}xx", "hexx"],
  ["he${PWD:+${SHELL}}xx", "hebashxx"],
  ["he${XXX:+000}xx", "hexx"],
  ["he${PWD:+000}xx", "he000xx"],
  ["'he${XX}'", "he${XX}"],
  ['"he${PWD}"', "he/home"],
  ["\"he'$PWD'\"", "he'/home'"],
  ['"$PWD"', "/home"],
  ["'$PWD'", "$PWD"],
  ["'\\$PWD'", "\\$PWD"],
  ['"hello"', "hello"],
  ["he\\$PWD", "he$PWD"],
  ['"he\\$PWD"', "he$PWD"],
  ["'he\\$PWD'", "he\\$PWD"],
  ["he${PWD", Error()],
  ["he${PWD:=000}xx", Error()],
  ["he${PWD:+${PWD}:}xx", "he/home:xx"],
  ["he${XXX:-\\$PWD:}xx", "he$PWD:xx"],
  ["he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"],
  ["무한도전", "무한도전"],
  ["무한\\$도전", "무한$도전"],
  ["무한\\${}도전", "무한${}도전"],
  ["무한${}도전", Error()],
  ["무한$KOREAN", "무한한국어"],
  ["무한${KOREAN}", "무한한국어"],
  ["무한${KOREAN:-$PWD}", "무한한국어"],
  ["무한${XXX:-$KOREAN}", "무한한국어"],
  ["${NULL-default}", ""],
  ["${NULL:-default}", "default"],
  ["${NULL+set}", "set"],
  ["${NULL:+set}", ""],
  ["${UNSET-default}", "default"],
  ["${UNSET+set}", ""],
];

Deno.test("processWord matches BuildKit's envVarTest corpus", () => {
  const lex = new ShellLex("\\");
  for (const [source, expected] of ENV_VAR_CASES) {
    if (expected instanceof Error) {
      assert.throws(() => lex.processWord(source, ENV), ShellLexError, `input ${source}`);
    } else {
      assert.equal(lex.processWord(source, ENV), expected, `input ${source}`);
    }
  }
});

// BuildKit's shell/wordsTest: ProcessWords after the given ENV lines.
const WORDS_CASES: [string, string[]][] = [
  ["hello", ["hello"]],
  ["hello${hi}bye", ["hellobye"]],
  ["hello ${hi} bye", ["hello", "bye"]],
  ["hello \\\\ ${hi} bye", ["hello", "\\", "bye"]],
  ["hello ${hi}bye", ["hello", "bye"]],
  ["hello ${hi} ${hi}bye", ["hello", "bye"]],
  ["hello$PWD", ["hello/home"]],
  ["hello'$PWD'", ["hello$PWD"]],
  ['hello"$PWD"', ["hello/home"]],
  ["hello ${PWD}bye", ["hello", "/homebye"]],
  ["hello ${PWD} ${PWD}bye", ["hello", "/home", "/homebye"]],
  ['hello "${PWD}" bye', ["hello", "/home", "bye"]],
  ['hello "${PWD} bye"', ["hello", "/home bye"]],
  ["hello \"a b\" ' c d '", ["hello", "a b", " c d "]],
  ["hello $WORDS", ["hello", "w1", "w2", "w3"]],
  ['hello "$WORDS"', ["hello", "w1 w2 w3"]],
  ["$STRANGE", ["\\'"]],
  ["\\$WORDS", ["$WORDS"]],
  ["${WORDS}", ["w1", "w2", "w3"]],
  ["${WORDS:-x}", ["w1", "w2", "w3"]],
  ["${UNSET:-a b}", ["a", "b"]],
  ["'${UNSET:-a b}'", ["${UNSET:-a b}"]],
];

Deno.test("processWords splits after expansion, as BuildKit's wordsTest", () => {
  const lex = new ShellLex("\\");
  const env = ["PWD=/home", "WORDS=w1 w2 w3", "STRANGE=\\'"];
  for (const [source, expected] of WORDS_CASES) {
    assert.deepEqual(lex.processWords(source, env), expected, `input ${source}`);
  }
});

Deno.test("processWordWithMatches reports used and unset variables", () => {
  const lex = new ShellLex("\\");
  const cases: {
    input: string;
    env: Record<string, string>;
    expected?: string;
    matched?: string[];
    unmatched?: string[];
  }[] = [
    { input: "x", env: { DUMMY: "dummy" }, expected: "x" },
    { input: "x ${UNUSED}", env: { DUMMY: "dummy" }, expected: "x ", unmatched: ["UNUSED"] },
    { input: "x ${FOO}", env: { FOO: "y" }, expected: "x y", matched: ["FOO"] },
    {
      input: "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
      env: { FOO: "xxx", BAR: "" },
      expected: "xxx  ccc",
      matched: ["FOO", "BAR"],
      unmatched: ["BAZ"],
    },
    {
      input: "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
      env: { FOO: "xxx", BAR: "" },
      expected: "xxx bbb ccc",
      matched: ["FOO", "BAR"],
      unmatched: ["BAZ"],
    },
    { input: "${FOO:-}", env: {}, expected: "", unmatched: ["FOO"] },
    {
      input: "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
      env: { FOO: "xxx", BAR: "" },
      expected: "aaa bbb ",
      matched: ["FOO", "BAR"],
      unmatched: ["BAZ"],
    },
    {
      input: "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
      env: { FOO: "xxx", BAR: "" },
      expected: "aaa  ",
      matched: ["FOO", "BAR"],
      unmatched: ["BAZ"],
    },
    { input: "${FOO?aaa}", env: { FOO: "xxx" }, expected: "xxx", matched: ["FOO"] },
    { input: "${BAR?bbb}", env: { BAR: "" }, expected: "", matched: ["BAR"] },
    { input: "${BAZ?ccc}", env: {} },
    { input: "${BAR:?bbb}", env: { BAR: "" } },
    { input: "${BAZ:?}", env: {} },
    { input: "${FOO=aaa}", env: { FOO: "xxx" } },
    { input: "${FOO=}", env: {} },
    {
      input: "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
      env: { FOO: "()[]{}^$.*?|\\x" },
      expected: "x",
      matched: ["FOO"],
    },
    { input: "${FOO%%\\**}", env: { FOO: "xx**" }, expected: "xx", matched: ["FOO"] },
    { input: "${FOO#*x*y}", env: { FOO: "xxyy" }, expected: "y", matched: ["FOO"] },
    { input: "${FOO#*}", env: { FOO: "xxyy" }, expected: "xxyy", matched: ["FOO"] },
    {
      input: "${FOO#$BAR}",
      env: { FOO: "xxyy", BAR: "x" },
      expected: "xyy",
      matched: ["FOO", "BAR"],
    },
    { input: "${FOO##*x}", env: { FOO: "xxyy" }, expected: "yy", matched: ["FOO"] },
    { input: "${FOO#?\\?}", env: { FOO: "???y" }, expected: "?y", matched: ["FOO"] },
    {
      input: "${ABC:-.}${FOO%x}${ABC:-.}",
      env: { FOO: "xxyy" },
      expected: ".xxyy.",
      matched: ["FOO"],
      unmatched: ["ABC"],
    },
    { input: "${FOO%%\\**\\*}", env: { FOO: "a***yy*" }, expected: "a", matched: ["FOO"] },
    { input: "${FOO:#}", env: {} },
    { input: "${FOO:%%}", env: {} },
    {
      input: "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
      env: { FOO: "/foo*/*/*.txt", NEEDLE: "\\*/" },
      expected: "/foo.*/*.txt - /foo..*.txt",
      matched: ["FOO", "NEEDLE"],
    },
    {
      input: "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
      env: { FOO: "/tmp/tmp/bar.txt", NEEDLE: "/tmp" },
      expected: "/tmp/bar.txt - /bar.txt",
      matched: ["FOO", "NEEDLE"],
    },
    {
      input: "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
      env: { FOO: "/a/foo/b/c.txt", NEEDLE: "/?/", REPLACEMENT: "/" },
      expected: "/foo/b/c.txt - /foo/c.txt",
      matched: ["FOO", "NEEDLE", "REPLACEMENT"],
    },
    {
      input: "${FOO//\\//\\/}",
      env: { FOO: "/tmp/foo.txt" },
      expected: "\\/tmp\\/foo.txt",
      matched: ["FOO"],
    },
    { input: "${FOO//ww}", env: { FOO: "xxyy" } },
    { input: "${FOO///}", env: { FOO: "xxyy" }, expected: "xxyy", matched: ["FOO"] },
  ];
  for (const c of cases) {
    if (c.expected === undefined) {
      assert.throws(() => lex.processWordWithMatches(c.input, c.env), ShellLexError, c.input);
      continue;
    }
    const r = lex.processWordWithMatches(c.input, c.env);
    assert.equal(r.result, c.expected, c.input);
    assert.deepEqual([...r.matched].sort(), [...(c.matched ?? [])].sort(), c.input);
    assert.deepEqual([...r.unmatched].sort(), [...(c.unmatched ?? [])].sort(), c.input);
  }
});

Deno.test("${x:?msg} and ${x?msg} fail with the message, expanded", () => {
  const lex = new ShellLex("\\");
  const noEmpty = "${VAR:?message here$ARG}";
  const noUnset = "${VAR?message here$ARG}";
  assert.equal(lex.processWord(noEmpty, ["VAR=plain", "ARG=x"]), "plain");
  assert.throws(() => lex.processWord(noEmpty, ["VAR=", "ARG=x"]), /VAR: message herex/);
  assert.throws(() => lex.processWord(noEmpty, ["ARG=x"]), /VAR: message herex/);
  assert.equal(lex.processWord(noUnset, ["VAR=", "ARG=x"]), "");
  assert.throws(() => lex.processWord(noUnset, ["ARG=x"]), /VAR: message herex/);
  assert.throws(
    () => lex.processWord("${VAR:?}", {}),
    { message: 'failed to process "${VAR:?}": VAR: is not allowed to be unset' },
  );
});

Deno.test("the backtick escape token escapes, and backslash is then literal", () => {
  const lex = new ShellLex("`");
  assert.equal(lex.processWord("c:\\windows\\`$x", { x: "1" }), "c:\\windows\\$x");
  assert.equal(lex.processWord('"a`"b"', {}), 'a"b');
  assert.deepEqual(lex.processWords("a` b c", {}), ["a b", "c"]);
});

Deno.test("the last of repeated KEY=value strings wins, and env may be a Map", () => {
  const lex = new ShellLex();
  assert.equal(lex.processWord("$car", ["foo=bar", "car=hat", "car=bike"]), "bike");
  assert.equal(lex.processWord("$a-$b", new Map([["a", "1"], ["b", "2"]])), "1-2");
  assert.equal(lex.processWord("[$foo]", ["foo"]), "[]");
});

Deno.test("skipUnsetEnv and rawQuotes keep what is not expanded", () => {
  const lex = new ShellLex("\\", { skipUnsetEnv: true, rawQuotes: true });
  assert.deepEqual(
    lex.processWords("$SET ${UNSET} ${UNSET:-d} 'q'", { SET: "s" }),
    ["s", "${UNSET}", "${UNSET:-d}", "'q'"],
  );
});

Deno.test("expandsVariables follows docker's environment replacement list", () => {
  for (const i of ["ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER"]) {
    assert.equal(expandsVariables(i), true, i);
  }
  for (const i of ["volume", "workdir", "arg"]) assert.equal(expandsVariables(i), true, i);
  for (const i of ["RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK", "MAINTAINER", "ONBUILD"]) {
    assert.equal(expandsVariables(i), false, i);
  }
});

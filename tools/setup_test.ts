import assert from "node:assert/strict";
import { firstProblem, jobCommand, PASS_THROUGH } from "./setup.ts";
import { MAIN } from "../tests/_util/img.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const ROOT = Deno.uid() === 0;
/** A user the root-only tests create: an ordinary (system) user, so no subordinate ranges. */
const NOSUB = "imgnosub";
if (!ROOT) {
  console.error(
    "setup_test: the tests as a user without subordinate ranges need root to create and become that user (.ci/run runs them as root)",
  );
}

Deno.test("the test job runs deno test with its arguments; the demo runs examples/demo.ts", () => {
  assert.deepEqual(jobCommand("test", ["a_test.ts"]), [Deno.execPath(), "test", "-A", "a_test.ts"]);
  assert.deepEqual(jobCommand("demo", []), [
    Deno.execPath(),
    "run",
    "-A",
    `${REPO}/examples/demo.ts`,
  ]);
});

Deno.test({
  name: "the unprivileged test user's host is ready for the demo and the tests",
  ignore: ROOT,
  async fn() {
    // The suite runs as the user `deno task test` set up: nothing it requires may be missing.
    for (const job of ["demo", "test"] as const) {
      const { problem } = await firstProblem(job);
      assert.equal(problem, null);
    }
  },
});

async function ensureNoSubUser(): Promise<string> {
  const exists = await new Deno.Command("id", { args: [NOSUB], stdout: "null", stderr: "null" })
    .output();
  if (!exists.success) {
    const made = await new Deno.Command("useradd", {
      args: ["--system", "--create-home", "--shell", "/bin/bash", NOSUB],
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
  }
  for (const f of ["/etc/subuid", "/etc/subgid"]) {
    const text = await Deno.readTextFile(f).catch(() => "");
    assert.ok(
      !text.split("\n").some((l) => l.startsWith(`${NOSUB}:`)),
      `${NOSUB} has a range in ${f}`,
    );
  }
  const home = new TextDecoder().decode(
    (await new Deno.Command("getent", { args: ["passwd", NOSUB] }).output()).stdout,
  ).split(":")[5];
  return home;
}

async function asNoSub(home: string, argv: string[]) {
  const started = performance.now();
  const out = await new Deno.Command("runuser", {
    args: [
      "-u",
      NOSUB,
      "--",
      "env",
      "-i",
      `HOME=${home}`,
      `PATH=${Deno.env.get("PATH")}`,
      "NO_COLOR=1",
      ...PASS_THROUGH.filter((k) => k !== "NO_COLOR" && Deno.env.get(k) !== undefined)
        .map((k) => `${k}=${Deno.env.get(k)}`),
      ...argv,
    ],
    cwd: REPO,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return {
    code: out.code,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
    seconds: (performance.now() - started) / 1000,
  };
}

Deno.test({
  name: "deno task demo as a user without subordinate ranges stops at once with the fix",
  ignore: !ROOT,
  async fn() {
    const home = await ensureNoSubUser();
    // The first `deno task` of a user downloads every npm package deno.json names
    // (denoland/deno#30887) before the task runs: the time is taken once that is cached.
    await asNoSub(home, [Deno.execPath(), "task", "demo"]);
    const run = await asNoSub(home, [Deno.execPath(), "task", "demo"]);
    assert.notEqual(run.code, 0);
    assert.equal(run.stdout, "");
    const lines = run.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("Task "));
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0],
      /^img: No subordinate uid range for imgnosub in \/etc\/subuid: .*usermod --add-subuids \d+-\d+ imgnosub/,
    );
    assert.ok(run.seconds < 2, `took ${run.seconds.toFixed(2)} s`);
  },
});

Deno.test({
  name: "img doctor as a user without subordinate ranges shows the fix and exits non-zero",
  ignore: !ROOT,
  async fn() {
    const home = await ensureNoSubUser();
    const run = await asNoSub(home, [Deno.execPath(), "run", "-A", MAIN, "doctor"]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^MISSING\s+build\s+subordinate ids/m);
    assert.match(run.stdout, /usermod --add-subuids \d+-\d+ imgnosub/);
    assert.match(run.stderr, /^img: 1 thing\(s\) a build needs are missing: subordinate ids$/m);
  },
});

import assert from "node:assert/strict";
import { formatTrace, processStartTime, Tracer } from "./trace.ts";

Deno.test("trace: spans nest and are recorded when they end", () => {
  const t = new Tracer(true);
  const outer = t.span("outer");
  {
    using _inner = t.span("inner");
  }
  outer.end();
  outer.end();
  assert.deepEqual(t.records.map((r) => [r.name, r.depth]), [["inner", 1], ["outer", 0]]);
  const [inner, out] = t.records;
  assert.ok(out.start <= inner.start && inner.end <= out.end);
  const table = formatTrace(t.records, out.start);
  assert.match(table, /^parent\s+outer\s+1\s+[\d.]+\s+0\.0$/m);
  assert.match(table, /^parent\s+ {2}inner\s+1\s/m);
});

Deno.test("trace: add() sums the calls of one phase", () => {
  const t = new Tracer(true);
  t.add("write", 1000, 1002);
  t.add("write", 2000, 2003);
  assert.match(formatTrace(t.records, 1000), /^parent\s+write\s+2\s+5\.0\s+0\.0$/m);
});

Deno.test("trace: off records nothing", () => {
  const t = new Tracer(false);
  using _s = t.span("x");
  t.add("y", t.now());
  assert.deepEqual(t.now(), 0);
  assert.deepEqual(t.records, []);
});

Deno.test("trace: the process started before the runtime", () => {
  const started = processStartTime();
  assert.ok(started !== undefined);
  assert.ok(started <= performance.timeOrigin + 50, "at most a few 10 ms ticks late");
  // After the machine booted (the test runner may have started long before this test).
  const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  assert.ok(started >= Date.now() - uptime * 1000 - 1000);
});

const SCRIPT = `
import { markStartup, span, traceChildEnv } from "${new URL("./trace.ts", import.meta.url)}";
markStartup(performance.timeOrigin + performance.now());
if (Deno.args[0] === "child") {
  using _c = span("child work");
} else {
  using _p = span("parent work");
  const env = traceChildEnv();
  await new Deno.Command(Deno.execPath(), { args: ["run", "-A", import.meta.filename!, "child"], env })
    .output();
}
`;

async function runScript(env: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/script.ts`;
    await Deno.writeTextFile(path, SCRIPT);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path],
      env: { ...env, TMPDIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(left, ["script.ts"], "the child's trace file is removed");
    return new TextDecoder().decode(out.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("trace: off by default prints nothing", async () => {
  assert.deepEqual(await runScript({ IMG_TRACE: "" }), "");
});

Deno.test("trace: IMG_TRACE=1 prints one table with the child's phases", async () => {
  const err = await runScript({ IMG_TRACE: "1" });
  assert.deepEqual(err.match(/^img trace/gm)?.length, 1);
  assert.match(err, /^parent\s+process start \(exec to runtime ready\)\s+1\s/m);
  assert.match(err, /^parent\s+module load \(runtime ready to main\)\s+1\s/m);
  assert.match(err, /^parent\s+parent work\s+1\s/m);
  assert.match(err, /^child\s+child work\s+1\s/m);
  assert.match(err, /^child\s+process start \(exec to runtime ready\)\s+1\s/m);
});

Deno.test("trace: a counter sums its amounts in its row", () => {
  const t = new Tracer(true);
  t.count("bytes read", 100);
  t.count("bytes read", 23);
  assert.match(
    formatTrace(t.records, t.now()),
    /^parent\s+bytes read\s+2\s+0\.0\s+-?[\d.]+\s+amount 123$/m,
  );
});

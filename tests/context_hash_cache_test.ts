/**
 * The persistent context hash cache (issue 12), end to end as the user running the suite: a
 * second `img build` of an unchanged context, in a new process, reads no file of it (the
 * `IMG_TRACE=1` counters say how many files were read and how many bytes), and a file rewritten
 * with the same size and its mtime restored with `touch -d` is still read again (its ctime
 * changed) and its new content reaches the result. `img prune` empties the cache (with
 * `--filter until=` it keeps the younger entries).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { imgOk, removeTree, run } from "./_util/img.ts";

const FILES = 40;
const BIG = 3 << 20;

/** The counters of one traced build: files read and hashed, bytes read, files from the cache. */
interface Counters {
  read: number;
  bytes: number;
  cached: number;
}

/** The sum of a trace row's calls (or amounts) over the parent and child processes. */
function row(stderr: string, name: string, column: "calls" | "amount"): number {
  const escaped = name.replace(/[()+]/g, "\\$&");
  const re = new RegExp(
    `^(?:parent|child)\\s+${escaped}\\s+(\\d+)\\s+[\\d.]+\\s+-?[\\d.]+(?:\\s+amount (\\d+))?$`,
    "gm",
  );
  let sum = 0;
  for (const m of stderr.matchAll(re)) sum += Number(column === "calls" ? m[1] : m[2] ?? 0);
  return sum;
}

async function build(state: string, ctx: string, out: string): Promise<Counters> {
  await removeTree(out);
  const r = await imgOk(
    ["build", "--no-console", "-o", `type=local,dest=${out}`, ctx],
    { state, env: { IMG_TRACE: "1" } },
  );
  match(r.stderr, /^img trace/m, "the trace table is printed");
  return {
    read: row(r.stderr, "context file content (read + sha256)", "calls"),
    bytes: row(r.stderr, "context bytes read", "amount"),
    cached: row(r.stderr, "context files from the hash cache", "amount"),
  };
}

Deno.test("context hash cache: a rebuild in a new process reads no unchanged file", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "img-hash-cache-e2e-" });
  await Deno.chmod(tmp, 0o755);
  try {
    const ctx = `${tmp}/ctx`;
    const state = `${tmp}/state`;
    const out = `${tmp}/out`;
    await Deno.mkdir(`${ctx}/sub/deeper`, { recursive: true });
    await Deno.writeTextFile(`${ctx}/Dockerfile`, "FROM scratch\nCOPY . /app\n");
    let smallBytes = 0;
    for (let i = 0; i < FILES; i++) {
      const text = `file ${i}\n`.repeat(i + 1);
      smallBytes += text.length;
      await Deno.writeTextFile(`${ctx}/${i % 2 ? "sub" : "sub/deeper"}/f${i}.txt`, text);
    }
    const big = new Uint8Array(BIG);
    for (let o = 0; o < BIG; o += 65536) crypto.getRandomValues(big.subarray(o, o + 65536));
    await Deno.writeFile(`${ctx}/big.bin`, big);
    const dockerfileBytes = (await Deno.stat(`${ctx}/Dockerfile`)).size;
    const total = FILES + 2;

    const cold = await build(state, ctx, out);
    deepEqual(cold, { read: total, bytes: smallBytes + BIG + dockerfileBytes, cached: 0 });
    const entries = () => {
      const db = new DatabaseSync(`${state}/img.db`, { readOnly: true });
      try {
        return db.prepare("SELECT path FROM context_hashes").all().map((r) => r.path);
      } finally {
        db.close();
      }
    };
    equal(entries().length, total, "one cache entry per context file");
    ok(entries().includes("sub/deeper/f0.txt"), "paths relative to the context");

    const warm = await build(state, ctx, out);
    deepEqual(warm, { read: 0, bytes: 0, cached: total }, "nothing read in a new process");
    equal(await Deno.readTextFile(`${out}/app/sub/f1.txt`), "file 1\n".repeat(2));

    // Same size, mtime restored: only ctime says the file changed.
    const path = `${ctx}/sub/f1.txt`;
    const mtime = (await run(["stat", "-c", "%y", path])).trim();
    await new Promise((r) => setTimeout(r, 20)); // a later tick of the kernel's coarse clock
    await Deno.writeTextFile(path, "FILE 1\n".repeat(2));
    await run(["touch", "-m", "-d", mtime, path]);
    equal((await run(["stat", "-c", "%y", path])).trim(), mtime, "mtime restored to the ns");
    const touched = await build(state, ctx, out);
    deepEqual(touched, { read: 1, bytes: 14, cached: total - 1 }, "only the rewritten file read");
    equal(
      await Deno.readTextFile(`${out}/app/sub/f1.txt`),
      "FILE 1\n".repeat(2),
      "the new content is copied",
    );

    await imgOk(["prune", "-f", "--filter", "until=1h"], { state });
    equal(entries().length, total, "entries younger than an hour are kept");
    await imgOk(["prune", "-f"], { state });
    deepEqual(entries(), [], "prune empties the context hash cache");
  } finally {
    await removeTree(tmp);
  }
});

import assert from "node:assert/strict";
import { firstRange, parseSubIds, rangesFor, readSubIds, suggestStart } from "./subid.ts";

const SAMPLE = `# subordinate ids
alice:100000:65536
1001:165536:65536

bob:231072:65536
alice:300000:1000
broken line
carol:abc:65536
dave:400000:0
  erin:500000:65536  
`;

Deno.test("parseSubIds reads name and numeric entries and skips comments and junk", () => {
  assert.deepEqual(parseSubIds(SAMPLE), [
    { owner: "alice", start: 100000, count: 65536 },
    { owner: "1001", start: 165536, count: 65536 },
    { owner: "bob", start: 231072, count: 65536 },
    { owner: "alice", start: 300000, count: 1000 },
    { owner: "erin", start: 500000, count: 65536 },
  ]);
  assert.deepEqual(parseSubIds(""), []);
});

Deno.test("rangesFor matches a user by name or by uid, in file order", () => {
  const entries = parseSubIds(SAMPLE);
  assert.deepEqual(rangesFor(entries, { name: "alice", uid: 1001 }), [
    { start: 100000, count: 65536 },
    { start: 165536, count: 65536 },
    { start: 300000, count: 1000 },
  ]);
  assert.deepEqual(firstRange(entries, { name: "alice", uid: 1001 }), {
    start: 100000,
    count: 65536,
  });
  // Only the numeric entry matches a user whose name is unknown.
  assert.deepEqual(firstRange(entries, { uid: 1001 }), { start: 165536, count: 65536 });
  assert.equal(firstRange(entries, { name: "zed", uid: 4000 }), undefined);
});

Deno.test("readSubIds reads a file and treats a missing file as empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/subuid`, "imgtest:100000:65536\n");
    assert.deepEqual(await readSubIds(`${dir}/subuid`), [
      { owner: "imgtest", start: 100000, count: 65536 },
    ]);
    assert.deepEqual(await readSubIds(`${dir}/missing`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("suggestStart finds a free 65536-id range", () => {
  assert.equal(suggestStart([]), 100000);
  assert.equal(suggestStart(parseSubIds("a:100000:65536\nb:165536:65536\n")), 231072);
  // A gap large enough before the first range is used.
  assert.equal(suggestStart(parseSubIds("a:300000:65536\n")), 100000);
  assert.equal(suggestStart(parseSubIds("a:150000:65536\n")), 215536);
});

import { equal, notEqual, ok } from "node:assert/strict";
import { RACY_MARGIN_MS, stampTree } from "./tree_stamp.ts";

/** A tree of a few files and a symlink, written long enough ago to be trusted. */
async function tree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "img-stamp-" });
  await Deno.mkdir(`${dir}/sub/deeper`, { recursive: true });
  await Deno.writeTextFile(`${dir}/a.txt`, "a\n");
  await Deno.writeTextFile(`${dir}/sub/b.txt`, "b\n");
  await Deno.writeTextFile(`${dir}/sub/deeper/c.txt`, "c\n");
  await Deno.symlink("a.txt", `${dir}/link`);
  return dir;
}

/** A time well after the tree was written: nothing in it is racy then. */
const later = () => Date.now() + 10 * RACY_MARGIN_MS + 2_000;

Deno.test("stampTree: the same tree gives the same digest; every kind of change another", async () => {
  const dir = await tree();
  try {
    const stamp = async () => (await stampTree(dir, { now: later() }))!;
    const first = await stamp();
    equal((await stamp()).digest, first.digest, "nothing changed");
    equal(first.racy.length, 0);

    const changes: [string, () => Promise<void>][] = [
      ["content of the same size", () => Deno.writeTextFile(`${dir}/sub/b.txt`, "B\n")],
      ["mode", () => Deno.chmod(`${dir}/a.txt`, 0o600)],
      ["a new file deep down", () => Deno.writeTextFile(`${dir}/sub/deeper/new`, "")],
      ["a removed file", () => Deno.remove(`${dir}/sub/deeper/new`)],
      ["a rename", () => Deno.rename(`${dir}/a.txt`, `${dir}/a2.txt`)],
      ["a retargeted symlink", async () => {
        await Deno.remove(`${dir}/link`);
        await Deno.symlink("a2.txt", `${dir}/link`);
      }],
      ["mtime set back", async () => {
        const before = (await Deno.stat(`${dir}/sub/b.txt`)).mtime!;
        await Deno.writeTextFile(`${dir}/sub/b.txt`, "b\n");
        await Deno.utime(`${dir}/sub/b.txt`, before, before); // ctime still moves
      }],
    ];
    const seen = new Set([first.digest]);
    for (const [what, change] of changes) {
      await change();
      const digest = (await stamp()).digest;
      ok(!seen.has(digest), `${what} changes the digest`);
      seen.add(digest);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stampTree: racy files are hashed, in the stamp and in a later one that names them", async () => {
  const dir = await tree();
  try {
    // At the moment of writing, every entry is racy: its times are not older than the walk.
    const now = Date.now();
    const fresh = (await stampTree(dir, { now }))!;
    ok(fresh.racy.includes("a.txt") && fresh.racy.includes("sub/deeper/c.txt"), fresh.racy.join());
    ok(fresh.racy.includes("link"), "a symlink's target is content");
    ok(!fresh.racy.includes("sub"), "a directory's content is its entries, already listed");

    // Comparing: a later walk hashes the same files, so equal trees give equal digests.
    const again = (await stampTree(dir, { now: later(), contentOf: fresh.racy }))!;
    equal(again.digest, fresh.digest);
    equal(again.racy.join(), fresh.racy.join());
    // Without the content, the listing alone is another digest.
    notEqual((await stampTree(dir, { now: later() }))!.digest, fresh.digest);

    // A file an earlier stamp named is gone (or a directory now): a stamp still, another one.
    await Deno.remove(`${dir}/a.txt`);
    await Deno.mkdir(`${dir}/a.txt`);
    const gone = (await stampTree(dir, { now: later(), contentOf: fresh.racy }))!;
    notEqual(gone.digest, fresh.digest);
    await Deno.remove(`${dir}/a.txt`);
    notEqual((await stampTree(dir, { now: later(), contentOf: fresh.racy }))!.digest, gone.digest);

    // Too much content to hash: no stamp.
    equal(await stampTree(dir, { now, maxContentBytes: 2 }), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stampTree: an excluded directory is left out; a missing tree throws", async () => {
  const dir = await tree();
  try {
    const without = (await stampTree(dir, { now: later(), exclude: [`${dir}/sub`] }))!;
    await Deno.writeTextFile(`${dir}/sub/deeper/c.txt`, "changed\n");
    await Deno.writeTextFile(`${dir}/sub/new.txt`, "the directory's own times change too\n");
    equal(
      (await stampTree(dir, { now: later(), exclude: [`${dir}/sub`] }))!.digest,
      without.digest,
      "changes below an excluded directory do not count",
    );
    let threw = false;
    await stampTree(`${dir}/missing`).catch(() => threw = true);
    ok(threw);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

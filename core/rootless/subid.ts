/**
 * Subordinate id ranges from `/etc/subuid` and `/etc/subgid` (see subuid(5)): the uids and
 * gids a user may map into a user namespace through `newuidmap`/`newgidmap`.
 *
 * @module
 */

/** The default location of the subordinate uid file. */
export const SUBUID_PATH = "/etc/subuid";
/** The default location of the subordinate gid file. */
export const SUBGID_PATH = "/etc/subgid";

/** One line of a subid file: `owner:start:count`. */
export interface SubIdEntry {
  /** A user name or a numeric uid, as written in the file. */
  owner: string;
  /** The first subordinate id. */
  start: number;
  /** How many ids the range holds. */
  count: number;
}

/** A range of subordinate ids. */
export interface SubIdRange {
  /** The first subordinate id. */
  start: number;
  /** How many ids the range holds. */
  count: number;
}

/** Who a range may belong to: the file names a user either by name or by numeric uid. */
export interface SubIdOwner {
  /** The user's login name, when known. */
  name?: string;
  /** The user's numeric uid. */
  uid: number;
}

/**
 * Parses the text of `/etc/subuid` or `/etc/subgid`. Blank lines, comments (`#`) and
 * malformed lines are skipped, as newuidmap does.
 *
 * @example
 * ```ts
 * parseSubIds("alice:100000:65536\n1001:200000:65536\n");
 * // [{ owner: "alice", start: 100000, count: 65536 }, { owner: "1001", start: 200000, count: 65536 }]
 * ```
 */
export function parseSubIds(text: string): SubIdEntry[] {
  const entries: SubIdEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length !== 3) continue;
    const [owner, startText, countText] = fields;
    if (owner === "" || !/^\d+$/.test(startText) || !/^\d+$/.test(countText)) continue;
    const start = Number(startText);
    const count = Number(countText);
    if (count === 0 || start + count > 2 ** 32) continue;
    entries.push({ owner, start, count });
  }
  return entries;
}

/** The ranges of `entries` that belong to `owner` (by name or by uid), in file order. */
export function rangesFor(entries: SubIdEntry[], owner: SubIdOwner): SubIdRange[] {
  const uid = String(owner.uid);
  return entries
    .filter((e) => e.owner === uid || (owner.name !== undefined && e.owner === owner.name))
    .map(({ start, count }) => ({ start, count }));
}

/** The first range of `entries` that belongs to `owner`, or undefined when it has none. */
export function firstRange(entries: SubIdEntry[], owner: SubIdOwner): SubIdRange | undefined {
  return rangesFor(entries, owner)[0];
}

/**
 * Reads a subid file and returns its entries; a missing file has none.
 */
export async function readSubIds(path: string): Promise<SubIdEntry[]> {
  try {
    return parseSubIds(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * A start for a new 65536-id range that overlaps none of `entries` (at least 100000, the
 * usual first start), to suggest to a user who has none.
 */
export function suggestStart(entries: SubIdEntry[], count = 65536): number {
  let start = 100000;
  for (const e of [...entries].sort((a, b) => a.start - b.start)) {
    if (start + count <= e.start) break;
    start = Math.max(start, e.start + e.count);
  }
  return start;
}

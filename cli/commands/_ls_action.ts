/**
 * The action of `img ls`: list images.
 *
 * Loaded by `ls.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import {
  type Digest,
  familiarReference,
  findImage,
  formatPlatform,
  type ImageRecord,
  ImgError,
  isIndexMediaType,
  normalizePlatform,
  parseReference,
} from "@img/core";
import { loadImage, parseIndex } from "@img/core/image";
import type { State } from "@img/core/state";
import { type ActionCommand, contextOf } from "../context.ts";
import { formatListing } from "../ui/format.ts";
import { normalizeName } from "./_names.ts";
import { bytesSize, timeAgo } from "../ui/units.ts";
import type { LsOptions } from "./ls.ts";

/** The filters `ls` understands. */
const FILTERS = ["name", "reference", "label", "before", "since", "dangling"] as const;

/**
 * Matches `name` against a glob `pattern` as Go's `path.Match` does: `*` and `?` never match
 * `/`, `[...]` is a class.
 */
export function globMatch(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^")) cls = "!" + cls.slice(1);
      re += cls.startsWith("!")
        ? `[^/${cls.slice(1).replace(/\\/g, "\\\\")}]`
        : `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else re += escapeRe(c);
  }
  return new RegExp(re + "$").test(name);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * Reports whether an image name matches a `reference=` (or `name=`) filter the way docker's
 * does: the pattern is matched against the familiar and full names, with and without the tag.
 */
export function referenceMatches(pattern: string, name: string): boolean {
  const ref = parseReference(name);
  const familiar = familiarReference(ref);
  const full = name;
  const candidates = [familiar, full];
  for (const n of [familiar, full]) {
    const at = n.lastIndexOf(":");
    if (at > n.lastIndexOf("/")) candidates.push(n.slice(0, at));
  }
  return candidates.some((c) => globMatch(pattern, c));
}

/** Parses `-f key=value` filters, refusing unknown keys. */
export function parseFilters(filters: string[], allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    if (eq <= 0) {
      throw new ImgError(`Invalid filter "${f}": use key=value, e.g. reference=busybox*`);
    }
    const key = f.slice(0, eq).trim().toLowerCase();
    if (!allowed.includes(key)) {
      throw new ImgError(`Invalid filter "${key}": supported filters are ${allowed.join(", ")}`);
    }
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)]);
  }
  return out;
}

interface Row {
  rec: ImageRecord;
  size: number;
  created: Date;
  labels: Record<string, string>;
  /** `linux/amd64,linux/arm64` for an index; empty when unknown. */
  platforms: string;
}

/** A stored image's row: its size (for an index, of it and its stored platforms), platforms. */
async function loadRow(state: State, rec: ImageRecord): Promise<Row> {
  const fallback = {
    rec,
    size: rec.target.size,
    created: rec.createdAt,
    labels: {},
    platforms: "",
  };
  if (isIndexMediaType(rec.target.mediaType)) {
    try {
      const index = parseIndex(
        await state.content.read(rec.target.digest as Digest),
        `Index ${rec.target.digest}`,
      );
      let size = rec.target.size;
      const platforms: string[] = [];
      for (const child of index.manifests) {
        if (!child.platform || child.platform.os === "unknown") continue;
        platforms.push(formatPlatform(normalizePlatform(child.platform)));
        size += await loadImage(state.content, child).then((i) => i.size, () => 0);
      }
      return { ...fallback, size, platforms: platforms.join(",") };
    } catch {
      return fallback;
    }
  }
  try {
    const image = await loadImage(state.content, rec.target);
    const c = image.config;
    const created = c.created ? new Date(c.created) : rec.createdAt;
    const platforms = c.architecture
      ? formatPlatform(
        normalizePlatform({
          os: c.os ?? "linux",
          architecture: c.architecture,
          variant: c.variant,
        }),
      )
      : "";
    return { rec, size: image.size, created, labels: c.config?.Labels ?? {}, platforms };
  } catch {
    return fallback;
  }
}

/** Repository and tag of a stored name, as docker shows them (`<none>` for a digest-only name). */
function repoTag(name: string): { repository: string; tag: string } {
  const familiar = familiarReference(parseReference(name));
  const at = familiar.indexOf("@");
  const base = at >= 0 ? familiar.slice(0, at) : familiar;
  const colon = base.lastIndexOf(":");
  if (colon > base.lastIndexOf("/")) {
    return { repository: base.slice(0, colon), tag: base.slice(colon + 1) };
  }
  return { repository: base, tag: "<none>" };
}

/** Go's time.Time format docker prints for `CreatedAt`. */
export function goTime(d: Date): string {
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC");
}

/** The `ls` filters as docker's `images --filter`: reference, label, before, since, dangling. */
function rowFilter(filters: Map<string, string[]>, rows: Row[], state: State) {
  const patterns = [...(filters.get("name") ?? []), ...(filters.get("reference") ?? [])];
  const labels = filters.get("label") ?? [];
  const dangling = filters.get("dangling")?.map((v) => {
    if (!/^(true|false|1|0)$/i.test(v)) {
      throw new ImgError(`Invalid filter "dangling=${v}": use dangling=true or dangling=false`);
    }
    return /^(true|1)$/i.test(v);
  });
  const createdOf = (key: string, input: string): Date => {
    const rec = findImage(state.images, input, normalizeName);
    const row = rec && rows.find((r) => r.rec.target.digest === rec.target.digest);
    if (!row) throw new ImgError(`Invalid filter "${key}=${input}": no such image`);
    return row.created;
  };
  const before = (filters.get("before") ?? []).map((v) => createdOf("before", v));
  const since = (filters.get("since") ?? []).map((v) => createdOf("since", v));
  return (row: Row): boolean => {
    if (patterns.length && !patterns.some((p) => referenceMatches(p, row.rec.name))) return false;
    for (const l of labels) {
      const eq = l.indexOf("=");
      const key = eq < 0 ? l : l.slice(0, eq);
      if (!(key in row.labels)) return false;
      if (eq >= 0 && row.labels[key] !== l.slice(eq + 1)) return false;
    }
    if (dangling && dangling.some((d) => d !== (repoTag(row.rec.name).tag === "<none>"))) {
      return false;
    }
    if (before.some((b) => row.created >= b)) return false;
    if (since.some((s) => row.created <= s)) return false;
    return true;
  };
}

/** The `ls` command's action. */
export async function lsAction(opts: LsOptions, cmd: ActionCommand): Promise<void> {
  const ctx = contextOf(cmd);
  try {
    const filters = parseFilters(opts.filter, FILTERS);
    const rows: Row[] = [];
    for (const rec of ctx.state.images.list()) rows.push(await loadRow(ctx.state, rec));
    const keep = rowFilter(filters, rows, ctx.state);
    const now = new Date();
    const items = rows.filter(keep).map((row) => {
      const { repository, tag } = repoTag(row.rec.name);
      return {
        Name: familiarReference(parseReference(row.rec.name)),
        Repository: repository,
        Tag: tag,
        ID: row.rec.target.digest.slice(7, 19),
        Digest: row.rec.target.digest,
        Size: bytesSize(row.size),
        CreatedAt: goTime(row.created),
        CreatedSince: timeAgo(row.created, now),
        UpdatedSince: timeAgo(row.rec.updatedAt, now),
        StoredSince: timeAgo(row.rec.createdAt, now),
        Platform: row.platforms,
      };
    });
    const out = opts.quiet
      ? items.map((i) => i.ID + "\n").join("")
      : formatListing(opts.format, items, [
        ["NAME", "Name"],
        ["SIZE", "Size"],
        ["CREATED AT", "StoredSince"],
        ["UPDATED AT", "UpdatedSince"],
        ["DIGEST", "Digest"],
        ["PLATFORM", "Platform"],
      ], {
        Repository: "REPOSITORY",
        Tag: "TAG",
        ID: "IMAGE ID",
        Digest: "DIGEST",
        Size: "SIZE",
        CreatedAt: "CREATED AT",
        CreatedSince: "CREATED",
        Name: "NAME",
        Platform: "PLATFORM",
      });
    await Deno.stdout.write(new TextEncoder().encode(out));
  } finally {
    ctx.close();
  }
}

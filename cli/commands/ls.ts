/**
 * `img ls`: list images.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  type Digest,
  familiarReference,
  formatPlatform,
  type ImageRecord,
  ImgError,
  isIndexMediaType,
  loadImage,
  normalizePlatform,
  parseIndex,
  parseReference,
  type State,
} from "@img/core";
import { contextOf } from "../program.ts";
import { formatTable } from "../ui/table.ts";
import { bytesSize, timeAgo } from "../ui/units.ts";

/** The filters `ls` understands. */
const FILTERS = ["name", "reference"] as const;

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

/**
 * The size of an image (for an index, of it and the platforms that are stored) and its
 * platforms (`linux/amd64,linux/arm64` for an index; empty when unknown).
 */
async function imageInfo(
  state: State,
  rec: ImageRecord,
): Promise<{ size: number; platforms: string }> {
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
      return { size, platforms: platforms.join(",") };
    } catch {
      return { size: rec.target.size, platforms: "" };
    }
  }
  try {
    const image = await loadImage(state.content, rec.target);
    const c = image.config;
    const platform = c.architecture
      ? formatPlatform(
        normalizePlatform({
          os: c.os ?? "linux",
          architecture: c.architecture,
          variant: c.variant,
        }),
      )
      : "";
    return { size: image.size, platforms: platform };
  } catch {
    return { size: rec.target.size, platforms: "" };
  }
}

/** The `ls` command. */
export function lsCommand(): Command<[], { filter: string[] }> {
  return new Command("ls")
    .usage("[OPTIONS]")
    .description("List images and digests")
    .option(
      "-f, --filter <filter>",
      "filter output based on conditions provided (name=, reference=)",
      (v, p: string[]) => [...p, v],
      [] as string[],
    )
    .action(async (opts, cmd) => {
      const ctx = contextOf(cmd);
      try {
        const filters = parseFilters(opts.filter, FILTERS);
        const patterns = [...(filters.get("name") ?? []), ...(filters.get("reference") ?? [])];
        const rows = [["NAME", "SIZE", "CREATED AT", "UPDATED AT", "DIGEST", "PLATFORM"]];
        const now = new Date();
        for (const rec of ctx.state.images.list()) {
          if (patterns.length && !patterns.some((p) => referenceMatches(p, rec.name))) continue;
          const info = await imageInfo(ctx.state, rec);
          rows.push([
            familiarReference(parseReference(rec.name)),
            bytesSize(info.size),
            timeAgo(rec.createdAt, now),
            timeAgo(rec.updatedAt, now),
            rec.target.digest,
            info.platforms,
          ]);
        }
        await Deno.stdout.write(new TextEncoder().encode(formatTable(rows)));
      } finally {
        ctx.close();
      }
    });
}

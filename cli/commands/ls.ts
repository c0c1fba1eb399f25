/**
 * `img ls`: list images.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { familiarReference, type ImageRecord, ImgError, parseReference } from "@img/core";
import { loadImage } from "@img/core/image";
import type { State } from "@img/core/state";
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

async function imageSize(state: State, rec: ImageRecord): Promise<number> {
  try {
    return (await loadImage(state.content, rec.target)).size;
  } catch {
    return rec.target.size;
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
        const rows = [["NAME", "SIZE", "CREATED AT", "UPDATED AT", "DIGEST"]];
        const now = new Date();
        for (const rec of ctx.state.images.list()) {
          if (patterns.length && !patterns.some((p) => referenceMatches(p, rec.name))) continue;
          rows.push([
            familiarReference(parseReference(rec.name)),
            bytesSize(await imageSize(ctx.state, rec)),
            timeAgo(rec.createdAt, now),
            timeAgo(rec.updatedAt, now),
            rec.target.digest,
          ]);
        }
        await Deno.stdout.write(new TextEncoder().encode(formatTable(rows)));
      } finally {
        ctx.close();
      }
    });
}

/**
 * The `Link` header of a paginated registry answer (`GET /v2/<name>/tags/list`,
 * `GET /v2/_catalog`), as the distribution spec gives the next page:
 * `Link: </v2/app/tags/list?n=100&last=v9>; rel="next"`.
 *
 * @module
 */

/**
 * The absolute URL of the next page that `link` names (`rel="next"`), resolved against
 * `current`, the URL of the page it came with; `undefined` on the last page.
 */
export function nextPageUrl(link: string | null, current: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*(.*)$/.exec(part);
    if (!m) continue;
    const rels = [...m[2].matchAll(/;\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]+))/gi)]
      .flatMap((r) => (r[1] ?? r[2]).toLowerCase().split(/\s+/));
    if (rels.includes("next")) return new URL(m[1], current).href;
  }
  return undefined;
}

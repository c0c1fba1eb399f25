/**
 * "Did you mean" hints for unknown instructions, flags and mount keys, as BuildKit's
 * `suggest.Search` gives them.
 *
 * @module
 */

/** The closest option to `value` when it is close enough to be a typo. */
export function suggest(value: string, options: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  let best: string | undefined;
  let bestDist = v.length >= 4 ? 3 : 2;
  for (const o of options) {
    const dist = editDistance(v, o.toLowerCase());
    if (dist < bestDist) {
      bestDist = dist;
      best = o;
    }
  }
  return best;
}

/** Optimal string alignment distance (a transposition costs 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = 0; i <= a.length; i++) d[i][0] = i;
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

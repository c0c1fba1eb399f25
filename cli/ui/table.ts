/**
 * Column output like Go's tabwriter with docker's settings (minimum width 20, padding 3),
 * which is how img and docker print `ls` and `du`.
 *
 * @module
 */

/** Options for {@linkcode formatTable}. */
export interface TableOptions {
  /** The minimum cell width including padding. */
  minWidth?: number;
  /** Spaces after the widest cell of a column. */
  padding?: number;
}

/** Formats rows into aligned columns; the last column is not padded. Returns lines ending in `\n`. */
export function formatTable(rows: string[][], options: TableOptions = {}): string {
  const minWidth = options.minWidth ?? 20;
  const padding = options.padding ?? 3;
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i === row.length - 1) return;
      widths[i] = Math.max(widths[i] ?? 0, Math.max(cell.length + padding, minWidth));
    });
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("")
      .trimEnd() + "\n"
  ).join("");
}

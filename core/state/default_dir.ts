/**
 * The default state directory, on its own so that the CLI can show it in `--help` and the fast
 * path of a rebuild (`cli/rebuild.ts`) can find the state without loading the state machinery
 * (SQLite, the content store) or `node:path`.
 *
 * @module
 */
import { ImgError } from "../errors.ts";

/** The default state directory: `$XDG_DATA_HOME/img`, else `~/.local/share/img`. */
export function defaultStateDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (env.XDG_DATA_HOME) return `${env.XDG_DATA_HOME.replace(/\/+$/, "")}/img`;
  if (!env.HOME) {
    throw new ImgError(
      "Cannot find a state directory: set HOME or XDG_DATA_HOME, or pass --state DIR",
    );
  }
  return `${env.HOME.replace(/\/+$/, "")}/.local/share/img`;
}

/**
 * The default state directory, on its own so that the CLI can show it in `--help` without
 * loading the state machinery (SQLite, the content store).
 *
 * @module
 */
import { join } from "node:path";
import { ImgError } from "../errors.ts";

/** The default state directory: `$XDG_DATA_HOME/img`, else `~/.local/share/img`. */
export function defaultStateDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "img");
  if (!env.HOME) {
    throw new ImgError(
      "Cannot find a state directory: set HOME or XDG_DATA_HOME, or pass --state DIR",
    );
  }
  return join(env.HOME, ".local", "share", "img");
}

/**
 * Where img keeps its state when `--state` does not say.
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

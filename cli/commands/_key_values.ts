/**
 * `KEY=VALUE` flags (`--build-arg`, `--label`) as a record.
 *
 * @module
 */
import { ImgError } from "@img/core/errors";

/**
 * The `KEY=VALUE` strings of a repeatable flag as a record (a later key wins). With `env`, a
 * bare `KEY` takes its value from it (docker's `--build-arg NAME`) and is left out when unset
 * there; without, a bare key is refused. `what` names the flag in errors.
 */
export function keyValues(
  values: readonly string[],
  what: string,
  env?: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === 0) throw new ImgError(`Invalid ${what} "${v}": use KEY=VALUE`);
    if (eq < 0) {
      // docker: `--build-arg NAME` takes the value from the environment, if set.
      if (env && env[v] !== undefined) out[v] = env[v];
      else if (!env) throw new ImgError(`Invalid ${what} "${v}": use KEY=VALUE`);
      continue;
    }
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/**
 * img's version, taken from the CLI package's `deno.json`.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };

/** img's version. */
export const VERSION: string = denoJson.version;

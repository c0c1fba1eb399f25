/**
 * The action of `img doctor` (alias `img info`): what img needs from this host, what is present,
 * what is missing and the command that fixes each. Exits non-zero when something a build needs is
 * missing.
 *
 * Loaded by `doctor.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { ImgError } from "@img/core";
import { checkHost, problemLine } from "@img/core/host";
import { formatTable } from "../ui/table.ts";
import type { DoctorOptions } from "./doctor.ts";

/** The `doctor` command's action. */
export async function doctorAction(opts: DoctorOptions): Promise<void> {
  const results = await checkHost();
  if (opts.format === "json") {
    console.log(JSON.stringify(results, null, 2));
  } else {
    const rows = [["STATUS", "NEEDED BY", "WHAT", "FOUND"]];
    for (const r of results) {
      rows.push([r.ok ? "ok" : "MISSING", r.need, `${r.name} (${r.feature})`, r.detail]);
    }
    await Deno.stdout.write(new TextEncoder().encode(formatTable(rows, { minWidth: 0 })));
    const missing = results.filter((r) => !r.ok);
    if (missing.length > 0) {
      console.log("\nTo fix:");
      for (const r of missing) console.log(`  ${problemLine(r)}`);
    }
  }
  const broken = results.filter((r) => !r.ok && r.need === "build");
  if (broken.length > 0) {
    throw new ImgError(
      `${broken.length} thing(s) a build needs are missing: ${
        broken.map((r) => r.name).join(", ")
      }`,
    );
  }
}

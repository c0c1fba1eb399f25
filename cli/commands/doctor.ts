/**
 * `img doctor` (alias `img info`): what img needs from this host, what is present, what is
 * missing and the command that fixes each. Exits non-zero when something a build needs is
 * missing.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `doctor` command's options. */
export type DoctorOptions = { format: string };

/** The `doctor` command. */
export function doctorCommand(): Command {
  return new Command("doctor")
    .alias("info")
    .description("Check what img needs from this host and how to fix what is missing")
    .addOption(
      new Option("--format <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .action((opts) => loadAction(import("./_doctor_action.ts")).then((m) => m.doctorAction(opts)));
}

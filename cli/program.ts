/**
 * The commander program: global flags and one subcommand per file in `commands/`.
 *
 * Only the flags are defined here and in `commands/*.ts`: each command's action, with what it
 * imports (the state, the solver, the registry client...), is a dynamic `import()` of its
 * `commands/_NAME_action.ts`, so that a command loads only its own implementation.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { defaultStateDir } from "@img/core/state/default-dir";
import { VERSION } from "./version.ts";
import { lsCommand } from "./commands/ls.ts";
import { tagCommand } from "./commands/tag.ts";
import { rmCommand } from "./commands/rm.ts";
import { versionCommand } from "./commands/version.ts";
import { pluginsCommand } from "./commands/plugins.ts";
import { pullCommand } from "./commands/pull.ts";
import { pushCommand } from "./commands/push.ts";
import { loginCommand, logoutCommand } from "./commands/login.ts";
import { saveCommand } from "./commands/save.ts";
import { buildCommand } from "./commands/build.ts";
import { duCommand } from "./commands/du.ts";
import { pruneCommand } from "./commands/prune.ts";
import { unpackCommand } from "./commands/unpack.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { collect } from "./ui/options.ts";

/** Builds the `img` program. */
export function createProgram(): Command<[], Record<string, unknown>> {
  const program = new Command("img")
    .usage("[OPTIONS] COMMAND")
    .description(
      "Standalone, daemon-less, unprivileged Dockerfile and OCI compatible container image builder.",
    )
    .option(
      "-b, --backend <backend>",
      "backend for snapshots: auto or a snapshotter plugin (img plugins ls)",
      "auto",
    )
    .option("-d, --debug", "enable debug logging")
    .option("-s, --state <dir>", "directory to hold the global state", defaultStateDirOrEmpty())
    .option("--plugin <specifier>", "load an external plugin module (repeatable)", collect)
    .option(
      "--registry-timeout <seconds>",
      "give up on a registry that makes no progress for this long (env IMG_REGISTRY_TIMEOUT, default 30)",
    )
    .version(`img version ${VERSION}`, "-v, --version", "print version information and quit")
    .helpOption("-h, --help", "show help")
    .helpCommand(false)
    .configureHelp({ sortSubcommands: true, subcommandTerm: (cmd) => cmd.name() });
  program.addCommand(buildCommand());
  program.addCommand(doctorCommand());
  program.addCommand(duCommand());
  program.addCommand(loginCommand());
  program.addCommand(logoutCommand());
  program.addCommand(lsCommand());
  program.addCommand(pluginsCommand());
  program.addCommand(pullCommand());
  program.addCommand(pruneCommand());
  program.addCommand(pushCommand());
  program.addCommand(rmCommand());
  program.addCommand(saveCommand());
  program.addCommand(tagCommand());
  program.addCommand(unpackCommand());
  program.addCommand(versionCommand());
  for (const cmd of program.commands) {
    for (const c of [cmd, ...cmd.commands]) {
      const name = c === cmd ? cmd.name() : `${cmd.name()} ${c.name()}`;
      c.helpOption("-h, --help", "show help");
      c.showHelpAfterError(`See 'img ${name} --help'.`);
    }
  }
  program.showHelpAfterError("See 'img --help'.");
  return program as unknown as Command<[], Record<string, unknown>>;
}

function defaultStateDirOrEmpty(): string {
  try {
    return defaultStateDir();
  } catch {
    return "";
  }
}

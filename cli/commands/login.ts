/**
 * `img login [SERVER]` and `img logout [SERVER]`: registry credentials.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { insecureRegistryOption } from "../ui/options.ts";
import { loadAction } from "./_load_action.ts";

/** The `login` command's options. */
export type LoginOptions = {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  insecureRegistry: string[];
};

/** The `login` command. */
export function loginCommand(): Command<[string | undefined], LoginOptions> {
  return new Command("login")
    .usage("[OPTIONS] [SERVER]")
    .summary("Log in to a registry")
    .description(
      "Log in to a registry.\nIf no server is specified, the default is docker.io.",
    )
    .argument("[server]")
    .option("-u, --username <username>", "username")
    .option("-p, --password <password>", "password")
    .option("--password-stdin", "take the password from stdin")
    .addOption(insecureRegistryOption())
    .action((server, opts, cmd) =>
      loadAction(import("./_login_action.ts")).then((m) => m.loginAction(server, opts, cmd))
    );
}

/** The `logout` command. */
export function logoutCommand(): Command<[string | undefined]> {
  return new Command("logout")
    .usage("[SERVER]")
    .summary("Log out from a registry")
    .description(
      "Log out from a registry.\nIf no server is specified, the default is docker.io.",
    )
    .argument("[server]")
    .action((server, _opts, cmd) =>
      loadAction(import("./_login_action.ts")).then((m) => m.logoutAction(server, _opts, cmd))
    );
}

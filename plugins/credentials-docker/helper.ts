/**
 * The docker credential helper protocol (`docker-credential-<name> get|store|erase|list`),
 * as docker's `docker-credential-helpers/client` speaks it.
 *
 * @module
 */
import { ImgError } from "@img/core";

/** The user name a helper reports when its secret is an identity token, not a password. */
export const TOKEN_USERNAME = "<token>";

/** The message helpers print when they hold nothing for a server. */
const NOT_FOUND_MESSAGE = "credentials not found in native keychain";

/** What a credential helper stores for one server (its JSON wire format). */
export interface HelperCredential {
  /** The server the credential is for (docker's server address). */
  ServerURL: string;
  /** The user name, or `<token>` when `Secret` is an identity token. */
  Username: string;
  /** The password or identity token. */
  Secret: string;
}

/** Where to find and how to run helper programs. */
export interface HelperOptions {
  /**
   * The complete environment of the helper process; `PATH` in it is where the helper is
   * looked up. Defaults to img's own environment.
   */
  env?: Record<string, string>;
  /** The config file that named the helper, for error messages. */
  configPath?: string;
}

/** Looks `program` up in the directories of `path`; returns its path or undefined. */
export function lookPath(program: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(":")) {
    if (dir === "") continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${program}`;
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** One credential helper program, `docker-credential-<name>`. */
export class CredentialHelper {
  /** The helper's name (`pass`, `secretservice`, `ecr-login`, ...). */
  readonly name: string;
  /** The program's name, `docker-credential-<name>`. */
  readonly program: string;
  readonly #env: Record<string, string> | undefined;
  readonly #configPath: string | undefined;

  /** Creates a client for `docker-credential-<name>`. */
  constructor(name: string, options: HelperOptions = {}) {
    this.name = name;
    this.program = `docker-credential-${name}`;
    this.#env = options.env;
    this.#configPath = options.configPath;
  }

  /**
   * Asks the helper for the credential of `serverURL`. Returns undefined when the helper
   * answers "credentials not found in native keychain" (or returns an empty credential).
   */
  async get(serverURL: string): Promise<HelperCredential | undefined> {
    const result = await this.#run("get", serverURL);
    if (!result.success) {
      if (
        result.stdout.trim() === NOT_FOUND_MESSAGE || result.stderr.trim() === NOT_FOUND_MESSAGE
      ) {
        return undefined;
      }
      throw this.#failure("get", serverURL, result);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(result.stdout);
    } catch {
      throw new ImgError(
        `Credential helper ${this.program} returned an invalid answer for ${serverURL}: ` +
          `check that it works with "echo ${serverURL} | ${this.program} get"`,
      );
    }
    const object = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<
      string,
      unknown
    >;
    const Username = typeof object.Username === "string" ? object.Username : "";
    const Secret = typeof object.Secret === "string" ? object.Secret : "";
    if (Username === "" && Secret === "") return undefined;
    const ServerURL = typeof object.ServerURL === "string" && object.ServerURL
      ? object.ServerURL
      : serverURL;
    return { ServerURL, Username, Secret };
  }

  /** Stores a credential through the helper. */
  async store(credential: HelperCredential): Promise<void> {
    const result = await this.#run("store", JSON.stringify(credential));
    if (!result.success) throw this.#failure("store", credential.ServerURL, result);
  }

  /**
   * Erases the credential of `serverURL`. Returns false when the helper says it had none.
   */
  async erase(serverURL: string): Promise<boolean> {
    const result = await this.#run("erase", serverURL);
    if (result.success) return true;
    if (result.stdout.trim() === NOT_FOUND_MESSAGE || result.stderr.trim() === NOT_FOUND_MESSAGE) {
      return false;
    }
    throw this.#failure("erase", serverURL, result);
  }

  /** Lists the servers the helper holds credentials for, with their user names. */
  async list(): Promise<Record<string, string>> {
    const result = await this.#run("list", "");
    if (!result.success) throw this.#failure("list", "any server", result);
    try {
      const parsed = JSON.parse(result.stdout);
      return typeof parsed === "object" && parsed !== null ? parsed : {};
    } catch {
      throw new ImgError(`Credential helper ${this.program} returned an invalid list`);
    }
  }

  async #run(
    action: string,
    input: string,
  ): Promise<{ success: boolean; code: number; stdout: string; stderr: string }> {
    const env = this.#env ?? Deno.env.toObject();
    const executable = lookPath(this.program, env.PATH);
    if (!executable) {
      const where = this.#configPath ? ` in ${this.#configPath}` : "";
      throw new ImgError(
        `${this.program} is not installed or not in PATH: install it, or remove "${this.name}" from credsStore or credHelpers${where}`,
      );
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(executable, {
        args: [action],
        env,
        clearEnv: this.#env !== undefined,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new ImgError(`Cannot run ${executable}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const writer = child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    } catch {
      // The helper may exit without reading its input; its exit status tells what happened.
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      success: output.success,
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }

  #failure(
    action: string,
    serverURL: string,
    result: { code: number; stdout: string; stderr: string },
  ): ImgError {
    // Helpers built on docker-credential-helpers print their errors on stdout.
    const message = [result.stderr.trim(), result.stdout.trim()].filter((s) => s !== "")
      .join("; ").replace(/\s*\n\s*/g, " ") || `exit status ${result.code}`;
    return new ImgError(
      `Credential helper ${this.program} failed to ${action} credentials for ${serverURL}: ${message}`,
    );
  }
}

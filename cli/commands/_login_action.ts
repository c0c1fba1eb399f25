/**
 * The action of `img login [SERVER]` and `img logout [SERVER]`: registry credentials.
 *
 * Loaded by `login.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { DEFAULT_DOMAIN, ImgError, parseReference } from "@img/core";
import { type ActionCommand, contextOf } from "../context.ts";
import { readLine, readSecret } from "../ui/prompt.ts";
import type { LoginOptions } from "./login.ts";

/**
 * The registry host a `login`/`logout` argument names: `docker.io` by default and for docker's
 * legacy index URLs; `https://host/v2/` forms are reduced to the host, as docker does.
 */
export function loginHost(server: string | undefined): string {
  if (!server) return DEFAULT_DOMAIN;
  let host = server.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (host === "index.docker.io" || host === "registry-1.docker.io") host = DEFAULT_DOMAIN;
  if (!host) throw new ImgError(`Invalid registry address "${server}"`);
  // The same host syntax references use, so login and pull agree on the key.
  parseReference(`${host}/x`);
  return host;
}

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of Deno.stdin.readable) chunks.push(c);
  return new TextDecoder().decode(await new Blob(chunks as BlobPart[]).bytes());
}

/** The `login` command's action. */
export async function loginAction(
  server: string | undefined,
  opts: LoginOptions,
  cmd: ActionCommand,
): Promise<void> {
  const ctx = contextOf(cmd);
  const host = loginHost(server);
  let { username, password } = opts;
  if (opts.passwordStdin) {
    if (password) throw new ImgError("--password and --password-stdin are mutually exclusive");
    if (!username) throw new ImgError("Must provide --username with --password-stdin");
    password = (await readStdin()).replace(/\r?\n$/, "");
  } else if (password) {
    console.error("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
  }
  if (!username || !password) {
    if (!Deno.stdin.isTerminal()) {
      throw new ImgError(
        "Cannot perform an interactive login from a non TTY device: pass --username and --password-stdin",
      );
    }
    username ||= await readLine("Username: ");
    if (!username) throw new ImgError("Username is required");
    password ||= await readSecret("Password: ");
    if (!password) throw new ImgError("Password is required");
  }
  const credential = { username, password };
  const client = await ctx.registry(opts.insecureRegistry);
  await client.checkLogin(host, credential);
  await (await ctx.credentials()).store(host, credential);
  console.log("Login Succeeded");
}

/** The `logout` command's action. */
export async function logoutAction(
  server: string | undefined,
  _opts: unknown,
  cmd: ActionCommand,
): Promise<void> {
  const ctx = contextOf(cmd);
  const host = loginHost(server);
  const removed = await (await ctx.credentials()).erase(host);
  console.log(removed ? `Removing login credentials for ${host}` : `Not logged in to ${host}`);
}

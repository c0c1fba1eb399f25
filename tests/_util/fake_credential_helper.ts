/**
 * A fake docker credential helper for tests: it speaks the `docker-credential-*` protocol
 * (`get`, `store`, `erase`, `list`, as `docker-credential-helpers` does) against a JSON file
 * named by `FAKE_CREDENTIAL_HELPER_STORE`, mapping each server URL to
 * `{"Username", "Secret"}`. With `FAKE_CREDENTIAL_HELPER_FAIL` set it fails every call
 * with that message on stderr.
 *
 * Run as a program (`deno run -A fake_credential_helper.ts get`), or import
 * {@linkcode installFakeCredentialHelper} to put a `docker-credential-<name>` wrapper on a
 * test PATH.
 *
 * @module
 */

/** The environment variable naming the helper's JSON store file. */
export const STORE_ENV = "FAKE_CREDENTIAL_HELPER_STORE";
/** The environment variable that makes every call fail with its value on stderr. */
export const FAIL_ENV = "FAKE_CREDENTIAL_HELPER_FAIL";

const NOT_FOUND = "credentials not found in native keychain";

/**
 * Writes an executable `docker-credential-<name>` shell wrapper into `binDir` that runs this
 * script with the current deno. Returns the wrapper's path.
 */
export async function installFakeCredentialHelper(
  binDir: string,
  name = "fake",
): Promise<string> {
  const script = new URL(import.meta.url).pathname;
  const path = `${binDir}/docker-credential-${name}`;
  await Deno.mkdir(binDir, { recursive: true });
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec '${Deno.execPath()}' run --quiet --no-lock -A '${script}' "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

type Entries = Record<string, { Username: string; Secret: string }>;

async function readAll(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

async function load(path: string): Promise<Entries> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw error;
  }
}

/** Prints an error the way docker-credential-helpers does (on stdout) and exits 1. */
function fail(message: string): never {
  console.log(message);
  Deno.exit(1);
}

async function main(action: string | undefined): Promise<void> {
  const failure = Deno.env.get(FAIL_ENV);
  if (failure) {
    console.error(failure);
    Deno.exit(1);
  }
  const storePath = Deno.env.get(STORE_ENV);
  if (!storePath) fail(`${STORE_ENV} is not set`);
  const entries = await load(storePath);
  switch (action) {
    case "get": {
      const server = (await readAll()).trim();
      const entry = entries[server];
      if (!entry) fail(NOT_FOUND);
      console.log(JSON.stringify({ ServerURL: server, ...entry }));
      return;
    }
    case "store": {
      const input = JSON.parse(await readAll());
      if (typeof input.ServerURL !== "string" || input.ServerURL === "") {
        fail("no credentials server URL");
      }
      entries[input.ServerURL] = { Username: input.Username ?? "", Secret: input.Secret ?? "" };
      await Deno.writeTextFile(storePath, JSON.stringify(entries, null, 2));
      return;
    }
    case "erase": {
      const server = (await readAll()).trim();
      if (!entries[server]) fail(NOT_FOUND);
      delete entries[server];
      await Deno.writeTextFile(storePath, JSON.stringify(entries, null, 2));
      return;
    }
    case "list": {
      const list: Record<string, string> = {};
      for (const [server, entry] of Object.entries(entries)) list[server] = entry.Username;
      console.log(JSON.stringify(list));
      return;
    }
    default:
      fail(`Unknown credential action \`${action}\``);
  }
}

if (import.meta.main) await main(Deno.args[0]);

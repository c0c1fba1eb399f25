/**
 * Starts the real CNCF distribution registry (`/usr/bin/docker-registry`, Debian package
 * `docker-registry`) on a free loopback port for a test, with filesystem storage in a temp
 * directory and no auth, htpasswd (bcrypt) auth, or token auth through
 * {@linkcode startTokenServer}.
 *
 * ```ts
 * await using registry = await startRegistry({ auth: "htpasswd" });
 * // push to `${registry.host}/app:latest` with registry.username / registry.password
 * ```
 *
 * @module
 */
import bcrypt from "bcryptjs";
import { join } from "node:path";
import { startTokenServer, type TokenServer } from "./token_server.ts";

/** The registry binary the tests run. */
export const REGISTRY_BINARY = "/usr/bin/docker-registry";

/** Options for {@linkcode startRegistry}. */
export interface StartRegistryOptions {
  /** The auth the registry demands: none (default), Basic via htpasswd, or Bearer tokens. */
  auth?: "none" | "htpasswd" | "token";
  /** The user for htpasswd and token auth (default `imgtest`). */
  username?: string;
  /** That user's password (default `imgtest-password`). */
  password?: string;
  /** Token auth only: whether anonymous clients may pull (default false). */
  anonymousPull?: boolean;
}

/** A running test registry. Stop it with `stop()` or `await using`. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, usable as the domain of an image reference. */
  host: string;
  /** The user that may push and pull (htpasswd and token auth). */
  username?: string;
  /** That user's password. */
  password?: string;
  /** Token auth only: an identity (refresh) token the token server accepts for `username`. */
  identityToken?: string;
  /** Token auth only: the token server, to inspect how many tokens it issued. */
  tokenServer?: TokenServer;
  /** The registry's storage directory (`docker/registry/v2/...` lives under it). */
  storageDir: string;
  /** The registry's log output so far (stderr), for failure messages. */
  log(): string;
  /** Stops the registry (and the token server) and removes its files. */
  stop(): Promise<void>;
  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function configYaml(addr: string, storageDir: string, auth: string): string {
  return `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storageDir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${addr}
  secret: ${crypto.randomUUID()}
${auth}`;
}

/**
 * Starts a registry and waits until `/v2/` answers. Throws with the registry's log if it does
 * not come up within 15 seconds.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const mode = opts.auth ?? "none";
  const username = mode === "none" ? undefined : opts.username ?? "imgtest";
  const password = mode === "none" ? undefined : opts.password ?? "imgtest-password";
  const dir = await Deno.makeTempDir({ prefix: "img-registry-" });
  const storageDir = join(dir, "data");
  await Deno.mkdir(storageDir);
  let tokenServer: TokenServer | undefined;
  let authYaml = "";
  try {
    if (mode === "htpasswd") {
      const hash = bcrypt.hashSync(password!, bcrypt.genSaltSync(4));
      await Deno.writeTextFile(join(dir, "htpasswd"), `${username}:${hash}\n`);
      authYaml = `auth:
  htpasswd:
    realm: img-test
    path: ${join(dir, "htpasswd")}
`;
    } else if (mode === "token") {
      tokenServer = await startTokenServer({
        dir,
        username: username!,
        password: password!,
        anonymousPull: opts.anonymousPull,
      });
      authYaml = `auth:
  token:
    realm: ${tokenServer.realm}
    service: ${tokenServer.service}
    issuer: ${tokenServer.issuer}
    rootcertbundle: ${tokenServer.certPath}
`;
    }
  } catch (e) {
    await tokenServer?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }

  // A port can be taken between picking and binding it: retry a few times.
  for (let attempt = 1;; attempt++) {
    const port = freePort();
    const host = `127.0.0.1:${port}`;
    const configPath = join(dir, "config.yml");
    await Deno.writeTextFile(configPath, configYaml(host, storageDir, authYaml));
    const child = new Deno.Command(REGISTRY_BINARY, {
      args: ["serve", configPath],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    const drained = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        log += decoder.decode(chunk, { stream: true });
        if (log.length > 200_000) log = log.slice(-100_000);
      }
    })();
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });

    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      const timer = setTimeout(() => {
        try {
          if (!exited) child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5000);
      await status;
      clearTimeout(timer);
      await drained;
      await tokenServer?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };

    const deadline = Date.now() + 15_000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      try {
        const res = await fetch(`http://${host}/v2/`);
        await res.body?.cancel();
        if (res.status === 200 || res.status === 401) {
          up = true;
          break;
        }
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      return {
        host,
        username,
        password,
        identityToken: tokenServer?.identityToken,
        tokenServer,
        storageDir,
        log: () => log,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    }
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await status;
    await drained;
    if (attempt >= 3 || !/address already in use/.test(log)) {
      await tokenServer?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`The test registry did not start on ${host}:\n${log}`);
    }
  }
}

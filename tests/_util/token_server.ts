/**
 * A small Docker token server (the `Bearer realm=...` side of registry auth) for tests.
 *
 * It checks Basic credentials (or an OAuth2 refresh token sent by POST, as docker does with an
 * identity token) and issues JWTs signed with an RSA key whose self-signed X.509 certificate is
 * the registry's `auth.token.rootcertbundle`. The certificate travels in the JWT's `x5c`
 * header, which distribution 2.8 verifies against that bundle.
 *
 * @module
 */
import { createSign, randomUUID } from "node:crypto";
import { join } from "node:path";

/** Options for {@linkcode startTokenServer}. */
export interface TokenServerOptions {
  /** A directory (that exists) where the key and certificate are written. */
  dir: string;
  /** The user that may pull and push. */
  username: string;
  /** That user's password. */
  password: string;
  /** The `service` the registry is configured with (the token's audience). */
  service?: string;
  /** The token issuer the registry trusts. */
  issuer?: string;
  /** Whether anonymous requests get `pull` access (default false: they get no access). */
  anonymousPull?: boolean;
}

/** A running token server. */
export interface TokenServer {
  /** The token endpoint URL (`http://127.0.0.1:PORT/token`), the registry's `realm`. */
  realm: string;
  /** The service name (the JWT audience). */
  service: string;
  /** The issuer name (the JWT `iss`). */
  issuer: string;
  /** The PEM certificate file to configure as the registry's `rootcertbundle`. */
  certPath: string;
  /** A refresh token (docker's identity token) that the server accepts for `username`. */
  identityToken: string;
  /** How many tokens the server has issued, by kind of grant. */
  readonly issued: { anonymous: number; basic: number; refresh: number; password: number };
  /** Stops the server. */
  stop(): Promise<void>;
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function pemToDerBase64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Parses `scope` values (`repository:name:pull,push`, several separated by spaces). */
function parseScopes(values: string[]): Access[] {
  const out: Access[] = [];
  for (const value of values) {
    for (const scope of value.split(" ").filter(Boolean)) {
      // The name may contain a port (`host:5000/x`), so split at the first and last colon.
      const first = scope.indexOf(":");
      const last = scope.lastIndexOf(":");
      if (first < 0 || last === first) continue;
      out.push({
        type: scope.slice(0, first),
        name: scope.slice(first + 1, last),
        actions: scope.slice(last + 1).split(",").filter(Boolean),
      });
    }
  }
  return out;
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ code, message }] }, { status });
}

/** Starts a token server on a free loopback port. */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const service = opts.service ?? "img-test-registry";
  const issuer = opts.issuer ?? "img-test-token-server";
  const keyPath = join(opts.dir, "token.key");
  const certPath = join(opts.dir, "token.crt");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-batch",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "7",
    "-subj",
    "/CN=img-test-token-server",
  ]);
  const key = await Deno.readTextFile(keyPath);
  const x5c = pemToDerBase64(await Deno.readTextFile(certPath));
  const identityToken = `refresh-${randomUUID()}`;
  const issued = { anonymous: 0, basic: 0, refresh: 0, password: 0 };

  function sign(subject: string, access: Access[]): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [x5c] };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(input).sign(key);
    return `${input}.${b64url(signature)}`;
  }

  function grant(user: string | undefined, scopes: string[]): Access[] {
    return parseScopes(scopes).filter((a) => a.type === "repository").map((a) => ({
      ...a,
      actions: a.actions.filter((action) =>
        user !== undefined
          ? action === "pull" || action === "push" || action === "*"
          : opts.anonymousPull === true && action === "pull"
      ),
    }));
  }

  function tokenResponse(user: string | undefined, scopes: string[], refresh?: string): Response {
    const token = sign(user ?? "", grant(user, scopes));
    return Response.json({
      token,
      access_token: token,
      expires_in: 300,
      issued_at: new Date().toISOString(),
      ...(refresh ? { refresh_token: refresh } : {}),
    });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname !== "/token") return new Response("not found", { status: 404 });
    if (req.method === "GET") {
      if (url.searchParams.get("service") !== service) {
        return errorResponse(
          400,
          "INVALID_REQUEST",
          `unknown service ${url.searchParams.get("service")}`,
        );
      }
      const auth = req.headers.get("authorization");
      if (!auth) {
        issued.anonymous++;
        return tokenResponse(undefined, url.searchParams.getAll("scope"));
      }
      const m = /^Basic\s+(.+)$/i.exec(auth);
      const [user, ...rest] = m ? atob(m[1]).split(":") : [];
      if (user !== opts.username || rest.join(":") !== opts.password) {
        return errorResponse(401, "UNAUTHORIZED", "incorrect username or password");
      }
      issued.basic++;
      return tokenResponse(user, url.searchParams.getAll("scope"));
    }
    if (req.method === "POST") {
      const form = new URLSearchParams(await req.text());
      if (form.get("service") !== service) {
        return Response.json({ error: "invalid_request", error_description: "unknown service" }, {
          status: 400,
        });
      }
      const scopes = form.getAll("scope");
      switch (form.get("grant_type")) {
        case "refresh_token":
          if (form.get("refresh_token") !== identityToken) {
            return Response.json({
              error: "invalid_grant",
              error_description: "invalid refresh token",
            }, {
              status: 401,
            });
          }
          issued.refresh++;
          return tokenResponse(opts.username, scopes, identityToken);
        case "password":
          if (form.get("username") !== opts.username || form.get("password") !== opts.password) {
            return Response.json(
              { error: "invalid_grant", error_description: "incorrect username or password" },
              { status: 401 },
            );
          }
          issued.password++;
          return tokenResponse(
            opts.username,
            scopes,
            form.get("access_type") === "offline" ? identityToken : undefined,
          );
        default:
          return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
      }
    }
    return new Response("method not allowed", { status: 405 });
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
  const realm = `http://127.0.0.1:${server.addr.port}/token`;
  return {
    realm,
    service,
    issuer,
    certPath,
    identityToken,
    issued,
    async stop() {
      await server.shutdown();
    },
  };
}

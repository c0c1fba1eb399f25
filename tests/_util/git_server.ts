/**
 * Git servers for tests, on loopback: `git daemon` (git://) and smart HTTP (`git
 * http-backend`, the CGI program git ships, behind a small `Deno.serve` CGI bridge), both
 * serving every repository under one directory.
 *
 * @module
 */

/** A running git server. */
export interface GitServer extends AsyncDisposable {
  /** The URL prefix repositories are under (`git://127.0.0.1:PORT`, `http://...`). */
  url: string;
  /** Requests served (HTTP only), as `METHOD path?query`. */
  requests: string[];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts `git daemon` exporting every repository under `root`. */
export async function startGitDaemon(root: string): Promise<GitServer> {
  const port = freePort();
  const child = new Deno.Command("git", {
    args: [
      "daemon",
      "--export-all",
      "--reuseaddr",
      `--base-path=${root}`,
      "--listen=127.0.0.1",
      `--port=${port}`,
      root,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    url: `git://127.0.0.1:${port}`,
    requests: [],
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/**
 * Starts a smart HTTP git server (`git http-backend` as CGI) for the repositories in `root`.
 * With `token`, every request needs `Authorization: basic base64(x-access-token:TOKEN)`, as
 * GitHub takes a token.
 */
export function startGitHttp(root: string, options: { token?: string } = {}): Promise<GitServer> {
  const requests: string[] = [];
  const expected = options.token && `basic ${btoa(`x-access-token:${options.token}`)}`;
  const { promise, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (addr) => resolve(addr.port) },
    async (req) => {
      const url = new URL(req.url);
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      if (expected && req.headers.get("authorization")?.toLowerCase() !== expected.toLowerCase()) {
        await req.body?.cancel();
        return new Response("authentication required", {
          status: 401,
          headers: { "WWW-Authenticate": 'Basic realm="git"' },
        });
      }
      const body = new Uint8Array(await req.arrayBuffer());
      const env: Record<string, string> = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_CONFIG_NOSYSTEM: "1",
        GATEWAY_INTERFACE: "CGI/1.1",
        SERVER_PROTOCOL: "HTTP/1.1",
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers.get("content-type") ?? "",
        CONTENT_LENGTH: String(body.length),
        REMOTE_ADDR: "127.0.0.1",
      };
      const encoding = req.headers.get("content-encoding");
      if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
      const protocol = req.headers.get("git-protocol");
      if (protocol) env.GIT_PROTOCOL = protocol;
      const child = new Deno.Command("git", {
        args: ["http-backend"],
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(body);
      await writer.close();
      const out = (await child.output()).stdout;
      // CGI output: headers, a blank line, the body.
      let split = -1;
      let sep = 0;
      for (let i = 0; i + 1 < out.length; i++) {
        if (out[i] === 10 && out[i + 1] === 10) [split, sep] = [i, 2];
        else if (out[i] === 13 && out[i + 1] === 10 && out[i + 2] === 13 && out[i + 3] === 10) {
          [split, sep] = [i, 4];
        }
        if (split >= 0) break;
      }
      if (split < 0) return new Response("bad CGI output", { status: 502 });
      const headers = new Headers();
      let status = 200;
      for (const line of new TextDecoder().decode(out.subarray(0, split)).split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else headers.append(name, value);
      }
      return new Response(out.slice(split + sep), { status, headers });
    },
  );
  return promise.then((port) => ({
    url: `http://127.0.0.1:${port}`,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  }));
}

/**
 * ADD from http(s) URLs and remote build contexts (issue 10), end to end as the user running
 * the suite, against a real HTTP server on loopback started by the test: the file's content,
 * its mode (0600, or `--chmod`), owner (`--chown`) and mtime (`Last-Modified`); `--checksum`;
 * the cache keyed by the content (an unchanged ETag keeps the step CACHED); `HTTP_PROXY`
 * honoured; the context as a tarball URL and as `-` (a tar or a Dockerfile on stdin).
 *
 * The behaviour is current BuildKit's (Dockerfile reference, "ADD"); the local BuildKit 0.8
 * engine predates `--checksum` (Dockerfile 1.6) and keys a URL's cache differently.
 */
import { equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, removeTree, run } from "./_util/img.ts";

const LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT";

/** A file the test server serves. */
interface Served {
  body: Uint8Array<ArrayBuffer> | string;
  etag?: string;
  lastModified?: string;
  /** The `Authorization` header the file needs. */
  auth?: string;
}

/** A loopback HTTP server serving `files`, recording each request. */
function fileServer(files: Map<string, Served>) {
  const requests: { path: string; ifNoneMatch: string | null; status: number }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    const ifNoneMatch = req.headers.get("if-none-match");
    const f = files.get(path);
    let res: Response;
    if (!f) res = new Response("not found", { status: 404 });
    else if (f.auth && req.headers.get("authorization") !== f.auth) {
      res = new Response("unauthorized", { status: 401 });
    } else if (f.etag && ifNoneMatch === f.etag) {
      res = new Response(null, { status: 304, headers: { etag: f.etag } });
    } else {
      const headers: Record<string, string> = {};
      if (f.etag) headers.etag = f.etag;
      if (f.lastModified) headers["last-modified"] = f.lastModified;
      res = new Response(f.body, { headers });
    }
    requests.push({ path, ifNoneMatch, status: res.status });
    return res;
  });
  return { server, requests, url: `http://127.0.0.1:${server.addr.port}` };
}

async function setup() {
  const registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-add-remote-" });
  const files = new Map<string, Served>();
  const http = fileServer(files);
  return {
    base: `${registry.host}/library/busybox:latest`,
    tmp,
    state: `${tmp}/state`,
    files,
    http,
    async [Symbol.asyncDispose]() {
      await http.server.shutdown();
      await removeTree(tmp);
      await registry[Symbol.asyncDispose]();
    },
  };
}

type Env = Awaited<ReturnType<typeof setup>>;

/** `tar -tv` of an exported root file system: path -> "mode uid/gid date time" (UTC). */
async function listing(tarFile: string): Promise<Map<string, string>> {
  const out = await run(["tar", "--numeric-owner", "--full-time", "-tvf", tarFile], {
    env: { TZ: "UTC" },
  });
  const entries = new Map<string, string>();
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const path = f.slice(5).join(" ").replace(/^\.?\//, "").replace(/\/$/, "");
    entries.set(path, `${f[0]} ${f[1]} ${f[3]} ${f[4]}`);
  }
  return entries;
}

/** The content of `path` in an exported root file system. */
async function fileIn(tarFile: string, path: string): Promise<string> {
  const members = (await run(["tar", "-tf", tarFile])).split("\n");
  const member = members.find((m) => m.replace(/^\.?\//, "") === path);
  ok(member, `${path} in ${tarFile}`);
  return await run(["tar", "-xOf", tarFile, member]);
}

/** The sha256 (hex) of `path` in an exported root file system. */
async function sha256In(tarFile: string, path: string): Promise<string> {
  const members = (await run(["tar", "-tf", tarFile])).split("\n");
  const member = members.find((m) => m.replace(/^\.?\//, "") === path);
  ok(member, `${path} in ${tarFile}`);
  const out = await run(["sh", "-c", 'tar -xOf "$0" "$1" | sha256sum', tarFile, member]);
  return out.split(" ")[0];
}

async function sha256Hex(data: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const d = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function writeContext(dir: string, files: Record<string, string>): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return dir;
}

/** Builds the context `ctx` (a directory, URL or `-`) into `<tmp>/<name>.tar`. */
async function build(
  env: Env,
  name: string,
  ctx: string,
  extra: string[] = [],
  options: { stdin?: Uint8Array | string; env?: Record<string, string> } = {},
) {
  const tar = `${env.tmp}/${name}.tar`;
  const r = await img(
    [
      "build",
      "--progress=plain",
      "--build-arg",
      `BASE=${env.base}`,
      "--build-arg",
      `URL=${env.http.url}`,
      ...extra,
      "-o",
      `type=tar,dest=${tar}`,
      ctx,
    ],
    { state: env.state, ...options },
  );
  return { ...r, tar };
}

async function buildOk(...args: Parameters<typeof build>) {
  const r = await build(...args);
  equal(r.code, 0, `img build ${args[1]}: ${r.stderr}`);
  return r;
}

/** Whether the step named `step` printed CACHED. */
function cached(stderr: string, step: RegExp): boolean {
  const lines = stderr.split("\n");
  const i = lines.findIndex((l) => step.test(l));
  ok(i >= 0, `step ${step} in\n${stderr}`);
  const id = lines[i].split(" ")[0];
  return lines.some((l) => l === `${id} CACHED`);
}

Deno.test("ADD <url>: content, 0600 or --chmod, --chown, mtime from Last-Modified, unpacked only with --unpack, --link", async () => {
  await using env = await setup();
  const tarball = await Deno.readFile(
    await (async () => {
      const src = await writeContext(`${env.tmp}/tarsrc`, { "inner.txt": "inner\n" });
      await run(["tar", "-czf", `${env.tmp}/inner.tar.gz`, "-C", src, "inner.txt"]);
      return `${env.tmp}/inner.tar.gz`;
    })(),
  );
  env.files.set("/files/hello.txt", { body: "hello\n", etag: '"h1"', lastModified: LAST_MODIFIED });
  env.files.set("/files/tool", { body: "#!/bin/sh\necho tool\n", lastModified: LAST_MODIFIED });
  env.files.set("/files/inner.tar.gz", { body: tarball });
  env.files.set("/plain.txt", { body: "no date\n" });
  env.files.set("/dir/", { body: "index\n" });
  const ctx = await writeContext(`${env.tmp}/add`, {
    Dockerfile: `ARG BASE
FROM \${BASE}
ARG URL
ADD \${URL}/files/hello.txt /hello.txt
ADD --chmod=755 --chown=1000:1000 \${URL}/files/tool /usr/local/bin/
ADD \${URL}/files/inner.tar.gz /archives/
ADD --unpack=true \${URL}/files/inner.tar.gz /unpacked/
ADD --link \${URL}/files/hello.txt /linked/
ADD \${URL}/plain.txt \${URL}/dir/ /several/
RUN /usr/local/bin/tool > /tool-ran
`,
  });
  const { tar } = await buildOk(env, "add", ctx);
  const tree = await listing(tar);
  // "If <src> is a remote file URL, the destination will have permissions of 600", its mtime
  // from Last-Modified.
  equal(tree.get("hello.txt"), "-rw------- 0/0 2015-10-21 07:28:00");
  equal(await fileIn(tar, "hello.txt"), "hello\n");
  equal(tree.get("usr/local/bin/tool"), "-rwxr-xr-x 1000/1000 2015-10-21 07:28:00");
  equal(await fileIn(tar, "tool-ran"), "tool\n");
  // A remote tarball is not unpacked.
  ok(
    tree.get("archives/inner.tar.gz")?.startsWith("-rw------- 0/0"),
    tree.get("archives/inner.tar.gz"),
  );
  ok(!tree.has("archives/inner.txt"));
  // Unless asked (Dockerfile 1.17+; the local 0.8 engine has no --unpack).
  equal(await fileIn(tar, "unpacked/inner.txt"), "inner\n");
  equal(tree.get("linked/hello.txt"), "-rw------- 0/0 2015-10-21 07:28:00");
  equal(await sha256In(tar, "archives/inner.tar.gz"), await sha256Hex(tarball));
  // No Last-Modified: the epoch. A URL path ending in "/" names the file after its last component.
  equal(tree.get("several/plain.txt"), "-rw------- 0/0 1970-01-01 00:00:00");
  equal(await fileIn(tar, "several/dir"), "index\n");
});

Deno.test("ADD --checksum: a matching checksum builds, a wrong one fails in one line naming the line", async () => {
  await using env = await setup();
  env.files.set("/sum/app.bin", { body: "payload\n", etag: '"p"' });
  const good = await sha256Hex("payload\n");
  const ctx = (sum: string) =>
    writeContext(`${env.tmp}/sum-${sum.slice(0, 8)}`, {
      Dockerfile: `ARG BASE
FROM \${BASE}
ARG URL
ADD --checksum=sha256:${sum} \${URL}/sum/app.bin /app.bin
`,
    });
  const { tar } = await buildOk(env, "sum-good", await ctx(good));
  equal(await fileIn(tar, "app.bin"), "payload\n");
  const bad = await build(env, "sum-bad", await ctx("0".repeat(64)));
  equal(bad.code, 1, bad.stderr);
  const last = bad.stderr.trimEnd().split("\n").at(-1)!;
  match(
    last,
    new RegExp(
      `^img: Dockerfile:4: The content of http://127\\.0\\.0\\.1:\\d+/sum/app\\.bin has digest sha256:${good}, not the --checksum sha256:0{64}: fix the checksum or the URL$`,
    ),
  );
});

Deno.test("ADD <url> is cached by content: an unchanged ETag keeps the step CACHED, new content re-runs it", async () => {
  await using env = await setup();
  env.files.set("/c/data.txt", { body: "one\n", etag: '"v1"', lastModified: LAST_MODIFIED });
  const ctx = await writeContext(`${env.tmp}/cache`, {
    Dockerfile: `ARG BASE
FROM \${BASE}
ARG URL
RUN echo before > /before.txt
ADD \${URL}/c/data.txt /data.txt
`,
  });
  // The last step: a rebuild shows it (the solver stops at the first cached step).
  const addStep = /^#\d+ \[3\/3\] ADD \$\{URL\}\/c\/data\.txt \/data\.txt$/;
  const first = await buildOk(env, "cache1", ctx);
  ok(!cached(first.stderr, addStep), first.stderr);
  equal(await fileIn(first.tar, "data.txt"), "one\n");

  const before = env.http.requests.length;
  const second = await buildOk(env, "cache2", ctx);
  ok(cached(second.stderr, addStep), second.stderr);
  // The rebuild asked with the recorded ETag and downloaded nothing.
  const asked = env.http.requests.slice(before).filter((r) => r.path === "/c/data.txt");
  equal(asked.length, 1);
  equal(asked[0].ifNoneMatch, '"v1"');
  equal(asked[0].status, 304);
  equal(await fileIn(second.tar, "data.txt"), "one\n");

  env.files.set("/c/data.txt", { body: "two\n", etag: '"v2"', lastModified: LAST_MODIFIED });
  const third = await buildOk(env, "cache3", ctx);
  ok(!cached(third.stderr, addStep), third.stderr);
  ok(cached(third.stderr, /^#\d+ \[2\/3\] RUN echo before/), third.stderr);
  equal(await fileIn(third.tar, "data.txt"), "two\n");
});

Deno.test("ADD <url> goes through HTTP_PROXY", async () => {
  await using env = await setup();
  env.files.set("/p/through.txt", { body: "proxied\n" });
  // A forward proxy: requests for the host "files.img-test.invalid" (which no resolver knows)
  // go to the file server, anything else where it asks to go.
  const proxied: string[] = [];
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    proxied.push(url.href);
    const target = url.hostname === "files.img-test.invalid"
      ? `${env.http.url}${url.pathname}`
      : url.href;
    const res = await fetch(target, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  try {
    const ctx = await writeContext(`${env.tmp}/proxy`, {
      Dockerfile: `ARG BASE
FROM \${BASE}
ADD http://files.img-test.invalid/p/through.txt /through.txt
`,
    });
    const proxyURL = `http://127.0.0.1:${proxy.addr.port}`;
    const { tar } = await buildOk(env, "proxy", ctx, [], {
      // NO_PROXY: the registry on loopback is reached directly.
      env: { HTTP_PROXY: proxyURL, http_proxy: proxyURL, NO_PROXY: "127.0.0.1" },
    });
    equal(await fileIn(tar, "through.txt"), "proxied\n");
    ok(proxied.includes("http://files.img-test.invalid/p/through.txt"), proxied.join("\n"));
    ok(proxied.every((u) => !u.startsWith("http://127.0.0.1")), proxied.join("\n"));
  } finally {
    await proxy.shutdown();
  }
});

Deno.test("the build context as a tarball URL: unpacked (gzip, xz), -f inside it; a plain file is the Dockerfile", async () => {
  await using env = await setup();
  const src = await writeContext(`${env.tmp}/ctxsrc`, {
    Dockerfile: "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /from-context.txt\n",
    "alt/Dockerfile.alt": "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /alt.txt\n",
    "hello.txt": "from the tarball\n",
  });
  await run(["tar", "-czf", `${env.tmp}/ctx.tar.gz`, "-C", src, "."]);
  await run(["tar", "-cJf", `${env.tmp}/ctx.tar.xz`, "-C", src, "."]);
  env.files.set("/ctx.tar.gz", { body: await Deno.readFile(`${env.tmp}/ctx.tar.gz`) });
  env.files.set("/ctx.tar.xz", { body: await Deno.readFile(`${env.tmp}/ctx.tar.xz`) });
  env.files.set("/Dockerfile.remote", {
    body: "ARG BASE\nFROM ${BASE}\nRUN echo remote > /remote.txt\n",
  });
  const gz = await buildOk(env, "url-gz", `${env.http.url}/ctx.tar.gz`);
  equal(await fileIn(gz.tar, "from-context.txt"), "from the tarball\n");
  const xz = await buildOk(env, "url-xz", `${env.http.url}/ctx.tar.xz`, [
    "-f",
    "alt/Dockerfile.alt",
  ]);
  equal(await fileIn(xz.tar, "alt.txt"), "from the tarball\n");
  const plain = await buildOk(env, "url-plain", `${env.http.url}/Dockerfile.remote`);
  equal(await fileIn(plain.tar, "remote.txt"), "remote\n");
  const missing = await build(env, "url-missing", `${env.http.url}/nothing.tar.gz`);
  equal(missing.code, 1);
  match(
    missing.stderr.trimEnd().split("\n").at(-1)!,
    /^img: Cannot download .*\/nothing\.tar\.gz: the server answered 404/,
  );
});

Deno.test("the build context from stdin (-): a tar is the context, a Dockerfile has an empty one", async () => {
  await using env = await setup();
  const src = await writeContext(`${env.tmp}/stdinsrc`, {
    Dockerfile: "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /from-stdin.txt\n",
    "other.Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /other.txt\n",
    "hello.txt": "from stdin\n",
  });
  await run(["tar", "-cf", `${env.tmp}/stdin.tar`, "-C", src, "."]);
  const tarBytes = await Deno.readFile(`${env.tmp}/stdin.tar`);
  const fromTar = await buildOk(env, "stdin-tar", "-", [], { stdin: tarBytes });
  equal(await fileIn(fromTar.tar, "from-stdin.txt"), "from stdin\n");
  // -f names the Dockerfile inside the tar, as buildx.
  const other = await buildOk(env, "stdin-tar-f", "-", ["-f", "other.Dockerfile"], {
    stdin: tarBytes,
  });
  equal(await fileIn(other.tar, "other.txt"), "from stdin\n");

  // A Dockerfile on stdin: built with an empty context, as `docker build -`.
  const df = await buildOk(env, "stdin-df", "-", [], {
    stdin: "ARG BASE\nFROM ${BASE}\nRUN echo piped > /piped.txt\n",
  });
  equal(await fileIn(df.tar, "piped.txt"), "piped\n");
  const empty = await build(env, "stdin-df-copy", "-", [], {
    stdin: "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /x\n",
  });
  equal(empty.code, 1, "the context is empty");
  match(empty.stderr, /hello\.txt.*not found/);

  // buildx's refusals.
  const both = await build(env, "stdin-both", "-", ["-f", "-"], { stdin: "FROM scratch\n" });
  equal(both.code, 1);
  match(
    both.stderr.trimEnd().split("\n").at(-1)!,
    /^img: invalid argument: can't use stdin for both build context and dockerfile$/,
  );
  const ambiguous = await build(env, "stdin-ambiguous", "-", ["-f", "Dockerfile"], {
    stdin: "FROM scratch\n",
  });
  equal(ambiguous.code, 1);
  match(
    ambiguous.stderr.trimEnd().split("\n").at(-1)!,
    /^img: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles$/,
  );
});

Deno.test("-f - with a context directory reads the Dockerfile from stdin", async () => {
  await using env = await setup();
  const ctx = await writeContext(`${env.tmp}/dir`, { "hello.txt": "dir\n" });
  const r = await buildOk(env, "dash-f", ctx, ["-f", "-"], {
    stdin: "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /dir.txt\n",
  });
  equal(await fileIn(r.tar, "dir.txt"), "dir\n");
});

Deno.test("ADD https://: a TLS server whose CA is trusted through DENO_CERT", async () => {
  await using env = await setup();
  // A CA, and a server certificate it signs for 127.0.0.1.
  const ca = `${env.tmp}/ca.crt`;
  const key = `${env.tmp}/tls.key`;
  const cert = `${env.tmp}/tls.crt`;
  await run([
    "sh",
    "-c",
    `cd "$0" && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=img-test-ca -keyout ca.key -out ca.crt 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout tls.key -out tls.csr 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf &&
    openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile ext.cnf -out tls.crt 2>/dev/null`,
    env.tmp,
  ]);
  const tls = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    cert: await Deno.readTextFile(cert),
    key: await Deno.readTextFile(key),
  }, () => new Response("secure\n", { headers: { "last-modified": LAST_MODIFIED } }));
  try {
    const ctx = await writeContext(`${env.tmp}/tls`, {
      Dockerfile: `ARG BASE
FROM \${BASE}
ADD https://127.0.0.1:${tls.addr.port}/s/secure.txt /secure.txt
`,
    });
    // Untrusted: a one-line error naming the URL.
    const refused = await build(env, "tls-untrusted", ctx);
    equal(refused.code, 1, refused.stderr);
    match(
      refused.stderr.trimEnd().split("\n").at(-1)!,
      /^img: Dockerfile:3: Cannot download https:\/\/127\.0\.0\.1:\d+\/s\/secure\.txt: .*certificate/,
    );
    const { tar } = await buildOk(env, "tls", ctx, [], { env: { DENO_CERT: ca } });
    equal(await fileIn(tar, "secure.txt"), "secure\n");
    equal((await listing(tar)).get("secure.txt"), "-rw------- 0/0 2015-10-21 07:28:00");
  } finally {
    await tls.shutdown();
  }
});

Deno.test("ADD <url> behind authentication: the HTTP_AUTH_TOKEN_<host> secret, kept out of the output", async () => {
  await using env = await setup();
  const token = `tok-${crypto.randomUUID()}`;
  env.files.set("/private/data.txt", { body: "private\n", auth: `Bearer ${token}` });
  const ctx = await writeContext(`${env.tmp}/auth`, {
    Dockerfile: `ARG BASE
FROM \${BASE}
ARG URL
ADD \${URL}/private/data.txt /data.txt
`,
  });
  const refused = await build(env, "auth-none", ctx);
  equal(refused.code, 1);
  match(
    refused.stderr.trimEnd().split("\n").at(-1)!,
    /^img: Dockerfile:4: Cannot download .*: the server answered 401/,
  );
  const r = await buildOk(env, "auth", ctx, [
    "--secret",
    "id=HTTP_AUTH_TOKEN_127.0.0.1,env=AUTH_TOKEN",
  ], {
    env: { AUTH_TOKEN: token },
  });
  equal(await fileIn(r.tar, "data.txt"), "private\n");
  ok(!r.stderr.includes(token) && !r.stdout.includes(token), "the token is not printed");
  const records = [...Deno.readDirSync(`${env.state}/http`)].map((e) =>
    Deno.readTextFileSync(`${env.state}/http/${e.name}`)
  );
  ok(records.length > 0 && records.every((t) => !t.includes(token)), "the token is not recorded");
});

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
import { equal, match, notEqual, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";

const LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT";

/** A file the test server serves. */
interface Served {
  body: Uint8Array<ArrayBuffer> | string;
  etag?: string;
  lastModified?: string;
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
    else if (f.etag && ifNoneMatch === f.etag) {
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

Deno.test("ADD <url>: content, 0600 or --chmod, --chown, mtime from Last-Modified, never unpacked", async () => {
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
  equal(await sha256In(tar, "archives/inner.tar.gz"), await sha256Hex(tarball));
  // No Last-Modified: the epoch. A URL path ending in "/" names the file after its last component.
  equal(tree.get("several/plain.txt"), "-rw------- 0/0 1970-01-01 00:00:00");
  equal(await fileIn(tar, "several/dir"), "index\n");
});

/**
 * `img pull` and `img push` against the real registry behind a proxy that injects one fault
 * (a reset before or after the headers, a stall before or after the headers, a truncated
 * body, 429 with Retry-After, 503, an upload cut half-way) once or always. Once, the
 * command must succeed; always, it must fail in bounded time with one line naming the
 * registry, leaving nothing half-written in the state directory. The no-progress timeout is
 * small (through `IMG_REGISTRY_TIMEOUT`, or `--registry-timeout`) so that the test is quick.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { pushBusybox } from "./_util/busybox.ts";
import { type FaultProxyOptions, startFaultProxy } from "./_util/fault_proxy.ts";
import { img, imgOk, type ImgResult } from "./_util/img.ts";
import { startRegistry } from "./_util/registry.ts";
import { mapLimit } from "../core/registry/_pool.ts";

/** A small no-progress timeout, so that permanent stalls fail fast. */
const TIMEOUT_S = 2;
const ENV = { IMG_REGISTRY_TIMEOUT: String(TIMEOUT_S) };
/** What a permanent fault may take, start-up of img included, on a loaded machine. */
const BOUND_MS = 30_000;

const MANIFESTS = /\/manifests\//;
const BLOBS = /\/blobs\/sha256:/;
const UPLOADS = /\/blobs\/uploads\//;

interface Case {
  name: string;
  proxy: Omit<FaultProxyOptions, "times">;
  /** What the message of a permanent fault says besides the registry. */
  permanent: RegExp;
  /** Set the timeout with `--registry-timeout` rather than `IMG_REGISTRY_TIMEOUT`. */
  flag?: boolean;
}

const PULL_CASES: Case[] = [
  {
    name: "reset before the headers of a manifest",
    proxy: { fault: "reset-before-headers", matchPath: MANIFESTS, matchMethod: "GET" },
    permanent: /cannot reach registry/,
  },
  {
    name: "reset after the headers of a manifest",
    proxy: { fault: "reset-after-headers", matchPath: MANIFESTS },
    permanent: /cannot reach registry/,
  },
  {
    name: "stall before the headers of a manifest",
    proxy: { fault: "stall-before-headers", matchPath: MANIFESTS, matchMethod: "GET" },
    permanent: /sent no answer for \d/,
    flag: true,
  },
  {
    name: "stall after the headers of a manifest",
    proxy: { fault: "stall-after-headers", matchPath: MANIFESTS },
    permanent: /stopped sending data for \d/,
  },
  {
    name: "stall after the headers of a blob",
    proxy: { fault: "stall-after-headers", matchPath: BLOBS },
    permanent: /stopped sending data for \d/,
  },
  {
    name: "truncated manifest body",
    proxy: { fault: "truncate", matchPath: MANIFESTS },
    permanent: /cannot reach registry|closed the connection/,
  },
  {
    name: "429 with Retry-After on a manifest",
    proxy: {
      fault: "status",
      status: 429,
      headers: { "retry-after": "1" },
      matchPath: MANIFESTS,
      matchMethod: "GET",
    },
    permanent: /answered 429/,
  },
  {
    name: "503 on a blob",
    proxy: { fault: "status", status: 503, matchPath: BLOBS, matchMethod: "GET" },
    permanent: /answered 503/,
  },
];

const PUSH_CASES: Case[] = [
  {
    name: "upload PUT cut half-way",
    proxy: { fault: "drop-upload", matchPath: UPLOADS, matchMethod: "PUT" },
    permanent: /cannot reach registry/,
  },
  {
    name: "503 on starting an upload",
    proxy: { fault: "status", status: 503, matchPath: UPLOADS, matchMethod: "POST" },
    permanent: /answered 503/,
  },
];

/** Checks that every stored blob matches its digest and no ingest file is left; returns the blobs. */
async function storedBlobs(state: string): Promise<string[]> {
  const names: string[] = [];
  const dir = `${state}/content/blobs/sha256`;
  try {
    for await (const e of Deno.readDir(dir)) {
      const hash = createHash("sha256");
      using file = await Deno.open(`${dir}/${e.name}`);
      for await (const chunk of file.readable) hash.update(chunk);
      equal(hash.digest("hex"), e.name, `blob ${e.name} matches its digest`);
      names.push(`sha256:${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    deepEqual([...Deno.readDirSync(`${state}/content/ingest`)].map((e) => e.name), []);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

async function imageCount(state: string): Promise<number> {
  const ls = await imgOk(["ls"], { state });
  return ls.stdout.trimEnd().split("\n").length - 1;
}

function assertPermanentFailure(r: ImgResult, elapsed: number, host: string, c: Case): void {
  equal(r.code, 1, `${c.name}: ${r.stdout}${r.stderr}`);
  const message = r.stderr.trim();
  equal(message.split("\n").length, 1, message);
  ok(message.includes(`registry ${host}`), `the message names the registry: ${message}`);
  match(message, c.permanent);
  ok(elapsed < BOUND_MS, `${c.name}: failed after ${elapsed} ms`);
}

async function pullCase(registryHost: string, digest: string, c: Case): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  const fresh = await Deno.makeTempDir({ prefix: "img-state-" });
  // A long timeout in the environment, to show that the flag wins.
  const flags = c.flag ? ["--registry-timeout", String(TIMEOUT_S)] : [];
  const env = c.flag ? { IMG_REGISTRY_TIMEOUT: "600" } : ENV;
  try {
    {
      await using proxy = await startFaultProxy(registryHost, { ...c.proxy, times: 1 });
      const r = await img([...flags, "pull", `${proxy.host}/library/busybox:latest`], {
        state,
        env,
      });
      equal(r.code, 0, `${c.name} once: ${r.stderr}`);
      match(r.stdout, new RegExp(`Digest: ${digest}`));
      equal(proxy.resets, 1, `${c.name}: the fault was injected once`);
      ok((await storedBlobs(state)).includes(digest));
    }
    await using proxy = await startFaultProxy(registryHost, { ...c.proxy, times: Infinity });
    const start = Date.now();
    const r = await img([...flags, "pull", `${proxy.host}/library/busybox:latest`], {
      state: fresh,
      env,
    });
    assertPermanentFailure(r, Date.now() - start, proxy.host, c);
    ok(proxy.resets >= 1);
    equal(await imageCount(fresh), 0, `${c.name}: no image record`);
    ok(!(await storedBlobs(fresh)).includes(digest), `${c.name}: no manifest of a failed pull`);
  } finally {
    await Deno.remove(state, { recursive: true });
    await Deno.remove(fresh, { recursive: true });
  }
}

/** Pushes the image `src` of `state` to a new repository through each push fault, in turn. */
async function pushCases(registryHost: string, digest: string): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  try {
    const src = `${registryHost}/library/busybox:latest`;
    await imgOk(["pull", src], { state });
    for (const [i, c] of PUSH_CASES.entries()) {
      {
        await using proxy = await startFaultProxy(registryHost, { ...c.proxy, times: 1 });
        const dst = `${proxy.host}/once/app${i}:v1`;
        await imgOk(["tag", src, dst], { state });
        const r = await img(["push", dst], { state, env: ENV });
        equal(r.code, 0, `${c.name} once: ${r.stderr}`);
        equal(proxy.resets, 1, `${c.name}: the fault was injected once`);
        const m = await fetch(`http://${registryHost}/v2/once/app${i}/manifests/v1`, {
          method: "HEAD",
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        equal(m.status, 200, `${c.name}: the registry has the image`);
        equal(m.headers.get("docker-content-digest"), digest);
      }
      await using proxy = await startFaultProxy(registryHost, { ...c.proxy, times: Infinity });
      const dst = `${proxy.host}/always/app${i}:v1`;
      await imgOk(["tag", src, dst], { state });
      const blobsBefore = await storedBlobs(state);
      const start = Date.now();
      const r = await img(["push", dst], { state, env: ENV });
      assertPermanentFailure(r, Date.now() - start, proxy.host, c);
      ok(proxy.resets >= 2, `${c.name}: the upload was tried again`);
      deepEqual(
        await storedBlobs(state),
        blobsBefore,
        `${c.name}: the push changed nothing locally`,
      );
      const m = await fetch(`http://${registryHost}/v2/always/app${i}/manifests/v1`, {
        method: "HEAD",
      });
      await m.body?.cancel();
      equal(m.status, 404, `${c.name}: no manifest was pushed`);
    }
  } finally {
    await Deno.remove(state, { recursive: true });
  }
}

Deno.test("registry faults: pull and push survive each fault once and fail cleanly when it stays", async () => {
  await using registry = await startRegistry();
  const pushed = await pushBusybox(registry.host, "library/busybox", "latest");
  // The cases are independent (a proxy and a state directory each): run a few at once.
  const jobs = [
    () => pushCases(registry.host, pushed.digest),
    ...PULL_CASES.map((c) => () => pullCase(registry.host, pushed.digest, c)),
  ];
  await mapLimit(jobs, 4, (job) => job());
});

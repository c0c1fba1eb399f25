/**
 * `RUN --mount` end to end, as the unprivileged user, with both executors: secrets
 * (`--secret`), SSH agent forwarding (`--ssh`), bind mounts of a stage's directory and
 * writable bind mounts, and cache mounts with their options and sharing modes (`locked`
 * across two concurrent builds in one state directory).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, outsideId, removeTree, run, spawnImg } from "./_util/img.ts";

const EXECUTORS = ["oci", "chroot"] as const;

async function sha256Hex(data: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Every readable file under `dir` (gzip blobs also decompressed), with its path. */
async function* filesUnder(
  dir: string,
): AsyncGenerator<{ path: string; data: Uint8Array<ArrayBuffer> }> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) {
      try {
        yield* filesUnder(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
      }
      continue;
    }
    if (!e.isFile) continue;
    let data: Uint8Array<ArrayBuffer>;
    try {
      data = await Deno.readFile(path);
    } catch (err) {
      // Files of subordinate ids in snapshots: unreadable outside the user namespace.
      if (err instanceof Deno.errors.PermissionDenied && path.includes("/snapshots/")) continue;
      throw err;
    }
    yield { path, data };
    if (data[0] === 0x1f && data[1] === 0x8b) {
      const plain = await new Response(
        new Blob([data]).stream().pipeThrough(new DecompressionStream("gzip")),
      ).bytes();
      yield { path: `${path} (gunzipped)`, data: plain };
    }
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

async function setup(prefix: string) {
  const registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `${registry.host}/library/busybox:latest`;
  const tmp = await Deno.makeTempDir({ prefix });
  return {
    base,
    tmp,
    async [Symbol.asyncDispose]() {
      await removeTree(tmp);
      await registry[Symbol.asyncDispose]();
    },
  };
}

async function writeContext(dir: string, lines: string[], files: Record<string, string> = {}) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/Dockerfile`, lines.join("\n") + "\n");
  for (const [name, data] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, data);
  }
}

Deno.test("RUN --mount=type=secret: the step sees the secret, nothing the build keeps holds it", async () => {
  await using t = await setup("img-secret-");
  const fileSecret = `file-secret-${crypto.randomUUID()}`;
  const envSecret = `env-secret-${crypto.randomUUID()}`;
  await Deno.writeTextFile(`${t.tmp}/token.txt`, fileSecret);
  const ctx = `${t.tmp}/ctx`;
  await writeContext(ctx, [
    "ARG BASE",
    "FROM ${BASE}",
    "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /seen-file && stat -c '%a %u %g' /run/secrets/tok > /mode-default",
    "RUN --mount=type=secret,id=tok,target=/etc/app/tok.conf,mode=0440,uid=1000,gid=1000 stat -c '%a %u %g' /etc/app/tok.conf > /mode-custom",
    // env= only: a variable and no file; env= with target: both.
    'RUN --mount=type=secret,id=envtok,env=TOKEN printf %s "$TOKEN" | sha256sum | cut -c1-64 > /seen-env && { test -e /run/secrets/envtok && echo file || echo no-file; } > /env-file',
    'RUN --mount=type=secret,id=envtok,env=TOKEN2,target=/envtok.txt printf %s "$TOKEN2" | cmp - /envtok.txt && echo both > /both',
    // An optional secret nobody gave: no file, the step still runs.
    "RUN --mount=type=secret,id=absent if [ -e /run/secrets/absent ]; then echo there; else echo absent; fi > /absent",
    "USER builder",
    "RUN --mount=type=secret,id=tok,uid=1000 wc -c < /run/secrets/tok > /tmp/as-builder",
  ]);
  for (const executor of EXECUTORS) {
    const state = `${t.tmp}/state-${executor}`;
    const layout = `${t.tmp}/layout-${executor}`;
    const build = await img(
      [
        "--debug",
        "build",
        "--no-console",
        "--executor",
        executor,
        "--build-arg",
        `BASE=${t.base}`,
        "--secret",
        `id=tok,src=${t.tmp}/token.txt`,
        "--secret",
        "id=envtok,env=MY_TOKEN",
        "-t",
        "secrets",
        "-o",
        "type=image",
        "-o",
        `type=oci,dest=${layout},tar=false`,
        ctx,
      ],
      { state, env: { MY_TOKEN: envSecret } },
    );
    equal(build.code, 0, build.stderr);
    const out = `${t.tmp}/unpacked-${executor}`;
    await imgOk(["unpack", "-o", out, "secrets"], { state });
    const read = (p: string) => Deno.readTextFile(`${out}${p}`);
    equal((await read("/seen-file")).trim(), await sha256Hex(fileSecret), executor);
    equal(await read("/mode-default"), "400 0 0\n");
    equal(await read("/mode-custom"), "440 1000 1000\n");
    equal((await read("/seen-env")).trim(), await sha256Hex(envSecret));
    equal(await read("/env-file"), "no-file\n", "env= alone mounts no file");
    equal(await read("/both"), "both\n");
    equal(await read("/absent"), "absent\n");
    equal(await read("/tmp/as-builder"), `${fileSecret.length}\n`);
    // The mount targets the steps needed are not left in the image.
    ok(!exists(`${out}/run/secrets`), "/run/secrets is not in the image");
    ok(!exists(`${out}/etc/app`), "/etc/app is not in the image");
    ok(!exists(`${out}/envtok.txt`));

    // Neither secret is in any blob, config, history, the state DB or the build's output.
    const needles = [fileSecret, envSecret].map((s) => new TextEncoder().encode(s));
    const scanned = new Set<string>();
    for (const dir of [state, layout]) {
      for await (const f of filesUnder(dir)) {
        scanned.add(f.path.slice(dir.length));
        for (const n of needles) ok(!contains(f.data, n), `a secret is in ${f.path}`);
      }
    }
    ok(scanned.has("/img.db"), "the state DB was scanned");
    ok([...scanned].some((p) => p.startsWith("/content/")), "the content store was scanned");
    ok([...scanned].some((p) => p.startsWith("/blobs/sha256/")), "the OCI export was scanned");
    for (const s of [fileSecret, envSecret]) {
      ok(!build.stdout.includes(s) && !build.stderr.includes(s), "a secret is in the output");
    }
  }
});

Deno.test("RUN --mount=type=secret,required: a missing secret fails naming it", async () => {
  await using t = await setup("img-secret-req-");
  const ctx = `${t.tmp}/ctx`;
  await writeContext(ctx, [
    "ARG BASE",
    "FROM ${BASE}",
    "RUN --mount=type=secret,id=needed,required cat /run/secrets/needed",
  ]);
  const r = await img(
    ["build", "--no-console", "--build-arg", `BASE=${t.base}`, ctx],
    { state: `${t.tmp}/state` },
  );
  equal(r.code, 1);
  match(r.stderr, /Dockerfile:3: Secret needed not found: pass it with --secret id=needed/);
});

Deno.test("RUN --mount=type=ssh forwards an ssh-agent: the step lists its keys", async () => {
  await using t = await setup("img-ssh-");
  const agentDir = `${t.tmp}/agent`;
  await Deno.mkdir(agentDir, { mode: 0o700 });
  const sock = `${agentDir}/agent.sock`;
  const agent = new Deno.Command("ssh-agent", {
    args: ["-D", "-a", sock],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 100 && !exists(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const key = `${t.tmp}/id_ed25519`;
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "img-test-key", "-f", key]);
    await run(["ssh-add", "-q", key], { env: { SSH_AUTH_SOCK: sock } });
    const expected = await run(["ssh-add", "-l"], { env: { SSH_AUTH_SOCK: sock } });
    match(expected, /img-test-key/);

    // busybox has no ssh-add: the host's, with its libraries and loader, is bound in.
    const ctx = `${t.tmp}/ctx`;
    await Deno.mkdir(`${ctx}/tools`, { recursive: true });
    const ldd = await run(["ldd", "/usr/bin/ssh-add"]);
    let loader = "";
    for (const m of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) {
      const name = m[1].slice(m[1].lastIndexOf("/") + 1);
      await Deno.copyFile(m[1], `${ctx}/tools/${name}`);
      if (name.startsWith("ld-linux")) loader = name;
    }
    ok(loader, "the dynamic loader of ssh-add");
    await Deno.copyFile("/usr/bin/ssh-add", `${ctx}/tools/ssh-add`);
    const sshAdd = `/t/${loader} --library-path /t /t/ssh-add`;
    await writeContext(ctx, [
      "ARG BASE",
      "FROM ${BASE}",
      `RUN --mount=type=ssh --mount=type=bind,source=tools,target=/t ${sshAdd} -l > /keys-default && echo $SSH_AUTH_SOCK > /sock-default`,
      "USER builder",
      `RUN --mount=type=ssh,id=fromkey,target=/home/builder/agent.sock,mode=0600,uid=1000,gid=1000 --mount=type=bind,source=tools,target=/t ${sshAdd} -l > /tmp/keys-file && stat -c '%a %u %g' $SSH_AUTH_SOCK > /tmp/sock-mode`,
    ]);
    for (const executor of EXECUTORS) {
      const state = `${t.tmp}/state-${executor}`;
      const build = await img(
        [
          "build",
          "--no-console",
          "--executor",
          executor,
          "--build-arg",
          `BASE=${t.base}`,
          "--ssh",
          "default",
          "--ssh",
          `fromkey=${key}`,
          "-t",
          "ssh",
          ctx,
        ],
        { state, env: { SSH_AUTH_SOCK: sock } },
      );
      equal(build.code, 0, build.stderr);
      const out = `${t.tmp}/unpacked-${executor}`;
      await imgOk(["unpack", "-o", out, "ssh"], { state });
      equal(await Deno.readTextFile(`${out}/keys-default`), expected, executor);
      equal(await Deno.readTextFile(`${out}/sock-default`), "/run/buildkit/ssh_agent.0\n");
      // The key file was loaded into an agent img started: the same key.
      equal(await Deno.readTextFile(`${out}/tmp/keys-file`), expected);
      equal(await Deno.readTextFile(`${out}/tmp/sock-mode`), "600 1000 1000\n");
      ok(!exists(`${out}/run/buildkit`), "the socket's mount point is not in the image");
      ok(!exists(`${out}/home/builder/agent.sock`));
    }
    const missing = await img(
      ["build", "--no-console", "--build-arg", `BASE=${t.base}`, ctx],
      { state: `${t.tmp}/state-missing`, env: { SSH_AUTH_SOCK: "" } },
    );
    equal(missing.code, 1);
    match(missing.stderr, /Dockerfile:3: /, "without --ssh the optional agent is absent");
    const empty = await img(
      ["build", "--no-console", "--ssh", "default", "--build-arg", `BASE=${t.base}`, ctx],
      { state: `${t.tmp}/state-missing`, env: { SSH_AUTH_SOCK: "" } },
    );
    equal(empty.code, 1);
    match(
      empty.stderr,
      /Invalid empty ssh agent socket for --ssh default: make sure SSH_AUTH_SOCK/,
    );
  } finally {
    agent.kill();
    await agent.status;
  }
});

Deno.test("RUN --mount=type=bind and type=cache honour every option", async () => {
  await using t = await setup("img-bind-cache-");
  const ctx = `${t.tmp}/ctx`;
  await writeContext(ctx, [
    "ARG BASE",
    "FROM ${BASE} AS data",
    "RUN mkdir -p /d/sub && echo from-stage > /d/file && echo deep > /d/sub/deep && chown -R 1000:1000 /d",
    "FROM ${BASE}",
    // source= inside a stage: the directory's files, at the target.
    "RUN --mount=type=bind,from=data,source=/d,target=/mnt/d ls /mnt/d > /bound-ls && cat /mnt/d/file > /bound.txt && stat -c '%u' /mnt/d/file > /bound-owner",
    // rw: the step may write; its writes are discarded.
    "RUN --mount=type=bind,from=data,source=/d,target=/rw,rw echo changed > /rw/file && echo new > /rw/new && cat /rw/file > /rw-saw",
    "RUN --mount=type=bind,source=src,target=/ctx,rw echo scribble > /ctx/a.txt && echo added > /ctx/added && cat /ctx/a.txt > /ctx-saw",
    "RUN --mount=type=bind,from=data,source=/d,target=/ro sh -c 'echo x > /ro/file' 2>/dev/null; echo $? > /ro-bind",
    // cache: id, mode/uid/gid of a new cache, from/source seeding it, ro.
    "RUN --mount=type=cache,id=own,target=/own,uid=1000,gid=1000,mode=0750 stat -c '%a %u %g' /own > /own.txt",
    "RUN --mount=type=cache,id=seeded,target=/s,from=data,source=/d cat /s/sub/deep > /seeded.txt && echo more > /s/more",
    "RUN --mount=type=cache,id=seeded,target=/other,from=data,source=/d cat /other/more > /seeded-again.txt",
    "RUN --mount=type=cache,id=seeded,target=/s,from=data,source=/d,ro sh -c 'touch /s/x' 2>/dev/null; echo $? > /cache-ro.txt",
  ], { "src/a.txt": "original\n" });
  for (const executor of EXECUTORS) {
    const state = `${t.tmp}/state-${executor}`;
    const build = await img(
      [
        "build",
        "--no-console",
        "--executor",
        executor,
        "--build-arg",
        `BASE=${t.base}`,
        "-t",
        "mounts",
        ctx,
      ],
      { state },
    );
    equal(build.code, 0, build.stderr);
    const out = `${t.tmp}/unpacked-${executor}`;
    await imgOk(["unpack", "-o", out, "mounts"], { state });
    const read = (p: string) => Deno.readTextFile(`${out}${p}`);
    equal(await read("/bound-ls"), "file\nsub\n", executor);
    equal(await read("/bound.txt"), "from-stage\n");
    equal(await read("/bound-owner"), "1000\n");
    equal(await read("/rw-saw"), "changed\n");
    equal(await read("/ctx-saw"), "scribble\n");
    ok(!exists(`${out}/rw`) && !exists(`${out}/ctx`) && !exists(`${out}/mnt`), "no mount point");
    ok((await read("/ro-bind")).trim() !== "0", "a bind mount is read-only by default");
    equal(await Deno.readTextFile(`${ctx}/src/a.txt`), "original\n", "the context is untouched");
    ok(!exists(`${ctx}/src/added`));
    equal(await read("/own.txt"), "750 1000 1000\n");
    equal(await read("/seeded.txt"), "deep\n");
    equal(await read("/seeded-again.txt"), "more\n", "one cache for one id and seed");
    ok((await read("/cache-ro.txt")).trim() !== "0", "ro cache mount");
  }
  // The rw writes did not reach the stage they were mounted from.
  const state = `${t.tmp}/state-oci`;
  await writeContext(`${t.tmp}/after`, [
    "ARG BASE",
    "FROM ${BASE} AS data",
    "RUN mkdir -p /d/sub && echo from-stage > /d/file && echo deep > /d/sub/deep && chown -R 1000:1000 /d",
    "FROM data",
    "RUN --mount=type=bind,from=data,source=/d,target=/rw,rw echo changed > /rw/file",
  ]);
  await imgOk(
    ["build", "--no-console", "--build-arg", `BASE=${t.base}`, "-t", "after", `${t.tmp}/after`],
    { state },
  );
  const after = `${t.tmp}/unpacked-after`;
  await imgOk(["unpack", "-o", after, "after"], { state });
  equal(await Deno.readTextFile(`${after}/d/file`), "from-stage\n");
  equal((await Deno.stat(`${after}/d/file`)).uid, await outsideId(1000));
});

Deno.test("RUN --mount=type=cache sharing: locked waits across builds, private gets its own, shared is shared", async () => {
  await using t = await setup("img-cache-sharing-");
  const state = `${t.tmp}/state`;
  const stamp = "$(cut -d' ' -f1 /proc/uptime)";
  await writeContext(`${t.tmp}/locked`, [
    "ARG BASE",
    "FROM ${BASE}",
    "ARG NAME",
    // Both builds reach the locked step together: each waits here for the other.
    'RUN --mount=type=cache,id=meet,target=/m touch /m/$NAME && i=0 && while [ "$(ls /m | wc -l)" -lt 2 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done',
    `RUN --mount=type=cache,id=lk,target=/c,sharing=locked echo "start $NAME ${stamp}" >> /c/log && sleep 3 && echo "end $NAME ${stamp}" >> /c/log`,
  ]);
  const builds = ["one", "two"].map((name) =>
    spawnImg(
      [
        "build",
        "--no-console",
        "--build-arg",
        `BASE=${t.base}`,
        "--build-arg",
        `NAME=${name}`,
        `${t.tmp}/locked`,
      ],
      { state },
    )
  );
  for (const b of builds) {
    const out = await b.output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
  }
  await writeContext(`${t.tmp}/read`, [
    "ARG BASE",
    "FROM ${BASE}",
    "RUN --mount=type=cache,id=lk,target=/c cp /c/log /log",
  ]);
  await imgOk(
    ["build", "--no-console", "--build-arg", `BASE=${t.base}`, "-t", "log", `${t.tmp}/read`],
    { state },
  );
  const logDir = `${t.tmp}/log`;
  await imgOk(["unpack", "-o", logDir, "log"], { state });
  const events = (await Deno.readTextFile(`${logDir}/log`)).trim().split("\n").map((l) => {
    const [what, name, time] = l.split(" ");
    return { what, name, time: Number(time) };
  });
  equal(events.length, 4, JSON.stringify(events));
  // Each build's interval is whole: start, end, start, end, the second after the first.
  deepEqual(events.map((e) => e.what), ["start", "end", "start", "end"]);
  equal(events[0].name, events[1].name);
  equal(events[2].name, events[3].name);
  ok(events[2].time >= events[1].time, `the intervals overlap: ${JSON.stringify(events)}`);

  // Two stages at once: one holds cache `p` locked; the other, private, gets a fresh one
  // meanwhile. They meet in a shared cache, which both use at the same time.
  const wait = (file: string) =>
    `i=0; while [ ! -e ${file} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e ${file} ]`;
  await writeContext(`${t.tmp}/private`, [
    "ARG BASE",
    "FROM ${BASE} AS holder",
    `RUN --mount=type=cache,id=p,target=/c,sharing=locked --mount=type=cache,id=sync,target=/sync echo held > /c/mark && touch /sync/holding && ${
      wait("/sync/released")
    } && echo ok > /holder.txt`,
    "FROM ${BASE} AS other",
    `RUN --mount=type=cache,id=sync,target=/sync ${wait("/sync/holding")}`,
    "RUN --mount=type=cache,id=p,target=/c,sharing=private --mount=type=cache,id=sync,target=/sync ls -A /c > /private-ls && touch /sync/released",
    "FROM ${BASE}",
    "COPY --from=holder /holder.txt /",
    "COPY --from=other /private-ls /",
    "RUN --mount=type=cache,id=p,target=/c,sharing=private cat /c/mark > /mark-later",
  ]);
  await imgOk(
    ["build", "--no-console", "--build-arg", `BASE=${t.base}`, "-t", "priv", `${t.tmp}/private`],
    { state },
  );
  const priv = `${t.tmp}/priv`;
  await imgOk(["unpack", "-o", priv, "priv"], { state });
  equal(await Deno.readTextFile(`${priv}/holder.txt`), "ok\n", "the shared cache met");
  equal(await Deno.readTextFile(`${priv}/private-ls`), "", "private: a fresh cache");
  equal(
    await Deno.readTextFile(`${priv}/mark-later`),
    "held\n",
    "private: the cache itself when nobody holds it",
  );
});

/**
 * `img build --provenance` and `--sbom` end to end, as the unprivileged user, against a real
 * registry: the attestations are attached as buildx attaches them (an image index holding the
 * image manifest and an attestation manifest of platform `unknown/unknown` whose layers are
 * in-toto statements), read back with skopeo and plain registry requests. Also
 * `--build-arg BUILDKIT_INLINE_CACHE=1`, which buildx turns into `--cache-to type=inline`.
 *
 * img attaches attestations only when asked: buildx adds a mode=min provenance to pushed
 * images by default, which would turn every pushed manifest into an index (a new digest).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox, pushBusyboxIndex } from "./_util/busybox.ts";
import { builtDigest, img, imgOk, removeTree, run } from "./_util/img.ts";
import { allCached } from "./_util/build_steps.ts";
import { startGitDaemon } from "./_util/git_server.ts";

/** Parsed JSON of a manifest, index or statement. */
// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const SECRET = "s3cr3t-value-never-in-an-attestation";
const ARG_VALUE = "arg-value-only-in-mode-max";

/** A dpkg status database with two installed packages and one removed. */
const DPKG_STATUS = `Package: fakebase
Status: install ok installed
Priority: required
Architecture: amd64
Maintainer: Img Tests <tests@img.invalid>
Version: 1.2.3-1
Description: a package that is not really there
 with a continuation line

Package: fakelib
Status: install ok installed
Architecture: all
Source: fakesrc
Version: 0.9
Description: another one

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 7
Description: removed, only its config files are left
`;

const DOCKERFILE = `ARG BASE
FROM \${BASE}
ARG MYARG
RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "${SECRET}" && echo "built $MYARG" > /built.txt
`;

const ENV = { SOURCE_DATE_EPOCH: "1700000000" };

interface Env {
  host: string;
  base: string;
  baseDigest: string;
  tmp: string;
  ctx: string;
  secretFile: string;
}

/** The layer that makes busybox look like Debian: a dpkg status file and os-release. */
const DEBIANISH = [
  { path: "var", type: "dir" as const },
  { path: "var/lib", type: "dir" as const },
  { path: "var/lib/dpkg", type: "dir" as const },
  { path: "var/lib/dpkg/status", content: DPKG_STATUS },
  { path: "etc/os-release", content: 'ID=debian\nVERSION_ID="12"\n' },
];

async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
  await using registry = await startRegistry();
  // The base image has a dpkg status file, as a Debian image does.
  const pushed = await pushBusybox(registry.host, "library/debianish", "latest", {
    extraLayers: [DEBIANISH],
  });
  const tmp = await Deno.makeTempDir({ prefix: "img-attest-" });
  try {
    const ctx = `${tmp}/ctx`;
    await Deno.mkdir(ctx);
    await Deno.writeTextFile(`${ctx}/Dockerfile`, DOCKERFILE);
    const secretFile = `${tmp}/token`;
    await Deno.writeTextFile(secretFile, SECRET);
    await fn({
      host: registry.host,
      base: pushed.reference,
      baseDigest: pushed.digest,
      tmp,
      ctx,
      secretFile,
    });
  } finally {
    await removeTree(tmp);
  }
}

function buildArgs(e: Env, ...extra: string[]): string[] {
  return [
    "build",
    "--no-console",
    "--build-arg",
    `BASE=${e.base}`,
    "--build-arg",
    `MYARG=${ARG_VALUE}`,
    "--secret",
    `id=token,src=${e.secretFile}`,
    ...extra,
    e.ctx,
  ];
}

async function rawText(ref: string): Promise<string> {
  return await run(["skopeo", "inspect", "--raw", "--tls-verify=false", ref]);
}

async function rawManifest(ref: string): Promise<Json> {
  return JSON.parse(await rawText(ref));
}

/** A blob of `repo` straight from the registry. */
async function blob(host: string, repo: string, digest: string): Promise<string> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  equal(res.status, 200, `blob ${digest}`);
  return await res.text();
}

interface Attested {
  /** The image manifest's index entry. */
  image: Json;
  /** The attestation manifest's index entry. */
  entry: Json;
  /** The attestation manifest. */
  manifest: Json;
  /** The statements, by predicate type, and their raw text. */
  statements: Map<string, Json>;
  texts: string[];
}

/** Checks the index layout buildx writes and returns its parts. */
async function readAttested(
  index: Json,
  manifestOf: (digest: string) => Promise<Json>,
  blobOf: (digest: string) => Promise<string>,
): Promise<Attested> {
  equal(index.mediaType, OCI_INDEX);
  equal(index.manifests.length, 2, JSON.stringify(index));
  const [image, entry] = index.manifests;
  equal(image.mediaType, OCI_MANIFEST);
  equal(image.platform.os, "linux");
  equal(entry.mediaType, OCI_MANIFEST);
  deepEqual(entry.platform, { architecture: "unknown", os: "unknown" });
  deepEqual(entry.annotations, {
    "vnd.docker.reference.digest": image.digest,
    "vnd.docker.reference.type": "attestation-manifest",
  });
  const manifest = await manifestOf(entry.digest);
  const statements = new Map<string, Json>();
  const texts: string[] = [];
  for (const layer of manifest.layers) {
    equal(layer.mediaType, "application/vnd.in-toto+json");
    const text = await blobOf(layer.digest);
    texts.push(text);
    const statement = JSON.parse(text);
    equal(statement._type, "https://in-toto.io/Statement/v0.1");
    equal(layer.annotations["in-toto.io/predicate-type"], statement.predicateType);
    // The subject is the image manifest, by digest.
    ok(statement.subject.length >= 1);
    for (const s of statement.subject) equal(`sha256:${s.digest.sha256}`, image.digest);
    statements.set(statement.predicateType, statement);
  }
  texts.push(await blobOf(manifest.config.digest));
  return { image, entry, manifest, statements, texts };
}

function sbomPackages(statement: Json): string[] {
  const doc = statement.predicate;
  equal(doc.spdxVersion, "SPDX-2.3");
  deepEqual(doc.documentDescribes ?? ["SPDXRef-Image"], ["SPDXRef-Image"]);
  ok(
    doc.relationships.some((r: Record<string, string>) =>
      r.spdxElementId === "SPDXRef-DOCUMENT" && r.relationshipType === "DESCRIBES" &&
      r.relatedSpdxElement === "SPDXRef-Image"
    ),
  );
  return doc.packages
    .filter((p: Record<string, string>) => p.SPDXID !== "SPDXRef-Image")
    .map((p: Json) => `${p.name}@${p.versionInfo} ${p.externalRefs[0].referenceLocator}`)
    .sort();
}

Deno.test("--provenance=mode=max --sbom=true --push: an index with the attestation manifest, as buildx pushes it", async () => {
  await withEnv(async (e) => {
    const image = `${e.host}/app/attested:v1`;
    const r = await imgOk(
      buildArgs(e, "-t", image, "--provenance=mode=max", "--sbom=true", "--push"),
      { state: `${e.tmp}/state`, env: ENV },
    );
    const indexText = await rawText(`docker://${image}`);
    equal(builtDigest(r.stdout), `sha256:${await sha256(indexText)}`, "the index is the image");
    const index = JSON.parse(indexText);
    const a = await readAttested(
      index,
      (d) => rawManifest(`docker://${e.host}/app/attested@${d}`),
      (d) => blob(e.host, "app/attested", d),
    );
    // The image manifest itself is the image built: its config has the base's layers + 1.
    const config = JSON.parse(
      await run([
        "skopeo",
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        `docker://${image}`,
      ]),
    );
    equal(config.rootfs.diff_ids.length, 3);

    const provenance = a.statements.get("https://slsa.dev/provenance/v0.2")!;
    ok(provenance, [...a.statements.keys()].join());
    match(
      provenance.subject[0].name,
      /^pkg:docker\/127\.0\.0\.1%3A\d+\/app\/attested@v1\?platform=linux%2F/,
    );
    const p = provenance.predicate;
    equal(p.buildType, "https://mobyproject.org/buildkit@v1");
    equal(p.invocation.configSource.entryPoint, "Dockerfile");
    equal(p.invocation.parameters.frontend, "dockerfile.v0");
    equal(p.invocation.parameters.args["build-arg:MYARG"], ARG_VALUE, "mode=max has the args");
    deepEqual(p.invocation.parameters.secrets, [{ id: "token", optional: true }], "IDs only");
    const [algorithm, hex] = e.baseDigest.split(":");
    ok(
      p.materials.some((m: Json) =>
        m.uri.startsWith("pkg:docker/127.0.0.1%3A") &&
        m.uri.includes("/library/debianish@latest") &&
        m.digest[algorithm] === hex
      ),
      JSON.stringify(p.materials),
    );

    const sbom = a.statements.get("https://spdx.dev/Document")!;
    ok(sbom, [...a.statements.keys()].join());
    deepEqual(sbomPackages(sbom), [
      "fakebase@1.2.3-1 pkg:deb/debian/fakebase@1.2.3-1?arch=amd64&distro=debian",
      "fakelib@0.9 pkg:deb/debian/fakelib@0.9?arch=all&upstream=fakesrc&distro=debian",
    ]);
    for (const text of a.texts) ok(!text.includes(SECRET), "no secret in the attestations");

    // The pushed image still pulls and runs as the image (the platform entry is chosen).
    await imgOk(["pull", image], { state: `${e.tmp}/state2` });
    await imgOk(["unpack", "-o", `${e.tmp}/rootfs`, image], { state: `${e.tmp}/state2` });
    equal(await Deno.readTextFile(`${e.tmp}/rootfs/built.txt`), `built ${ARG_VALUE}\n`);
  });
});

Deno.test("--provenance=true (mode=min) leaves out build args; -o type=oci carries the same attestations", async () => {
  await withEnv(async (e) => {
    const image = `${e.host}/app/min:v1`;
    const layout = `${e.tmp}/layout`;
    await imgOk(
      buildArgs(
        e,
        "-t",
        image,
        "--provenance=true",
        "--sbom=1",
        "--push",
        "-o",
        `type=oci,dest=${layout},tar=false`,
      ),
      { state: `${e.tmp}/state`, env: ENV },
    );
    const pushed = await readAttested(
      await rawManifest(`docker://${image}`),
      (d) => rawManifest(`docker://${e.host}/app/min@${d}`),
      (d) => blob(e.host, "app/min", d),
    );
    const p = pushed.statements.get("https://slsa.dev/provenance/v0.2")!.predicate;
    equal(p.invocation.parameters.frontend, "dockerfile.v0");
    equal(p.invocation.parameters.args, undefined, "mode=min has no args");
    equal(p.invocation.parameters.secrets, undefined, "nor secret IDs");
    for (const text of pushed.texts) {
      ok(!text.includes(ARG_VALUE), "no build arg value in mode=min");
      ok(!text.includes(SECRET), "no secret");
    }

    // The OCI layout: index.json -> the same image index, read with skopeo and from disk.
    const layoutIndex = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
    equal(layoutIndex.manifests[0].mediaType, OCI_INDEX);
    const readBlob = (d: string) => Deno.readTextFile(`${layout}/blobs/sha256/${d.slice(7)}`);
    const fromLayout = await readAttested(
      JSON.parse(await readBlob(layoutIndex.manifests[0].digest)),
      async (d) => JSON.parse(await readBlob(d)),
      readBlob,
    );
    equal(fromLayout.image.digest, pushed.image.digest, "the same image manifest");
    deepEqual([...fromLayout.statements.keys()].sort(), [...pushed.statements.keys()].sort());
    deepEqual(
      sbomPackages(fromLayout.statements.get("https://spdx.dev/Document")!),
      sbomPackages(pushed.statements.get("https://spdx.dev/Document")!),
    );
    // skopeo reads the layout and picks the image, not the attestation manifest.
    const inspected = JSON.parse(await run(["skopeo", "inspect", `oci:${layout}:v1`]));
    equal(inspected.Layers.length, 3);
  });
});

Deno.test("several platforms: one index, each image's attestation manifest after the images", async () => {
  await withEnv(async (e) => {
    // Both platforms' bases hold the host's busybox; no RUN step, so no emulator is needed.
    const base = await pushBusyboxIndex(e.host, "library/debianish-multi", "latest", {
      extraLayers: [DEBIANISH],
    });
    await Deno.writeTextFile(`${e.ctx}/Dockerfile`, "ARG BASE\nFROM ${BASE}\nCOPY hello /hello\n");
    await Deno.writeTextFile(`${e.ctx}/hello`, "hi\n");
    const image = `${e.host}/app/multi:v1`;
    await imgOk(
      [
        "build",
        "--no-console",
        "--build-arg",
        `BASE=${base.reference}`,
        "--platform",
        "linux/amd64,linux/arm64",
        "--provenance=mode=min",
        "--sbom=true",
        "-t",
        image,
        "--push",
        e.ctx,
      ],
      { state: `${e.tmp}/state`, env: ENV },
    );
    const index = await rawManifest(`docker://${image}`);
    equal(index.manifests.length, 4, JSON.stringify(index));
    const images = index.manifests.slice(0, 2);
    deepEqual(images.map((m: Json) => m.platform.architecture), ["amd64", "arm64"]);
    for (const [i, entry] of index.manifests.slice(2).entries()) {
      deepEqual(entry.platform, { architecture: "unknown", os: "unknown" });
      equal(entry.annotations["vnd.docker.reference.digest"], images[i].digest);
      const manifest = await rawManifest(`docker://${e.host}/app/multi@${entry.digest}`);
      const statements = await Promise.all(
        manifest.layers.map(async (l: Json) =>
          JSON.parse(await blob(e.host, "app/multi", l.digest))
        ),
      );
      const provenance = statements.find((s) => s.predicateType.includes("slsa"));
      equal(`sha256:${provenance.subject[0].digest.sha256}`, images[i].digest);
      match(
        provenance.subject[0].name,
        new RegExp(`platform=linux%2F${images[i].platform.architecture}`),
      );
      equal(
        provenance.predicate.invocation.environment.platform,
        `linux/${images[i].platform.architecture}`,
      );
      // The material is the base image of the same platform.
      const baseDigest = base.index!.manifests[i].digest.split(":")[1];
      ok(
        provenance.predicate.materials.some((m: Json) => m.digest.sha256 === baseDigest),
        JSON.stringify(provenance.predicate.materials),
      );
      const sbom = statements.find((s) => s.predicateType === "https://spdx.dev/Document");
      equal(sbomPackages(sbom).length, 2);
    }
  });
});

Deno.test("a git repository as the context: the provenance names its URL and commit", async () => {
  await withEnv(async (e) => {
    const repo = `${e.tmp}/srv/repo.git`;
    await Deno.mkdir(repo, { recursive: true });
    const git = (...args: string[]) =>
      run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args]);
    await git("init", "-q", "-b", "main");
    await Deno.writeTextFile(`${repo}/Dockerfile`, "ARG BASE\nFROM ${BASE}\nCOPY hello /hello\n");
    await Deno.writeTextFile(`${repo}/hello`, "hi\n");
    await git("add", "-A");
    await git("commit", "-qm", "one");
    const commit = (await git("rev-parse", "HEAD")).trim();
    await using daemon = await startGitDaemon(`${e.tmp}/srv`);
    const url = `${daemon.url}/repo.git#main`;
    const layout = `${e.tmp}/layout`;
    await imgOk(
      [
        "build",
        "--no-console",
        "--build-arg",
        `BASE=${e.base}`,
        "--provenance=mode=min",
        "-o",
        `type=oci,dest=${layout},tar=false`,
        url,
      ],
      { state: `${e.tmp}/state`, env: ENV },
    );
    const readBlob = (d: string) => Deno.readTextFile(`${layout}/blobs/sha256/${d.slice(7)}`);
    const layoutIndex = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
    const a = await readAttested(
      JSON.parse(await readBlob(layoutIndex.manifests[0].digest)),
      async (d) => JSON.parse(await readBlob(d)),
      readBlob,
    );
    const p = a.statements.get("https://slsa.dev/provenance/v0.2")!.predicate;
    deepEqual(p.invocation.configSource, {
      uri: url,
      digest: { sha1: commit },
      entryPoint: "Dockerfile",
    });
    deepEqual(p.materials[0], { uri: url, digest: { sha1: commit } });
  });
});

Deno.test("no flags and --provenance=false --sbom=false: a plain manifest, the same digest", async () => {
  await withEnv(async (e) => {
    const a = await imgOk(buildArgs(e, "-t", `${e.host}/app/plain:a`, "--push"), {
      state: `${e.tmp}/state`,
      env: ENV,
    });
    const b = await imgOk(
      buildArgs(e, "-t", `${e.host}/app/plain:b`, "--push", "--provenance=false", "--sbom=false"),
      { state: `${e.tmp}/state`, env: ENV },
    );
    equal(builtDigest(a.stdout), builtDigest(b.stdout));
    for (const tag of ["a", "b"]) {
      const raw = await rawText(`docker://${e.host}/app/plain:${tag}`);
      equal(JSON.parse(raw).mediaType, OCI_MANIFEST, "no index, no attestation manifest");
      equal(`sha256:${await sha256(raw)}`, builtDigest(a.stdout));
    }
  });
});

Deno.test("attestations an output cannot hold, and options img cannot honour, are refused by name", async () => {
  await withEnv(async (e) => {
    const cases: [string[], RegExp][] = [
      [
        ["--sbom=true", "-o", `type=docker,dest=${e.tmp}/d.tar`],
        /type=docker cannot hold attestations/,
      ],
      [
        ["--provenance=true", "-o", `type=local,dest=${e.tmp}/l`],
        /type=local cannot hold attestations/,
      ],
      [["--sbom=generator=docker/buildkit-syft-scanner"], /--sbom generator=.* cannot run/],
      [["--provenance=mode=full"], /Invalid --provenance mode "full"/],
    ];
    for (const [flags, expected] of cases) {
      const r = await img(buildArgs(e, ...flags), { state: `${e.tmp}/state` });
      equal(r.code, 1, r.stderr);
      match(r.stderr, expected);
    }
  });
});

Deno.test("--build-arg BUILDKIT_INLINE_CACHE=1: the image carries an inline cache, --cache-from IMAGE on an empty state is all CACHED", async () => {
  await withEnv(async (e) => {
    const image = `${e.host}/app/inline:latest`;
    const a = await imgOk(
      buildArgs(
        e,
        "-t",
        image,
        "--push",
        "--build-arg",
        "BUILDKIT_INLINE_CACHE=1",
        "--build-arg",
        "NOT_USED=1",
      ),
      { state: `${e.tmp}/a`, env: ENV },
    );
    // BuildKit's own build args are not reported as unused; others are.
    match(a.stderr, /one or more build args were not consumed: \[NOT_USED\]/);
    const config = JSON.parse(
      await run([
        "skopeo",
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        `docker://${image}`,
      ]),
    );
    equal(config["img.cache.v1"].records.length, 1, "the final stage's one step");

    const b = await imgOk(
      // As machine A built it (the inline cache is part of the image's config).
      buildArgs(e, "-t", "inline", "--cache-from", image, "--build-arg", "BUILDKIT_INLINE_CACHE=1"),
      { state: `${e.tmp}/b`, env: ENV },
    );
    allCached(b.stderr);
    equal(builtDigest(b.stdout), builtDigest(a.stdout));

    // Without the build arg (or with 0), no inline cache.
    await imgOk(
      buildArgs(
        e,
        "-t",
        `${e.host}/app/inline:no`,
        "--push",
        "--build-arg",
        "BUILDKIT_INLINE_CACHE=0",
      ),
      { state: `${e.tmp}/a`, env: ENV },
    );
    const plain = JSON.parse(
      await run([
        "skopeo",
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        `docker://${e.host}/app/inline:no`,
      ]),
    );
    equal(plain["img.cache.v1"], undefined);
  });
});

async function sha256(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

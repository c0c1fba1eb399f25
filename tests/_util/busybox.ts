/**
 * Test base images built from the host's static busybox (`/bin/busybox`, Debian package
 * `busybox-static`), so no test needs the internet.
 *
 * - {@linkcode buildBusyboxLayout}: a one-layer busybox image in an OCI layout.
 * - {@linkcode buildLayeredLayout}: busybox plus two layers exercising whiteouts, opaque dirs,
 *   hardlinks, symlinks, special modes, owners and xattrs ({@linkcode LAYERED_EXPECTED} says
 *   what an unpacked rootfs must contain).
 * - {@linkcode buildBusyboxIndexLayout}: an OCI index with an amd64 and an arm64 entry.
 * - {@linkcode pushBusybox} / {@linkcode pushBusyboxIndex}: push those to a registry with
 *   `skopeo copy`, a tool nobody here wrote.
 *
 * The images are reproducible: the same busybox binary always gives the same digests.
 *
 * @module
 */
import { type Digest, sha256 } from "../../core/digest.ts";
import { MediaType } from "../../core/media_types.ts";
import type { Descriptor, ImageConfig, OciPlatform } from "../../core/schemas.ts";
import {
  buildLayer,
  FIXED_CREATED,
  hostArchitecture,
  type Layer,
  OciLayoutWriter,
  opaque,
  type TarEntry,
  whiteout,
} from "./oci_layout.ts";

/** Where the static busybox binary is read from. */
export const BUSYBOX_PATH = "/bin/busybox";

/** The PATH set in the test images' config. */
export const BUSYBOX_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The unprivileged user present in the test images (`/etc/passwd`), with its home dir. */
export const BUILDER_USER = { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" };

const PASSWD = [
  "root:x:0:0:root:/root:/bin/sh",
  "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
  "builder:x:1000:1000:builder:/home/builder:/bin/sh",
  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
  "",
].join("\n");

const GROUP = [
  "root:x:0:",
  "daemon:x:1:",
  "shadow:x:42:",
  "builder:x:1000:",
  "nogroup:x:65534:",
  "",
].join("\n");

/** Options for {@linkcode buildBusyboxLayout}. */
export interface BusyboxLayoutOptions {
  /** The `org.opencontainers.image.ref.name` in `index.json` (default `latest`). */
  tag?: string;
  /** Layers stacked on top of the busybox layer, bottom first. */
  extraLayers?: TarEntry[][];
  /** The config's architecture (default: the host's, `amd64` or `arm64`). */
  architecture?: string;
}

/** What was written by the layout builders. */
export interface BuiltImage {
  /** The layout directory. */
  dir: string;
  /** The tag (`org.opencontainers.image.ref.name`) in `index.json`. */
  tag: string;
  /** The manifest descriptor (what `index.json` points at). */
  manifest: Descriptor;
  /** The manifest digest. */
  digest: Digest;
  /** The config digest (the docker "image ID"). */
  configDigest: Digest;
  /** The image config as written. */
  config: ImageConfig;
  /** The layers, bottom first. */
  layers: Layer[];
}

const baseLayers = new Map<string, Promise<Layer>>();

/** Returns the busybox applet names (`sh`, `ls`, ...), from `busybox --list`, sorted. */
export async function busyboxApplets(): Promise<string[]> {
  const out = await new Deno.Command(BUSYBOX_PATH, { args: ["--list"], stdout: "piped" }).output();
  if (!out.success) throw new Error(`${BUSYBOX_PATH} --list failed: is busybox-static installed?`);
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((s) => s.trim())
    .filter((s) => s && s !== "busybox" && !s.includes("/"))
    .sort();
}

/**
 * The entries of the busybox root filesystem layer, with the busybox binary read from
 * `binary` (another architecture's, say; the applet links come from the host's busybox).
 */
export async function busyboxRootfsEntries(binary: string = BUSYBOX_PATH): Promise<TarEntry[]> {
  const busybox = await Deno.readFile(binary);
  const dir = (path: string, mode = 0o755, uid = 0, gid = 0): TarEntry => ({
    path,
    type: "dir",
    mode,
    uid,
    gid,
  });
  const entries: TarEntry[] = [
    dir("bin"),
    { path: "bin/busybox", mode: 0o755, content: busybox },
  ];
  for (const applet of await busyboxApplets()) {
    entries.push({ path: `bin/${applet}`, type: "symlink", target: "busybox" });
  }
  entries.push(
    dir("dev"),
    dir("etc"),
    { path: "etc/group", content: GROUP },
    { path: "etc/passwd", content: PASSWD },
    dir("home"),
    dir("home/builder", 0o755, BUILDER_USER.uid, BUILDER_USER.gid),
    dir("proc", 0o555),
    dir("root", 0o700),
    dir("sys", 0o555),
    dir("tmp", 0o1777),
    dir("usr"),
    dir("usr/bin"),
    dir("usr/sbin"),
    dir("var"),
    dir("var/tmp", 0o1777),
  );
  return entries;
}

/** Returns the (cached) gzip busybox root filesystem layer, with the busybox of `binary`. */
export function busyboxLayer(binary: string = BUSYBOX_PATH): Promise<Layer> {
  let layer = baseLayers.get(binary);
  if (!layer) {
    layer = busyboxRootfsEntries(binary).then(buildLayer).catch((e) => {
      baseLayers.delete(binary);
      throw e;
    });
    baseLayers.set(binary, layer);
  }
  return layer;
}

/** Returns the image config for `layers` (busybox first), as the layout builders write it. */
export function busyboxConfig(layers: Layer[], architecture = hostArchitecture()): ImageConfig {
  return {
    created: FIXED_CREATED,
    architecture,
    ...(architecture === "arm64" ? { variant: "v8" } : {}),
    os: "linux",
    config: { Env: [BUSYBOX_PATH_ENV], Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({
      created: FIXED_CREATED,
      created_by: i === 0
        ? "/bin/sh -c #(nop) ADD busybox-static rootfs in /"
        : `/bin/sh -c #(nop) ADD test layer ${i} in /`,
    })),
  };
}

async function writeBusyboxImage(
  w: OciLayoutWriter,
  extraLayers: TarEntry[][],
  architecture: string,
  binary: string = BUSYBOX_PATH,
): Promise<{ manifest: Descriptor; config: ImageConfig; layers: Layer[] }> {
  const layers = [await busyboxLayer(binary)];
  for (const entries of extraLayers) layers.push(await buildLayer(entries));
  const config = busyboxConfig(layers, architecture);
  const platform: OciPlatform = {
    architecture,
    os: "linux",
    ...(architecture === "arm64" ? { variant: "v8" } : {}),
  };
  const manifest = await w.writeImage(config, layers, platform);
  return { manifest, config, layers };
}

/**
 * Writes a busybox image into the OCI layout `dir` (created if needed; an existing
 * `index.json` keeps its other tags) and returns what was written.
 */
export async function buildBusyboxLayout(
  dir: string,
  opts: BusyboxLayoutOptions = {},
): Promise<BuiltImage> {
  const tag = opts.tag ?? "latest";
  const w = new OciLayoutWriter(dir);
  const { manifest, config, layers } = await writeBusyboxImage(
    w,
    opts.extraLayers ?? [],
    opts.architecture ?? hostArchitecture(),
  );
  await w.tag(manifest, tag);
  const configDigest = sha256(JSON.stringify(config));
  return { dir, tag, manifest, digest: manifest.digest as Digest, configDigest, config, layers };
}

/** The two layers stacked on busybox by {@linkcode buildLayeredLayout}, bottom first. */
export const LAYERED_LAYERS: TarEntry[][] = [
  [
    { path: "data", type: "dir", mode: 0o755 },
    { path: "data/deleted.txt", content: "this file is deleted by a whiteout\n" },
    { path: "data/gone", type: "dir", mode: 0o755 },
    { path: "data/gone/inner.txt", content: "this directory is deleted by a whiteout\n" },
    { path: "data/opaque", type: "dir", mode: 0o755 },
    { path: "data/opaque/old.txt", content: "hidden by the opaque dir above\n" },
    { path: "data/opaque/sub", type: "dir", mode: 0o755 },
    { path: "data/opaque/sub/old2.txt", content: "also hidden\n" },
    { path: "data/hl-a", content: "hardlinked content\n", mode: 0o644 },
    { path: "data/hl-b", type: "hardlink", target: "data/hl-a" },
    { path: "data/link-rel", type: "symlink", target: "hl-a" },
    { path: "data/link-abs", type: "symlink", target: "/data/hl-a" },
    { path: "data/link-dangling", type: "symlink", target: "../nowhere" },
    { path: "data/mode.txt", content: "mode changes in the next layer\n", mode: 0o644 },
    { path: "data/setuid", content: "#!/bin/sh\necho setuid\n", mode: 0o4755 },
    { path: "data/sticky", type: "dir", mode: 0o1777 },
    { path: "data/owned-1000", content: "owned by 1000:1000\n", uid: 1000, gid: 1000 },
    { path: "data/owned-0-42", content: "owned by 0:42\n", mode: 0o640, uid: 0, gid: 42 },
    { path: "data/xattr.txt", content: "has user.test=1\n", xattrs: { "user.test": "1" } },
  ],
  [
    { path: "data", type: "dir", mode: 0o755 },
    whiteout("data/deleted.txt"),
    whiteout("data/gone"),
    { path: "data/opaque", type: "dir", mode: 0o755 },
    opaque("data/opaque"),
    { path: "data/opaque/new.txt", content: "new content in the opaque dir\n" },
    { path: "data/mode.txt", content: "mode changes in the next layer\n", mode: 0o600 },
    { path: "data/added.txt", content: "added by the top layer\n", uid: 1000, gid: 1000 },
  ],
];

/** One path an unpacked {@linkcode buildLayeredLayout} rootfs must contain. */
export interface ExpectedEntry {
  /** Path relative to the rootfs. */
  path: string;
  /** Kind of file. */
  type: "file" | "dir" | "symlink";
  /** Permission bits (`mode & 0o7777`), for files and dirs. */
  mode?: number;
  /** Owner uid inside the image. */
  uid?: number;
  /** Owner gid inside the image. */
  gid?: number;
  /** File content. */
  content?: string;
  /** Symlink target. */
  target?: string;
  /** Extended attributes that must be set. */
  xattrs?: Record<string, string>;
}

/** What an unpacked {@linkcode buildLayeredLayout} rootfs must (and must not) contain. */
export const LAYERED_EXPECTED: {
  present: ExpectedEntry[];
  absent: string[];
  hardlinks: [string, string][];
} = {
  present: [
    { path: "bin/busybox", type: "file", mode: 0o755, uid: 0, gid: 0 },
    { path: "bin/sh", type: "symlink", target: "busybox" },
    { path: "tmp", type: "dir", mode: 0o1777, uid: 0, gid: 0 },
    { path: "home/builder", type: "dir", mode: 0o755, uid: 1000, gid: 1000 },
    { path: "data", type: "dir", mode: 0o755, uid: 0, gid: 0 },
    { path: "data/opaque", type: "dir", mode: 0o755 },
    { path: "data/opaque/new.txt", type: "file", content: "new content in the opaque dir\n" },
    { path: "data/hl-a", type: "file", content: "hardlinked content\n", mode: 0o644 },
    { path: "data/hl-b", type: "file", content: "hardlinked content\n", mode: 0o644 },
    { path: "data/link-rel", type: "symlink", target: "hl-a" },
    { path: "data/link-abs", type: "symlink", target: "/data/hl-a" },
    { path: "data/link-dangling", type: "symlink", target: "../nowhere" },
    {
      path: "data/mode.txt",
      type: "file",
      mode: 0o600,
      content: "mode changes in the next layer\n",
    },
    { path: "data/setuid", type: "file", mode: 0o4755, uid: 0, gid: 0 },
    { path: "data/sticky", type: "dir", mode: 0o1777 },
    { path: "data/owned-1000", type: "file", mode: 0o644, uid: 1000, gid: 1000 },
    { path: "data/owned-0-42", type: "file", mode: 0o640, uid: 0, gid: 42 },
    { path: "data/xattr.txt", type: "file", xattrs: { "user.test": "1" } },
    { path: "data/added.txt", type: "file", uid: 1000, gid: 1000 },
  ],
  absent: [
    "data/deleted.txt",
    "data/.wh.deleted.txt",
    "data/gone",
    "data/.wh.gone",
    "data/opaque/old.txt",
    "data/opaque/sub",
    "data/opaque/.wh..wh..opq",
  ],
  hardlinks: [["data/hl-a", "data/hl-b"]],
};

/** Writes the layered test image (busybox + {@linkcode LAYERED_LAYERS}) into `dir`. */
export function buildLayeredLayout(
  dir: string,
  opts: Omit<BusyboxLayoutOptions, "extraLayers"> = {},
): Promise<BuiltImage> {
  return buildBusyboxLayout(dir, { ...opts, extraLayers: LAYERED_LAYERS });
}

/** What {@linkcode buildBusyboxIndexLayout} wrote. */
export interface BuiltIndex {
  /** The layout directory. */
  dir: string;
  /** The tag in `index.json`, pointing at the image index. */
  tag: string;
  /** The image index digest. */
  digest: Digest;
  /** The per-platform manifests (amd64, then arm64), with their `platform`. */
  manifests: Descriptor[];
}

/** Options of {@linkcode buildBusyboxIndexLayout} and {@linkcode pushBusyboxIndex}. */
export interface BusyboxIndexOptions {
  /** The tag in `index.json` (default `latest`). */
  tag?: string;
  /** Layers stacked on top of busybox in every platform's image. */
  extraLayers?: TarEntry[][];
  /**
   * The busybox binary of each architecture (`{ arm64: ".../busybox" }`); an architecture
   * not named gets the host's busybox, so only its config says which platform it is for.
   */
  binaries?: Record<string, string>;
}

/**
 * Writes a multi-platform busybox image (an OCI image index with a `linux/amd64` and a
 * `linux/arm64/v8` manifest) into `dir`. By default both use the host's busybox layer and
 * only the configs' architecture differs, which is enough for platform-selection tests;
 * `binaries` gives real ones (see {@linkcode foreignBusybox}).
 */
export async function buildBusyboxIndexLayout(
  dir: string,
  opts: BusyboxIndexOptions = {},
): Promise<BuiltIndex> {
  const tag = opts.tag ?? "latest";
  const w = new OciLayoutWriter(dir);
  const manifests: Descriptor[] = [];
  for (const arch of ["amd64", "arm64"]) {
    const binary = opts.binaries?.[arch] ?? BUSYBOX_PATH;
    manifests.push((await writeBusyboxImage(w, opts.extraLayers ?? [], arch, binary)).manifest);
  }
  const index = await w.writeIndexBlob(manifests);
  await w.tag(index, tag);
  return { dir, tag, digest: index.digest as Digest, manifests };
}

/** Options for {@linkcode pushBusybox} and {@linkcode pushBusyboxIndex}. */
export interface PushOptions {
  /** Registry credentials, `user:password`. */
  creds?: string;
  /** Push the layered test image instead of plain busybox ({@linkcode pushBusybox} only). */
  layered?: boolean;
  /** Extra layers on top of busybox. */
  extraLayers?: TarEntry[][];
}

/** What was pushed. */
export interface Pushed {
  /** `host/repo:tag`. */
  reference: string;
  /** The pushed manifest (or index) digest. */
  digest: Digest;
  /** The image as built (single-platform pushes). */
  image?: BuiltImage;
  /** The index as built (multi-platform pushes). */
  index?: BuiltIndex;
}

/**
 * Builds the busybox image (or the layered one) in a temporary layout and pushes it to
 * `registryHost` (plain HTTP, e.g. `127.0.0.1:5000`) with `skopeo copy`.
 */
export async function pushBusybox(
  registryHost: string,
  repo = "library/busybox",
  tag = "latest",
  opts: PushOptions = {},
): Promise<Pushed> {
  const dir = await Deno.makeTempDir({ prefix: "img-busybox-" });
  try {
    const extraLayers = [...(opts.layered ? LAYERED_LAYERS : []), ...(opts.extraLayers ?? [])];
    const image = await buildBusyboxLayout(dir, { tag, extraLayers });
    const reference = `${registryHost}/${repo}:${tag}`;
    await skopeoCopy(`oci:${dir}:${tag}`, `docker://${reference}`, opts.creds, false);
    return { reference, digest: image.digest, image };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Builds the multi-platform busybox index and pushes it with `skopeo copy --all`. */
export async function pushBusyboxIndex(
  registryHost: string,
  repo = "library/busybox",
  tag = "latest",
  opts: Omit<PushOptions, "layered"> & Pick<BusyboxIndexOptions, "binaries"> = {},
): Promise<Pushed> {
  const dir = await Deno.makeTempDir({ prefix: "img-busybox-index-" });
  try {
    const index = await buildBusyboxIndexLayout(dir, {
      tag,
      extraLayers: opts.extraLayers,
      binaries: opts.binaries,
    });
    const reference = `${registryHost}/${repo}:${tag}`;
    await skopeoCopy(`oci:${dir}:${tag}`, `docker://${reference}`, opts.creds, true);
    return { reference, digest: index.digest, index };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function skopeoCopy(src: string, dest: string, creds: string | undefined, all: boolean) {
  const args = [
    "--insecure-policy",
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    ...(all ? ["--all"] : []),
    ...(creds ? ["--dest-creds", creds] : []),
    src,
    dest,
  ];
  const out = await new Deno.Command("skopeo", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `skopeo ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** The media types the test images use (OCI manifest, config, gzip layers). */
export const BUSYBOX_MEDIA_TYPES = {
  manifest: MediaType.ociManifest,
  index: MediaType.ociIndex,
  config: MediaType.ociConfig,
  layer: MediaType.ociLayerGzip,
} as const;

/**
 * Where `.ci/run` downloads Debian's `busybox-static` for foreign architectures
 * (`apt-get download busybox-static:arm64`); `IMG_TEST_DEBS` overrides it.
 */
export const FOREIGN_DEBS_DIR = Deno.env.get("IMG_TEST_DEBS") ?? "/var/cache/img-test";

/**
 * Extracts the static busybox of Debian architecture `debArch` (`arm64`) from the
 * `busybox-static_*_<debArch>.deb` in {@linkcode FOREIGN_DEBS_DIR} with `dpkg-deb -x` into
 * `into`, and returns the binary's path, or why it cannot (no such package downloaded).
 */
export async function foreignBusybox(
  debArch: string,
  into: string,
): Promise<{ path: string } | { reason: string }> {
  let deb: string | undefined;
  try {
    for await (const e of Deno.readDir(FOREIGN_DEBS_DIR)) {
      if (e.name.startsWith("busybox-static_") && e.name.endsWith(`_${debArch}.deb`)) {
        deb = `${FOREIGN_DEBS_DIR}/${e.name}`;
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (!deb) {
    return {
      reason:
        `no busybox-static_*_${debArch}.deb in ${FOREIGN_DEBS_DIR} (.ci/run downloads it: dpkg --add-architecture ${debArch} && apt-get download busybox-static:${debArch})`,
    };
  }
  const out = await new Deno.Command("dpkg-deb", { args: ["-x", deb, into], stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`dpkg-deb -x ${deb} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { path: `${into}/bin/busybox` };
}

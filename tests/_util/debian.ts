/**
 * A Debian 12 base image without the internet's registries: `debootstrap --variant=minbase
 * bookworm` from the host's Debian mirror, as one gzip layer, pushed to a loopback registry. The root filesystem is cached as a tar in `/var/cache/img-test` (root only:
 * debootstrap needs root), so later runs skip the bootstrap.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { sha256 } from "../../core/digest.ts";
import { MediaType } from "../../core/media_types.ts";
import { hostArchitecture, type Layer, OciLayoutWriter } from "./oci_layout.ts";
import { FOREIGN_DEBS_DIR } from "./busybox.ts";

/** Where the bootstrapped root filesystem is kept between runs. */
export const DEBIAN_TARBALL = join(FOREIGN_DEBS_DIR, "bookworm-minbase.tar");

/** The Debian mirror the host's apt uses (so a local mirror or proxy is used here too). */
export async function hostMirror(): Promise<string> {
  for (const file of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    try {
      const text = await Deno.readTextFile(file);
      const m = text.match(/^URIs:\s*(\S+\/debian)\s*$/m) ??
        text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm\b/m);
      if (m) return m[1];
    } catch {
      // try the next
    }
  }
  return "http://deb.debian.org/debian";
}

async function run(cmd: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")} failed:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return out.stdout;
}

/**
 * The tar of a minimal Debian 12 root filesystem (bootstrapped once, as root), numeric owners,
 * sorted names, fixed mtimes: the same bytes on every run of one cache.
 */
export async function debianRootfsTar(): Promise<Uint8Array> {
  if (!await Deno.stat(DEBIAN_TARBALL).catch(() => undefined)) {
    if (Deno.uid() !== 0) {
      throw new Error(`${DEBIAN_TARBALL} is missing: run once as root to debootstrap it`);
    }
    const root = await Deno.makeTempDir({ prefix: "img-debian-" });
    try {
      await run(["debootstrap", "--variant=minbase", "bookworm", root, await hostMirror()]);
      await run(["rm", "-rf", `${root}/var/cache/apt/archives`, `${root}/var/lib/apt/lists`]);
      await Deno.mkdir(FOREIGN_DEBS_DIR, { recursive: true });
      await run([
        "tar",
        "--numeric-owner",
        "--sort=name",
        "--mtime=2024-01-01",
        "-C",
        root,
        "-cf",
        `${DEBIAN_TARBALL}.tmp`,
        ".",
      ]);
      await Deno.rename(`${DEBIAN_TARBALL}.tmp`, DEBIAN_TARBALL);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  }
  return await Deno.readFile(DEBIAN_TARBALL);
}

/** Pushes the Debian base to `registryHost` as `REPO:bookworm`; returns the reference. */
export async function pushDebian(registryHost: string, repo = "library/debian"): Promise<string> {
  const tar = await debianRootfsTar();
  const blob = new Uint8Array(gzipSync(tar, { level: 1 }));
  const layer: Layer = {
    blob,
    digest: sha256(blob),
    diffId: sha256(tar),
    size: blob.byteLength,
    mediaType: MediaType.ociLayerGzip,
  };
  const dir = await Deno.makeTempDir({ prefix: "img-debian-layout-" });
  try {
    const w = new OciLayoutWriter(dir);
    const created = "2024-01-01T00:00:00Z";
    const desc = await w.writeImage({
      created,
      architecture: hostArchitecture(),
      os: "linux",
      config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: ["bash"],
      },
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      history: [{ created, created_by: "debootstrap --variant=minbase bookworm" }],
    }, [layer]);
    await w.tag(desc, "bookworm");
    const ref = `${registryHost}/${repo}:bookworm`;
    await run([
      "skopeo",
      "copy",
      "--dest-tls-verify=false",
      `oci:${dir}:bookworm`,
      `docker://${ref}`,
    ]);
    return ref;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

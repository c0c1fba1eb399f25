/**
 * Platforms (`linux/amd64`, `linux/arm/v7`) parsed and normalized as containerd does, and
 * matched against the entries of an image index.
 *
 * @module
 */
import { ImgError } from "./errors.ts";
import type { Descriptor, OciPlatform } from "./schemas.ts";

/** A normalized platform. */
export interface Platform {
  /** The operating system (`linux`). */
  os: string;
  /** The CPU architecture in Go's naming (`amd64`, `arm64`, `arm`). */
  architecture: string;
  /** The CPU variant (`v7`, `v8`), if any. */
  variant?: string;
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
  i686: "386",
  ppc64el: "ppc64le",
};

/** Normalizes an architecture and variant as containerd's `platforms.Normalize` does. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  if (p.architecture.toLowerCase() === "armhf") variant = "v7";
  if (p.architecture.toLowerCase() === "armel") variant = "v6";
  if (architecture === "arm64") {
    if (variant === "8" || variant === "v8") variant = undefined;
  } else if (architecture === "arm") {
    if (!variant || variant === "7") variant = "v7";
    else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
  } else if (architecture === "amd64" && variant === "v1") {
    variant = undefined;
  }
  if (architecture === "aarch64") architecture = "arm64";
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * Parses a platform string (`linux/arm/v7`, `linux/amd64`, `arm64`) into a normalized
 * platform. A bare architecture implies `linux`.
 */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split("/");
  if (parts.some((p) => p === "") || parts.length > 3) {
    throw new ImgError(`Invalid platform "${spec}": expected os/arch[/variant], e.g. linux/arm64`);
  }
  if (parts.length === 1) {
    const os = parts[0].toLowerCase();
    if (os === "linux" || os === "windows" || os === "darwin" || os === "freebsd") {
      return normalizePlatform({ os, architecture: hostPlatform().architecture });
    }
    return normalizePlatform({ os: "linux", architecture: parts[0] });
  }
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

/** Formats a platform as `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/**
 * The platform as a file name (`linux_arm64`, `linux_arm_v7`): the directory or tar entry a
 * `local` or `tar` export of a multi-platform build writes each platform's files under, as
 * buildx names them.
 */
export function platformPathName(p: Platform): string {
  return formatPlatform(p).replaceAll("/", "_");
}

/**
 * Reports whether an image config (its `os` and `architecture`) is for `platform`'s OS and
 * architecture, after normalization (a config without an OS is `linux`).
 */
export function configMatchesPlatform(
  config: { os?: string; architecture?: string },
  platform: Platform,
): boolean {
  const c = normalizePlatform({
    os: config.os ?? "linux",
    architecture: config.architecture ?? "",
  });
  const p = normalizePlatform(platform);
  return c.os === p.os && c.architecture === p.architecture;
}

/** The platform img runs on. */
export function hostPlatform(): Platform {
  const arch = Deno.build.arch as string;
  return normalizePlatform({
    os: "linux",
    architecture: arch,
    variant: arch === "aarch64" ? "v8" : undefined,
  });
}

/** Reports whether an image for platform `candidate` runs on `wanted` (exactly, after normalization). */
export function platformMatches(wanted: Platform, candidate: OciPlatform | Platform): boolean {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(candidate);
  return a.os === b.os && a.architecture === b.architecture &&
    (a.variant ?? "") === (b.variant ?? "");
}

/**
 * Picks the best manifest for `wanted` among an index's entries, as containerd's
 * `platforms.Only` does: an exact match first; for arm, a lower variant that still runs
 * (`v7` runs `v6` and `v5` images); for amd64, no variant. Returns `undefined` if none fits.
 */
export function selectPlatformManifest(
  manifests: readonly Descriptor[],
  wanted: Platform,
): Descriptor | undefined {
  const w = normalizePlatform(wanted);
  const candidates = manifests.filter((d) =>
    d.platform && !isAttestation(d) && normalizePlatform(d.platform).os === w.os &&
    normalizePlatform(d.platform).architecture === w.architecture
  );
  const exact = candidates.find((d) => platformMatches(w, d.platform!));
  if (exact) return exact;
  if (w.architecture === "arm" && w.variant) {
    const want = Number(w.variant.slice(1));
    const compatible = candidates
      .map((d) => ({ d, v: Number((normalizePlatform(d.platform!).variant ?? "v0").slice(1)) }))
      .filter((c) => c.v <= want)
      .sort((x, y) => y.v - x.v);
    if (compatible.length) return compatible[0].d;
  }
  return candidates.find((d) => !d.platform!.variant);
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" ||
    (d.platform?.os === "unknown" && d.platform?.architecture === "unknown");
}

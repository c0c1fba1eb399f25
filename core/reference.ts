/**
 * Image references parsed and normalized as docker does
 * (`busybox` -> `docker.io/library/busybox:latest`).
 *
 * @module
 */
import { ImgError } from "./errors.ts";

/** The registry host that short names resolve to. */
export const DEFAULT_DOMAIN = "docker.io";
/** The host name docker actually talks to for `docker.io`. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
/** The tag used when a reference names none. */
export const DEFAULT_TAG = "latest";

const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const NAME = `(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)`;
const REFERENCE_RE = new RegExp(`^${NAME}(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const HEX64_RE = /^[a-f0-9]{64}$/;

/** A parsed, normalized image reference. */
export interface Reference {
  /** The registry host, with port if any (`docker.io`, `localhost:5000`). */
  readonly domain: string;
  /** The repository path inside the registry (`library/busybox`). */
  readonly path: string;
  /** The tag, if the reference has one (after normalization, every reference without a digest has one). */
  readonly tag?: string;
  /** The digest, if the reference pins one. */
  readonly digest?: string;
}

/**
 * Parses and normalizes an image reference the way docker does: a missing domain becomes
 * `docker.io`, a single path component on docker.io gets `library/`, and a reference with
 * neither tag nor digest gets `:latest`.
 *
 * @throws {ImgError} if the reference is not valid.
 */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === "") throw new ImgError("Invalid reference format: the image name is empty");
  if (HEX64_RE.test(s)) {
    throw new ImgError(
      `Invalid reference format: "${s}" looks like an image ID, which cannot be used as a repository name`,
    );
  }
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    if (/[A-Z]/.test(s.split("@")[0].split("/").slice(-1)[0].split(":")[0])) {
      throw new ImgError(`Invalid reference format: repository name "${s}" must be lowercase`);
    }
    throw new ImgError(`Invalid reference format: "${s}"`);
  }
  let [, domain, path] = m;
  const tag = m[3];
  const digest = m[4];
  // docker's splitDockerDomain: the first component is a domain only if it looks like one.
  if (domain !== undefined && !looksLikeDomain(domain)) {
    path = `${domain}/${path}`;
    domain = undefined as unknown as string;
  }
  if (domain === undefined) domain = DEFAULT_DOMAIN;
  if (domain === "index.docker.io") domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = `library/${path}`;
  if (domain.length + 1 + path.length > 255) {
    throw new ImgError(
      `Invalid reference format: repository name "${s}" is longer than 255 characters`,
    );
  }
  if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) {
    throw new ImgError(`Invalid reference format: unsupported digest "${digest}"`);
  }
  return { domain, path, tag: tag ?? (digest ? undefined : DEFAULT_TAG), digest };
}

function looksLikeDomain(first: string): boolean {
  return DOMAIN_RE.test(first) &&
    (first.includes(".") || first.includes(":") || first === "localhost" ||
      first.startsWith("[") || first.toLowerCase() !== first);
}

/** The repository name with its domain: `docker.io/library/busybox`. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized reference: `docker.io/library/busybox:latest` or `...@sha256:...`. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/**
 * The short, familiar form docker prints: `busybox:latest`, `user/app:1`,
 * `localhost:5000/app:latest`.
 */
export function familiarReference(ref: Reference): string {
  let name = ref.domain === DEFAULT_DOMAIN ? ref.path : repositoryName(ref);
  if (
    ref.domain === DEFAULT_DOMAIN && name.startsWith("library/") && name.split("/").length === 2
  ) {
    name = name.slice("library/".length);
  }
  if (ref.tag) name += `:${ref.tag}`;
  if (ref.digest) name += `@${ref.digest}`;
  return name;
}

/** Returns a copy of `ref` with the given tag (and no digest). */
export function withTag(ref: Reference, tag: string): Reference {
  return { domain: ref.domain, path: ref.path, tag };
}

/** Returns a copy of `ref` pinned to `digest` (keeping no tag). */
export function withDigest(ref: Reference, digest: string): Reference {
  return { domain: ref.domain, path: ref.path, digest };
}

/** The host to contact for a reference's domain (`registry-1.docker.io` for `docker.io`). */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/** Reports whether a registry host is on loopback, where img uses plain HTTP as docker does. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith("[")
    ? host.replace(/^\[(.*)\](:\d+)?$/, "$1")
    : host.split(":").length > 2
    ? host
    : host.replace(/:\d+$/, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

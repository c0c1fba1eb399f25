/**
 * When `img build` may first try a build without entering the user namespace
 * (`@img/core/rootless`'s `NamespaceNeeded`): a rebuild whose every step is cached needs
 * neither the namespace nor the second process entering it costs, which is most of a warm
 * rebuild's time. The try is made only where starting again inside loses nothing: no input
 * read from standard input, no SSH agent started, and outputs that write nothing but the
 * image store (and the registry).
 *
 * @module
 */
import { inUserNamespace } from "@img/core/rootless";
import { isHttpURL } from "@img/core/solver";
import type { OutputSpec } from "./_outputs.ts";

/** `IMG_NAMESPACE=always` turns the try off (every build enters the namespace first). */
export const NAMESPACE_ENV = "IMG_NAMESPACE";

/** The outputs a build without the namespace may make: the image store and a push. */
const STORE_ONLY_OUTPUTS = new Set(["image"]);

/**
 * Whether the build of `path` with these flags may be tried outside the user namespace:
 * not root, not inside it already, nothing read from standard input (`-f -`, context `-`), not
 * a URL context, no `--ssh` (its agents would start twice), no `--check`, and not turned off by
 * `IMG_NAMESPACE`.
 */
export function mayBuildWithoutNamespace(
  path: string,
  opts: { file?: string; ssh: string[]; check?: boolean },
): boolean {
  if (Deno.uid() === 0 || inUserNamespace()) return false;
  if (Deno.env.get(NAMESPACE_ENV) === "always") return false;
  // A tarball URL context is unpacked once, inside: a retry there would unpack it again and
  // leave the first copy behind (entering the namespace ends this process).
  if (isHttpURL(path)) return false;
  return path !== "-" && opts.file !== "-" && opts.ssh.length === 0 && !opts.check;
}

/**
 * Why the build needs the namespace before it starts (`undefined` if it may be tried
 * outside): an output that writes files, or no backend known without probing (`auto` has not
 * chosen in this state directory yet).
 */
export function namespaceNeededBeforeSolve(
  outputs: readonly OutputSpec[],
  backend: string | undefined,
): string | undefined {
  const writer = outputs.find((o) => !STORE_ONLY_OUTPUTS.has(o.type));
  if (writer) return `the ${writer.type} output writes files`;
  if (backend === undefined) return "the backend is not chosen yet";
  return undefined;
}

/**
 * The action of `img rm IMAGE...`: remove image names.
 *
 * Loaded by `rm.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { familiarReference, findImage, ImgError, parseReference } from "@img/core";
import { type ActionCommand, contextOf } from "../context.ts";
import { normalizeName } from "./_names.ts";
import type { RmOptions } from "./rm.ts";

function isName(input: string, name: string): boolean {
  try {
    return normalizeName(input) === name;
  } catch {
    return false;
  }
}

/** The `rm` command's action. */
export function rmAction(names: string[], opts: RmOptions, cmd: ActionCommand): void {
  const ctx = contextOf(cmd);
  const failed: string[] = [];
  try {
    const images = ctx.state.images;
    for (const input of names) {
      try {
        const image = findImage(images, input, normalizeName);
        if (!image) throw new ImgError(`No such image: ${input}`);
        // A digest names every tag of that image, as `docker rmi <id>` does.
        const byName = isName(input, image.name);
        const doomed = byName ? [image.name] : images.namesFor(image.target.digest);
        // As docker: an ID named in several repositories is removed only with --force.
        const repos = new Set(
          doomed.map((n) => parseReference(n)).map((r) => `${r.domain}/${r.path}`),
        );
        if (repos.size > 1 && !opts.force) {
          throw new ImgError(
            `conflict: unable to delete ${
              image.target.digest.slice(7, 19)
            } (must be forced) - image is referenced in multiple repositories`,
          );
        }
        for (const name of doomed) {
          images.delete(name);
          console.log(`Untagged: ${familiarReference(parseReference(name))}`);
        }
      } catch (e) {
        if (!(e instanceof ImgError)) throw e;
        console.error(`img: ${e.message}`);
        failed.push(input);
      }
    }
  } finally {
    ctx.close();
  }
  if (failed.length) {
    throw new ImgError(`Failed to remove ${failed.length} of ${names.length} images`);
  }
}

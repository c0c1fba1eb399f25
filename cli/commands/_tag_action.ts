/**
 * The action of `img tag SOURCE TARGET`: another name for an image.
 *
 * Loaded by `tag.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import {
  familiarReference,
  findImage,
  formatReference,
  NotFoundError,
  parseReference,
} from "@img/core";
import { type ActionCommand, contextOf } from "../context.ts";
import { normalizeName } from "./_names.ts";

/** The `tag` command's action. */
export function tagAction(
  source: string,
  target: string,
  _opts: unknown,
  cmd: ActionCommand,
): void {
  const ctx = contextOf(cmd);
  try {
    const targetRef = parseReference(target);
    if (targetRef.digest) {
      throw new NotFoundError(`Cannot tag with a digest reference: ${target}; give a tag`);
    }
    const images = ctx.state.images;
    const image = findImage(images, source, normalizeName);
    if (!image) throw new NotFoundError(`No such image: ${source}`);
    images.put(formatReference(targetRef), image.target);
    console.log(
      `Successfully tagged ${familiarReference(parseReference(image.name))} as ${
        familiarReference(targetRef)
      }`,
    );
  } finally {
    ctx.close();
  }
}

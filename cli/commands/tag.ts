/**
 * `img tag SOURCE TARGET`: another name for an image.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  familiarReference,
  findImage,
  formatReference,
  NotFoundError,
  parseReference,
} from "@img/core";
import { contextOf } from "../program.ts";

/** Normalizes a user's image name to the full reference the image store is keyed by. */
export function normalizeName(input: string): string {
  return formatReference(parseReference(input));
}

/** The `tag` command. */
export function tagCommand(): Command<[string, string]> {
  return new Command("tag")
    .usage("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    .description("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    .argument("<source>")
    .argument("<target>")
    .action((source, target, _opts, cmd) => {
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
    });
}

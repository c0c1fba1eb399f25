/**
 * `img rm IMAGE...`: remove image names.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { familiarReference, findImage, ImgError, parseReference } from "@img/core";
import { contextOf } from "../program.ts";
import { normalizeName } from "./tag.ts";

function isName(input: string, name: string): boolean {
  try {
    return normalizeName(input) === name;
  } catch {
    return false;
  }
}

/** The `rm` command. */
export function rmCommand(): Command<[string[]]> {
  return new Command("rm")
    .usage("IMAGE [IMAGE...]")
    .description("Remove one or more images")
    .argument("<image...>")
    .action((names, _opts, cmd) => {
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
    });
}

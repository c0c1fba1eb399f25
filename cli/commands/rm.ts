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
export function rmCommand(): Command<[string[]], { force?: true }> {
  return new Command("rm")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .description("Remove one or more images")
    .argument("<image...>")
    .option("-f, --force", "remove an image ID that several repositories name")
    .action((names, opts, cmd) => {
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
    });
}

/**
 * `img save IMAGE... [--format docker|oci] [-o FILE]`: images as a tar archive.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { ExportDestination, findImage, ImgError, NotFoundError } from "@img/core";
import { type ArchiveImage, writeDockerArchive, writeOciArchive } from "@img/core/archive";
import { contextOf } from "../program.ts";
import { normalizeName } from "./tag.ts";

/** The `save` command. */
export function saveCommand(): Command<[string[]], { format: "docker" | "oci"; output?: string }> {
  return new Command("save")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .description("Save one or more images to a tar archive (streamed to STDOUT by default)")
    .argument("<image...>")
    .addOption(
      new Option(
        "--format <format>",
        "format of the archive: docker (docker load) or oci (OCI image layout)",
      )
        .choices(["docker", "oci"] as const)
        .default("docker" as const),
    )
    .option("-o, --output <file>", "write to a file, instead of STDOUT")
    .action(async (inputs, opts, cmd) => {
      const ctx = contextOf(cmd);
      try {
        if (!opts.output && Deno.stdout.isTerminal()) {
          throw new ImgError(
            "Cowardly refusing to save to a terminal. Use the -o flag or redirect",
          );
        }
        const images: ArchiveImage[] = inputs.map((input) => {
          const rec = findImage(ctx.state.images, input, normalizeName);
          if (!rec) throw new NotFoundError(`No such image: ${input}`);
          const byName = (() => {
            try {
              return normalizeName(input) === rec.name;
            } catch {
              return false;
            }
          })();
          return { names: byName ? [rec.name] : [], manifest: rec.target };
        });
        const write = opts.format === "oci" ? writeOciArchive : writeDockerArchive;
        // As the oci and docker exporters write: a file next to the target renamed into place
        // when complete (a failed save leaves no partial file), or standard output.
        const dest = ExportDestination.resolve(opts.output);
        await dest.write(async (out) => {
          await write(images, ctx.state.content, out);
        });
      } finally {
        ctx.close();
      }
    });
}

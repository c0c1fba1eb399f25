/**
 * `img build [OPTIONS] PATH`: build an image from a Dockerfile.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import { collect, insecureRegistryOption } from "../ui/options.ts";
import { loadAction } from "./_load_action.ts";

/** The `build` command's flags, without its action. */
function buildFlags() {
  return new Command("build")
    .usage("[OPTIONS] PATH")
    .description("Build an image from a Dockerfile")
    .argument("<path>", "the build context directory")
    .option("-f, --file <file>", "name of the Dockerfile (default: PATH/Dockerfile; - reads stdin)")
    .option(
      "-t, --tag <name>",
      "name and optionally a tag in the 'name:tag' format (repeatable)",
      collect,
      [] as string[],
    )
    .option("--build-arg <arg>", "set build-time variables (repeatable)", collect, [] as string[])
    .option("--label <label>", "set metadata for an image (repeatable)", collect, [] as string[])
    .option("--target <stage>", "set the target build stage to build")
    .option(
      "--frontend <name>",
      "frontend plugin to build with (default: the file's # syntax=, else dockerfile)",
    )
    .option("--no-cache", "do not use cache when building the image")
    .option("--pull", "always resolve base images from their registry")
    .option("--no-console", "use non-console progress UI (BuildKit's plain output)")
    .addOption(
      new Option("--progress <type>", "set type of progress output").choices(
        ["auto", "plain", "tty", "quiet", "rawjson"] as const,
      ).default("auto" as const),
    )
    .option(
      "-o, --output <spec>",
      "output destination: type=image|oci|docker|tar|local,KEY=VALUE... (- is a tar on stdout, PATH a directory)",
      collect,
      [] as string[],
    )
    .option(
      "--platform <platforms>",
      "set target platforms, comma-separated (e.g. linux/amd64,linux/arm64; default: the host's)",
    )
    .option(
      "--executor <name>",
      "run RUN steps with executor NAME: oci (crun or runc), chroot, or auto (oci if installed)",
      "auto",
    )
    .option(
      "--secret <spec>",
      "secret to expose to RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--cache-from <spec>",
      "external cache sources: type=registry,ref=REF or type=local,src=DIR (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--ssh <spec>",
      "SSH agent socket or keys for RUN --mount=type=ssh: default|ID[=SOCKET|KEY[,KEY]] (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--cache-to <spec>",
      "cache export destinations: type=registry,ref=REF or type=local,dest=DIR, mode=min|max (repeatable)",
      collect,
      [] as string[],
    )
    .addOption(insecureRegistryOption())
    // --- buildx flags from here on (_buildx_flags.ts: implemented or refused, never ignored)
    .option("--check", "evaluate the build checks and exit without building")
    .option("--iidfile <file>", "write the image ID to the file")
    .option("-q, --quiet", "suppress the build output and print the image ID on success")
    .option("--metadata-file <file>", "write build result metadata to a file (JSON)")
    .option("--push", "shorthand for --output=type=image,push=true")
    .option("--load", "shorthand for --output=type=image (the local image store)")
    .option(
      "--no-cache-filter <stage>",
      "do not cache the stage (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--annotation <annotation>",
      "add an annotation to the image (repeatable)",
      collect,
      [] as string[],
    )
    .option("--network <mode>", "networking mode for RUN steps: default, none, host")
    .option(
      "--allow <entitlement>",
      "allow an entitlement: network.host, security.insecure (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--add-host <host:ip>",
      "add a host-to-IP mapping to RUN steps' /etc/hosts (host:ip; ip may be host-gateway)",
      collect,
      [] as string[],
    )
    .option("--shm-size <bytes>", "size of /dev/shm for RUN steps (e.g. 128m; default 64m)")
    .option(
      "--ulimit <ulimit>",
      "resource limit for RUN steps: name=soft[:hard], e.g. nofile=1024:2048 (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--provenance <value>",
      "SLSA provenance attestation: true, false, mode=min|max[,builder-id=URL] (default: none)",
    )
    .option("--sbom <value>", "SPDX SBOM attestation: true or false (default: none)")
    .option(
      "--build-context <name=value>",
      "additional build context: NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG][@DIGEST] (repeatable)",
      collect,
      [] as string[],
    );
}

/** The `build` command's options, as commander parses them. */
export type BuildOptions = ReturnType<ReturnType<typeof buildFlags>["opts"]>;

/** The `build` command. */
export function buildCommand(): ReturnType<typeof buildFlags> {
  const build = buildFlags();
  build.action((path, opts, cmd) =>
    loadAction(import("./_build_action.ts")).then((m) => m.buildAction(path, opts, cmd))
  );
  return build;
}

/**
 * The quick-start demo, img's main job: builds `examples/hello` as the user running it.
 * It starts a registry on loopback and pushes a busybox base image made from the Debian
 * `busybox-static` binary (no internet needed), then drives img as a user would: build,
 * a cached rebuild, ls, push, unpack and save. Run it with `deno task demo`.
 *
 * @module
 */
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";

const state = await Deno.makeTempDir({ prefix: "img-demo-state-" });
const work = await Deno.makeTempDir({ prefix: "img-demo-" });
const example = new URL("./hello", import.meta.url).pathname;

async function img(...args: string[]): Promise<void> {
  console.log(`\n$ img ${args.join(" ")}`);
  const [cmd, ...rest] = imgCommand(args, state);
  const { code } = await new Deno.Command(cmd, { args: rest, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`img ${args[0]} exited ${code}`);
}

try {
  await using registry = await startRegistry();
  console.log(`registry on ${registry.host}; pushing a busybox base image built from /bin/busybox`);
  await pushBusybox(registry.host, "library/busybox", "latest");
  const base = `BASE=${registry.host}/library/busybox:latest`;
  const name = `${registry.host}/demo/hello:v1`;
  await img("build", "--progress=plain", "--build-arg", base, "-t", name, example);
  await img("build", "--progress=plain", "--build-arg", base, "-t", name, example);
  await img("ls");
  await img("push", name);
  await img("unpack", "-o", `${work}/rootfs`, name);
  await img("save", "--format", "oci", "-o", `${work}/hello-oci.tar`, name);
  console.log(
    `\n$ cat ${work}/rootfs/srv/loud.txt\n${await Deno.readTextFile(
      `${work}/rootfs/srv/loud.txt`,
    )}`,
  );
  console.log("demo finished");
} finally {
  await removeTree(work);
  await removeTree(state);
}

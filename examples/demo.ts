/**
 * The quick-start demo: starts a registry on loopback, makes a busybox base image from the
 * Debian `busybox-static` binary (no internet needed), then drives img as a user would:
 * pull, ls, tag, push, unpack and save. Run it with `deno task demo`.
 *
 * @module
 */
import { startRegistry } from "../tests/_util/registry.ts";
import { pushBusybox } from "../tests/_util/busybox.ts";
import { imgCommand, removeTree } from "../tests/_util/img.ts";

const state = await Deno.makeTempDir({ prefix: "img-demo-state-" });
const work = await Deno.makeTempDir({ prefix: "img-demo-" });

async function img(...args: string[]): Promise<void> {
  console.log(`\n$ img ${args.join(" ")}`);
  const [cmd, ...rest] = imgCommand(args, state);
  const { code } = await new Deno.Command(cmd, { args: rest, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`img ${args[0]} exited ${code}`);
}

try {
  await using registry = await startRegistry();
  console.log(`registry on ${registry.host}; pushing a busybox image built from /bin/busybox...`);
  const src = `${registry.host}/library/busybox:latest`;
  await pushBusybox(registry.host, "library/busybox", "latest", { layered: true });
  await img("pull", src);
  await img("tag", src, `${registry.host}/demo/app:v1`);
  await img("push", `${registry.host}/demo/app:v1`);
  await img("ls");
  await img("unpack", "-o", `${work}/rootfs`, src);
  await img("save", "--format", "oci", "-o", `${work}/busybox-oci.tar`, src);
  const hello = await new Deno.Command(`${work}/rootfs/bin/busybox`, {
    args: ["echo", "hello from the unpacked image"],
  })
    .output();
  console.log(
    `\n$ ${work}/rootfs/bin/busybox echo ...\n${new TextDecoder().decode(hello.stdout).trim()}`,
  );
  console.log("\ndemo finished");
} finally {
  await removeTree(work);
  await removeTree(state);
}

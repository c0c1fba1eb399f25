/**
 * Runs an unpacked image's command with crun, the way a user checks that an image works:
 * inside a user + mount namespace (as the unprivileged test user), with a minimal OCI
 * runtime spec made by `crun spec` and adjusted here, independent of img's own executor.
 *
 * @module
 */
import type { ImageConfig } from "../../core/schemas.ts";
import { run } from "./img.ts";

/** Runs the image's ENTRYPOINT + CMD in `rootfs` under crun and returns its stdout. */
export async function runWithCrun(
  rootfs: string,
  config: ImageConfig,
  user = { uid: 0, gid: 0 },
): Promise<string> {
  const bundle = await Deno.makeTempDir({ prefix: "img-crun-" });
  try {
    await run(["crun", "spec", "--rootless", "--bundle", bundle]);
    const spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
    spec.root = { path: rootfs, readonly: true };
    spec.process.terminal = false;
    spec.process.user = user;
    spec.process.args = [...(config.config?.Entrypoint ?? []), ...(config.config?.Cmd ?? [])];
    spec.process.env = config.config?.Env ?? [];
    spec.process.cwd = config.config?.WorkingDir || "/";
    // We are already root of a user namespace: no user namespace, mappings or cgroups here.
    spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) =>
      n.type !== "user" && n.type !== "network"
    );
    delete spec.linux.uidMappings;
    delete spec.linux.gidMappings;
    delete spec.linux.resources;
    spec.mounts = spec.mounts.filter((m: { destination: string }) => m.destination !== "/sys");
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec));
    // crun refuses hybrid cgroup hierarchies; a read-only tmpfs over them in our own mount
    // namespace tells it there are none to manage.
    const script = `mount -t tmpfs -o ro tmpfs /sys/fs/cgroup 2>/dev/null; ` +
      `exec crun --cgroup-manager=disabled --root "$1/state" run --bundle "$1" img-test-$$`;
    const inNamespace = Deno.uid() === 0
      ? ["unshare", "--mount", "--", "sh", "-c", script, "sh", bundle]
      : [
        "unshare",
        "--user",
        "--map-auto",
        "--map-root-user",
        "--mount",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        bundle,
      ];
    return await run(inNamespace);
  } finally {
    await Deno.remove(bundle, { recursive: true }).catch(() => {});
  }
}

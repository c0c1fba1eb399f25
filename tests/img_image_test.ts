/**
 * img's own image, end to end: img builds the repository's `Dockerfile` (on a Debian 12 base
 * made by `debootstrap`, standing for `debian:bookworm-slim`), pushes it to a loopback
 * registry, and rootless podman runs it with the settings `deploy/README.md` documents and
 * nothing more (no `--privileged`, no added capabilities): the containerized img, an ordinary
 * user inside, builds a small Dockerfile on the busybox base and pushes the result, which
 * skopeo and the pushed layers' contents confirm.
 *
 * Needs the Debian base tarball that `tools/setup.ts` makes as root
 * ({@linkcode DEBIAN_BASE_TARBALL}), podman and runc (the prerequisite table), and runs as the
 * unprivileged test user, as `deno task test` runs the suite.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { DEBIAN_BASE_TARBALL } from "../tools/setup.ts";
import { readTar } from "./corpus/_corpus.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { imgOk, removeTree, ROOT, run } from "./_util/img.ts";
import { startRegistry } from "./_util/registry.ts";
import { isRoot } from "./_util/user.ts";

const AS_ROOT = isRoot();
if (AS_ROOT) {
  console.error(
    "img_image_test: ignored: rootless podman runs as the unprivileged test user (deno task test runs the suite as it)",
  );
}

/**
 * The container settings img's image needs, as `deploy/README.md` documents them: the seccomp
 * profile in `deploy/`, no AppArmor confinement, an unmasked /proc, and of the capabilities
 * only the two that the image's newuidmap and newgidmap carry as file capabilities.
 */
const DOCUMENTED_SETTINGS = [
  "--security-opt",
  `seccomp=${ROOT}deploy/seccomp.json`,
  "--security-opt",
  "apparmor=unconfined",
  "--security-opt",
  "unmask=ALL",
  "--cap-drop",
  "ALL",
  "--cap-add",
  "SETUID",
  "--cap-add",
  "SETGID",
];

function seconds(started: number): string {
  return `${((performance.now() - started) / 1000).toFixed(1)} s`;
}

/** The blob `digest` of `repo` in the registry at `host`. */
async function blob(host: string, repo: string, digest: string): Promise<Uint8Array> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  ok(res.ok, `GET blob ${digest}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The entries of a layer blob: path (no leading `./`) to owner and content. */
async function layerEntries(
  data: Uint8Array,
): Promise<Map<string, { uid: number; gid: number; type: string; text: string }>> {
  const entries = new Map<string, { uid: number; gid: number; type: string; text: string }>();
  await readTar(data, (h, content) => {
    entries.set(h.name.replace(/^\.?\//, "").replace(/\/$/, ""), {
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      type: h.type ?? "file",
      text: new TextDecoder().decode(content),
    });
  });
  return entries;
}

Deno.test({
  name:
    "img's image: img builds it, and under rootless podman with the documented settings it builds and pushes",
  ignore: AS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const started = performance.now();
    try {
      await Deno.stat(DEBIAN_BASE_TARBALL);
    } catch {
      throw new Error(
        `${DEBIAN_BASE_TARBALL} is missing: run \`deno task test\` as root once (tools/setup.ts debootstraps it)`,
      );
    }
    await using registry = await startRegistry();
    const tmp = await Deno.makeTempDir({ prefix: "img-image-" });
    const podmanDir = `${tmp}/podman`;
    const env = {
      HOME: podmanDir,
      XDG_RUNTIME_DIR: `${podmanDir}/xdg`,
      PATH: Deno.env.get("PATH")!,
    };
    await Deno.mkdir(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
    // The test user's own podman storage. runc rather than crun: crun refuses cgroups in the
    // hybrid mode of these hosts; the image runs crun itself, for img's RUN steps.
    const podman = [
      "podman",
      "--root",
      `${podmanDir}/root`,
      "--runroot",
      `${podmanDir}/run`,
      "--storage-driver",
      "overlay",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "none",
      "--runtime",
      "runc",
    ];
    const base = `${registry.host}/library/debian:bookworm`;
    const imgRef = `${registry.host}/img:test`;
    const appRef = `${registry.host}/app:v1`;
    try {
      await t.step("img builds img's image from the repository and pushes it", async () => {
        const s = performance.now();
        await run([
          "skopeo",
          "copy",
          "-q",
          "--dest-tls-verify=false",
          `tarball:${DEBIAN_BASE_TARBALL}`,
          `docker://${base}`,
        ]);
        // Behind a TLS-inspecting proxy, the Dockerfile takes the host's CA bundle as a secret.
        const ca = "/etc/ssl/certs/ca-certificates.crt";
        const caSecret = await Deno.stat(ca).then(
          () => ["--secret", `id=ca-certificates,src=${ca}`],
          () => [],
        );
        const state = `${tmp}/state`;
        await imgOk(
          ["build", "--progress", "plain", "--build-arg", `BASE=${base}`, ...caSecret, "-t", imgRef]
            .concat([ROOT]),
          { state },
        );
        await imgOk(["push", imgRef], { state });
        console.log(`img's image built and pushed: ${seconds(s)}`);
        const config = JSON.parse(
          await run(["skopeo", "inspect", "--tls-verify=false", "--config", `docker://${imgRef}`]),
        );
        equal(config.config.User, "img");
        deepEqual(config.config.Entrypoint, ["img"]);
        deepEqual(Object.keys(config.config.Volumes ?? {}), ["/home/img/.local/share/img"]);
      });

      const busybox = await pushBusybox(registry.host, "library/busybox", "latest");
      const ctx = `${tmp}/ctx`;
      await Deno.mkdir(ctx, { mode: 0o755 });
      await Deno.chmod(ctx, 0o755); // read by the image's user, a subordinate id outside
      await Deno.writeTextFile(
        `${ctx}/Dockerfile`,
        [
          `FROM ${busybox.reference}`,
          "RUN echo built-in-podman > /built && id -u > /uid && mkdir /owned && chown 1234:5678 /owned",
          "COPY greeting.txt /greeting.txt",
          "",
        ].join("\n"),
        { mode: 0o644 },
      );
      await Deno.writeTextFile(`${ctx}/greeting.txt`, "hello from the context\n", {
        mode: 0o644,
      });

      await t.step("rootless podman runs it: the containerized img builds and pushes", async () => {
        const s = performance.now();
        await run([...podman, "pull", "-q", "--tls-verify=false", imgRef], { env });
        console.log(`podman pull: ${seconds(s)}`);
        const r = performance.now();
        // --network host: the registry listens on the host's loopback only.
        const out = await new Deno.Command(podman[0], {
          args: [
            ...podman.slice(1),
            "run",
            "--rm",
            "--network",
            "host",
            ...DOCUMENTED_SETTINGS,
            "-v",
            `${ctx}:/ctx:ro`,
            imgRef,
            "--debug",
            "build",
            "--progress",
            "plain",
            "--push",
            "-t",
            appRef,
            "/ctx",
          ],
          env,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(out.stderr);
        equal(out.code, 0, stderr.slice(-4000));
        console.log(`build and push inside podman: ${seconds(r)}`);
        // The state volume of the image lets img use the kernel's overlayfs (no /dev/fuse).
        match(stderr, /backend auto: chose overlayfs/);
        match(stderr, /executor: oci \(auto: found crun/);
      });

      await t.step(
        "skopeo and the pushed layers show the image built in the container",
        async () => {
          const inspect = JSON.parse(
            await run(["skopeo", "inspect", "--tls-verify=false", `docker://${appRef}`]),
          );
          const layers: string[] = inspect.Layers;
          equal(layers.length, 3, JSON.stringify(inspect));
          equal(layers[0], busybox.image!.layers[0].digest);
          const runLayer = await layerEntries(await blob(registry.host, "app", layers[1]));
          equal(runLayer.get("built")?.text, "built-in-podman\n");
          equal(runLayer.get("uid")?.text, "0\n");
          const owned = runLayer.get("owned");
          ok(owned, [...runLayer.keys()].join(" "));
          equal(owned.type, "directory");
          deepEqual([owned.uid, owned.gid], [1234, 5678]);
          const copyLayer = await layerEntries(await blob(registry.host, "app", layers[2]));
          equal(copyLayer.get("greeting.txt")?.text, "hello from the context\n");
          match(inspect.Architecture, /^(amd64|arm64)$/);
        },
      );
    } finally {
      await new Deno.Command(podman[0], {
        args: [...podman.slice(1), "system", "reset", "-f"],
        env,
        stdout: "null",
        stderr: "null",
      }).output().catch(() => {});
      await removeTree(tmp);
      console.log(`img_image_test: ${seconds(started)}`);
    }
  },
});

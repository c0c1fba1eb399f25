/**
 * The ConfigMap build Job of `deploy/kubernetes/`, run as its pod would run it, without a
 * cluster: the ConfigMap laid out as the kubelet mounts one (files behind `..data` symbolic
 * links), the init container's own script copying it into the context, the README's
 * `kubernetes.io/dockerconfigjson` Secret where the Job mounts it, the Job's own environment and
 * arguments (`registry.example.com` pointed at a real registry that demands credentials), and
 * img's state in a fresh directory per pod. Two pods in turn: the second starts empty and finds
 * every step in the registry cache the first pushed.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { pushBusybox } from "./_util/busybox.ts";
import { imgOk, removeTree, run } from "./_util/img.ts";
import { jobPods, loadManifests } from "./_util/kubernetes.ts";
import { startRegistry } from "./_util/registry.ts";

/** Lays `data` out as the kubelet mounts a ConfigMap volume: a timestamped dir, `..data`, links. */
async function kubeletConfigMap(dir: string, data: Record<string, string>): Promise<void> {
  const ts = `${dir}/..2026_01_01_00_00_00.000000001`;
  await Deno.mkdir(ts, { recursive: true });
  for (const [key, value] of Object.entries(data)) await Deno.writeTextFile(`${ts}/${key}`, value);
  await Deno.symlink("..2026_01_01_00_00_00.000000001", `${dir}/..data`);
  for (const key of Object.keys(data)) await Deno.symlink(`..data/${key}`, `${dir}/${key}`);
}

Deno.test("the ConfigMap Job as its pod runs it: the init script makes the context, the Secret's credentials push the image and the cache, a second pod is all CACHED", async () => {
  await using registry = await startRegistry({ auth: "htpasswd" });
  const creds = `${registry.username}:${registry.password}`;
  await pushBusybox(registry.host, "library/busybox", "stable", { creds });
  const tmp = await Deno.makeTempDir({ prefix: "img-k8s-job-" });
  // Paths of the pod, under tmp; the example registry is the real one.
  const inPod = (s: string) =>
    s.replaceAll("registry.example.com", registry.host)
      .replaceAll("/home/img", `${tmp}/home/img`)
      .replaceAll("/workspace", `${tmp}/workspace`)
      .replaceAll("/configmap", `${tmp}/configmap`);
  try {
    const all = await loadManifests();
    const job = jobPods(all).find((j) => j.source === "build-from-configmap.yaml")!;
    const configMap = all.find((m) => m.doc.kind === "ConfigMap")!.doc as unknown as {
      data: Record<string, string>;
    };
    const secret = all.find((m) => m.doc.kind === "Secret")!.doc as unknown as {
      stringData: Record<string, string>;
    };

    // The ConfigMap volume, and the init container's script on it.
    const data = Object.fromEntries(
      Object.entries(configMap.data).map(([k, v]) => [k, inPod(v)]),
    );
    await kubeletConfigMap(`${tmp}/configmap`, data);
    await Deno.mkdir(`${tmp}/workspace`);
    const init = job.pod.initContainers!.find((c) => c.name === "context")!;
    equal(init.command![0], "sh");
    await run(["sh", ...init.command!.slice(1, -1), inPod(init.command!.at(-1)!)]);
    for (const f of ["Dockerfile", "hello.sh", ".dockerignore"]) {
      const st = await Deno.lstat(`${tmp}/workspace/context/${f}`);
      ok(st.isFile, `${f} is a plain file in the context`);
    }

    // The Secret, mounted as the Job mounts it: its .dockerconfigjson as config.json.
    const img = job.pod.containers.find((c) => c.name === "img")!;
    const volume = job.pod.volumes!.find((v) => v.secret) as {
      name: string;
      secret: { items: { key: string; path: string }[] };
    };
    const mount = img.volumeMounts!.find((m) => m.name === volume.name)!;
    const item = volume.secret.items[0];
    const config = inPod(secret.stringData[item.key]).replace(
      /"auth": "[^"]*"/,
      `"auth": "${btoa(creds)}"`,
    );
    await Deno.mkdir(inPod(mount.mountPath), { recursive: true });
    await Deno.writeTextFile(`${inPod(mount.mountPath)}/${item.path}`, config);

    const env: Record<string, string> = {
      // The pod has no XDG_DATA_HOME; this one's value is what img then uses, $HOME/.local/share.
      XDG_DATA_HOME: `${tmp}/home/img/.local/share`,
      ...Object.fromEntries(img.env!.map((e) => [e.name, inPod(e.value!)])),
    };
    const args = img.args!.map(inPod);
    const pod = async () => {
      // A new pod: an empty state dir (the emptyDir), nothing but the registry shared.
      await removeTree(`${tmp}/home/img/.local`);
      return await imgOk(args, { env });
    };
    const first = await pod();
    match(first.stderr, /Cache source [^\n]*app:buildcache could not be read, building without it/);
    match(first.stderr, /exporting cache to /);
    const inspect = (ref: string, ...flags: string[]) =>
      run([
        "skopeo",
        "inspect",
        ...flags,
        "--tls-verify=false",
        "--creds",
        creds,
        `docker://${ref}`,
      ]);
    const pushed = JSON.parse(await inspect(`${registry.host}/team/app:latest`));
    ok(pushed.Layers.length >= 2, "the image was pushed with the Secret's credentials");
    const cache = JSON.parse(await inspect(`${registry.host}/team/app:buildcache`, "--raw"));
    equal(cache.artifactType, "application/vnd.img.cache.v1");
    ok(await Deno.stat(`${tmp}/home/img/.local/share/img/img.db`), "the state in the emptyDir");

    const second = await pod();
    ok(!/could not be read/.test(second.stderr), second.stderr);
    const steps = [...second.stderr.matchAll(/^#(\d+) \[[^\]]*\d+\/\d+\] (?!FROM)/gm)].map((m) =>
      m[1]
    );
    ok(steps.length > 0, second.stderr);
    for (const n of steps) match(second.stderr, new RegExp(`^#${n} CACHED`, "m"));
    deepEqual(
      JSON.parse(await inspect(`${registry.host}/team/app:latest`)).Layers,
      pushed.Layers,
      "the same layers",
    );
  } finally {
    await removeTree(tmp);
  }
});

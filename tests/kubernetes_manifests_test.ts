/**
 * The Kubernetes manifests of `deploy/kubernetes/` (and the YAML examples of its README),
 * validated against the Kubernetes OpenAPI schemas: `kubernetes-models` (its validators are
 * generated from the API's OpenAPI document) for types, required fields and enums, and
 * TypeScript's excess-property check against its generated interfaces for unknown fields (what
 * `kubectl apply --validate=strict` refuses). No cluster runs here; then what a user checks:
 * the build pushes with a registry cache, credentials and state are mounted where img reads
 * them, and nothing runs privileged.
 *
 * `deno task validate:k8s` runs this file alone.
 */
import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Job } from "kubernetes-models/batch/v1/Job";
import { configFilePath } from "../plugins/credentials-docker/config_file.ts";
import { defaultStateDir } from "../core/state/state_dir.ts";
import { parseCacheFrom, parseCacheTo } from "../cli/commands/_cache_flags.ts";
import { ROOT } from "./_util/img.ts";
import {
  type Container,
  type Doc,
  flagValues,
  jobPods,
  loadManifests,
  type PodSpec,
} from "./_util/kubernetes.ts";

/** Each kind the manifests use: its model (validator) and the module and interface of its type. */
const KINDS: Record<string, {
  model: new (data: never) => { validate(): void };
  module: string;
  type: string;
}> = {
  "v1/ConfigMap": { model: ConfigMap, module: "v1/ConfigMap", type: "IConfigMap" },
  "v1/Secret": { model: Secret, module: "v1/Secret", type: "ISecret" },
  "batch/v1/Job": { model: Job, module: "batch/v1/Job", type: "IJob" },
};

/** Validates `doc` against its kind's OpenAPI schema; throws with the schema's complaints. */
function validate(doc: Doc): void {
  const kind = KINDS[`${doc.apiVersion}/${doc.kind}`];
  if (!kind) throw new Error(`No schema for ${doc.apiVersion} ${doc.kind}`);
  new kind.model(doc as never).validate();
}

/** The specifier of `kubernetes-models` in the root deno.json, so the check uses that version. */
async function modelsSpecifier(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  return config.imports["kubernetes-models"];
}

/**
 * Type-checks `docs` against the generated interfaces: a field the API does not have (a typo)
 * is an excess property, which `deno check` reports. Returns the checker's output on failure.
 */
async function strictFields(docs: Doc[]): Promise<{ ok: boolean; output: string }> {
  const specifier = await modelsSpecifier();
  const dir = await Deno.makeTempDir({ prefix: "img-k8s-check-" });
  try {
    const lines = docs.map((doc, i) => {
      const kind = KINDS[`${doc.apiVersion}/${doc.kind}`];
      return `import type { ${kind.type} as T${i} } from "${specifier}/${kind.module}";\n` +
        `export const doc${i}: T${i} = ${JSON.stringify(doc, null, 2)};\n`;
    });
    const file = join(dir, "manifests.ts");
    await Deno.writeTextFile(file, lines.join("\n"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--no-config", "--no-lock", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { ok: out.success, output: decode(out.stdout) + decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("every manifest in deploy/kubernetes and its README validates against the Kubernetes OpenAPI schemas", async () => {
  const all = await loadManifests();
  const files = new Set(all.map((m) => m.source));
  for (
    const f of ["build-context.yaml", "build-from-configmap.yaml", "build-from-git.yaml"]
  ) ok(files.has(f), `${f} is validated`);
  ok([...files].some((f) => f.startsWith("README.md")), "the README's Secret example too");
  for (const { source, doc } of all) {
    try {
      validate(doc);
    } catch (e) {
      throw new Error(`${source}: ${(e as Error).message}`);
    }
  }
  const strict = await strictFields(all.map((m) => m.doc));
  ok(strict.ok, strict.output);
});

Deno.test("the validators catch mistakes: a wrong type, a missing required field, a bad enum, an unknown field", async () => {
  const job = (await loadManifests()).find((m) => m.source === "build-from-configmap.yaml")!.doc;
  const mutate = (fn: (pod: PodSpec) => void): Doc => {
    const copy = structuredClone(job);
    fn((copy.spec as { template: { spec: PodSpec } }).template.spec);
    return copy;
  };
  validate(mutate(() => {})); // the unmutated copy passes
  throws(
    () => validate(mutate((p) => p.containers[0].securityContext!.runAsUser = "1000")),
    /runAsUser must be integer/,
  );
  throws(
    () => validate(mutate((p) => delete (p.containers[0] as Partial<Container>).name)),
    /must have required property name/,
  );
  throws(
    () => validate(mutate((p) => p.containers[0].securityContext!.procMount = "Unmask")),
    /procMount must be equal to one of the allowed values/,
  );
  throws(() => validate({ ...job, apiVersion: "batch/v2" }), /No schema for batch\/v2 Job/);
  // A typo is no schema violation for the validators, but an unknown field for strict checking.
  const typo = mutate((p) => {
    const sc = p.containers[0].securityContext!;
    sc.allowPrivilegeEscalaton = sc.allowPrivilegeEscalation;
    delete sc.allowPrivilegeEscalation;
  });
  validate(typo);
  const strict = await strictFields([typo]);
  ok(!strict.ok, "the typo was not caught");
  match(strict.output, /allowPrivilegeEscalaton/);
});

Deno.test("the build jobs push with a registry cache, read credentials and state where img looks, and run unprivileged", async () => {
  const all = await loadManifests();
  const found = jobPods(all);
  equal(found.length, 2, "a ConfigMap job and a git job");
  const configMaps = new Set(
    all.filter((m) => m.doc.kind === "ConfigMap").map((m) =>
      (m.doc.metadata as { name: string }).name
    ),
  );
  for (const { source, annotations, pod } of found) {
    const img = pod.containers.find((c) => c.name === "img");
    ok(img, `${source}: a container named img`);
    const args = img.args ?? [];
    equal(args[0], "build", source);
    ok(args.includes("--push"), `${source}: --push`);
    ok(flagValues(args, "-t").length === 1, `${source}: one -t`);
    // The cache flags as img itself parses them.
    const to = parseCacheTo(flagValues(args, "--cache-to"));
    const from = parseCacheFrom(flagValues(args, "--cache-from"));
    equal(to.length, 1, source);
    equal(to[0].type, "registry", source);
    equal(to[0].mode, "max", source);
    equal(from.length, 1, source);
    equal(from[0].type, "registry", source);
    deepEqual(
      from[0].type === "registry" && from[0].ref,
      to[0].type === "registry" && to[0].ref,
      `${source}: the cache imported is the one exported`,
    );

    // The context is the last argument, a directory an earlier container filled.
    const context = args[args.length - 1];
    const mounts = img.volumeMounts ?? [];
    const contextMount = mounts.find((m) => context.startsWith(m.mountPath));
    ok(contextMount, `${source}: the context ${context} is on a volume`);
    const filler = (pod.initContainers ?? []).find((c) =>
      c.volumeMounts?.some((m) => m.name === contextMount.name && !m.readOnly)
    );
    ok(filler, `${source}: an init container writes the context`);
    const configMapVolume = pod.volumes?.find((v) => v.configMap) as
      | { configMap: { name: string } }
      | undefined;
    if (configMapVolume) ok(configMaps.has(configMapVolume.configMap.name), source);
    else ok(filler.args?.includes("clone"), `${source}: a git clone`);

    // Credentials: the dockerconfigjson Secret's config.json is where img reads it.
    const env = Object.fromEntries((img.env ?? []).map((e) => [e.name, e.value]));
    const secretVolume = pod.volumes?.find((v) => v.secret) as {
      name: string;
      secret: { secretName: string; items: { key: string; path: string }[] };
    };
    ok(secretVolume, `${source}: a Secret volume`);
    deepEqual(secretVolume.secret.items, [{ key: ".dockerconfigjson", path: "config.json" }]);
    const secretMount = mounts.find((m) => m.name === secretVolume.name)!;
    equal(configFilePath({ env }), `${secretMount.mountPath}/config.json`, source);
    equal(secretMount.readOnly, true);

    // State: img's default state dir is an emptyDir, not the container's own filesystem.
    const stateMount = mounts.find((m) => m.mountPath === defaultStateDir(env));
    ok(stateMount, `${source}: the state dir ${defaultStateDir(env)} is mounted`);
    ok(pod.volumes?.some((v) => v.name === stateMount.name && v.emptyDir), source);

    // Unprivileged: non-root everywhere, nothing privileged; what img needs and why.
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const sc = c.securityContext ?? {};
      equal(sc.privileged ?? false, false, `${source}: ${c.name} is not privileged`);
      equal(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${source}: ${c.name}`);
      ok(((sc.runAsUser ?? pod.securityContext?.runAsUser) as number) > 0, source);
    }
    const sc = img.securityContext!;
    equal(sc.runAsUser, 1000, "the image's user img");
    equal(sc.allowPrivilegeEscalation, true, "newuidmap's file capabilities");
    const caps = sc.capabilities as { drop: string[]; add: string[] };
    deepEqual(caps.drop, ["ALL"]);
    deepEqual([...caps.add].sort(), ["SETGID", "SETUID"]);
    match((sc.seccompProfile as { type: string }).type, /^(Unconfined|Localhost)$/);
    equal((sc.appArmorProfile as { type: string }).type, "Unconfined");
    equal(annotations["container.apparmor.security.beta.kubernetes.io/img"], "unconfined");
    if (sc.procMount === "Unmasked") equal(pod.hostUsers, false, `${source}: Unmasked needs it`);
    equal(pod.hostUsers, false, `${source}: a user namespace`);
    ok(img.resources?.limits?.memory, `${source}: a memory limit`);
  }
});

/**
 * The Kubernetes manifests of `deploy/kubernetes/`, and the YAML examples of its README, as
 * parsed documents, for the tests that validate them and run what they describe.
 *
 * @module
 */
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ROOT } from "./img.ts";

/** Where the manifests are. */
export const KUBERNETES_DIR: string = join(ROOT, "deploy", "kubernetes");

/** A manifest document, as parsed from YAML. */
export type Doc = Record<string, unknown> & { apiVersion: string; kind: string };

/** A document and where it came from (a file name, or `README.md block N`). */
export interface Manifest {
  /** The file, or the README's block. */
  source: string;
  /** The document. */
  doc: Doc;
}

/** A container of a pod template, the fields the tests read. */
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** A pod spec, the fields the tests read. */
export interface PodSpec {
  hostUsers?: boolean;
  securityContext?: Record<string, unknown>;
  initContainers?: Container[];
  containers: Container[];
  volumes?: (Record<string, unknown> & { name: string })[];
}

/** The documents of every manifest file, and of every YAML block of the README, by source. */
export async function loadManifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  const add = (source: string, text: string) => {
    for (const parsed of parseAllDocuments(text)) {
      if (parsed.errors.length) throw new Error(`${source}: ${parsed.errors[0].message}`);
      const doc = parsed.toJS();
      if (doc !== null) out.push({ source, doc });
    }
  };
  for await (const e of Deno.readDir(KUBERNETES_DIR)) {
    if (/\.ya?ml$/.test(e.name)) add(e.name, await Deno.readTextFile(join(KUBERNETES_DIR, e.name)));
  }
  const readme = await Deno.readTextFile(join(KUBERNETES_DIR, "README.md"));
  // Fenced blocks, also indented ones in a list item (the indent is taken off each line).
  const blocks = [...readme.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)];
  for (const [i, [, indent, body]] of blocks.entries()) {
    const text = body.split("\n").map((l) => l.startsWith(indent) ? l.slice(indent.length) : l);
    add(`README.md block ${i + 1}`, text.join("\n"));
  }
  return out.sort((a, b) => a.source.localeCompare(b.source));
}

/** The pod template of each Job: its annotations and spec. */
export function jobPods(all: Manifest[]): {
  source: string;
  annotations: Record<string, string>;
  pod: PodSpec;
}[] {
  return all.filter((m) => m.doc.kind === "Job").map((m) => {
    const template = (m.doc.spec as { template: Record<string, unknown> }).template;
    return {
      source: m.source,
      annotations: (template.metadata as { annotations?: Record<string, string> })?.annotations ??
        {},
      pod: template.spec as PodSpec,
    };
  });
}

/** The value of each `--flag VALUE` / `--flag=VALUE` in `args`. */
export function flagValues(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args[i + 1]);
    else if (a.startsWith(`${flag}=`)) out.push(a.slice(flag.length + 1));
  });
  return out;
}

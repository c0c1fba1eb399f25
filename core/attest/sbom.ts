/**
 * An SPDX 2.3 JSON document of an image's root filesystem, the predicate of the SBOM
 * attestation (`https://spdx.dev/Document`) as BuildKit attaches it. The image is the
 * described element (`SPDXRef-Image`, a `CONTAINER` package); it `CONTAINS` the packages of
 * the dpkg status database (`/var/lib/dpkg/status`, and distroless `status.d/`) and the apk
 * database (`/lib/apk/db/installed`); an image with neither lists its regular files instead,
 * each with its SHA-1 and SHA-256.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { rootPath } from "../root_path.ts";
import { type Attestation, SPDX_DOCUMENT } from "./attestation.ts";

/** A package found in a package database of the image. */
export interface SbomPackage {
  /** The package manager (`deb`, `apk`). */
  type: "deb" | "apk";
  /** The package's name. */
  name: string;
  /** Its version. */
  version: string;
  /** Its architecture, when recorded. */
  arch?: string;
  /** Its source package (`deb`) or origin (`apk`), when recorded. */
  source?: string;
  /** Its maintainer, when recorded. */
  maintainer?: string;
  /** Its license (`apk` records it), when recorded. */
  license?: string;
  /** Its home page, when recorded. */
  homepage?: string;
}

/** What the SBOM says about the image besides its content. */
export interface SbomOptions {
  /** The image's name (the first `-t`), or undefined. */
  imageName?: string;
  /** When the document was made (the build's `SOURCE_DATE_EPOCH`, else now). */
  created: Date;
  /** The creating tool, as `Tool: NAME-VERSION`. */
  tool: string;
}

/** The paragraphs of a dpkg/apk style database: blank-line separated, `Key: value` lines. */
function paragraphs(text: string, separator: RegExp): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = "";
    for (const line of block.split("\n")) {
      if (/^[ \t]/.test(line) && last) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const m = separator.exec(line);
      if (!m) continue;
      last = m[1];
      if (!fields.has(last)) fields.set(last, m[2].trim());
    }
    if (fields.size) out.push(fields);
  }
  return out;
}

/** The installed packages of a dpkg status file (`Status: install ok installed`). */
export function parseDpkgStatus(text: string): SbomPackage[] {
  const out: SbomPackage[] = [];
  for (const p of paragraphs(text, /^([A-Za-z0-9-]+):\s?(.*)$/)) {
    const name = p.get("Package");
    const version = p.get("Version");
    const status = p.get("Status");
    if (!name || !version) continue;
    // status.d files (distroless) have no Status field: they list installed packages only.
    if (status !== undefined && !/\binstalled$/.test(status)) continue;
    out.push({
      type: "deb",
      name,
      version,
      ...(p.get("Architecture") ? { arch: p.get("Architecture") } : {}),
      ...(p.get("Source") ? { source: p.get("Source")!.split(" ")[0] } : {}),
      ...(p.get("Maintainer") ? { maintainer: p.get("Maintainer") } : {}),
      ...(p.get("Homepage") ? { homepage: p.get("Homepage") } : {}),
    });
  }
  return out;
}

/** The packages of an apk database (`/lib/apk/db/installed`: `P:`, `V:`, `A:`, ...). */
export function parseApkInstalled(text: string): SbomPackage[] {
  const out: SbomPackage[] = [];
  for (const p of paragraphs(text, /^([A-Za-z]):(.*)$/)) {
    const name = p.get("P");
    const version = p.get("V");
    if (!name || !version) continue;
    out.push({
      type: "apk",
      name,
      version,
      ...(p.get("A") ? { arch: p.get("A") } : {}),
      ...(p.get("o") ? { source: p.get("o") } : {}),
      ...(p.get("m") ? { maintainer: p.get("m") } : {}),
      ...(p.get("L") ? { license: p.get("L") } : {}),
      ...(p.get("U") ? { homepage: p.get("U") } : {}),
    });
  }
  return out;
}

async function readInRoot(rootfs: string, path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(rootPath(rootfs, path));
  } catch {
    return undefined;
  }
}

/** The `ID` of the image's `/etc/os-release` (`debian`, `alpine`), if it has one. */
async function osId(rootfs: string): Promise<string | undefined> {
  const text = await readInRoot(rootfs, "/etc/os-release") ??
    await readInRoot(rootfs, "/usr/lib/os-release");
  const m = text && /^ID="?([^"\n]*)"?$/m.exec(text);
  return m ? m[1] : undefined;
}

/** The packages of every package database `rootfs` has (dpkg, then apk). */
export async function findPackages(rootfs: string): Promise<SbomPackage[]> {
  const out: SbomPackage[] = [];
  const status = await readInRoot(rootfs, "/var/lib/dpkg/status");
  if (status !== undefined) out.push(...parseDpkgStatus(status));
  try {
    const dir = rootPath(rootfs, "/var/lib/dpkg/status.d");
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && !e.name.includes(".")) names.push(e.name);
    }
    for (const name of names.sort()) {
      out.push(...parseDpkgStatus(await Deno.readTextFile(join(dir, name))));
    }
  } catch {
    // no distroless status.d
  }
  const apk = await readInRoot(rootfs, "/lib/apk/db/installed");
  if (apk !== undefined) out.push(...parseApkInstalled(apk));
  return out;
}

/** The package URL of `p` (`pkg:deb/debian/NAME@VERSION?arch=ARCH`). */
export function packagePurl(p: SbomPackage, distro?: string): string {
  const ns = distro ?? (p.type === "apk" ? "alpine" : "debian");
  const q = new URLSearchParams();
  if (p.arch) q.set("arch", p.arch);
  if (p.source && p.source !== p.name) q.set(p.type === "apk" ? "origin" : "upstream", p.source);
  if (distro) q.set("distro", distro);
  const query = q.size ? `?${q}` : "";
  return `pkg:${p.type}/${encodeURIComponent(ns)}/${encodeURIComponent(p.name)}@${
    encodeURIComponent(p.version)
  }${query}`;
}

/** A regular file of the image, with its checksums. */
interface SbomFile {
  path: string;
  sha1: string;
  sha256: string;
}

async function hashFile(path: string): Promise<{ sha1: string; sha256: string }> {
  const sha1 = createHash("sha1");
  const sha256 = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) {
    sha1.update(chunk);
    sha256.update(chunk);
  }
  return { sha1: sha1.digest("hex"), sha256: sha256.digest("hex") };
}

/** Every regular file under `rootfs`, sorted by path (symlinks are not followed). */
async function listFiles(rootfs: string, dir = ""): Promise<SbomFile[]> {
  const out: SbomFile[] = [];
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(join(rootfs, dir))) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await listFiles(rootfs, rel));
    else if (e.isFile) {
      const hashes = await hashFile(join(rootfs, rel)).catch(() => undefined);
      if (hashes) out.push({ path: rel, ...hashes });
    }
  }
  return out;
}

function spdxId(kind: string, n: number, name: string): string {
  return `SPDXRef-${kind}-${n}-${name.replace(/[^A-Za-z0-9.-]+/g, "-")}`.slice(0, 120);
}

/**
 * The SBOM attestation of the root filesystem `rootfs`: an SPDX 2.3 document of its packages
 * (dpkg, apk), or of its files when it has no package database.
 */
export async function sbomAttestation(rootfs: string, options: SbomOptions): Promise<Attestation> {
  const packages = await findPackages(rootfs);
  const distro = await osId(rootfs);
  const imageName = options.imageName ?? "image";
  const image = {
    name: imageName,
    SPDXID: "SPDXRef-Image",
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    primaryPackagePurpose: "CONTAINER",
    licenseConcluded: "NOASSERTION",
    licenseDeclared: "NOASSERTION",
    copyrightText: "NOASSERTION",
  };
  const relationships: Record<string, string>[] = [
    {
      spdxElementId: "SPDXRef-DOCUMENT",
      relationshipType: "DESCRIBES",
      relatedSpdxElement: "SPDXRef-Image",
    },
  ];
  const spdxPackages: Record<string, unknown>[] = [image];
  packages.forEach((p, i) => {
    const id = spdxId("Package", i + 1, `${p.type}-${p.name}`);
    spdxPackages.push({
      name: p.name,
      SPDXID: id,
      versionInfo: p.version,
      supplier: p.maintainer ? `Person: ${p.maintainer.replace(/[\n]/g, " ")}` : "NOASSERTION",
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      ...(p.homepage ? { homepage: p.homepage } : {}),
      ...(p.source && p.source !== p.name ? { sourceInfo: `built from ${p.source}` } : {}),
      licenseConcluded: "NOASSERTION",
      licenseDeclared: p.license ?? "NOASSERTION",
      copyrightText: "NOASSERTION",
      primaryPackagePurpose: "LIBRARY",
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: packagePurl(p, distro),
      }],
    });
    relationships.push({
      spdxElementId: "SPDXRef-Image",
      relationshipType: "CONTAINS",
      relatedSpdxElement: id,
    });
  });
  const doc: Record<string, unknown> = {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: imageName,
    documentNamespace: "",
    creationInfo: {
      created: options.created.toISOString().replace(/\.\d+Z$/, "Z"),
      creators: [options.tool],
    },
    packages: spdxPackages,
  };
  if (packages.length === 0) {
    const files = await listFiles(rootfs);
    doc.files = files.map((f, i) => {
      const id = spdxId("File", i + 1, f.path);
      relationships.push({
        spdxElementId: "SPDXRef-Image",
        relationshipType: "CONTAINS",
        relatedSpdxElement: id,
      });
      return {
        fileName: `.${f.path}`,
        SPDXID: id,
        checksums: [
          { algorithm: "SHA1", checksumValue: f.sha1 },
          { algorithm: "SHA256", checksumValue: f.sha256 },
        ],
        licenseConcluded: "NOASSERTION",
        copyrightText: "NOASSERTION",
      };
    });
  }
  doc.relationships = relationships;
  // A namespace unique to this content (and the same for the same content).
  const hash = createHash("sha256").update(JSON.stringify(doc)).digest("hex");
  doc.documentNamespace = `https://img.invalid/spdx/${encodeURIComponent(imageName)}-${hash}`;
  return { predicateType: SPDX_DOCUMENT, predicate: doc };
}

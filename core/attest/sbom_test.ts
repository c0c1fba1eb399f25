import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  findPackages,
  packagePurl,
  parseApkInstalled,
  parseDpkgStatus,
  sbomAttestation,
} from "./sbom.ts";

/** A parsed SPDX document. */
// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

const STATUS = `Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9)
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Version: 2.36-9+deb12u4
Description: GNU C Library
 a continuation line: with a colon
Homepage: https://www.gnu.org/software/libc/libc.html

Package: removed
Status: deinstall ok config-files
Version: 1

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
`;

const APK = `C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
U:https://musl.libc.org/
F:lib
R:libc.musl-x86_64.so.1

C:Q1def=
P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
`;

Deno.test("dpkg status: installed packages only, with source, arch and continuation lines", () => {
  const pkgs = parseDpkgStatus(STATUS);
  assert.deepEqual(pkgs.map((p) => `${p.name}=${p.version}`), [
    "libc6=2.36-9+deb12u4",
    "tzdata=2024a-0+deb12u1",
  ]);
  assert.equal(pkgs[0].source, "glibc");
  assert.equal(pkgs[0].homepage, "https://www.gnu.org/software/libc/libc.html");
  assert.equal(
    packagePurl(pkgs[0], "debian"),
    "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian",
  );
});

Deno.test("apk database: name, version, arch, license, origin", () => {
  const pkgs = parseApkInstalled(APK);
  assert.deepEqual(pkgs.map((p) => `${p.name}=${p.version}`), [
    "musl=1.2.4-r2",
    "busybox=1.36.1-r15",
  ]);
  assert.equal(pkgs[0].license, "MIT");
  assert.equal(packagePurl(pkgs[1]), "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64");
});

async function rootfs(files: Record<string, string>, links: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir();
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  for (const [path, target] of Object.entries(links)) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.symlink(target, `${dir}/${path}`);
  }
  return dir;
}

Deno.test("the SBOM of a Debian-like rootfs lists its packages, the image as described element", async () => {
  const dir = await rootfs({
    "var/lib/dpkg/status": STATUS,
    "var/lib/dpkg/status.d/base": "Package: base-files\nVersion: 12.4\nArchitecture: amd64\n",
    "etc/os-release": 'PRETTY_NAME="Debian"\nID=debian\n',
  });
  try {
    const created = new Date("2023-11-14T22:13:20Z");
    const a = await sbomAttestation(dir, {
      imageName: "reg/app:v1",
      created,
      tool: "Tool: img-0.1.0",
    });
    assert.equal(a.predicateType, "https://spdx.dev/Document");
    const doc = a.predicate as Json;
    assert.equal(doc.spdxVersion, "SPDX-2.3");
    assert.equal(doc.dataLicense, "CC0-1.0");
    assert.equal(doc.name, "reg/app:v1");
    assert.deepEqual(doc.creationInfo, {
      created: "2023-11-14T22:13:20Z",
      creators: ["Tool: img-0.1.0"],
    });
    assert.equal(doc.packages[0].SPDXID, "SPDXRef-Image");
    assert.equal(doc.packages[0].primaryPackagePurpose, "CONTAINER");
    assert.deepEqual(
      doc.packages.slice(1).map((p: Record<string, string>) => `${p.name}@${p.versionInfo}`),
      ["libc6@2.36-9+deb12u4", "tzdata@2024a-0+deb12u1", "base-files@12.4"],
    );
    assert.deepEqual(doc.relationships[0], {
      spdxElementId: "SPDXRef-DOCUMENT",
      relationshipType: "DESCRIBES",
      relatedSpdxElement: "SPDXRef-Image",
    });
    assert.equal(doc.relationships.length, 4, "the image CONTAINS each package");
    assert.equal(doc.files, undefined);
    // The same content gives the same document (a namespace from its content).
    const again = await sbomAttestation(dir, {
      imageName: "reg/app:v1",
      created,
      tool: "Tool: img-0.1.0",
    });
    assert.deepEqual(again, a);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("package databases are read inside the rootfs: an absolute symlink does not escape it", async () => {
  // A dpkg status file on the host, outside the rootfs, that a symlink in it points at.
  const outside = await Deno.makeTempFile();
  await Deno.writeTextFile(outside, STATUS);
  const dir = await rootfs(
    { "lib/apk/db/real": APK },
    { "lib/apk/db/installed": "/lib/apk/db/real", "var/lib/dpkg/status": outside },
  );
  try {
    const pkgs = await findPackages(dir);
    assert.deepEqual(pkgs.map((p) => p.name), ["musl", "busybox"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside);
  }
});

Deno.test("without a package database the SBOM lists the files with SHA-1 and SHA-256", async () => {
  const dir = await rootfs({ "bin/tool": "#!/bin/sh\n", "etc/conf": "x=1\n" }, {
    "bin/link": "tool",
  });
  try {
    const a = await sbomAttestation(dir, { created: new Date(0), tool: "Tool: img" });
    const doc = a.predicate as Json;
    assert.equal(doc.packages.length, 1, "only the image");
    assert.deepEqual(doc.files.map((f: Record<string, string>) => f.fileName), [
      "./bin/tool",
      "./etc/conf",
    ]);
    assert.deepEqual(doc.files[1].checksums, [
      { algorithm: "SHA1", checksumValue: createHash("sha1").update("x=1\n").digest("hex") },
      { algorithm: "SHA256", checksumValue: createHash("sha256").update("x=1\n").digest("hex") },
    ]);
    assert.equal(doc.relationships.length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

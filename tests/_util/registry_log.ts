/**
 * What a registry was asked, from the requests a proxy saw (see `fault_proxy.ts`): the blobs
 * downloaded, uploaded and mounted, by digest.
 *
 * @module
 */
import type { ProxiedRequest } from "./fault_proxy.ts";

const BLOB = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
const UPLOAD_DIGEST = /\/blobs\/uploads\/[^?]*\?(?:.*&)?digest=(sha256(?::|%3A)[a-f0-9]{64})/i;

/** The blobs downloaded (`GET /v2/<name>/blobs/<digest>` answered 2xx), in order. */
export function downloadedBlobs(requests: readonly ProxiedRequest[]): string[] {
  return requests.filter((r) => r.method === "GET" && r.status >= 200 && r.status < 300)
    .map((r) => r.path.match(BLOB)?.[2]).filter((d): d is string => d !== undefined);
}

/** How many times each blob was uploaded (the `PUT` that completes an upload). */
export function uploadedBlobs(requests: readonly ProxiedRequest[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const m = r.method === "PUT" ? r.path.match(UPLOAD_DIGEST) : null;
    if (!m) continue;
    const d = decodeURIComponent(m[1]);
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return counts;
}

/** The blobs mounted from another repository (`POST ...?mount=<digest>&from=<repo>`, 201). */
export function mountedBlobs(requests: readonly ProxiedRequest[]): string[] {
  return requests.filter((r) => r.method === "POST" && r.status === 201)
    .map((r) => new URL(r.path, "http://registry").searchParams.get("mount"))
    .filter((d): d is string => d !== null);
}

/** The requests, one line each (`METHOD PATH STATUS`), for assertion messages. */
export function requestLines(requests: readonly ProxiedRequest[]): string {
  return requests.map((r) => `${r.method} ${r.path} ${r.status}`).join("\n");
}

/**
 * ADD's remote files, as BuildKit's Dockerfile frontend sees them: an http(s) URL that is not
 * a git repository (`@img/core/source`'s `parseGitRef` decides) is a source of its own
 * (`llb.HTTP`) whose one file, named after the URL's path, is copied to the destination.
 *
 * @module
 */
import type { SourceOp } from "@img/core";
import { HTTP_CHECKSUM_ATTR, HTTP_FILENAME_ATTR, isHttpURL, urlFilename } from "@img/core/solver";

/**
 * Checks ADD `--checksum`: `sha256:` and 64 hex digits.
 *
 * @throws {Error} saying what is expected.
 */
export function validateChecksum(checksum: string): void {
  if (!/^sha256:[a-f0-9]{64}$/.test(checksum)) {
    throw new Error(
      `invalid checksum digest format "${checksum}": use --checksum=sha256: followed by 64 hex digits`,
    );
  }
}

/** The source op downloading `url` (with `checksum` to verify, if not empty). */
export function httpSourceOp(url: string, checksum: string): SourceOp {
  return {
    type: "source",
    identifier: url,
    attrs: {
      [HTTP_FILENAME_ATTR]: urlFilename(url),
      ...(checksum ? { [HTTP_CHECKSUM_ATTR]: checksum } : {}),
    },
  };
}

export { isHttpURL };

/** The name of the file an http source op writes. */
export function httpFilename(op: SourceOp): string {
  return op.attrs?.[HTTP_FILENAME_ATTR] ?? urlFilename(op.identifier);
}

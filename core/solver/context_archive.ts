/**
 * A build context that arrives as an archive (a tarball URL, or a tar on stdin as for
 * `docker build -`): a tar, plain or compressed (gzip, bzip2, xz, zstd, detected from the
 * content as buildx does), is unpacked into a directory that then serves as the context.
 *
 * @module
 */
import { extractArchive, openArchive } from "./_untar.ts";

/**
 * Unpacks the context archive at `path` into the existing directory `dir`. Returns false, and
 * unpacks nothing, when the file is not a tar archive (a Dockerfile, for `img build -`).
 * Entries belong to the user running img: the context's owners do not reach the image.
 */
export async function unpackContextArchive(path: string, dir: string): Promise<boolean> {
  const stream = await openArchive(path);
  if (!stream) return false;
  await extractArchive(dir, stream, { sameOwner: false });
  return true;
}

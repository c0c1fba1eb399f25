/**
 * Image names as the commands take them from the user.
 *
 * @module
 */
import { formatReference, parseReference } from "@img/core";

/** Normalizes a user's image name to the full reference the image store is keyed by. */
export function normalizeName(input: string): string {
  return formatReference(parseReference(input));
}

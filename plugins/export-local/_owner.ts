/**
 * Whether img runs as real root: the uid it runs as (root of img's user namespace when
 * unprivileged) maps to uid 0 of the parent namespace, as `/proc/self/uid_map` says.
 *
 * @module
 */
import { parseIdMap } from "@img/core/rootless";

/** Whether files written now can be given any owner on the host. */
export function isHostRoot(
  uid: number = Deno.uid() ?? -1,
  readMap: () => string = () => Deno.readTextFileSync("/proc/self/uid_map"),
): boolean {
  if (uid !== 0) return false;
  let text: string;
  try {
    text = readMap();
  } catch {
    return true;
  }
  const m = parseIdMap(text).find((m) => m.inside <= uid && uid < m.inside + m.count);
  return m !== undefined && m.outside + (uid - m.inside) === 0;
}

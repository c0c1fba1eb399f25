/**
 * `EXPOSE` port words, as docker's `nat.ParsePortSpecs` reads them: `80`, `53/udp`,
 * `8000-8002` (a range is every port in it).
 *
 * @module
 */
import { InstructionError } from "./errors.ts";

/**
 * Expands EXPOSE words to `port/proto` keys of the config's `ExposedPorts`.
 *
 * ```ts
 * parsePortSpecs(["8000-8002", "53/UDP"]); // ["8000/tcp", "8001/tcp", "8002/tcp", "53/udp"]
 * ```
 *
 * @throws {InstructionError} on a word that is not a port, a range or a protocol.
 */
export function parsePortSpecs(words: readonly string[]): string[] {
  const out: string[] = [];
  for (const word of words) {
    // An `ip:hostPort:containerPort` spec keeps only the container port, as nat does.
    const spec = word.slice(word.lastIndexOf(":") + 1);
    const slash = spec.indexOf("/");
    const range = slash < 0 ? spec : spec.slice(0, slash);
    const proto = slash < 0 ? "tcp" : spec.slice(slash + 1).toLowerCase();
    if (!["tcp", "udp", "sctp"].includes(proto)) {
      throw new InstructionError(`invalid proto: ${proto}`);
    }
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m) throw new InstructionError(`invalid containerPort: ${range}`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > 65535 || end > 65535) throw new InstructionError(`invalid containerPort: ${range}`);
    if (end < start) {
      throw new InstructionError(`invalid range specified for containerPort: ${range}`);
    }
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

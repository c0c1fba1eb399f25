/**
 * Extra `/etc/hosts` entries of a RUN step (`--add-host host:ip`, buildx's BuildKit option
 * `add-hosts`), with buildx's special address `host-gateway`: the address at which the
 * step reaches the host (slirp4netns's 10.0.2.2 on the default network).
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import type { ExtraHost } from "../build_graph.ts";

/** The address that stands for the host, resolved when the step runs. */
export const HOST_GATEWAY = "host-gateway";

/**
 * Parses `host:ip` or `host=ip` (an IPv6 address may follow the first `:`, or be bracketed).
 *
 * @throws {ImgError} naming the option when the host or the address is missing or invalid.
 */
export function parseExtraHost(spec: string): ExtraHost {
  const eq = spec.indexOf("=");
  const sep = eq >= 0 ? eq : spec.indexOf(":");
  const host = sep > 0 ? spec.slice(0, sep).trim() : "";
  let ip = sep > 0 ? spec.slice(sep + 1).trim() : "";
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (!host || /\s/.test(host) || !(ip === HOST_GATEWAY || isIp(ip))) {
    throw new ImgError(
      `Invalid --add-host "${spec}": use HOST:IP (an IPv4 or IPv6 address, or ${HOST_GATEWAY})`,
    );
  }
  return { host, ip };
}

function isIp(s: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s)) {
    return s.split(".").every((p) => Number(p) <= 255);
  }
  return s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s);
}

/** The `/etc/hosts` lines of the extra hosts, `host-gateway` replaced by `gateway`. */
export function extraHostLines(hosts: readonly ExtraHost[], gateway: string): string {
  return hosts.map((h) => `${h.ip === HOST_GATEWAY ? gateway : h.ip}\t${h.host}\n`).join("");
}

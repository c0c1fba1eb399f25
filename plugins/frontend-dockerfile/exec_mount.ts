/**
 * A parsed `RUN --mount` as the exec op's mount, with BuildKit's defaults: a cache id is its
 * target, a secret's id comes from `source=`/`id=` or the target's name and its target is
 * `/run/secrets/<id>` (none when only `env=` is given), an ssh mount's id is `default` and
 * its target `/run/buildkit/ssh_agent.N`.
 *
 * @module
 */
import type { ExecMount } from "@img/core";
import type { RunMount } from "./mount.ts";

/**
 * Converts `m`. `target` is its target resolved against the working directory (empty when
 * none was given), `sshIndex` the number of ssh mounts before it in the step, and `input`
 * adds the stage, image or context named by `from` (`""`: the context) as an input of the
 * step and returns its index.
 */
export async function toExecMount(
  m: RunMount,
  target: string,
  sshIndex: number,
  input: (from: string) => Promise<number>,
): Promise<ExecMount> {
  const source = m.source.replace(/^\/+/, "");
  const owner = {
    ...(m.mode !== undefined ? { mode: m.mode } : {}),
    ...(m.uid !== undefined ? { uid: m.uid } : {}),
    ...(m.gid !== undefined ? { gid: m.gid } : {}),
  };
  switch (m.type) {
    case "bind":
      return { type: "bind", target, input: await input(m.from), source, readonly: m.readOnly };
    case "cache":
      return {
        type: "cache",
        target,
        id: m.id || target,
        sharing: (m.sharing || "shared") as "shared" | "locked" | "private",
        ...(m.from ? { input: await input(m.from), source } : {}),
        readonly: m.readOnly,
        ...owner,
      };
    case "tmpfs":
      return { type: "tmpfs", target, ...(m.sizeLimit ? { size: m.sizeLimit } : {}) };
    case "secret": {
      const id = m.source || m.id || target.slice(target.lastIndexOf("/") + 1);
      const file = target || (m.env === undefined ? `/run/secrets/${id.split("/").pop()}` : "");
      return {
        type: "secret",
        id,
        ...(file ? { target: file } : {}),
        ...(m.env !== undefined ? { env: m.env } : {}),
        required: m.required,
        ...owner,
      };
    }
    case "ssh":
      if (m.source) throw new Error("ssh does not support source");
      return {
        type: "ssh",
        id: m.id || "default",
        target: target || `/run/buildkit/ssh_agent.${sshIndex}`,
        required: m.required,
        ...owner,
      };
  }
}

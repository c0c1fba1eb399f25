/**
 * SSH agent forwarding (`img build --ssh`, `RUN --mount=type=ssh`), as buildx and
 * BuildKit's SSH provider do it: `--ssh default` forwards `$SSH_AUTH_SOCK`, `--ssh ID=PATH`
 * an agent socket or key files (which an `ssh-agent` started for the build holds). A step
 * gets its own socket, with the mount's mode and owner, whose connections img relays to the
 * agent.
 *
 * @module
 */
import { lookPath } from "../exec/look_path.ts";
import { ImgError } from "../errors.ts";

/** One `--ssh` value: an id and the agent socket or key files it forwards. */
export interface SshSource {
  /** The id a `RUN --mount=type=ssh,id=...` asks for (`default` by default). */
  id: string;
  /** An agent socket, or private key files. */
  paths: string[];
}

/**
 * Parses an `--ssh` value as buildx does: `default|ID[=SOCKET|KEY[,KEY]]`; no path means
 * `$SSH_AUTH_SOCK`.
 */
export function parseSshSpec(spec: string, env: Record<string, string>): SshSource {
  const eq = spec.indexOf("=");
  const id = eq < 0 ? spec : spec.slice(0, eq);
  if (id === "") throw new ImgError(`The --ssh "${spec}" has no id: use default or ID=PATH`);
  let paths = eq < 0 ? [] : spec.slice(eq + 1).split(",").filter((p) => p !== "");
  if (paths.length === 0) {
    const sock = env.SSH_AUTH_SOCK ?? "";
    if (sock === "") {
      throw new ImgError(
        `Invalid empty ssh agent socket for --ssh ${id}: make sure SSH_AUTH_SOCK is set`,
      );
    }
    paths = [sock];
  }
  for (const p of paths) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(p);
    } catch (e) {
      throw new ImgError(`Cannot use ${p} for --ssh ${id}: ${(e as Error).message}`);
    }
    if (st.isSocket && paths.length > 1) {
      throw new ImgError(`The --ssh ${id} mixes an agent socket with other paths: give one`);
    }
  }
  return { id, paths };
}

/** The agents of one build: sockets given as they are, key files loaded into an agent. */
export class SshAgents {
  readonly #sources = new Map<string, SshSource>();
  readonly #agents = new Map<string, Promise<string>>();
  readonly #children: { child: Deno.ChildProcess; dir: string }[] = [];
  readonly #env: Record<string, string>;

  /** Agents for `sources`; `env` gives the `PATH` to find `ssh-agent` in. */
  constructor(sources: readonly SshSource[] = [], env: Record<string, string> = {}) {
    for (const s of sources) this.#sources.set(s.id, s);
    this.#env = env;
  }

  /** Parses `--ssh` values (see {@linkcode parseSshSpec}). */
  static parse(specs: readonly string[], env: Record<string, string>): SshAgents {
    return new SshAgents(specs.map((s) => parseSshSpec(s, env)), env);
  }

  /** The agent socket for `id`, or undefined when the build forwards none with that id. */
  socket(id: string): Promise<string | undefined> {
    const s = this.#sources.get(id);
    if (!s) return Promise.resolve(undefined);
    let p = this.#agents.get(id);
    if (!p) {
      p = Deno.statSync(s.paths[0]).isSocket ? Promise.resolve(s.paths[0]) : this.#startAgent(s);
      this.#agents.set(id, p);
    }
    return p;
  }

  async #startAgent(s: SshSource): Promise<string> {
    const path = this.#env.PATH ?? Deno.env.get("PATH");
    const agent = lookPath("ssh-agent", path);
    const add = lookPath("ssh-add", path);
    if (!agent || !add) {
      throw new ImgError(
        `--ssh ${s.id} gives key files, which need ssh-agent and ssh-add: install openssh-client or pass an agent socket`,
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "img-ssh-" });
    const sock = `${dir}/agent.sock`;
    const child = new Deno.Command(agent, {
      args: ["-D", "-a", sock],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.push({ child, dir });
    for (let i = 0; i < 200; i++) {
      try {
        if (Deno.statSync(sock).isSocket) break;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const out = await new Deno.Command(add, {
      args: ["-q", ...s.paths],
      clearEnv: true,
      env: { SSH_AUTH_SOCK: sock, SSH_ASKPASS: "/bin/false", SSH_ASKPASS_REQUIRE: "force" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const why = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
      throw new ImgError(
        `Cannot load the keys of --ssh ${s.id} into ssh-agent (${why}): give unencrypted keys or an agent socket`,
      );
    }
    return sock;
  }

  /** Stops the agents started for key files. */
  async close(): Promise<void> {
    for (const { child, dir } of this.#children.splice(0)) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status.catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

/** A socket relaying every connection to an agent, until {@linkcode AgentRelay.close}. */
export interface AgentRelay {
  /** Stops listening and ends the relayed connections. */
  close(): Promise<void>;
}

/**
 * Listens on `path` (given `mode`, `uid` and `gid`, as BuildKit's SSH mount does) and relays
 * each connection to the agent socket `agent`.
 */
export function relayAgent(
  agent: string,
  path: string,
  o: { mode: number; uid: number; gid: number },
): AgentRelay {
  const listener = Deno.listen({ transport: "unix", path });
  Deno.chmodSync(path, o.mode);
  try {
    Deno.chownSync(path, o.uid, o.gid);
  } catch {
    // an id outside the user namespace: the step's root can still use it
  }
  const conns = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch {
      // the other side went away
    }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch {
        // closed already
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      try {
        const upstream = await Deno.connect({ transport: "unix", path: agent });
        conns.add(upstream);
        pipe(conn, upstream);
        pipe(upstream, conn);
      } catch {
        conn.close();
      }
    }
  })().catch(() => {});
  return {
    async close() {
      try {
        listener.close();
      } catch {
        // closed already
      }
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed already
        }
      }
      await accepting;
    },
  };
}

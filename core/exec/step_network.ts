/**
 * The network of a RUN step, as BuildKit gives it: `default` (BuildKit's sandbox) is a
 * network namespace of the step's own that can still reach out, `none` an empty one (only
 * `lo`), `host` the host's network.
 *
 * Rootless, with no privileged helper, the default network is slirp4netns: a holder process
 * (`unshare --net cat`) keeps a new network namespace, slirp4netns attaches a tap device to
 * it (`tap0`, 10.0.2.100/24, routes via 10.0.2.2, `lo` up, MTU 65520) and forwards its
 * traffic through the host's sockets; 10.0.2.3 is its DNS forwarder to the host's resolver,
 * 10.0.2.2 the host itself (its loopback too, as `host-gateway`). The step joins the holder's
 * namespace. Both processes read their standard input, a pipe from img, so they end when the
 * step ends or img dies (and img's PID namespace kills them with it anyway).
 *
 * Without slirp4netns, or when `/dev/net/tun` may not be opened, the step falls back to the
 * host's network (what rootless BuildKit does without a network helper), with a one-time
 * warning that names the fix.
 *
 * @module
 */
import { lookPath } from "./look_path.ts";

/** A RUN step's network mode (BuildKit's `sandbox` is `default`). */
export type NetworkMode = "default" | "none" | "host";

/** slirp4netns's address of the host, which `host-gateway` names for a default network. */
export const SLIRP_HOST_GATEWAY = "10.0.2.2";

/** slirp4netns's DNS forwarder. */
export const SLIRP_DNS = "10.0.2.3";

/** The MTU slirp4netns recommends (fewer, larger packets through the user-mode stack). */
const SLIRP_MTU = 65520;

/** The network a step gets, ready to join. */
export interface StepNetwork {
  /**
   * `host`: stay in img's network namespace; `none`: unshare a new, empty one; `join`: join
   * the namespace at {@linkcode StepNetwork.path}.
   */
  kind: "host" | "none" | "join";
  /** With `join`: the network namespace to join (`/proc/<pid>/ns/net`). */
  path?: string;
  /** The address `host-gateway` stands for in `--add-host`. */
  hostGateway: string;
  /** The step's `/etc/resolv.conf`, when it is not a copy of the host's. */
  resolvConf?: string;
  /** Stops the helper processes, if any (again: nothing). */
  close(): Promise<void>;
}

/** What {@linkcode openStepNetwork} needs. */
export interface StepNetworkOptions {
  /** The environment to find `slirp4netns` and `unshare` in (`PATH`); default this process's. */
  env?: Record<string, string>;
  /** Receives debug lines. */
  debug?: (message: string) => void;
  /** Receives the fallback warning, once per process; default `warning: ...` on stderr. */
  warn?: (message: string) => void;
  /** The tun device to check (tests point it elsewhere); default `/dev/net/tun`. */
  tunDevice?: string;
}

let warned = false;

/** Forgets that the fallback warning was shown (for tests). */
export function resetNetworkWarning(): void {
  warned = false;
}

/** Why the default network cannot be isolated here, or undefined when it can. */
export function slirpUnavailable(
  env: Record<string, string> = Deno.env.toObject(),
  tunDevice = "/dev/net/tun",
): string | undefined {
  if (!lookPath("slirp4netns", env.PATH)) {
    return "slirp4netns is not installed (apt-get install slirp4netns)";
  }
  if (!lookPath("unshare", env.PATH)) {
    return "unshare is not installed (apt-get install util-linux)";
  }
  try {
    Deno.openSync(tunDevice, { read: true, write: true }).close();
  } catch (e) {
    return `${tunDevice} cannot be opened (${
      (e as Error).name
    }): make it usable by every user, as udev does (sudo chmod 0666 ${tunDevice})`;
  }
  return undefined;
}

function hostNetwork(): StepNetwork {
  return { kind: "host", hostGateway: "127.0.0.1", close: () => Promise.resolve() };
}

/**
 * Prepares the network of a step in `mode`: for `default`, starts slirp4netns for a new
 * network namespace (or falls back to the host's network with a one-time warning).
 *
 * @throws {Error} when slirp4netns is there but fails to start.
 */
export async function openStepNetwork(
  mode: NetworkMode,
  options: StepNetworkOptions = {},
): Promise<StepNetwork> {
  if (mode === "host") return hostNetwork();
  if (mode === "none") {
    return { kind: "none", hostGateway: "127.0.0.1", close: () => Promise.resolve() };
  }
  const env = options.env ?? Deno.env.toObject();
  const why = slirpUnavailable(env, options.tunDevice);
  if (why !== undefined) {
    if (!warned) {
      warned = true;
      const warn = options.warn ?? ((m: string) => console.error(`warning: ${m}`));
      warn(
        `RUN steps use the host's network instead of a network namespace of their own: ${why}`,
      );
    }
    return hostNetwork();
  }
  return await startSlirp(
    lookPath("slirp4netns", env.PATH)!,
    lookPath("unshare", env.PATH)!,
    options,
  );
}

/** Stops a helper: end of input, then SIGKILL if it lingers. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  await child.stdin.close().catch(() => {});
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }, 2000);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
}

async function startSlirp(
  slirp: string,
  unshare: string,
  options: StepNetworkOptions,
): Promise<StepNetwork> {
  const ownNs = Deno.readLinkSync("/proc/self/ns/net");
  // The holder: a new network namespace kept open by `cat`, which ends with its input.
  const holder = new Deno.Command(unshare, {
    args: ["--net", "--", "cat"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const holderErr = collect(holder.stderr);
  const path = `/proc/${holder.pid}/ns/net`;
  let slirpChild: Deno.ChildProcess | undefined;
  try {
    let ready = false;
    for (let i = 0; i < 1000 && !ready; i++) {
      try {
        ready = Deno.readLinkSync(path) !== ownNs;
      } catch {
        // not started yet, or it failed
      }
      if (!ready) await new Promise((r) => setTimeout(r, 2));
    }
    if (!ready) {
      await stop(holder);
      const err = (await holderErr).trim() || "timeout";
      throw new Error(`Cannot create a network namespace for the step: ${err}`);
    }
    slirpChild = new Deno.Command(slirp, {
      args: [
        "--configure",
        `--mtu=${SLIRP_MTU}`,
        "--exit-fd=0",
        "--ready-fd=1",
        String(holder.pid),
        "tap0",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = collect(slirpChild.stderr);
    const reader = slirpChild.stdout.getReader();
    const first = await reader.read();
    reader.releaseLock();
    slirpChild.stdout.cancel().catch(() => {});
    if (first.done) {
      const status = await slirpChild.status;
      throw new Error(
        `slirp4netns failed (exit code ${status.code}): ${(await stderr).trim().split("\n").pop()}`,
      );
    }
    options.debug?.(`network: slirp4netns ${slirpChild.pid} for namespace of ${holder.pid}`);
  } catch (e) {
    if (slirpChild) await stop(slirpChild);
    await stop(holder);
    throw e;
  }
  const s = slirpChild;
  let closed: Promise<void> | undefined;
  return {
    kind: "join",
    path,
    hostGateway: SLIRP_HOST_GATEWAY,
    resolvConf: slirpResolvConf(),
    close: () => closed ??= Promise.all([stop(s), stop(holder)]).then(() => {}),
  };
}

/** Reads a stream to its end, keeping its last 4 KiB of text. */
async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) text = (text + decoder.decode(chunk)).slice(-4096);
  } catch {
    // closed
  }
  return text;
}

/**
 * The host's `/etc/resolv.conf` with its name servers replaced by slirp4netns's forwarder
 * (which asks the host's resolver): search domains and options are kept.
 */
export function slirpResolvConf(host?: string): string {
  let text = host;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/etc/resolv.conf");
    } catch {
      text = "";
    }
  }
  const kept = text.split("\n").filter((l) => l.trim() !== "" && !/^\s*nameserver\s/.test(l));
  return [`nameserver ${SLIRP_DNS}`, ...kept].join("\n") + "\n";
}

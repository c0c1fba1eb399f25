/**
 * Foreign-architecture RUN steps: the host's binfmt_misc handlers (qemu-user, as
 * `qemu-user-static` registers them) that let the kernel run another CPU's binaries.
 *
 * A RUN step runs inside the build's root filesystem, where the handler's interpreter
 * (`/usr/libexec/qemu-binfmt/aarch64-binfmt-P`) does not exist: the handler needs the `F`
 * (fix binary) flag, which makes the kernel open the interpreter once, when it is registered.
 * In a container, the binfmt_misc handlers are the host kernel's: register them on the host.
 *
 * @module
 */
import { ImgError } from "./errors.ts";
import { formatPlatform, hostPlatform, type Platform } from "./platform.ts";

/** Where the kernel lists the binfmt_misc handlers. */
export const BINFMT_MISC_DIR = "/proc/sys/fs/binfmt_misc";

/**
 * The environment variable that carries the host's qemu handlers into img's re-executed
 * child: its PID namespace has a procfs of its own, without the host's binfmt_misc mount,
 * while the handlers (kept by the kernel) still apply to what runs there.
 */
export const HOST_BINFMT_ENV = "IMG_HOST_BINFMT";

/**
 * The host's qemu handlers as {@linkcode HOST_BINFMT_ENV} carries them (JSON of each
 * handler file's text by name), or `undefined` when binfmt_misc is not mounted at `dir`.
 */
export function hostBinfmtHandlers(dir: string = BINFMT_MISC_DIR): string | undefined {
  const handlers: Record<string, string> = {};
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith("qemu-")) handlers[e.name] = Deno.readTextFileSync(`${dir}/${e.name}`);
    }
  } catch {
    return undefined;
  }
  return JSON.stringify(handlers);
}

/** The package that registers the handlers on Debian and Ubuntu. */
export const QEMU_PACKAGE = "qemu-user-static";

/** qemu's name of each architecture (`qemu-aarch64`), by Go's (`arm64`). */
const QEMU_ARCH: Record<string, string> = {
  amd64: "x86_64",
  "386": "i386",
  arm64: "aarch64",
  arm: "arm",
  ppc64le: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  mips64le: "mips64el",
  mips64: "mips64",
  loong64: "loongarch64",
};

/** A registered binfmt_misc handler, as `/proc/sys/fs/binfmt_misc/<name>` shows it. */
export interface BinfmtHandler {
  /** The handler's name (`qemu-aarch64`). */
  name: string;
  /** Whether it is enabled. */
  enabled: boolean;
  /** The interpreter's path. */
  interpreter: string;
  /** Its flags (`POCF`). */
  flags: string;
}

/** Parses the text of a handler's file in binfmt_misc. */
export function parseBinfmtHandler(name: string, text: string): BinfmtHandler {
  const lines = text.split("\n");
  const field = (key: string) =>
    lines.find((l) => l.startsWith(`${key} `) || l.startsWith(`${key}:`))?.slice(key.length + 1)
      .trim() ?? "";
  return {
    name,
    enabled: lines[0]?.trim() === "enabled",
    interpreter: field("interpreter"),
    flags: field("flags"),
  };
}

/** Reports whether the host runs binaries of `platform` without emulation. */
export function runsNatively(platform: Platform, host: Platform = hostPlatform()): boolean {
  if (platform.os !== host.os) return false;
  if (platform.architecture === host.architecture) return true;
  return host.architecture === "amd64" && platform.architecture === "386";
}

/** The name of the binfmt_misc handler qemu registers for `platform` (`qemu-aarch64`). */
export function qemuHandlerName(platform: Platform): string {
  return `qemu-${QEMU_ARCH[platform.architecture] ?? platform.architecture}`;
}

/**
 * Checks that RUN steps for `platform` can run on this host: natively, or through a
 * qemu-user handler registered with binfmt_misc, enabled and with the `F` flag.
 *
 * @throws {ImgError} naming the platform and what to install or register.
 */
export async function checkEmulation(
  platform: Platform,
  options: { dir?: string; host?: Platform; hostHandlers?: string } = {},
): Promise<void> {
  const host = options.host ?? hostPlatform();
  if (runsNatively(platform, host)) return;
  const dir = options.dir ?? BINFMT_MISC_DIR;
  const name = qemuHandlerName(platform);
  const wanted = formatPlatform(platform);
  const setup =
    `install ${QEMU_PACKAGE} on the host (in a container, on the container's host: binfmt_misc is the host kernel's)`;
  // In img's namespace, the handlers the parent saw on the host.
  const carried = options.dir === undefined
    ? options.hostHandlers ?? Deno.env.get(HOST_BINFMT_ENV)
    : options.hostHandlers;
  let text: string;
  try {
    if (carried !== undefined) {
      const found = (JSON.parse(carried) as Record<string, string>)[name];
      if (found === undefined) throw new Deno.errors.NotFound(name);
      text = found;
    } else text = await Deno.readTextFile(`${dir}/${name}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) throw e;
    const mounted = carried !== undefined ||
      await Deno.stat(`${dir}/status`).then(() => true, () => false);
    throw new ImgError(
      mounted
        ? `Cannot run RUN steps for ${wanted} on this ${
          formatPlatform(host)
        } host: no ${name} handler in ${dir}; ${setup}`
        : `Cannot run RUN steps for ${wanted}: binfmt_misc is not mounted at ${dir}; mount it (mount -t binfmt_misc binfmt_misc ${dir}) and ${setup}`,
    );
  }
  const handler = parseBinfmtHandler(name, text);
  if (!handler.enabled) {
    throw new ImgError(
      `Cannot run RUN steps for ${wanted}: the ${name} handler in ${dir} is disabled; enable it (echo 1 > ${dir}/${name})`,
    );
  }
  if (!handler.flags.includes("F")) {
    throw new ImgError(
      `Cannot run RUN steps for ${wanted}: the ${name} handler in ${dir} lacks the F flag, so its interpreter is not found inside the build; register it with flags F, as ${QEMU_PACKAGE} does`,
    );
  }
}

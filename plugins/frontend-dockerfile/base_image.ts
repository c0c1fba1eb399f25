/**
 * The global ARGs of a Dockerfile as `FROM` lines see them, and the image a build target
 * starts from: what a caller may fetch before the conversion asks for it.
 *
 * @module
 */
import { formatPlatform, type Platform } from "@img/core";
import type { ArgInstruction } from "./instructions.ts";
import { ShellLex } from "./shell_lex.ts";
import type { Dockerfile, Stage } from "./stages.ts";

/** The predefined platform args (`TARGETPLATFORM`, `BUILDARCH`, ...). */
export function platformArgs(target: Platform, build: Platform = target): Map<string, string> {
  const m = new Map<string, string>();
  const platforms: [string, Platform][] = [["TARGET", target], ["BUILD", build]];
  for (const [prefix, p] of platforms) {
    m.set(`${prefix}PLATFORM`, formatPlatform(p));
    m.set(`${prefix}OS`, p.os);
    m.set(`${prefix}ARCH`, p.architecture);
    m.set(`${prefix}VARIANT`, p.variant ?? "");
  }
  return m;
}

/**
 * The values of the global ARGs (those before the first `FROM`) over `predefined`, with
 * `buildArgs` (`--build-arg`) overriding their defaults. `expand` expands a word in an
 * environment (errors name `inst`'s line); the keys a build arg set are added to `used`.
 */
export function metaArgValues(
  metaArgs: readonly ArgInstruction[],
  predefined: Map<string, string>,
  buildArgs: Readonly<Record<string, string>>,
  expand: (word: string, env: Map<string, string>, inst: ArgInstruction) => string,
  used?: Set<string>,
): Map<string, string> {
  const m = new Map(predefined);
  for (const inst of metaArgs) {
    for (const a of inst.args) {
      const key = expand(a.key, m, inst);
      const override = buildArgs[key];
      if (override !== undefined) {
        used?.add(key);
        m.set(key, override);
      } else if (a.value !== undefined) m.set(key, expand(a.value, m, inst));
      else if (!m.has(key)) m.set(key, "");
    }
  }
  return m;
}

/**
 * The image the stage `target` (default: the last) starts from, following `FROM stage` to the
 * first stage that names an image, for `platform`. `undefined` when it starts from `scratch`,
 * when a `FROM --platform` is on the way (another platform's image), or when a name does not
 * expand; a conversion reports those.
 */
export function targetBaseImage(
  df: Dockerfile,
  options: { buildArgs: Readonly<Record<string, string>>; platform: Platform; target?: string },
): string | undefined {
  const lex = new ShellLex(df.escapeToken);
  const expand = (word: string, env: Map<string, string>) => lex.processWord(word, env);
  try {
    const meta = metaArgValues(
      df.metaArgs,
      platformArgs(options.platform),
      options.buildArgs,
      expand,
    );
    const target = options.target?.toLowerCase();
    let stage: Stage | undefined = target === undefined
      ? df.stages.at(-1)
      : df.stages.find((s) => s.name === target);
    while (stage && !stage.platform) {
      const base = expand(stage.baseName, meta);
      const lower = base.toLowerCase();
      if (base === "" || lower === "scratch") return undefined;
      const index: number = stage.index;
      const previous = df.stages.find((s) => s.index < index && s.name === lower);
      if (!previous) return base;
      stage = previous;
    }
  } catch {
    // A word that does not expand: the conversion says what is wrong with it.
  }
  return undefined;
}

/**
 * Variable expansion of typed instructions, as BuildKit's `Expand` methods do.
 *
 * @module
 */
import type { Instruction } from "./instructions.ts";
import type { ShellLex } from "./shell_lex.ts";

/**
 * Expands the arguments of an instruction with `lex` against `env`, the way BuildKit's
 * `Expand` methods do for the instructions {@link expandsVariables} lists (quotes removed as
 * a side effect); other instructions come back unchanged. FROM's base and platform, COPY's
 * `--from` and RUN's mounts are left to the builder, which expands them with its own scopes.
 *
 * `onUnmatched` hears each variable a word used that `env` does not set (the `UndefinedVar`
 * build check).
 *
 * @throws {ShellLexError} on a bad substitution or `${x:?}` of an unset variable.
 */
export function expandInstruction<T extends Instruction>(
  inst: T,
  lex: ShellLex,
  env: Parameters<ShellLex["processWord"]>[1],
  onUnmatched?: (name: string) => void,
): T {
  const w = (s: string) => {
    if (!onUnmatched) return lex.processWord(s, env);
    const r = lex.processWordWithMatches(s, env);
    for (const name of r.unmatched) onUnmatched(name);
    return r.result;
  };
  const i = inst as Instruction;
  switch (i.kind) {
    case "env":
      return { ...i, env: i.env.map((p) => ({ ...p, key: w(p.key), value: w(p.value) })) } as T;
    case "label":
      return {
        ...i,
        labels: i.labels.map((p) => ({ ...p, key: w(p.key), value: w(p.value) })),
      } as T;
    case "arg":
      return {
        ...i,
        args: i.args.map((a) => ({
          key: w(a.key),
          value: a.value === undefined ? undefined : w(a.value),
        })),
      } as T;
    case "copy":
    case "add": {
      const common = {
        sourcePaths: i.sourcePaths.map(w),
        destPath: w(i.destPath),
        chown: w(i.chown),
        chmod: w(i.chmod),
        excludePatterns: i.excludePatterns.map(w),
      };
      if (i.kind === "add") return { ...i, ...common, checksum: w(i.checksum) } as T;
      return { ...i, ...common } as T;
    }
    case "expose":
      return { ...i, ports: i.ports.flatMap((p) => lex.processWords(p, env)) } as T;
    case "volume":
      return { ...i, volumes: i.volumes.map(w) } as T;
    case "user":
      return { ...i, user: w(i.user) } as T;
    case "workdir":
      return { ...i, path: w(i.path) } as T;
    case "stopsignal":
      return { ...i, signal: w(i.signal) } as T;
    default:
      return inst;
  }
}

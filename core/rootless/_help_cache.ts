/**
 * The `--help` text of a helper program, kept per user and per boot. Before every re-execution
 * in the user namespace the checks read which options `unshare` and `setpriv` have; spawning
 * them costs 10 to 20 ms of a cold build. Their answers are kept in
 * `$XDG_RUNTIME_DIR/img/help.json` (a per-user tmpfs that a reboot empties), keyed by each
 * program's path, inode, size, mtime and ctime, so an upgraded program is asked again.
 * Without `XDG_RUNTIME_DIR`, or when the file cannot be read or written, the programs are
 * simply asked each time.
 *
 * @module
 */

/** The file of the kept answers, or `undefined` without `XDG_RUNTIME_DIR`. */
export function helpCacheFile(env: { get(name: string): string | undefined } = Deno.env) {
  const dir = env.get("XDG_RUNTIME_DIR");
  return dir ? `${dir.replace(/\/+$/, "")}/img/help.json` : undefined;
}

type Kept = Record<string, { stamp: string; help: string }>;

function stampOf(path: string): string | undefined {
  try {
    const st = Deno.statSync(path);
    return [st.ino, st.size, st.mtime?.getTime(), st.ctime?.getTime()].join(":");
  } catch {
    return undefined;
  }
}

function readKept(file: string): Kept {
  try {
    const kept = JSON.parse(Deno.readTextFileSync(file));
    return kept && typeof kept === "object" ? kept as Kept : {};
  } catch {
    return {};
  }
}

/** Runs `program --help` and returns its standard output ("" when it cannot run). */
export async function askHelp(program: string): Promise<string> {
  try {
    const out = await new Deno.Command(program, {
      args: ["--help"],
      stdin: "null",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout);
  } catch {
    return "";
  }
}

/**
 * `program --help`, from the kept answers when `program` is unchanged since it was asked,
 * else asked (with `ask`) and kept.
 */
export async function programHelp(
  program: string,
  options: { file?: string; ask?: (program: string) => Promise<string> } = {},
): Promise<string> {
  const file = "file" in options ? options.file : helpCacheFile();
  const ask = options.ask ?? askHelp;
  const stamp = file === undefined ? undefined : stampOf(program);
  if (file === undefined || stamp === undefined) return await ask(program);
  const kept = readKept(file);
  if (kept[program]?.stamp === stamp && typeof kept[program].help === "string") {
    return kept[program].help;
  }
  const help = await ask(program);
  if (help === "") return help;
  try {
    const dir = file.slice(0, file.lastIndexOf("/"));
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Written whole and renamed: a reader sees the old file or the new one.
    const tmp = `${file}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify({ ...readKept(file), [program]: { stamp, help } }));
    Deno.renameSync(tmp, file);
  } catch {
    // Not kept: asked again next time.
  }
  return help;
}

/**
 * Which frontend builds: `--frontend NAME`, else the `BUILDKIT_SYNTAX` build argument (as
 * buildx honours it), else the build file's `# syntax=` directive, else `dockerfile`. A
 * syntax names a frontend plugin as `img/frontend-NAME` or by an alias of the config file's
 * `"frontends"`; BuildKit's own Dockerfile frontend images (`docker/dockerfile:1`,
 * `docker/dockerfile:1.7-labs`, `docker/dockerfile-upstream:master`, ...) are the built-in
 * `dockerfile` frontend. img cannot pull frontend images, so any other syntax is refused.
 *
 * @module
 */
import { ImgError } from "@img/core";

/** The frontend built with when nothing names one. */
export const DEFAULT_FRONTEND = "dockerfile";

/** The build argument that names the frontend, as BuildKit reads it. */
export const SYNTAX_BUILD_ARG = "BUILDKIT_SYNTAX";

const DIRECTIVE_NAMES = new Set(["syntax", "escape", "check"]);

/**
 * Reads the `syntax` parser directive the way BuildKit's `DetectSyntax` does: after a BOM
 * and a `#!` line, a top-level `"syntax"` string of a JSON file, else the leading `#` comment
 * lines that are directives (`# key=value`; the first other line ends them), else the same
 * with `//` comments. Returns the frontend reference (its first word), or `undefined`.
 */
export function detectSyntax(data: Uint8Array | string): string | undefined {
  let text = typeof data === "string" ? data : new TextDecoder().decode(data);
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  if (text.startsWith("#!")) text = text.slice(text.indexOf("\n") + 1 || text.length);
  try {
    const json = JSON.parse(text);
    if (json && typeof json === "object" && typeof json.syntax === "string") {
      return firstWord(json.syntax);
    }
  } catch {
    // Not JSON: look for comment directives.
  }
  for (const comment of ["#", "//"]) {
    const re = new RegExp(`^${comment}\\s*([a-zA-Z][a-zA-Z0-9]*)\\s*=\\s*(.+?)\\s*$`);
    for (const line of text.split("\n")) {
      const m = re.exec(line.replace(/\r$/, ""));
      if (!m || !DIRECTIVE_NAMES.has(m[1].toLowerCase())) break;
      if (m[1].toLowerCase() === "syntax") return firstWord(m[2]);
    }
  }
  return undefined;
}

function firstWord(s: string): string | undefined {
  return s.trim().split(/\s+/)[0] || undefined;
}

/** True for BuildKit's Dockerfile frontend images, with any tag or digest. */
export function isDockerfileImage(ref: string): boolean {
  const name = ref.replace(/@.*$/, "").replace(/:[^/]*$/, "");
  return /^(docker\.io\/)?docker\/dockerfile(-upstream)?$/.test(name);
}

/** Where the chosen frontend's name came from. */
export type FrontendSource = "--frontend" | "BUILDKIT_SYNTAX" | "syntax directive" | "default";

/** What {@linkcode chooseFrontend} needs. */
export interface FrontendRequest {
  /** `--frontend`, if given. */
  flag?: string;
  /** The `BUILDKIT_SYNTAX` build argument, if given. */
  buildArg?: string;
  /** The build file's content, for its `# syntax=` directive (absent when unreadable). */
  buildFile?: Uint8Array;
  /** Syntax aliases from the config file: alias to frontend name. */
  aliases?: Record<string, string>;
  /** The names of the loaded frontend plugins. */
  available: string[];
}

/** The frontend to build with and why. */
export interface FrontendChoice {
  /** The frontend plugin's name. */
  name: string;
  /** Where it came from. */
  source: FrontendSource;
  /** The syntax reference that named it, for a build argument or a directive. */
  syntax?: string;
}

/**
 * Maps a syntax reference to a frontend plugin name: a configured alias, `img/frontend-NAME`,
 * or a BuildKit Dockerfile frontend image. Throws for anything else, naming the frontends.
 */
export function frontendForSyntax(
  syntax: string,
  aliases: Record<string, string>,
  available: string[],
  where: string,
): string {
  if (Object.hasOwn(aliases, syntax)) return aliases[syntax];
  const m = /^img\/frontend-([a-z0-9][a-z0-9._-]*)$/.exec(syntax);
  if (m) return m[1];
  if (isDockerfileImage(syntax)) return DEFAULT_FRONTEND;
  throw new ImgError(
    `The ${where} asks for the frontend image "${syntax}", which img cannot pull: ` +
      `use img/frontend-NAME or --frontend NAME with one of: ${available.join(", ")}`,
  );
}

/** Chooses the frontend: `--frontend` > `BUILDKIT_SYNTAX` > `# syntax=` > `dockerfile`. */
export function chooseFrontend(req: FrontendRequest): FrontendChoice {
  const aliases = req.aliases ?? {};
  let choice: FrontendChoice;
  if (req.flag !== undefined) {
    choice = { name: req.flag, source: "--frontend" };
  } else if (req.buildArg) {
    const syntax = firstWord(req.buildArg) ?? req.buildArg;
    choice = {
      name: frontendForSyntax(syntax, aliases, req.available, "build argument BUILDKIT_SYNTAX"),
      source: "BUILDKIT_SYNTAX",
      syntax,
    };
  } else {
    const syntax = req.buildFile ? detectSyntax(req.buildFile) : undefined;
    choice = syntax === undefined ? { name: DEFAULT_FRONTEND, source: "default" } : {
      name: frontendForSyntax(syntax, aliases, req.available, "syntax directive"),
      source: "syntax directive",
      syntax,
    };
  }
  if (!req.available.includes(choice.name)) {
    const from = choice.syntax ? ` (from ${choice.source} ${choice.syntax})` : "";
    throw new ImgError(
      `Unknown frontend "${choice.name}"${from}: available: ${req.available.join(", ")}; ` +
        `load others with --plugin`,
    );
  }
  return choice;
}

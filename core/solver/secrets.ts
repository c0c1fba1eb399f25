/**
 * Build secrets (`img build --secret`, `RUN --mount=type=secret`), as buildx parses them and
 * BuildKit's file/env secrets provider reads them. A secret's value is read only when a step
 * mounts it and never enters the build graph, the cache keys or the state database.
 *
 * @module
 */
import { basename } from "node:path";
import { ImgError } from "../errors.ts";
import { splitCSVRecord } from "./_csv.ts";

/** BuildKit's limit on a secret's size (500 KiB). */
export const MAX_SECRET_SIZE = 500 * 1024;

/** Where a secret comes from: a file or an environment variable. */
export interface SecretSource {
  /** The id a `RUN --mount=type=secret,id=...` asks for. */
  id: string;
  /** The file holding the value. */
  file?: string;
  /** The environment variable holding the value. */
  env?: string;
}

/**
 * Parses a `--secret` value as buildx does: `id=x,src=FILE`, `id=x,env=VAR`,
 * `type=file|env`, `source=`; `id` defaults to the file's name or the variable's; a bare
 * `id=x` reads the variable `x` when it is set, else the file `x`.
 */
export function parseSecretSpec(spec: string, env: Record<string, string>): SecretSource {
  let type: string | undefined;
  let id = "";
  let file = "";
  let variable = "";
  for (const field of splitCSVRecord(spec)) {
    const eq = field.indexOf("=");
    if (eq < 0) {
      throw new ImgError(`Invalid --secret field "${field}": use KEY=VALUE (id=x,src=FILE)`);
    }
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    switch (key) {
      case "type":
        if (value !== "file" && value !== "env") {
          throw new ImgError(`Unsupported --secret type "${value}": use type=file or type=env`);
        }
        type = value;
        break;
      case "id":
        id = value;
        break;
      case "source":
      case "src":
        file = value;
        break;
      case "env":
        variable = value;
        break;
      default:
        throw new ImgError(
          `Unexpected key "${key}" in --secret "${spec}": use id=, src=, env= or type=`,
        );
    }
  }
  if (type === "env" && variable === "") {
    variable = file;
    file = "";
  }
  if (id === "") id = variable || (file ? basename(file) : "");
  if (id === "") throw new ImgError(`The --secret "${spec}" has no id: add id=NAME`);
  if (variable === "" && file === "") {
    if (env[id] !== undefined) variable = id;
    else file = id;
  }
  if (variable !== "") return { id, env: variable };
  let size: number;
  try {
    size = Deno.statSync(file).size;
  } catch (e) {
    throw new ImgError(
      `Cannot read the secret file "${file}" of --secret ${id}: ${(e as Error).message}`,
    );
  }
  if (size > MAX_SECRET_SIZE) {
    throw new ImgError(`The secret ${id} is too big: at most 500KB`);
  }
  return { id, file };
}

/** The secrets of one build, read on demand. */
export class SecretStore {
  readonly #sources = new Map<string, SecretSource>();
  readonly #env: Record<string, string>;

  /** A store of `sources` (a later one with the same id wins); `env` holds `env=` values. */
  constructor(sources: readonly SecretSource[] = [], env: Record<string, string> = {}) {
    for (const s of sources) this.#sources.set(s.id, s);
    this.#env = env;
  }

  /** Parses `--secret` values (see {@linkcode parseSecretSpec}). */
  static parse(specs: readonly string[], env: Record<string, string>): SecretStore {
    return new SecretStore(specs.map((s) => parseSecretSpec(s, env)), env);
  }

  /** The value of secret `id`, or undefined when the build was given none. */
  async get(id: string): Promise<Uint8Array | undefined> {
    const s = this.#sources.get(id);
    if (!s) return undefined;
    if (s.env !== undefined) {
      const value = this.#env[s.env];
      return value === undefined ? undefined : new TextEncoder().encode(value);
    }
    const data = await Deno.readFile(s.file!).catch((e) => {
      throw new ImgError(`Cannot read the secret file of ${id}: ${(e as Error).message}`);
    });
    if (data.length > MAX_SECRET_SIZE) {
      throw new ImgError(`The secret ${id} is too big: at most 500KB`);
    }
    return data;
  }
}

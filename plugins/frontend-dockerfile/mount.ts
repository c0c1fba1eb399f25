/**
 * `RUN --mount=...` values, parsed as BuildKit's `parseMount` does.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";
import { goQuote } from "./shell_lex.ts";
import { splitCSVRecord } from "@img/core/solver";
import { parseRAMInBytes } from "./_size.ts";
import { suggest } from "./_suggest.ts";

/** A `RUN --mount=...` mount. */
export interface RunMount {
  /** `bind` (default), `cache`, `tmpfs`, `secret` or `ssh`. */
  type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  /** The stage or image to mount from (`from=`), or `""` for the build context. */
  from: string;
  /** `source=`/`src=`: the path in `from`, or the secret id. */
  source: string;
  /** `target=`/`dst=`/`destination=`: where it is mounted. */
  target: string;
  /** Read-only: defaults to true for bind, secret and ssh, false for cache and tmpfs. */
  readOnly: boolean;
  /** `id=`: the cache id or the secret/ssh id. */
  id: string;
  /** `sharing=` of a cache mount: `shared` (default), `private` or `locked`. */
  sharing: string;
  /** `required=` of a secret or ssh mount. */
  required: boolean;
  /** `size=` of a tmpfs mount, in bytes. */
  sizeLimit?: number;
  /** `env=` of a secret mount: the variable the secret is exposed as. */
  env?: string;
  /** `mode=`, octal, for cache, secret and ssh mounts. */
  mode?: number;
  /** `uid=` for cache, secret and ssh mounts. */
  uid?: number;
  /** `gid=` for cache, secret and ssh mounts. */
  gid?: number;
  /**
   * True when a value referenced a variable: the mount was read without expansion; parse
   * the spec again with {@link parseMount} and an expander before using it.
   */
  unexpanded: boolean;
}

const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"];
const MOUNT_KEYS = [
  "type",
  "from",
  "source",
  "target",
  "readonly",
  "id",
  "sharing",
  "required",
  "size",
  "env",
  "mode",
  "uid",
  "gid",
  "src",
  "dst",
  "destination",
  "ro",
  "rw",
  "readwrite",
];

/**
 * Parses a `--mount` value (`type=cache,target=/root/.cache,sharing=locked`), as BuildKit's
 * `parseMount`. With `expand`, every value is expanded first; without it, values that
 * reference a variable are kept as written and the mount is marked `unexpanded`.
 *
 * @throws {InstructionError} on an unknown key or type, or an invalid combination.
 */
export function parseMount(spec: string, expand?: (word: string) => string): RunMount {
  const m: RunMount = {
    type: "bind",
    from: "",
    source: "",
    target: "",
    readOnly: false,
    id: "",
    sharing: "",
    required: false,
    unexpanded: false,
  };
  let roAuto = true;
  for (const field of splitCSVRecord(spec, badMountQuote)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === "readonly" || key === "ro") {
        m.readOnly = true;
        roAuto = false;
        continue;
      }
      if (key === "readwrite" || key === "rw") {
        m.readOnly = false;
        roAuto = false;
        continue;
      }
      if (key === "required") {
        if (m.type === "secret" || m.type === "ssh") {
          m.required = true;
          continue;
        }
        throw new InstructionError(`unexpected key '${key}' for mount type '${m.type}'`);
      }
      throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
    }
    let value = field.slice(eq + 1);
    if (expand) {
      value = expand(value);
    } else if (/\$./.test(value)) {
      if (key === "from") {
        throw new InstructionError(
          `'${key}' doesn't support variable expansion, define alias stage instead`,
        );
      }
      if (!MOUNT_KEYS.includes(key)) throw unexpectedKey(key, field);
      m.unexpanded = true;
      switch (key) {
        case "source":
        case "src":
          m.source = value;
          break;
        case "target":
        case "dst":
        case "destination":
          m.target = value;
          break;
        case "id":
          m.id = value;
          break;
        case "env":
          m.env = value;
          break;
      }
      continue;
    }
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!MOUNT_TYPES.includes(t)) {
          const hint = suggest(value, MOUNT_TYPES);
          throw new InstructionError(
            `unsupported mount type ${goQuote(value)}${hint ? ` (did you mean ${hint}?)` : ""}`,
          );
        }
        m.type = t as RunMount["type"];
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro":
        m.readOnly = parseBool(key, value);
        roAuto = false;
        break;
      case "readwrite":
      case "rw":
        m.readOnly = !parseBool(key, value);
        roAuto = false;
        break;
      case "required":
        if (m.type !== "secret" && m.type !== "ssh") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${m.type}'`);
        }
        m.required = parseBool(key, value);
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!["shared", "private", "locked"].includes(s)) {
          throw new InstructionError(`unsupported sharing value ${goQuote(value)}`);
        }
        m.sharing = s;
        break;
      }
      case "size":
        if (m.type !== "tmpfs") {
          throw new InstructionError(`size not allowed for ${goQuote(m.type)} type mounts`);
        }
        m.sizeLimit = parseRAMInBytes(value);
        break;
      case "env":
        m.env = value;
        break;
      case "mode":
        if (!/^[0-7]+$/.test(value)) throw new InstructionError(`invalid value ${value} for mode`);
        m.mode = Number.parseInt(value, 8);
        break;
      case "uid":
      case "gid": {
        if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) {
          throw new InstructionError(`invalid value ${value} for ${key}`);
        }
        m[key] = Number(value);
        break;
      }
      default:
        throw unexpectedKey(key, field);
    }
  }

  const fileInfoAllowed = m.type === "secret" || m.type === "ssh" || m.type === "cache";
  for (const k of ["mode", "uid", "gid"] as const) {
    if (m[k] !== undefined && !fileInfoAllowed) {
      throw new InstructionError(`${k} not allowed for ${goQuote(m.type)} type mounts`);
    }
  }
  if (roAuto) m.readOnly = !(m.type === "cache" || m.type === "tmpfs");
  if (m.sharing !== "" && m.type !== "cache") {
    throw new InstructionError(`invalid cache sharing set for ${m.type} mount`);
  }
  if (m.type === "cache" && m.sharing === "") m.sharing = "shared";
  if (m.type === "secret") {
    if (m.from !== "") throw new InstructionError("secret mount should not have a from");
    if (m.source === "" && m.target === "" && m.id === "" && m.env === undefined) {
      throw new InstructionError("invalid secret mount. one of source, target required");
    }
    if (m.source !== "" && m.id !== "") {
      throw new InstructionError("both source and id can't be set");
    }
  }
  return m;
}

function unexpectedKey(key: string, field: string): InstructionError {
  const hint = suggest(key, MOUNT_KEYS);
  return new InstructionError(
    `unexpected key '${key}' in '${field}'${hint ? ` (did you mean ${hint}?)` : ""}`,
  );
}

function parseBool(key: string, value: string): boolean {
  // Go's strconv.ParseBool
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw new InstructionError(`invalid value for ${key}: ${value}`);
}

function badMountQuote(): InstructionError {
  return new InstructionError(
    `failed to parse csv mounts: extraneous or missing " in quoted-field`,
  );
}

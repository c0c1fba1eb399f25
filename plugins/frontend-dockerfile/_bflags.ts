/**
 * The `--flags` of one instruction, checked like BuildKit's `BFlags`.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";
import { suggest } from "./_suggest.ts";

/** How a flag takes its value. */
export type FlagType = "bool" | "string" | "strings";

/** One declared flag and what was given for it. */
export interface Flag {
  type: FlagType;
  value: string;
  values: string[];
}

/** The `--flags` of one instruction, checked like BuildKit's `BFlags`. */
export class BFlags {
  #flags = new Map<string, Flag>();
  used = new Set<string>();
  constructor(readonly args: string[]) {}

  #add(name: string, type: FlagType, def: string): Flag {
    const flag = { type, value: def, values: [] };
    this.#flags.set(name, flag);
    return flag;
  }
  addBool(name: string, def = false): Flag {
    return this.#add(name, "bool", def ? "true" : "false");
  }
  addString(name: string, def = ""): Flag {
    return this.#add(name, "string", def);
  }
  addStrings(name: string): Flag {
    return this.#add(name, "strings", "");
  }

  parse(): void {
    for (let arg of this.args) {
      if (!arg.startsWith("--")) throw new InstructionError(`arg should start with -- : ${arg}`);
      if (arg === "--") return;
      arg = arg.slice(2);
      let value = "";
      const index = arg.indexOf("=");
      if (index >= 0) {
        value = arg.slice(index + 1);
        arg = arg.slice(0, index);
      }
      const flag = this.#flags.get(arg);
      if (!flag) {
        const hint = suggest(arg, [...this.#flags.keys()]);
        throw new InstructionError(
          `unknown flag: --${arg}${hint ? ` (did you mean --${hint}?)` : ""}`,
        );
      }
      if (this.used.has(arg) && flag.type !== "strings") {
        throw new InstructionError(`duplicate flag specified: --${arg}`);
      }
      this.used.add(arg);
      switch (flag.type) {
        case "bool": {
          if (index >= 0 && value === "") {
            throw new InstructionError(`missing a value on flag: --${arg}`);
          }
          const lower = value.toLowerCase();
          if (lower === "") flag.value = "true";
          else if (lower === "true" || lower === "false") flag.value = lower;
          else {
            throw new InstructionError(`expecting boolean value for flag --${arg}, not: ${value}`);
          }
          break;
        }
        case "string":
          if (index < 0) throw new InstructionError(`missing a value on flag: --${arg}`);
          flag.value = value;
          break;
        case "strings":
          if (index < 0) throw new InstructionError(`missing a value on flag: --${arg}`);
          flag.values.push(value);
          break;
      }
    }
  }
}

/**
 * Finds and validates plugins: built-in ones from a static table of `import()`s that the
 * composition root (the CLI) hands in, external ones from module specifiers.
 *
 * @module
 */
import { ImgError } from "./errors.ts";
import { span } from "./trace.ts";
import {
  type Plugin,
  type PluginByKind,
  pluginEntrySchemas,
  type PluginKind,
  pluginManifestSchema,
  SUPPORTED_API_VERSIONS,
} from "./plugin.ts";

/** Loads a built-in plugin module; a static `() => import("...")` keeps it in bundles. */
export type PluginImport = () => Promise<{ default: unknown }>;

/** The built-in plugins, keyed `kind/name` (`credentials/docker`). */
export type BuiltinPlugins = Readonly<Record<string, PluginImport>>;

/** Where a loaded plugin came from. */
export interface LoadedPlugin {
  /** The validated plugin. */
  plugin: Plugin;
  /** `builtin`, or the module specifier it was loaded from. */
  source: string;
}

/**
 * Validates a module's default export as a plugin and returns it, or throws an error that
 * names where it came from and what is wrong.
 */
export function validatePlugin(value: unknown, source: string): Plugin {
  const parsed = pluginManifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? `"${issue.path.join(".")}" ` : "";
    throw new ImgError(`Plugin ${source} is not a valid img plugin: ${where}${issue.message}`);
  }
  const m = parsed.data;
  if (!SUPPORTED_API_VERSIONS.includes(m.apiVersion)) {
    throw new ImgError(
      `Plugin ${m.kind}/${m.name} ${m.version} (${source}) needs plugin API version ${m.apiVersion}, ` +
        `but this img supports API version ${SUPPORTED_API_VERSIONS.join(", ")}: ` +
        `use a version of the plugin built for API version ${SUPPORTED_API_VERSIONS.at(-1)}`,
    );
  }
  const entry = pluginEntrySchemas[m.kind].safeParse(value);
  if (!entry.success) {
    const issue = entry.error.issues[0];
    throw new ImgError(
      `Plugin ${m.kind}/${m.name} (${source}) is not a valid img plugin: "${
        issue.path.join(".")
      }" ${issue.message}`,
    );
  }
  return value as Plugin;
}

/** Looks plugins up by kind and name, loading each module once. */
export class PluginLoader {
  #builtins: BuiltinPlugins;
  #external = new Map<string, LoadedPlugin>();
  #loaded = new Map<string, LoadedPlugin>();

  /** Creates a loader over the given built-in table. */
  constructor(builtins: BuiltinPlugins) {
    this.#builtins = builtins;
  }

  /**
   * Loads an external plugin module (a path, `file:`, `https:`, `npm:` or `jsr:` specifier)
   * and registers it under its kind and name; it shadows a built-in of the same name.
   */
  async loadExternal(specifier: string): Promise<Plugin> {
    const url = toModuleUrl(specifier);
    let mod: { default?: unknown };
    try {
      mod = await import(url);
    } catch (e) {
      throw new ImgError(
        `Cannot load plugin ${specifier}: ${e instanceof Error ? e.message.split("\n")[0] : e}`,
      );
    }
    if (mod.default === undefined) {
      throw new ImgError(
        `Plugin ${specifier} has no default export: export the plugin object as default`,
      );
    }
    const plugin = validatePlugin(mod.default, specifier);
    const loaded = { plugin, source: specifier };
    this.#external.set(`${plugin.kind}/${plugin.name}`, loaded);
    this.#loaded.set(`${plugin.kind}/${plugin.name}`, loaded);
    return plugin;
  }

  /** Returns the plugin of `kind` named `name`, or throws an error listing those available. */
  async get<K extends PluginKind>(kind: K, name: string): Promise<PluginByKind[K]> {
    const key = `${kind}/${name}`;
    const known = this.#loaded.get(key);
    if (known) return known.plugin as PluginByKind[K];
    const load = this.#builtins[key];
    if (!load) {
      const names = this.names(kind);
      throw new ImgError(
        `Unknown ${kind} "${name}": ${
          names.length ? `available: ${names.join(", ")}` : `no ${kind} plugin is installed`
        }`,
      );
    }
    const loading = span("module load (built-in plugins)");
    const mod = await load().finally(() => loading.end());
    const plugin = validatePlugin(mod.default, `builtin ${key}`);
    if (plugin.kind !== kind || plugin.name !== name) {
      throw new ImgError(`Built-in plugin ${key} declares itself as ${plugin.kind}/${plugin.name}`);
    }
    this.#loaded.set(key, { plugin, source: "builtin" });
    return plugin as PluginByKind[K];
  }

  /** Reports whether a plugin of `kind` named `name` is available. */
  has(kind: PluginKind, name: string): boolean {
    const key = `${kind}/${name}`;
    return this.#external.has(key) || key in this.#builtins;
  }

  /** The names of the available plugins of `kind`, built-in and external, sorted. */
  names(kind: PluginKind): string[] {
    const names = new Set<string>();
    for (const key of [...Object.keys(this.#builtins), ...this.#external.keys()]) {
      const [k, n] = key.split("/");
      if (k === kind) names.add(n);
    }
    return [...names].sort();
  }

  /** Loads every built-in plugin and returns all plugins with where they came from. */
  async list(): Promise<LoadedPlugin[]> {
    for (const key of Object.keys(this.#builtins)) {
      const [kind, name] = key.split("/") as [PluginKind, string];
      if (!this.#loaded.has(key)) await this.get(kind, name);
    }
    return [...this.#loaded.values()].sort((a, b) =>
      `${a.plugin.kind}/${a.plugin.name}`.localeCompare(`${b.plugin.kind}/${b.plugin.name}`)
    );
  }
}

/** Turns a plugin specifier into an importable URL: relative and absolute paths become file URLs. */
export function toModuleUrl(specifier: string): string {
  if (/^(file|https?|npm|jsr|data):/.test(specifier)) return specifier;
  const abs = specifier.startsWith("/") ? specifier : `${Deno.cwd()}/${specifier}`;
  return new URL(`file://${abs}`).href;
}

/** What img's config files and `IMG_PLUGINS` say about plugins. */
export interface PluginConfig {
  /** External plugin module specifiers, in load order. */
  plugins: string[];
  /** Aliases for the `# syntax=` directive: alias to frontend plugin name. */
  frontends: Record<string, string>;
}

/**
 * Reads the `plugins` array (module specifiers; relative ones are taken from the file's
 * directory) and the `frontends` object (`# syntax=` aliases, `{"alias": "frontend name"}`)
 * of each config file that exists, then adds `IMG_PLUGINS` (separated by commas).
 */
export async function readPluginConfig(
  configFiles: string[],
  env: string | undefined,
): Promise<PluginConfig> {
  const out: PluginConfig = { plugins: [], frontends: {} };
  for (const file of configFiles) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ImgError(`Config file ${file} is not valid JSON: fix or remove it`);
    }
    const { plugins, frontends } = (parsed ?? {}) as { plugins?: unknown; frontends?: unknown };
    if (plugins !== undefined) {
      if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== "string")) {
        throw new ImgError(`Config file ${file}: "plugins" must be an array of module specifiers`);
      }
      const dir = file.slice(0, file.lastIndexOf("/"));
      for (const p of plugins as string[]) {
        out.plugins.push(p.startsWith(".") ? `${dir}/${p}` : p);
      }
    }
    if (frontends !== undefined) {
      if (
        typeof frontends !== "object" || frontends === null || Array.isArray(frontends) ||
        Object.values(frontends).some((v) => typeof v !== "string")
      ) {
        throw new ImgError(
          `Config file ${file}: "frontends" must map each syntax alias to a frontend name, as {"alias": "name"}`,
        );
      }
      Object.assign(out.frontends, frontends);
    }
  }
  for (const p of (env ?? "").split(",")) if (p.trim()) out.plugins.push(p.trim());
  return out;
}

/**
 * The external plugin specifiers from `IMG_PLUGINS` (separated by commas)
 * and the `plugins` array of the config files ({@linkcode readPluginConfig}).
 */
export async function externalPluginSpecifiers(
  configFiles: string[],
  env: string | undefined,
): Promise<string[]> {
  return (await readPluginConfig(configFiles, env)).plugins;
}

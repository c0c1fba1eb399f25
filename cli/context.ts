/**
 * What every command needs from the global flags: the state directory, the plugin loader,
 * credentials and the registry client, each opened only when a command asks for it.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { type CredentialStore, ImgError, type PluginContext } from "@img/core";
import { type PluginConfig, PluginLoader, readPluginConfig } from "@img/core/loader";
import { RegistryClient, retryPolicyFromEnv } from "@img/core/registry";
import { chooseSnapshotter } from "@img/core/snapshot";
import { State } from "@img/core/state";
import { BUILTIN_PLUGINS } from "./builtin_plugins.ts";
import { VERSION } from "./version.ts";

/** The global flags. */
export interface GlobalOptions {
  /** The snapshot backend: a snapshotter plugin's name, or `auto`. */
  backend: string;
  /** Debug logging. */
  debug?: boolean;
  /** The state directory. */
  state: string;
  /** External plugin specifiers from `--plugin`. */
  plugin?: string[];
  /** `--registry-timeout`: the registry no-progress timeout in seconds (over `IMG_REGISTRY_TIMEOUT`). */
  registryTimeout?: string;
}

/** The lazily opened pieces a command works with. */
export class CliContext {
  /** The global flags. */
  readonly options: GlobalOptions;
  /** The environment. */
  readonly env: Record<string, string>;
  #state?: State;
  #plugins?: Promise<PluginLoader>;
  #config?: PluginConfig;
  #credentials?: Promise<CredentialStore>;

  /** Creates a context from the global flags. */
  constructor(options: GlobalOptions, env: Record<string, string> = Deno.env.toObject()) {
    this.options = options;
    this.env = env;
  }

  /** Writes a debug line to stderr when `--debug` is on. */
  debug = (message: string): void => {
    if (this.options.debug) console.error(`DEBU ${message}`);
  };

  /** The open state directory. */
  get state(): State {
    this.#state ??= State.open(this.options.state);
    return this.#state;
  }

  /** What plugins are handed when created. */
  get pluginContext(): PluginContext {
    return { stateDir: this.options.state, env: this.env, debug: this.debug };
  }

  /**
   * The plugin loader, with external plugins from the config file, `IMG_PLUGINS` and
   * `--plugin` loaded (in that order). Refuses a `--backend` that names no loaded snapshotter.
   */
  plugins(): Promise<PluginLoader> {
    this.#plugins ??= (async () => {
      const loader = new PluginLoader(BUILTIN_PLUGINS);
      const configHome = this.env.XDG_CONFIG_HOME ??
        (this.env.HOME ? join(this.env.HOME, ".config") : undefined);
      const files = configHome ? [join(configHome, "img", "config.json")] : [];
      this.#config = await readPluginConfig(files, this.env.IMG_PLUGINS);
      for (const s of [...this.#config.plugins, ...(this.options.plugin ?? [])]) {
        const p = await loader.loadExternal(s);
        this.debug(`loaded plugin ${p.kind}/${p.name} ${p.version} from ${s}`);
      }
      const backend = this.options.backend;
      if (backend !== "auto" && !loader.has("snapshotter", backend)) {
        throw new ImgError(
          `Unknown backend "${backend}": use auto or one of: ${
            loader.names("snapshotter").join(", ")
          } (load others with --plugin)`,
        );
      }
      return loader;
    })();
    return this.#plugins;
  }

  /** The `# syntax=` aliases of the config file (`"frontends"`), once plugins are loaded. */
  async frontendAliases(): Promise<Record<string, string>> {
    await this.plugins();
    return this.#config?.frontends ?? {};
  }

  /**
   * The snapshotter backend to use: `--backend`, or for `auto` the preferred snapshotter
   * that works here (`--debug` says why it passed the others).
   */
  async backend(): Promise<string> {
    const loader = await this.plugins();
    if (this.options.backend !== "auto") {
      this.debug(`backend: ${this.options.backend} (from --backend)`);
      return this.options.backend;
    }
    const choice = await chooseSnapshotter(
      loader,
      this.pluginContext,
      (name) => this.state.snapshotsDir(name),
    );
    for (const s of choice.skipped) this.debug(`backend auto: not ${s.name}: ${s.reason}`);
    this.debug(`backend auto: chose ${choice.name}`);
    await this.#recordBackend(choice.name);
    return choice.name;
  }

  /**
   * The backend `img build` would use, without probing: `--backend`, or the one `auto` chose
   * last in this state directory (probes mount, which needs the user namespace). `undefined`
   * when `auto` has not chosen yet.
   */
  async chosenBackend(): Promise<string | undefined> {
    if (this.options.backend !== "auto") return this.options.backend;
    const name = await Deno.readTextFile(this.#backendFile).catch(() => undefined);
    return name && (await this.plugins()).has("snapshotter", name.trim()) ? name.trim() : undefined;
  }

  get #backendFile(): string {
    return join(this.options.state, "backend");
  }

  /** Records `auto`'s choice for {@linkcode CliContext.chosenBackend} (when it changed). */
  async #recordBackend(name: string): Promise<void> {
    const file = this.#backendFile;
    if ((await Deno.readTextFile(file).catch(() => ""))?.trim() === name) return;
    const tmp = `${file}.${Deno.pid}.tmp`;
    try {
      await Deno.writeTextFile(tmp, `${name}\n`);
      await Deno.rename(tmp, file);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      this.debug(`backend auto: not recorded: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** The credential store (the `docker` credentials plugin unless another is configured). */
  credentials(): Promise<CredentialStore> {
    this.#credentials ??= (async () => {
      const loader = await this.plugins();
      const plugin = await loader.get("credentials", this.env.IMG_CREDENTIALS ?? "docker");
      return plugin.create(this.pluginContext);
    })();
    return this.#credentials;
  }

  /**
   * A registry client using the credential store; `insecure` lists hosts to reach over plain
   * HTTP. `--registry-timeout` (or `IMG_REGISTRY_TIMEOUT`) and `IMG_REGISTRY_RETRIES` tune its
   * retry policy.
   */
  async registry(insecure: string[] = []): Promise<RegistryClient> {
    return new RegistryClient({
      credentials: await this.credentials(),
      retry: retryPolicyFromEnv(this.env, { timeout: this.options.registryTimeout }),
      insecureRegistries: insecure,
      userAgent: `img/${VERSION}`,
    });
  }

  /** Closes what was opened. */
  close(): void {
    this.#state?.close();
  }
}

/** The command an action runs for (any of img's commands). */
export type ActionCommand = Command<unknown[], Record<string, unknown>>;

/** Returns the context for a command's action, built from the global flags. */
export function contextOf(cmd: ActionCommand): CliContext {
  let root = cmd;
  while (root.parent) root = root.parent as typeof root;
  return new CliContext(root.opts() as unknown as GlobalOptions);
}

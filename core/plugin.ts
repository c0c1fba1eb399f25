/**
 * Plugins: every frontend, snapshotter, executor, exporter and credential store is a plugin,
 * an object exported as a module's default export and looked up by kind and name.
 *
 * @module
 */
import * as z from "./_zod.ts";
import type { CredentialStore } from "./credentials.ts";
import type { Executor } from "./executor.ts";
import type { Exporter } from "./exporter.ts";
import type { Frontend } from "./frontend.ts";
import type { Snapshotter } from "./snapshotter.ts";

/** The plugin API version this core implements. */
export const API_VERSION = 1;

/** The plugin API versions this core can load. */
export const SUPPORTED_API_VERSIONS: readonly number[] = [1];

/** The kinds of plugin. */
export const PLUGIN_KINDS = [
  "frontend",
  "snapshotter",
  "executor",
  "exporter",
  "credentials",
] as const;

/** A kind of plugin. */
export type PluginKind = typeof PLUGIN_KINDS[number];

const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

const fn = () =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", {
    message: "must be a function",
  });

/** The fields every plugin has, validated when it is loaded. */
export const pluginManifestSchema: z.ZodMiniType<PluginManifest> = z.lazy(() =>
  z.looseObject({
    kind: z.enum(PLUGIN_KINDS),
    name: z.string().check(z.regex(
      /^[a-z0-9][a-z0-9._-]*$/,
      "must be lowercase letters, digits, '.', '_' or '-'",
    )),
    version: z.string().check(z.regex(SEMVER_RE, "must be a semantic version such as 1.0.0")),
    apiVersion: z.int().check(z.positive()),
    description: z.optional(z.string()),
  })
);

/** The entry point each kind of plugin must provide. */
export const pluginEntrySchemas: Record<PluginKind, z.ZodMiniType> = {
  frontend: z.lazy(() => z.looseObject({ create: fn() })),
  snapshotter: z.lazy(() =>
    z.looseObject({
      create: fn(),
      supported: z.optional(fn()),
      priority: z.optional(z.int()),
    })
  ),
  executor: z.lazy(() => z.looseObject({ create: fn() })),
  exporter: z.lazy(() => z.looseObject({ create: fn() })),
  credentials: z.lazy(() => z.looseObject({ create: fn() })),
};

/** The fields every plugin has. */
export interface PluginManifest {
  /** The kind of plugin. */
  kind: PluginKind;
  /** The name it is looked up by (an exporter's name is its `--output type=`). */
  name: string;
  /** The plugin's own semantic version. */
  version: string;
  /** The plugin API version it was written against ({@linkcode API_VERSION}). */
  apiVersion: number;
  /** One line about what it does. */
  description?: string;
}

/** What img hands a plugin when it creates an instance. */
export interface PluginContext {
  /** The state directory (`--state`). */
  stateDir: string;
  /** The environment img runs in. */
  env: Record<string, string>;
  /** Writes a debug line when `--debug` is on. */
  debug: (message: string) => void;
}

/** A credential store plugin. */
export interface CredentialsPlugin extends PluginManifest {
  /** Always `credentials`. */
  kind: "credentials";
  /** Creates the store. */
  create(ctx: PluginContext): CredentialStore;
}

/** A frontend plugin. */
export interface FrontendPlugin extends PluginManifest {
  /** Always `frontend`. */
  kind: "frontend";
  /** Creates the frontend. */
  create(ctx: PluginContext): Frontend;
}

/** What a snapshotter's {@linkcode SnapshotterPlugin.supported} probe found. */
export type SnapshotterSupport =
  | { supported: true }
  | { supported: false; reason: string };

/** A snapshotter plugin. */
export interface SnapshotterPlugin extends PluginManifest {
  /** Always `snapshotter`. */
  kind: "snapshotter";
  /** Creates the snapshotter rooted at `root`. */
  create(ctx: PluginContext & { root: string }): Promise<Snapshotter> | Snapshotter;
  /**
   * Optional: checks that the snapshotter works here (e.g. a probe mount in a scratch
   * directory under `root`), for `--backend auto`; `reason` is one line saying why not.
   * Runs where builds run (inside img's user namespace). A snapshotter without it is taken
   * to work everywhere.
   */
  supported?(ctx: PluginContext & { root: string }): Promise<SnapshotterSupport>;
  /**
   * Its rank for `--backend auto`: among the snapshotters that work here, the highest
   * priority is chosen (default 0; the built-ins: overlayfs 300, fuse-overlayfs 200,
   * native 100). A third-party snapshotter declares one above 300 to be preferred.
   */
  priority?: number;
}

/** An executor plugin. */
export interface ExecutorPlugin extends PluginManifest {
  /** Always `executor`. */
  kind: "executor";
  /** Creates the executor. */
  create(ctx: PluginContext): Promise<Executor> | Executor;
}

/** An exporter plugin; its name is the `type=` of `--output`. */
export interface ExporterPlugin extends PluginManifest {
  /** Always `exporter`. */
  kind: "exporter";
  /** Creates the exporter. */
  create(ctx: PluginContext): Exporter;
}

/** Any plugin. */
export type Plugin =
  | CredentialsPlugin
  | FrontendPlugin
  | SnapshotterPlugin
  | ExecutorPlugin
  | ExporterPlugin;

/** Maps a plugin kind to its plugin type. */
export interface PluginByKind {
  /** Credential stores. */
  credentials: CredentialsPlugin;
  /** Frontends. */
  frontend: FrontendPlugin;
  /** Snapshotters. */
  snapshotter: SnapshotterPlugin;
  /** Executors. */
  executor: ExecutorPlugin;
  /** Exporters. */
  exporter: ExporterPlugin;
}

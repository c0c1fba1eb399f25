/**
 * Zod schemas for OCI and Docker image manifests, indexes and configs.
 *
 * Each is a `z.lazy`: its parts are built on its first use, not at module load (building them
 * all costs ~15 ms, which every start of img would pay, most commands for nothing).
 *
 * @module
 */
import * as z from "./_zod.ts";

/** An OCI platform. */
export interface OciPlatform {
  /** The CPU architecture (`amd64`, `arm64`). */
  architecture: string;
  /** The operating system (`linux`). */
  os: string;
  /** The OS version (Windows). */
  "os.version"?: string;
  /** Required OS features. */
  "os.features"?: string[];
  /** The CPU variant (`v7`). */
  variant?: string;
  /** Required CPU features. */
  features?: string[];
}

/** An OCI platform. */
export const platformSchema: z.ZodMiniType<OciPlatform> = z.lazy(() =>
  z.object({
    architecture: z.string(),
    os: z.string(),
    "os.version": z.optional(z.string()),
    "os.features": z.optional(z.array(z.string())),
    variant: z.optional(z.string()),
    features: z.optional(z.array(z.string())),
  })
);

/** An OCI content descriptor. */
export interface Descriptor {
  /** The media type of the content. */
  mediaType: string;
  /** The content's digest. */
  digest: string;
  /** The content's size in bytes. */
  size: number;
  /** Other places to fetch it from. */
  urls?: string[];
  /** Annotations. */
  annotations?: Record<string, string>;
  /** The platform (index entries). */
  platform?: OciPlatform;
  /** The artifact type. */
  artifactType?: string;
}

/** An OCI content descriptor. */
export const descriptorSchema: z.ZodMiniType<Descriptor> = z.lazy(() =>
  z.object({
    mediaType: z.string(),
    digest: z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/, "must be a sha256 digest")),
    size: z.int().check(z.nonnegative()),
    urls: z.optional(z.array(z.string())),
    annotations: z.optional(z.record(z.string(), z.string())),
    platform: z.optional(platformSchema),
    artifactType: z.optional(z.string()),
  })
);

/** An OCI image manifest or Docker schema 2 manifest. */
export interface Manifest {
  /** Always 2. */
  schemaVersion: 2;
  /** The manifest's media type. */
  mediaType?: string;
  /** The artifact type. */
  artifactType?: string;
  /** The image config. */
  config: Descriptor;
  /** The layers, base first. */
  layers: Descriptor[];
  /** The manifest this one refers to. */
  subject?: Descriptor;
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** An OCI image manifest or Docker schema 2 manifest. */
export const manifestSchema: z.ZodMiniType<Manifest> = z.lazy(() =>
  z.object({
    schemaVersion: z.literal(2),
    mediaType: z.optional(z.string()),
    artifactType: z.optional(z.string()),
    config: descriptorSchema,
    layers: z.array(descriptorSchema),
    subject: z.optional(descriptorSchema),
    annotations: z.optional(z.record(z.string(), z.string())),
  })
);

/** An OCI image index or Docker manifest list. */
export interface Index {
  /** Always 2. */
  schemaVersion: 2;
  /** The index's media type. */
  mediaType?: string;
  /** The artifact type. */
  artifactType?: string;
  /** The manifests, usually one per platform. */
  manifests: Descriptor[];
  /** The manifest this one refers to. */
  subject?: Descriptor;
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** An OCI image index or Docker manifest list. */
export const indexSchema: z.ZodMiniType<Index> = z.lazy(() =>
  z.object({
    schemaVersion: z.literal(2),
    mediaType: z.optional(z.string()),
    artifactType: z.optional(z.string()),
    manifests: z.array(descriptorSchema),
    subject: z.optional(descriptorSchema),
    annotations: z.optional(z.record(z.string(), z.string())),
  })
);

/** A healthcheck in an image config (durations in nanoseconds). */
export interface Healthcheck {
  /** The test: `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`. */
  Test?: string[];
  /** Time between checks. */
  Interval?: number;
  /** Time a check may take. */
  Timeout?: number;
  /** Time to start before checks count. */
  StartPeriod?: number;
  /** Time between checks during the start period. */
  StartInterval?: number;
  /** Failures before unhealthy. */
  Retries?: number;
}

/** A healthcheck in an image config. */
export const healthcheckSchema: z.ZodMiniType<Healthcheck> = z.lazy(() =>
  z.object({
    Test: z.optional(z.array(z.string())),
    Interval: z.optional(z.number()),
    Timeout: z.optional(z.number()),
    StartPeriod: z.optional(z.number()),
    StartInterval: z.optional(z.number()),
    Retries: z.optional(z.number()),
  })
);

/** The `config` part of an image config: what a container runs with. */
export interface ContainerConfig {
  /** The user (`name`, `uid`, `uid:gid`). */
  User?: string;
  /** Exposed ports (`80/tcp`). */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** Environment, `KEY=value`. */
  Env?: string[];
  /** The entrypoint. */
  Entrypoint?: string[] | null;
  /** The default command. */
  Cmd?: string[] | null;
  /** Volumes. */
  Volumes?: Record<string, Record<string, never>>;
  /** The working directory. */
  WorkingDir?: string;
  /** Labels. */
  Labels?: Record<string, string>;
  /** The stop signal. */
  StopSignal?: string;
  /** Docker's Windows-only escaped args flag. */
  ArgsEscaped?: boolean;
  /** The healthcheck. */
  Healthcheck?: Healthcheck;
  /** ONBUILD triggers. */
  OnBuild?: string[] | null;
  /** The shell for shell-form commands. */
  Shell?: string[];
  /** Fields img does not know. */
  [key: string]: unknown;
}

/** The `config` part of an image config. */
export const containerConfigSchema: z.ZodMiniType<ContainerConfig> = z.lazy(() =>
  z.looseObject({
    User: z.optional(z.string()),
    ExposedPorts: z.optional(z.record(z.string(), z.object({}))),
    Env: z.optional(z.array(z.string())),
    Entrypoint: z.optional(z.nullable(z.array(z.string()))),
    Cmd: z.optional(z.nullable(z.array(z.string()))),
    Volumes: z.optional(z.record(z.string(), z.object({}))),
    WorkingDir: z.optional(z.string()),
    Labels: z.optional(z.record(z.string(), z.string())),
    StopSignal: z.optional(z.string()),
    ArgsEscaped: z.optional(z.boolean()),
    Healthcheck: z.optional(healthcheckSchema),
    OnBuild: z.optional(z.nullable(z.array(z.string()))),
    Shell: z.optional(z.array(z.string())),
  })
);

/** One history entry of an image config. */
export interface History {
  /** When the step ran (RFC 3339). */
  created?: string;
  /** The instruction. */
  created_by?: string;
  /** The author. */
  author?: string;
  /** A comment. */
  comment?: string;
  /** True if the step made no layer. */
  empty_layer?: boolean;
}

/** One history entry of an image config. */
export const historySchema: z.ZodMiniType<History> = z.lazy(() =>
  z.object({
    created: z.optional(z.string()),
    created_by: z.optional(z.string()),
    author: z.optional(z.string()),
    comment: z.optional(z.string()),
    empty_layer: z.optional(z.boolean()),
  })
);

/** An OCI image config (Docker's image JSON), keeping fields img does not know. */
export interface ImageConfig {
  /** When the image was created (RFC 3339). */
  created?: string;
  /** The author. */
  author?: string;
  /** The CPU architecture. */
  architecture: string;
  /** The operating system. */
  os: string;
  /** The OS version. */
  "os.version"?: string;
  /** Required OS features. */
  "os.features"?: string[];
  /** The CPU variant. */
  variant?: string;
  /** What a container runs with. */
  config?: ContainerConfig;
  /** The layers' uncompressed digests. */
  rootfs: { type: "layers"; diff_ids: string[] };
  /** How the image was made. */
  history?: History[];
  /** Fields img does not know. */
  [key: string]: unknown;
}

/** An OCI image config. */
export const imageConfigSchema: z.ZodMiniType<ImageConfig> = z.lazy(() =>
  z.looseObject({
    created: z.optional(z.string()),
    author: z.optional(z.string()),
    architecture: z.string(),
    os: z.string(),
    "os.version": z.optional(z.string()),
    "os.features": z.optional(z.array(z.string())),
    variant: z.optional(z.string()),
    config: z.optional(containerConfigSchema),
    rootfs: z.object({
      type: z.literal("layers"),
      diff_ids: z.array(z.string()),
    }),
    history: z.optional(z.array(historySchema)),
  })
);

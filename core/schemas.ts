/**
 * Zod schemas for OCI and Docker image manifests, indexes and configs.
 *
 * @module
 */
import { z } from "zod";

/** An OCI platform. */
export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});

/** An OCI platform. */
export type OciPlatform = z.infer<typeof platformSchema>;

/** An OCI content descriptor. */
export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be a sha256 digest"),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
  artifactType: z.string().optional(),
});

/** An OCI content descriptor. */
export type Descriptor = z.infer<typeof descriptorSchema>;

/** An OCI image manifest or Docker schema 2 manifest. */
export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** An OCI image manifest or Docker schema 2 manifest. */
export type Manifest = z.infer<typeof manifestSchema>;

/** An OCI image index or Docker manifest list. */
export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** An OCI image index or Docker manifest list. */
export type Index = z.infer<typeof indexSchema>;

/** A healthcheck in an image config. */
export const healthcheckSchema = z.object({
  Test: z.array(z.string()).optional(),
  Interval: z.number().optional(),
  Timeout: z.number().optional(),
  StartPeriod: z.number().optional(),
  StartInterval: z.number().optional(),
  Retries: z.number().optional(),
});

/** The `config` part of an image config: what a container runs with. */
export const containerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: z.record(z.string(), z.object({})).optional(),
  Env: z.array(z.string()).optional(),
  Entrypoint: z.array(z.string()).nullable().optional(),
  Cmd: z.array(z.string()).nullable().optional(),
  Volumes: z.record(z.string(), z.object({})).optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).optional(),
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
  Healthcheck: healthcheckSchema.optional(),
  OnBuild: z.array(z.string()).nullable().optional(),
  Shell: z.array(z.string()).optional(),
});

/** The `config` part of an image config. */
export type ContainerConfig = z.infer<typeof containerConfigSchema>;

/** One history entry of an image config. */
export const historySchema = z.object({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});

/** One history entry of an image config. */
export type History = z.infer<typeof historySchema>;

/** An OCI image config (Docker's image JSON), keeping fields img does not know. */
export const imageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: containerConfigSchema.optional(),
  rootfs: z.object({
    type: z.literal("layers"),
    diff_ids: z.array(z.string()),
  }),
  history: z.array(historySchema).optional(),
});

/** An OCI image config. */
export type ImageConfig = z.infer<typeof imageConfigSchema>;

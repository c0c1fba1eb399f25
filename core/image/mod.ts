/**
 * Images in the content store, for img's own packages (`@img/core/image`): loading and
 * parsing manifests and indexes, writing a built image's config and manifest, the zod
 * schemas of the OCI documents, and choosing a platform's manifest from an index.
 *
 * Plugin authors use the types of these documents from `@img/core`; this subpath is
 * internal and may change in any release.
 *
 * ```ts ignore
 * import { loadImage } from "@img/core/image";
 *
 * const image = await loadImage(content, record.target, platform);
 * ```
 *
 * @module
 */
export * from "./image.ts";
export * from "./build_image.ts";
export * from "./store.ts";
export * from "./remote_blobs.ts";
export * from "./base_image.ts";
export * from "../content/store.ts";
export {
  containerConfigSchema,
  descriptorSchema,
  healthcheckSchema,
  historySchema,
  imageConfigSchema,
  indexSchema,
  manifestSchema,
  platformSchema,
} from "../schemas.ts";
export { selectPlatformManifest } from "../platform.ts";

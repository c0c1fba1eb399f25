/**
 * The OCI distribution registry client (`@img/core/registry`): pull and push images between
 * registries and the content store.
 *
 * Internal to img's own packages; it may change in any release.
 *
 * ```ts ignore
 * const client = new RegistryClient({ credentials });
 * const result = await pull(client, parseReference("busybox"), store, {
 *   choose: platformChooser({ os: "linux", architecture: "amd64" }),
 * });
 * ```
 *
 * @module
 */
export {
  type FetchBlobResult,
  type FetchedManifest,
  type ManifestChooser,
  type PushBlobOptions,
  type PushBlobResult,
  RegistryClient,
  type RegistryClientOptions,
  type ResolvedImage,
} from "./client.ts";
export { type Challenge, parseChallenges } from "./challenge.ts";
export { Authenticator, basicAuthorization, pullScope, pushScope } from "./auth.ts";
export { describeErrorBody, RegistryError, type RegistryErrorOptions } from "./errors.ts";
export {
  platformChooser,
  pull,
  pullAllPlatforms,
  type PullAllResult,
  type PullOptions,
  type PullResult,
  push,
  type PushOptions,
  type RemoteBlobStore,
  type TransferProgress,
} from "./transfer.ts";
export {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  type RetryPolicy,
  retryPolicyFromEnv,
} from "./_retry.ts";
export { DOCKER_HUB_API_HOST, isLoopbackHost, registryHost } from "../reference.ts";

/**
 * Sources of the build graph besides images and the local context (`@img/core/source`):
 * git repositories (`ADD https://host/repo.git#ref:subdir`, a git URL as the build context).
 *
 * Internal to img's own packages (the Dockerfile frontend, the CLI, the solver). It may
 * change in any release.
 *
 * @module
 */
export { type GitRef, isCommitSHA, isGitURL, parseGitRef, redactURL } from "./git_url.ts";
export {
  GIT_SCHEME,
  gitCacheKey,
  GitClient,
  type GitClientOptions,
  gitSourceName,
  gitSourceOp,
  type GitSourceSpec,
  gitSpecOf,
  isGitSourceOp,
  type ResolvedRef,
} from "./git.ts";

/**
 * What img needs from its host, in one table ({@linkcode PREREQUISITES}), and the checks that
 * `img doctor` prints and the set-up of `deno task demo` and `deno task test` runs.
 *
 * @module
 */

export {
  checkBinfmt,
  checkFuseDevice,
  checkHost,
  type CheckHostOptions,
  checkPrerequisite,
  type CheckResult,
  checkRootless,
  checkTunDevice,
  foreignArchitectures,
  installCommand,
  type Need,
  type PackageNames,
  type Prerequisite,
  PREREQUISITES,
  problemLine,
  type Purpose,
  requiredFor,
} from "./prerequisites.ts";

/**
 * How a command's definition loads its action: the action module is a dynamic `import()`,
 * so that only the command that runs loads its implementation, and `IMG_TRACE=1` shows the
 * time it takes as the phase `module load (command action)`.
 *
 * @module
 */
import { span } from "@img/core/trace";

/** Awaits a command's action module, `import("./_NAME_action.ts")`, as a traced phase. */
export async function loadAction<M>(module: Promise<M>): Promise<M> {
  using _trace = span("module load (command action)");
  return await module;
}

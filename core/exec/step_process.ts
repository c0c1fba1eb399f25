/**
 * The host side of a step's process: whether an img process still runs, its output pumped
 * to the step's callbacks, its exit status as a shell reports it.
 *
 * @module
 */

/**
 * The start time of process `pid` (field 22 of `/proc/<pid>/stat`), or undefined if it is
 * gone or a zombie that nobody reaped yet: with the pid, it names a process for good.
 */
export function processStart(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** A step's exit code: its own, or 128+n when signal n killed it. */
export function exitCode(status: Deno.CommandStatus): number {
  if (status.signal) return 128 + (SIGNALS[status.signal] ?? 0);
  return status.code;
}

/** Hands every chunk of `stream` to `sink`. */
export async function pump(
  stream: ReadableStream<Uint8Array>,
  sink: (chunk: Uint8Array) => void,
): Promise<void> {
  for await (const chunk of stream) sink(chunk);
}

/** A random container id, `img-` and 16 hex digits. */
export function randomStepId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "img-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Progress of blob transfers (pull, push): a live line on a terminal, debug lines otherwise.
 *
 * @module
 */
import type { TransferProgress } from "@img/core/registry";
import { bytesSize } from "./units.ts";

/** Shows how far a pull or push has got. */
export class TransferReporter {
  #verb: string;
  #debug: (msg: string) => void;
  #blobs = new Map<string, TransferProgress>();
  #tty = Deno.stderr.isTerminal();
  #last = 0;

  /** Creates a reporter; `verb` is `Pulling` or `Pushing`. */
  constructor(verb: string, debug: (msg: string) => void) {
    this.#verb = verb;
    this.#debug = debug;
  }

  /** Takes one progress event. */
  update = (event: TransferProgress): void => {
    const before = this.#blobs.get(event.descriptor.digest)?.status;
    this.#blobs.set(event.descriptor.digest, event);
    if (before !== event.status && event.status !== "transferring") {
      this.#debug(
        `${event.descriptor.digest.slice(7, 19)}: ${event.status} (${
          bytesSize(event.descriptor.size)
        })`,
      );
    }
    if (!this.#tty) return;
    const now = Date.now();
    if (now - this.#last < 100 && event.status === "transferring") return;
    this.#last = now;
    let done = 0, total = 0, finished = 0;
    for (const b of this.#blobs.values()) {
      done += b.bytes;
      total += b.descriptor.size;
      if (b.status !== "waiting" && b.status !== "transferring") finished++;
    }
    const line = `${this.#verb} ${finished}/${this.#blobs.size} blobs, ${bytesSize(done)} of ${
      bytesSize(total)
    }`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
  };

  /** Clears the live line. */
  done(): void {
    if (this.#tty && this.#blobs.size) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  }
}

/**
 * Errors that point at a line of a Dockerfile.
 *
 * @module
 */
import { ImgError } from "@img/core";

/**
 * An error in a Dockerfile, with the file name and line it comes from. Its message starts with
 * `file:line:` as compilers print it (`Dockerfile:3: unknown instruction: FORM`); the detail
 * keeps BuildKit's wording so users can search for it.
 */
export class DockerfileError extends ImgError {
  /** The error without its location, in BuildKit's words. */
  readonly detail: string;
  /** The name of the Dockerfile as the user gave it (`Dockerfile`, `build/app.Dockerfile`). */
  readonly file: string;
  /** The first line (1-based) of the instruction at fault, or 0 when no line applies. */
  readonly line: number;
  /** The last line (1-based) of the instruction at fault (continuations, heredocs). */
  readonly endLine: number;

  /** Creates an error for `detail` at `file:line` (`line` 0 means the whole file). */
  constructor(
    detail: string,
    file: string,
    line: number,
    endLine: number = line,
    options?: ErrorOptions,
  ) {
    super(line > 0 ? `${file}:${line}: ${detail}` : `${file}: ${detail}`, options);
    this.name = "DockerfileError";
    this.detail = detail;
    this.file = file;
    this.line = line;
    this.endLine = Math.max(endLine, line);
  }
}

/**
 * An error in one instruction, before the file name and line are attached; the parser
 * turns it into a {@link DockerfileError}; {@link parseInstruction} throws it.
 */
export class InstructionError extends ImgError {
  /** Creates an instruction error with BuildKit's wording. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InstructionError";
  }
}

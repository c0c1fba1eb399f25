/**
 * Errors that img reports to the user as one line, without a stack trace.
 *
 * @module
 */

/** An error whose message is meant for the user: the CLI prints it as one line and exits 1. */
export class ImgError extends Error {
  /** Creates an error with a user-facing message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ImgError";
  }
}

/** Something the user named (an image, a blob, a stage) does not exist. */
export class NotFoundError extends ImgError {
  /** Creates a not-found error with a user-facing message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotFoundError";
  }
}

/** Content did not match the digest it was expected to have. */
export class DigestMismatchError extends ImgError {
  /** Creates a digest mismatch error for the expected and the actual digest. */
  constructor(readonly expected: string, readonly actual: string) {
    super(`Content digest mismatch: expected ${expected}, got ${actual}`);
    this.name = "DigestMismatchError";
  }
}

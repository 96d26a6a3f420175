/**
 * Errors a user can act on: the CLI prints their message and hint, without a stack trace,
 * and exits with their code.
 */
export class UserFacingError extends Error {
  override readonly name: string = 'UserFacingError';
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint?: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}

/** A receiver cannot start on this host: privileges, BTF, tracefs, kernel features. */
export class SetupError extends UserFacingError {
  override readonly name = 'SetupError';
}

/**
 * Typed errors. Each carries the context an operator needs to act on it
 * (migration id, file, field, SQLSTATE) and an exit code for the CLI.
 */

export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

export interface ErrorContext {
  migrationId?: string;
  setId?: string;
  file?: string;
  field?: string;
  line?: number;
  column?: number;
  sqlstate?: string;
  runId?: string;
  variable?: string;
}

export abstract class MigratorError extends Error {
  abstract readonly exitCode: number;
  readonly context: ErrorContext;

  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.context = context;
  }

  /** One line an operator can read: message plus the context that locates it. */
  describe(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    return where ? `${this.message} (${where})` : this.message;
  }
}

/** Something the operator supplied is wrong: nothing was applied. */
export class BadInputError extends MigratorError {
  override readonly name: string = 'BadInputError';
  readonly exitCode = EXIT_BAD_INPUT;
}

export class ConfigError extends BadInputError {
  override readonly name = 'ConfigError';
}

export class DefinitionError extends BadInputError {
  override readonly name = 'DefinitionError';
}

export class PlanError extends BadInputError {
  override readonly name = 'PlanError';
}

export class DriftError extends BadInputError {
  override readonly name = 'DriftError';
}

/** An operation against the database or the queues failed. */
export class OperationError extends MigratorError {
  override readonly name: string = 'OperationError';
  readonly exitCode = EXIT_FAILED;
}

/** The worker is shutting down: the job is given back, and resumes from its checkpoint elsewhere. */
export class ShutdownError extends OperationError {
  override readonly name = 'ShutdownError';
}

export class ValidationFailedError extends OperationError {
  override readonly name = 'ValidationFailedError';
}

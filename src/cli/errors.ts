/**
 * @module cli/errors
 * The errors of the `snapdisk` client commands and their exit codes (az's, plus 2 for usage):
 *
 *   0 ok · 1 error · 2 usage error (bad or missing option) · 3 not found (a resource the server
 *   does not have: ResourceNotFound, ResourceGroupNotFound, SubscriptionNotFound, NotFound)
 *
 * A `CliError` carries the server's error code and message (ARM CloudError or storage error) and
 * a hint of what to do next; `formatError` prints it the way az does (`ERROR: (Code) message`,
 * then `Code:` and `Message:` lines) followed by `Hint:`.
 */

export const ExitCode = { ok: 0, error: 1, usage: 2, notFound: 3 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const NOT_FOUND_CODES = new Set(['ResourceNotFound', 'ResourceGroupNotFound', 'SubscriptionNotFound', 'NotFound', 'BlobNotFound']);

export interface CliErrorOptions {
  /** The server's error code (`ResourceNotFound`, `OperationNotAllowed`, ...) or a local one. */
  code?: string;
  /** What to do about it. */
  hint?: string;
  /** HTTP status of the failed request, when there was one. */
  status?: number;
  /** The property the server blamed (`target` of a CloudError). */
  target?: string;
  exit?: ExitCodeValue;
  cause?: unknown;
}

export class CliError extends Error {
  readonly code: string | undefined;
  readonly hint: string | undefined;
  readonly status: number | undefined;
  readonly target: string | undefined;
  readonly exit: ExitCodeValue;

  constructor(message: string, opts: CliErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = opts.code;
    this.hint = opts.hint;
    this.status = opts.status;
    this.target = opts.target;
    this.exit = opts.exit ?? (opts.code !== undefined && NOT_FOUND_CODES.has(opts.code) ? ExitCode.notFound : ExitCode.error);
  }

  /** A copy with another hint (keeps everything else). */
  withHint(hint: string): CliError {
    return new CliError(this.message, { ...this.options(), hint });
  }

  private options(): CliErrorOptions {
    return {
      ...(this.code !== undefined ? { code: this.code } : {}),
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.target !== undefined ? { target: this.target } : {}),
      exit: this.exit,
    };
  }
}

/** A usage error (exit 2): the message names the option. */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, { code: 'UsageError', exit: ExitCode.usage, ...(hint !== undefined ? { hint } : {}) });
}

/** True for errors meaning "the server has no such resource". */
export function isNotFound(err: unknown): boolean {
  return err instanceof CliError && err.exit === ExitCode.notFound;
}

/** az's error layout, plus the hint. */
export function formatError(err: CliError): string {
  if (err.code === 'UsageError') {
    return `ERROR: usage error: ${err.message}\n${err.hint !== undefined ? `Hint: ${err.hint}\n` : ''}`;
  }
  const lines: string[] = [];
  if (err.code !== undefined && err.status !== undefined) {
    lines.push(`ERROR: (${err.code}) ${err.message}`, `Code: ${err.code}`, `Message: ${err.message}`);
    if (err.target !== undefined) lines.push(`Target: ${err.target}`);
  } else {
    lines.push(`ERROR: ${err.message}`);
  }
  if (err.hint !== undefined) lines.push(`Hint: ${err.hint}`);
  return `${lines.join('\n')}\n`;
}

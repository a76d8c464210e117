/**
 * Connection errors of the protocol layer, named after the Python OSError
 * subclasses asyncio raises, with Node's error codes. Like every SSLError and
 * every Node system error they count as "OS errors": reported to the
 * connection, never to the loop's exception handler.
 */
import { SSLError } from '../ssl/errors';

export class ConnectionError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The peer went away (EOF or reset) before the connection was established. */
export class ConnectionResetError extends ConnectionError {
  constructor(message = 'Connection lost') {
    super(message, 'ECONNRESET');
  }
}

/** We gave up on the connection, e.g. a handshake that took too long. */
export class ConnectionAbortedError extends ConnectionError {
  constructor(message = 'Connection aborted') {
    super(message, 'ECONNABORTED');
  }
}

/** An operation did not complete in time, e.g. the peer never answered close_notify. */
export class TimeoutError extends ConnectionError {
  constructor(message = 'Operation timed out') {
    super(message, 'ETIMEDOUT');
  }
}

/**
 * True for the errors asyncio treats as OSError: SSL errors, connection
 * errors and Node system errors (which carry `syscall` or an `E...` code).
 */
export function isOSError(error: unknown): boolean {
  if (error instanceof SSLError || error instanceof ConnectionError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { syscall, code } = error as { syscall?: unknown; code?: unknown };
  return typeof syscall === 'string' || (typeof code === 'string' && /^E[A-Z]+$/.test(code));
}

/**
 * The small slice of asyncio's event loop that the protocol layer needs,
 * implemented on Node's own loop. Tests may substitute a loop with a manual
 * clock (any object with these methods).
 */

export interface Handle {
  cancel(): void;
  cancelled(): boolean;
}

export interface ExceptionContext {
  message: string;
  exception?: unknown;
  transport?: unknown;
  protocol?: unknown;
  [key: string]: unknown;
}

export type ExceptionHandler = (loop: EventLoop, context: ExceptionContext) => void;

export interface EventLoop {
  /** Monotonic time in seconds. */
  time(): number;
  /** Runs `callback` on a later turn of the loop, in FIFO order. */
  callSoon(callback: () => void): Handle;
  /** Runs `callback` after `delay` seconds. */
  callLater(delay: number, callback: () => void): Handle;
  /** Reports an error that has no connection to go to. */
  callExceptionHandler(context: ExceptionContext): void;
  getDebug(): boolean;
}

class ImmediateHandle implements Handle {
  #immediate: NodeJS.Immediate | undefined;
  constructor(callback: () => void) {
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      callback();
    });
  }
  cancel(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }
  cancelled(): boolean {
    return this.#immediate === undefined;
  }
}

class TimerHandle implements Handle {
  #timer: NodeJS.Timeout | undefined;
  constructor(delay: number, callback: () => void) {
    // A pending timeout must not keep the process alive on its own: the
    // socket it guards does that while it is open.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      callback();
    }, Math.max(0, delay * 1000)).unref();
  }
  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
  cancelled(): boolean {
    return this.#timer === undefined;
  }
}

/** Logs to stderr: an error is never swallowed silently. */
export const defaultExceptionHandler: ExceptionHandler = (_loop, context) => {
  const { message, exception } = context;
  const detail = exception instanceof Error ? (exception.stack ?? String(exception)) : String(exception ?? '');
  process.emitWarning(`${message}${detail ? `\n${detail}` : ''}`, { code: 'MEMTLS_UNHANDLED' });
};

export class NodeEventLoop implements EventLoop {
  #handler: ExceptionHandler = defaultExceptionHandler;
  #debug = false;

  time(): number {
    return performance.now() / 1000;
  }

  callSoon(callback: () => void): Handle {
    return new ImmediateHandle(callback);
  }

  callLater(delay: number, callback: () => void): Handle {
    return new TimerHandle(delay, callback);
  }

  callExceptionHandler(context: ExceptionContext): void {
    try {
      this.#handler(this, context);
    } catch (error) {
      defaultExceptionHandler(this, { message: 'Unhandled error in exception handler', exception: error });
    }
  }

  /** Replaces the exception handler; `null` restores the default. */
  setExceptionHandler(handler: ExceptionHandler | null): void {
    this.#handler = handler ?? defaultExceptionHandler;
  }

  getDebug(): boolean {
    return this.#debug;
  }

  setDebug(on: boolean): void {
    this.#debug = on;
  }
}

let defaultLoop: NodeEventLoop | undefined;

/** The process-wide loop used when none is passed. */
export function getEventLoop(): NodeEventLoop {
  defaultLoop ??= new NodeEventLoop();
  return defaultLoop;
}

/** The waiter: how a connection tells whoever opened it that it is ready or has failed. */

/**
 * Told when a waiter settles, instead of (or as well as) through its promise;
 * in a microtask queued at that moment, never inside resolve()/reject().
 */
export interface WaiterListener {
  waiterResolved(): void;
  waiterRejected(error: unknown): void;
}

function ignoreRejection(): void {}

/**
 * Settled at most once (asyncio's waiter future). The promise is made the
 * first time someone asks for it, so a waiter only a listener watches (the
 * drop-in's, one per connection) costs no promise at all.
 */
export class Waiter {
  #promise: Promise<void> | null = null;
  #resolve: (() => void) | null = null;
  #reject: ((error: unknown) => void) | null = null;
  #settled = false;
  #error: unknown = undefined;
  #failed = false;
  readonly #listener: WaiterListener | null;

  constructor(listener: WaiterListener | null = null) {
    this.#listener = listener;
  }

  get promise(): Promise<void> {
    if (this.#promise === null) {
      if (this.#settled) {
        this.#promise = this.#failed ? Promise.reject(this.#error) : Promise.resolve();
      } else {
        this.#promise = new Promise<void>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
      }
      // A waiter nobody awaits must not become an unhandled rejection.
      this.#promise.catch(ignoreRejection);
    }
    return this.#promise;
  }

  get settled(): boolean {
    return this.#settled;
  }

  resolve(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve?.();
    const listener = this.#listener;
    if (listener !== null) queueMicrotask(() => listener.waiterResolved());
  }

  reject(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failed = true;
    this.#error = error;
    this.#reject?.(error);
    const listener = this.#listener;
    if (listener !== null) queueMicrotask(() => listener.waiterRejected(error));
  }
}

/** The waiter: how a connection tells whoever opened it that it is ready or has failed. */

/** A promise with its settle functions, settled at most once (asyncio's waiter future). */
export class Waiter {
  readonly promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  #settled = false;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A waiter nobody awaits must not become an unhandled rejection.
    this.promise.catch(() => undefined);
  }

  get settled(): boolean {
    return this.#settled;
  }

  resolve(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve();
  }

  reject(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }
}

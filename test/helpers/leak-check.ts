/**
 * Leak checks with WeakRef and a forced collection (tests run with
 * --expose-gc). An object is "collectable" when, after a few collections on
 * separate turns of the loop (so pending immediates, timers that were
 * cleared and promise jobs have let go of it), its WeakRef is empty.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** A named weak reference, so a failure can say what survived. */
export interface Tracked {
  name: string;
  ref: WeakRef<object>;
}

export function track(name: string, target: object): Tracked {
  return { name, ref: new WeakRef(target) };
}

function forceGc(): void {
  const gc = (global as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('leak checks need node --expose-gc (set in .mocharc.js)');
  gc();
}

/**
 * Collects garbage up to `rounds` times, one loop turn apart, and returns
 * the names of the tracked objects still alive (empty when all were freed).
 */
export async function survivors(tracked: Tracked[], rounds = 6): Promise<string[]> {
  let alive = tracked;
  for (let round = 0; round < rounds && alive.length > 0; round++) {
    await nextTurn();
    forceGc();
    alive = alive.filter(({ ref }) => ref.deref() !== undefined);
  }
  return alive.map(({ name }) => name);
}

/**
 * Child process for the native-size tests.
 *
 *   hold:    run under --trace-incremental-marking: opens 2,000 client
 *            SSLObjects and keeps them all. Their reported size (48 KiB
 *            each, about 94 MiB) passes V8's external-memory limit, so V8
 *            starts marking for external memory pressure.
 *   account: run under --expose-gc: prints one JSON line with V8's total of
 *            reported external memory, relative to the start, after each
 *            step: 20 opened, 10 closed, one of them closed again, the other
 *            10 dropped unclosed and collected. A process of its own, so no
 *            other test's objects are collected in between.
 * Prints "native size <mode> done" last.
 */
import { native } from '../../lib/native';
import { MemoryBIO, PROTOCOL_TLS_CLIENT, SSLContext, type SSLObject } from '../../lib';

const mode = process.argv[2];
const ctx = new SSLContext(PROTOCOL_TLS_CLIENT);

function open(count: number): SSLObject[] {
  const objects: SSLObject[] = [];
  for (let i = 0; i < count; i++) {
    objects.push(ctx.wrapBio(new MemoryBIO(), new MemoryBIO(), { serverHostname: 'localhost' }));
  }
  return objects;
}

async function account(): Promise<void> {
  const gc = (global as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const start = native.externalMemoryTotal();
  const reported = (): number => native.externalMemoryTotal() - start;
  const steps: Record<string, number> = { size: native.reportedNativeSize };
  let objects: SSLObject[] | null = open(20);
  steps.opened = reported();
  for (const ssl of objects.slice(0, 10)) ssl.close();
  steps.closed = reported();
  objects[0].close();
  steps.closedTwice = reported();
  objects = null;
  // Finalizers run after the collection, from the event loop: give them
  // turns until less than one object's size is left (node's own reports may
  // move the total by a few bytes meanwhile).
  for (let turn = 0; turn < 50 && Math.abs(reported()) >= native.reportedNativeSize / 2; turn++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  steps.collected = reported();
  console.log(JSON.stringify(steps));
}

async function main(): Promise<void> {
  if (mode === 'hold') {
    const held = open(2000);
    console.log(`native size hold done (${held.length} open)`);
  } else if (mode === 'account') {
    await account();
    console.log('native size account done');
  } else {
    throw new Error(`unknown mode ${String(mode)}`);
  }
}

void main();

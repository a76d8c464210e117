/**
 * Child process for the native-size test, run under
 * --trace-incremental-marking so V8 says why it starts marking.
 *
 *   hold:  opens 2,000 client SSLObjects and keeps them all. Their reported
 *          size (48 KiB each, about 94 MiB) passes V8's external-memory
 *          limit, so V8 starts marking for external memory pressure.
 *   cycle: opens 1,000 at a time and closes them, ten times over. Only
 *          about 47 MiB is ever reported at once, under the limit, so V8
 *          must never name external memory pressure; an SSLObject whose
 *          close() kept its report would add up to 470 MiB and trip it.
 * Prints "native size <mode> done" last.
 */
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

if (mode === 'hold') {
  const held = open(2000);
  console.log(`native size hold done (${held.length} open)`);
} else if (mode === 'cycle') {
  for (let round = 0; round < 10; round++) {
    for (const ssl of open(1000)) ssl.close();
  }
  console.log('native size cycle done');
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}

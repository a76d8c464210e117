/**
 * Child process for the GC test: creates and drops many live connections,
 * keeping only some SSLObjects while their contexts and BIOs become
 * unreachable, and forces collections in between. Prints "gc churn ok".
 */
import { randomBytes } from 'node:crypto';
import { clientContext, handshake, makePair, send, serverContext, type Pair } from './pair';

const gc = (global as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const kept: Pair['client']['ssl'][] = [];
for (let round = 0; round < 30; round++) {
  const pair = makePair(clientContext(), serverContext());
  handshake(pair);
  const data = randomBytes(4096);
  if (!send(pair.client, pair.server, data).equals(data)) throw new Error('data mismatch');
  if (round % 3 === 0) kept.push(pair.server.ssl);
  if (round % 5 === 0) pair.client.ssl.close();
  gc();
}
// Everything not kept is garbage now; the kept objects still answer.
gc();
for (const ssl of kept) {
  if (ssl.version() !== 'TLSv1.3') throw new Error('kept object lost its state');
  ssl.close();
}
gc();
console.log('gc churn ok');

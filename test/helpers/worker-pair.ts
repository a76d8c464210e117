/** Worker-thread body for the context-awareness test: a full pair in memory. */
import { parentPort, workerData } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { clientContext, handshake, makePair, send, serverContext } from './pair';

const pair = makePair(clientContext(), serverContext());
handshake(pair);
const data = randomBytes(256 * 1024);
if (!send(pair.client, pair.server, data).equals(data)) throw new Error('data mismatch in worker');
parentPort!.postMessage(`worker ${String(workerData)} ok`);

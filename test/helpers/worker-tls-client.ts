/**
 * Worker body for the worker-termination test: a memtls/tls client that
 * connects to the port it is given and keeps writing until terminated.
 * `workerData.stage` says when to report: 'connecting' (before the
 * handshake), 'secure' or 'transferring'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tls from '../../lib/tls';
import { readCert } from './certs';

const { port, stage } = workerData as { port: number; stage: 'connecting' | 'secure' | 'transferring' };
const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: readCert('ca.pem') });
socket.on('error', () => undefined);
if (stage === 'connecting') parentPort!.postMessage('ready');
socket.once('secureConnect', () => {
  if (stage === 'secure') parentPort!.postMessage('ready');
  const chunk = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  const pump = (): void => {
    while (socket.writable) {
      const more = socket.write(chunk);
      sent += chunk.length;
      // Writes leave for the socket on a later tick than write() accepts them:
      // report once they have (setImmediate runs after the ticks that hand them on).
      if (stage === 'transferring' && sent === 4 * chunk.length) setImmediate(() => parentPort!.postMessage('ready'));
      if (!more) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
});

/**
 * Terminating a worker thread that holds a live memtls/tls connection, before,
 * at and after the handshake: the process survives, the peer in the main
 * thread sees the connection end, and new connections still work.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { listen } from '../helpers/node-tls';

describe('worker termination mid-connection', () => {
  for (const stage of ['connecting', 'secure', 'transferring'] as const) {
    it(`survives a worker terminated while ${stage}, and serves the next client`, async () => {
      const closed: Array<Promise<unknown>> = [];
      let received = 0;
      const server = tls.createServer({ key: readCert('server-ec.key'), cert: readCert('server-ec.pem'), handshakeTimeout: 2000 }, (socket) => {
        socket.on('data', (chunk: Buffer) => (received += chunk.length));
        socket.on('error', () => undefined);
      });
      // Not events.once: it would reject on the reset's 'error', which is expected here.
      server.on('connection', (raw) => closed.push(new Promise((resolve) => raw.once('close', resolve))));
      server.on('tlsClientError', () => undefined);
      const port = await listen(server);

      const worker = new Worker(path.join(__dirname, '..', 'helpers', 'worker-tls-client.js'), { workerData: { port, stage } });
      const [message] = (await once(worker, 'message')) as [string];
      expect(message).to.equal('ready');
      await worker.terminate();

      // The server side of that connection ends (the worker's socket went with it).
      if (stage !== 'connecting' || closed.length > 0) await Promise.all(closed);
      if (stage === 'transferring') expect(received).to.be.greaterThan(0);

      // A fresh connection from the main thread still works.
      const client = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: readCert('ca.pem') });
      await once(client, 'secureConnect');
      expect(client.authorized).to.equal(true);
      client.destroy();
      await once(client, 'close');
    });
  }
});

/** The addon itself: which OpenSSL it runs on, worker threads, the fast path. */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { opensslVersion } from '../../lib';
import { native, Slot, Status, StatusFlag } from '../../lib/native';
import { clientContext, makePair, readAll, serverContext, type Endpoint } from '../helpers/pair';

describe('native addon', () => {
  it("runs on node's own OpenSSL", () => {
    expect(opensslVersion).to.equal(process.versions.openssl);
    expect(native.opensslVersionText).to.include(process.versions.openssl);
  });

  it('loads and works in several worker threads at once', async function () {
    this.timeout(60000);
    const script = path.join(__dirname, '..', 'helpers', 'worker-pair.js');
    const results = await Promise.all(
      [1, 2, 3, 4].map(
        (n) =>
          new Promise<string>((resolve, reject) => {
            const worker = new Worker(script, { workerData: n });
            worker.once('message', resolve);
            worker.once('error', reject);
            worker.once('exit', (code) => {
              if (code !== 0) reject(new Error(`worker exited with ${code}`));
            });
          }),
      ),
    );
    expect(results).to.deep.equal(['worker 1 ok', 'worker 2 ok', 'worker 3 ok', 'worker 4 ok']);
  });

  describe('fast path', () => {
    const shared = native.sharedState;

    /** Drives a handshake with receive()/drain() only, as the protocol layer does. */
    function fastHandshake(client: Endpoint, server: Endpoint): void {
      const wire = Buffer.alloc(64 * 1024);
      const plain = Buffer.alloc(16 * 1024);
      let status = client.ssl.engine.handshake();
      let clientDone = false;
      let serverDone = false;
      for (let i = 0; i < 10 && !(clientDone && serverDone); i++) {
        let n = client.ssl.engine.drain(wire, 0, wire.length);
        status = server.ssl.engine.receive(wire.subarray(0, n), plain, 0, plain.length);
        if (status & StatusFlag.HandshakeDone) serverDone = true;
        expect(status & StatusFlag.Mask).to.be.oneOf([Status.Ok, Status.WantRead]);
        n = server.ssl.engine.drain(wire, 0, wire.length);
        status = client.ssl.engine.receive(wire.subarray(0, n), plain, 0, plain.length);
        if (status & StatusFlag.HandshakeDone) clientDone = true;
        expect(status & StatusFlag.Mask).to.be.oneOf([Status.Ok, Status.WantRead]);
      }
      expect(clientDone && serverDone).to.equal(true);
    }

    it('coalesces a batch of small writes into full records and decrypts a whole chunk per call', () => {
      const pair = makePair(clientContext(), serverContext());
      fastHandshake(pair.client, pair.server);
      const chunks = Array.from({ length: 64 }, () => randomBytes(1024));
      const wire = Buffer.alloc(256 * 1024);
      const status = pair.client.ssl.engine.send(chunks, wire, 0, wire.length);
      expect(status & StatusFlag.Mask).to.equal(Status.Ok);
      expect(shared[Slot.Bytes]).to.equal(64 * 1024);
      const cipherBytes = shared[Slot.OutBytes];
      // Four full 16 KiB records: 22 bytes of TLS 1.3 overhead each.
      expect(cipherBytes).to.equal(64 * 1024 + 4 * 22);
      expect(shared[Slot.Pending]).to.equal(0);

      const plain = Buffer.alloc(128 * 1024);
      const got = pair.server.ssl.engine.receive(wire.subarray(0, cipherBytes), plain, 0, plain.length);
      // All 64 KiB in one call, together with the status that ended it: no
      // second call is needed to learn that nothing more is buffered.
      expect(got & StatusFlag.Mask).to.equal(Status.WantRead);
      expect(shared[Slot.Bytes]).to.equal(64 * 1024);
      expect(plain.subarray(0, 64 * 1024).equals(Buffer.concat(chunks))).to.equal(true);
    });

    it('stops at the output window and resumes where it stopped', () => {
      const pair = makePair(clientContext(), serverContext());
      fastHandshake(pair.client, pair.server);
      const data = randomBytes(100 * 1024);
      const wire = Buffer.alloc(40 * 1024);
      const received: Buffer[] = [];
      const plain = Buffer.alloc(24 * 1024);
      let offset = 0;
      while (offset < data.length) {
        const status = pair.client.ssl.engine.send(data.subarray(offset), wire, 0, wire.length);
        expect(status & StatusFlag.Mask).to.equal(Status.Ok);
        offset += shared[Slot.Bytes];
        const out = shared[Slot.OutBytes];
        expect(out).to.be.at.most(wire.length);
        // Decrypt through a window smaller than the data: loop with null chunks.
        let chunk: Buffer | null = wire.subarray(0, out);
        for (;;) {
          const got = pair.server.ssl.engine.receive(chunk, plain, 0, plain.length);
          chunk = null;
          const n = shared[Slot.Bytes];
          if (n > 0) received.push(Buffer.from(plain.subarray(0, n)));
          if ((got & StatusFlag.Mask) === Status.WantRead) break;
          expect(got & StatusFlag.Mask).to.equal(Status.Ok);
          if (n === 0) break;
        }
      }
      expect(Buffer.concat(received).equals(data)).to.equal(true);
    });

    it('returns error statuses instead of throwing, with the error available after', () => {
      const pair = makePair(clientContext(), serverContext());
      const plain = Buffer.alloc(1024);
      const status = pair.server.ssl.engine.receive(Buffer.from('GET / HTTP/1.1\r\n\r\n'), plain, 0, plain.length);
      expect(status & StatusFlag.Mask).to.equal(Status.Error);
      const error = pair.server.ssl.engine.takeError() as Error & { code?: string };
      expect(error.code).to.equal('ERR_SSL_HTTP_REQUEST');
    });

    it('gives back BIO memory that grew during a burst', () => {
      const pair = makePair(clientContext(), serverContext());
      fastHandshake(pair.client, pair.server);
      const burst = randomBytes(512 * 1024);
      pair.client.ssl.write(burst);
      pair.server.incoming.write(pair.client.outgoing.read());
      expect(readAll(pair.server).equals(burst)).to.equal(true);
      expect(pair.client.ssl.engine.shrinkBuffers(64 * 1024)).to.be.greaterThan(512 * 1024);
      expect(pair.client.ssl.engine.shrinkBuffers(64 * 1024)).to.equal(0);
      // Still a working connection on the new BIO.
      pair.client.ssl.write(Buffer.from('after shrink'));
      pair.server.incoming.write(pair.client.outgoing.read());
      expect((pair.server.ssl.read() as Buffer).toString()).to.equal('after shrink');
    });
  });
});

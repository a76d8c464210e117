/**
 * Node's own tests of a TLSSocket as a stream, re-expressed against
 * memtls/tls: pausing while the peer echoes, writing until write() returns
 * false, bufferSize, and the allowHalfOpen option.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';

const key = readCert('server-ec.key');
const cert = readCert('server-ec.pem');

async function connectTo(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const client = track(tls.connect({ port, host: HOST, rejectUnauthorized: false, ...options }));
  await once(client, 'secureConnect');
  return client;
}

describe('node tls: pause and resume', () => {
  // Ported from nodejs/node test/parallel/test-tls-pause.js
  it('delivers nothing while paused, then every echoed byte after resume()', async () => {
    const server = tls.createServer({ key, cert }, (socket) => socket.pipe(socket));
    const port = await listen(server);
    const client = await connectTo(port);
    const chunkSize = 1024 * 1024;
    let sent = 0;
    let received = 0;
    let resumed = false;
    let dataWhilePaused = false;
    client.pause();
    client.on('data', (chunk: Buffer) => {
      if (!resumed) dataWhilePaused = true;
      received += chunk.length;
    });
    // Write 1 MiB blocks until write() asks us to stop (at most 100 MiB).
    for (;;) {
      const more = client.write(Buffer.alloc(chunkSize, 0x61));
      sent += chunkSize;
      if (!more) break;
      expect(sent).to.be.below(100 * chunkSize);
      await new Promise<void>((resolve) => process.nextTick(resolve));
    }
    resumed = true;
    client.resume();
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (received < sent) return;
        client.off('data', check);
        resolve();
      };
      client.on('data', check);
    });
    expect(dataWhilePaused).to.equal(false);
    expect(received).to.equal(sent);
  });
});

describe('node tls: writing faster than the peer reads', () => {
  // Ported from nodejs/node test/parallel/test-tls-fast-writing.js
  it("write() eventually returns false, 'drain' follows, and the server gets Buffer chunks", async () => {
    let gotChunk!: () => void;
    const chunkSeen = new Promise<void>((resolve) => (gotChunk = resolve));
    let badChunk = false;
    const server = tls.createServer({ key, cert }, (socket) => {
      socket.on('data', (chunk: Buffer) => {
        if (!Buffer.isBuffer(chunk) || chunk.length === 0) badChunk = true;
        gotChunk();
      });
    });
    const port = await listen(server);
    const client = await connectTo(port);
    const chunk = Buffer.alloc(1024, 'x');
    let writes = 0;
    const fill = (): void => {
      while (client.write(chunk)) {
        writes++;
        // Far more than any sane buffer: write() never pushed back.
        if (writes > 64 * 1024) throw new Error('write() never returned false');
      }
    };
    const drained = once(client, 'drain');
    fill();
    await drained;
    await chunkSeen;
    expect(badChunk).to.equal(false);
  });
});

describe('node tls: bufferSize', () => {
  // Ported from nodejs/node test/parallel/test-tls-buffersize.js
  it('counts the bytes written and not yet flushed, and is 0 after finish', async () => {
    const iterations = 10;
    const server = tls.createServer({ key, cert });
    // Resolves with everything the server read, whenever its side is ready.
    const serverText = new Promise<string>((resolve) => {
      server.once('secureConnection', (socket: tls.TLSSocket) => {
        socket.setEncoding('utf8');
        let text = '';
        socket.on('data', (chunk: string) => (text += chunk));
        socket.once('end', () => resolve(text));
      });
    });
    const port = await listen(server);
    const client = await connectTo(port);
    expect(client.bufferSize).to.equal(0);
    const sizes: number[] = [];
    for (let i = 1; i < iterations; i++) {
      client.write('a');
      sizes.push(client.bufferSize);
    }
    expect(sizes).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const finished = once(client, 'finish');
    client.end();
    await finished;
    expect(client.bufferSize).to.equal(0);
    expect(await serverText).to.equal('a'.repeat(iterations - 1));
  });
});

describe('node tls: the allowHalfOpen option of TLSSocket', () => {
  // Ported from nodejs/node test/parallel/test-tls-socket-allow-half-open-option.js
  /** Errors the sockets report up to the next turn of the loop: wrapping alone must not fail. */
  async function errorsAfterATurn(...streams: NodeJS.EventEmitter[]): Promise<string[]> {
    const errors: string[] = [];
    for (const stream of streams) stream.on('error', (error: Error & { code?: string }) => errors.push(error.code ?? error.message));
    await new Promise<void>((resolve) => setImmediate(resolve));
    return errors;
  }

  it('is ignored when wrapping a net.Socket', async () => {
    const raw = track(new net.Socket());
    const socket = track(new tls.TLSSocket(raw, { allowHalfOpen: true }));
    expect(socket.allowHalfOpen).to.equal(false);
    expect(await errorsAfterATurn(raw, socket)).to.deep.equal([]);
  });

  it('is ignored when wrapping a generic Duplex', async () => {
    const duplex = track(new Duplex({ allowHalfOpen: false, read() {}, write: (_chunk, _encoding, callback) => callback() }));
    const socket = track(new tls.TLSSocket(duplex, { allowHalfOpen: true }));
    expect(socket.allowHalfOpen).to.equal(false);
    expect(await errorsAfterATurn(duplex, socket)).to.deep.equal([]);
  });

  it('defaults to false without a socket', () => {
    const socket = track(new tls.TLSSocket());
    expect(socket.allowHalfOpen).to.equal(false);
  });

  it('is honoured without a socket', () => {
    const socket = track(new tls.TLSSocket(undefined, { allowHalfOpen: true }));
    expect(socket.allowHalfOpen).to.equal(true);
  });
});

describe('node tls: the allowHalfOpen option of connect', () => {
  // Ported from nodejs/node test/parallel/test-tls-connect-allow-half-open-option.js
  it('defaults to false, also when given false', () => {
    const never = (): void => undefined; // a lookup that never answers: no connection is made
    const plain = track(tls.connect({ port: 42, lookup: never } as tls.ConnectionOptions));
    const explicit = track(tls.connect({ port: 42, allowHalfOpen: false, lookup: never } as tls.ConnectionOptions));
    expect(plain.allowHalfOpen).to.equal(false);
    expect(explicit.allowHalfOpen).to.equal(false);
  });

  it('with allowHalfOpen: true the client writes after the server has ended', async () => {
    let serverHeard: Promise<string> | undefined;
    const server = tls.createServer({ key, cert }, (socket) => {
      socket.setEncoding('utf8');
      serverHeard = new Promise((resolve) => {
        let text = '';
        socket.on('data', (chunk: string) => {
          text += chunk;
          if (text === 'Hello') {
            socket.end(text);
            text = '';
          }
        });
        socket.once('end', () => resolve(text));
      });
    });
    const port = await listen(server);
    const client = await connectTo(port, { allowHalfOpen: true });
    expect(client.allowHalfOpen).to.equal(true);
    client.setEncoding('utf8');
    let clientHeard = '';
    client.on('data', (chunk: string) => (clientHeard += chunk));
    const ended = once(client, 'end');
    client.write('Hello');
    await ended;
    expect(clientHeard).to.equal('Hello');
    // Our side is still open for writing after the server's end.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(client.writable).to.equal(true);
    expect(client.write('Bye')).to.equal(true);
    client.end();
    expect(await serverHeard).to.equal('Bye');
  });
});

/**
 * Node's own tests of a TLSSocket as a stream, re-expressed against
 * memtls/tls: pausing while the peer echoes, writing until write() returns
 * false, bufferSize, and the allowHalfOpen option.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { FLOW_CONTROL_HIGH_WATER_SSL_WRITE } from '../../lib/protocol';
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

describe('node tls: when a write completes', () => {
  /** A server that collects everything it reads, until the client ends. */
  async function collectingServer(): Promise<{ port: number; received: Promise<Buffer>; serverSide: Promise<tls.TLSSocket> }> {
    let gotSocket!: (socket: tls.TLSSocket) => void;
    const serverSide = new Promise<tls.TLSSocket>((resolve) => (gotSocket = resolve));
    const received = serverSide.then(async (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await once(socket, 'end');
      return Buffer.concat(chunks);
    });
    const server = tls.createServer({ key, cert }, (socket) => gotSocket(socket));
    return { port: await listen(server), received, serverSide };
  }

  // As on a net.Socket whose kernel takes the write whole, the stream keeps
  // nothing back (writableLength stays 0) while the connection has room.
  it('takes writes to a secure connection with room at once, and end() in the same tick still sends them all', async () => {
    const { port, received } = await collectingServer();
    const client = await connectTo(port);
    const sent: Buffer[] = [];
    const keptBack: number[] = [];
    const callbacks: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) {
      const chunk = Buffer.alloc(1024, i);
      sent.push(chunk);
      callbacks.push(new Promise((resolve, reject) => client.write(chunk, (error) => (error ? reject(error) : resolve()))));
      keptBack.push(client.writableLength);
    }
    expect(client.bufferSize).to.equal(200 * 1024);
    client.end();
    expect(keptBack.every((length) => length === 0)).to.equal(true);
    await Promise.all(callbacks);
    expect((await received).equals(Buffer.concat(sent))).to.equal(true);
  });

  it('sends writes it took at once before a destroy() in the same tick tears the connection down', async () => {
    let gotSocket!: (socket: tls.TLSSocket) => void;
    const serverSide = new Promise<tls.TLSSocket>((resolve) => (gotSocket = resolve));
    const server = tls.createServer({ key, cert }, (socket) => gotSocket(socket));
    const port = await listen(server);
    const client = await connectTo(port);
    const socket = await serverSide;
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The client reads everything the server sent (its session tickets come
    // first), so that its destroy() closes with nothing unread: no TCP reset.
    socket.write('x');
    await once(client, 'data');
    const sent = Buffer.alloc(64 * 1024, 0x63);
    client.write(sent);
    expect(client.writableLength).to.equal(0);
    client.destroy();
    await once(socket, 'close');
    expect(Buffer.concat(chunks).equals(sent)).to.equal(true);
  });

  it('does not take a write made during the handshake at once, and delivers it once secure', async () => {
    const { port, received } = await collectingServer();
    const client = track(tls.connect({ port, host: HOST, rejectUnauthorized: false }));
    let secured = false;
    client.once('secureConnect', () => (secured = true));
    client.write('early');
    const keptBack = client.writableLength;
    client.end();
    expect(keptBack).to.equal(5);
    expect((await received).toString()).to.equal('early');
    expect(secured).to.equal(true);
  });

  it('keeps writes back past the high-water mark, so a loop writing until false ends', async () => {
    const { port, received, serverSide } = await collectingServer();
    const client = await connectTo(port);
    (await serverSide).pause();
    const chunk = Buffer.alloc(1024, 0x62);
    let accepted = 0;
    let takenAtOnce = 0;
    for (;;) {
      const more = client.write(chunk);
      accepted += chunk.length;
      if (client.writableLength === 0) takenAtOnce = accepted;
      if (!more) break;
      // Far beyond any bound write() should have: it never pushed back.
      expect(accepted).to.be.below(64 * 1024 * 1024);
    }
    // The protocol layer's default write buffer limit, which the drop-in keeps.
    const highWater = FLOW_CONTROL_HIGH_WATER_SSL_WRITE * 1024;
    expect(takenAtOnce).to.be.above(0).and.at.most(highWater);
    expect(accepted).to.be.at.most(highWater + client.writableHighWaterMark + chunk.length);
    expect(client.bufferSize).to.equal(accepted);
    (await serverSide).resume();
    client.end();
    expect((await received).length).to.equal(accepted);
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

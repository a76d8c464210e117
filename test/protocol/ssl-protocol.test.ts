/**
 * SSLProtocol and its transport: construction rules, flow control in both
 * directions, and full exchanges over loopback sockets (sslproto-spec §2,
 * §3.2 T-S1, T-S2, T-S16; §5 PIT-1).
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as tls from 'node:tls';
import * as net from 'node:net';
import {
  addFlowcontrolDefaults,
  createConnection,
  createServer,
  FLOW_CONTROL_HIGH_WATER_SSL_READ,
  FLOW_CONTROL_HIGH_WATER_SSL_WRITE,
  SSL_HANDSHAKE_TIMEOUT,
  SSL_SHUTDOWN_TIMEOUT,
  SSLProtocol,
  SSLProtocolTransport,
  type Server,
  type Transport,
} from '../../lib/protocol';
import type { SSLObject } from '../../lib';
import { readCert } from '../helpers/certs';
import { clientContext, serverContext } from '../helpers/pair';
import { Deferred, RecordingProtocol, recordingLoop, until } from '../helpers/protocol';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('SSLProtocol construction and limits', () => {
  it('has asyncio constants', () => {
    expect(SSL_HANDSHAKE_TIMEOUT).to.equal(60);
    expect(SSL_SHUTDOWN_TIMEOUT).to.equal(30);
    expect(FLOW_CONTROL_HIGH_WATER_SSL_READ).to.equal(256);
    expect(FLOW_CONTROL_HIGH_WATER_SSL_WRITE).to.equal(512);
  });

  it('fills in flow-control defaults as add_flowcontrol_defaults does (SP-1)', () => {
    expect(addFlowcontrolDefaults(null, null, 512)).to.deep.equal([524288, 131072]);
    expect(addFlowcontrolDefaults(null, 1000, 512)).to.deep.equal([4000, 1000]);
    expect(addFlowcontrolDefaults(1000, null, 512)).to.deep.equal([1000, 250]);
    expect(addFlowcontrolDefaults(0, null, 512)).to.deep.equal([0, 0]);
    expect(addFlowcontrolDefaults(10, 5, 512)).to.deep.equal([10, 5]);
    expect(() => addFlowcontrolDefaults(5, 10, 512)).to.throw(RangeError, 'high (5) must be >= low (10) must be >= 0');
    expect(() => addFlowcontrolDefaults(null, -1, 512)).to.throw(RangeError);
  });

  it('rejects zero and negative timeouts (T-P1, T-P2)', () => {
    for (const value of [0, -10]) {
      expect(() => new SSLProtocol(null, new RecordingProtocol(), clientContext(), null, { serverHostname: 'localhost', sslHandshakeTimeout: value })).to.throw(
        RangeError,
        /sslHandshakeTimeout should be a positive number/,
      );
      expect(() => new SSLProtocol(null, new RecordingProtocol(), clientContext(), null, { serverHostname: 'localhost', sslShutdownTimeout: value })).to.throw(
        RangeError,
        /sslShutdownTimeout should be a positive number/,
      );
    }
  });

  it('requires a server name when the context checks hostnames, and accepts one (T-P12, T-P13, PIT-14)', () => {
    for (const serverHostname of [undefined, null, '']) {
      expect(() => new SSLProtocol(null, new RecordingProtocol(), clientContext(), null, { serverHostname })).to.throw(TypeError, /checkHostname requires serverHostname/);
    }
    expect(() => new SSLProtocol(null, new RecordingProtocol(), clientContext(), null, { serverHostname: 'example.org' })).not.to.throw();
    const relaxed = clientContext((ctx) => {
      ctx.checkHostname = false;
    });
    expect(() => new SSLProtocol(null, new RecordingProtocol(), relaxed, null, {})).not.to.throw();
  });

  it('reports default limits as [low, high] and validates new ones (SP-FC4)', () => {
    const protocol = new SSLProtocol(null, new RecordingProtocol(), serverContext(), null, { serverSide: true });
    const transport = protocol.appTransport!;
    expect(transport).to.be.instanceOf(SSLProtocolTransport);
    expect(transport.getWriteBufferLimits()).to.deep.equal([131072, 524288]);
    expect(transport.getReadBufferLimits()).to.deep.equal([65536, 262144]);
    transport.setWriteBufferLimits(1000);
    expect(transport.getWriteBufferLimits()).to.deep.equal([250, 1000]);
    transport.setReadBufferLimits(null, 100);
    expect(transport.getReadBufferLimits()).to.deep.equal([100, 400]);
    expect(() => transport.setWriteBufferLimits(1, 2)).to.throw(RangeError);
    expect(transport.getWriteBufferSize()).to.equal(0);
    expect(transport.canWriteEof()).to.equal(false);
    expect(transport.isReading()).to.equal(true);
    transport.pauseReading();
    expect(transport.isReading()).to.equal(false);
  });
});

describe('SSLProtocol over loopback sockets', () => {
  let server: Server | undefined;

  afterEach(async () => {
    if (server !== undefined) {
      server.closeClients();
      await server.waitClosed();
      server = undefined;
    }
  });

  it('serves many concurrent clients exchanging 1 MiB each way, with writelines (T-S1, T-S2)', async function () {
    this.timeout(60000);
    const clients = 10;
    const a = randomBytes(MiB);
    const b = randomBytes(MiB);
    const { loop, messages } = recordingLoop();
    server = await createServer(
      () => {
        const protocol = new RecordingProtocol();
        let stage = 0;
        protocol.onData = (_data, self) => {
          const total = self.chunks.reduce((n, c) => n + c.length, 0);
          if (stage === 0 && total >= MiB) {
            stage = 1;
            expect(self.received.subarray(0, MiB).equals(a)).to.equal(true);
            self.transport!.write(Buffer.from('OK'));
          } else if (stage === 1 && total >= 2 * MiB) {
            stage = 2;
            expect(self.received.subarray(MiB).equals(b)).to.equal(true);
            self.transport!.writelines([Buffer.from('SP'), new Uint8Array([0x41]), Buffer.from('M')]);
          }
        };
        return protocol;
      },
      { host: '127.0.0.1', port: 0, ssl: serverContext(), sslHandshakeTimeout: 10, loop },
    );
    const { port } = server.address();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
          host: '127.0.0.1',
          port,
          ssl: clientContext(),
          serverHostname: 'localhost',
          loop,
        });
        transport.write(a);
        expect((await protocol.receivedAtLeast(2)).toString()).to.equal('OK');
        transport.write(b);
        expect((await protocol.receivedAtLeast(6)).toString()).to.equal('OKSPAM');
        transport.close();
        expect(await protocol.lost.promise).to.equal(null);
        // Our close_notify is answered by the server's: asyncio reports that as eofReceived (SP-17).
        expect(protocol.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
      }),
    );
    expect(messages).to.deep.equal([]);
  });

  it('delivers eof then connectionLost(null) when the server shuts down cleanly (T-S16)', async () => {
    server = await createServer(
      () => {
        const protocol = new RecordingProtocol();
        protocol.onData = (_d, self) => {
          self.transport!.write(Buffer.from('OK'));
          self.transport!.close();
        };
        return protocol;
      },
      { host: '127.0.0.1', port: 0, ssl: serverContext() },
    );
    const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
      host: '127.0.0.1',
      port: server.address().port,
      ssl: clientContext(),
      serverHostname: 'localhost',
    });
    transport.write(Buffer.from('hi'));
    expect(await protocol.lost.promise).to.equal(null);
    expect(protocol.received.toString()).to.equal('OK');
    expect(protocol.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
  });

  it('pauses and resumes the application as large writes pile up, losing nothing', async function () {
    this.timeout(30000);
    // A node:tls server that does not read until told to.
    const received: Buffer[] = [];
    const gotAll = new Deferred<void>();
    const total = 8 * MiB;
    let serverSocket: tls.TLSSocket | undefined;
    const tlsServer = tls.createServer({ key: readCert('server-ec.key'), cert: readCert('server-ec.pem') }, (socket) => {
      serverSocket = socket;
      socket.pause();
      let count = 0;
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        count += chunk.length;
        if (count === total) gotAll.resolve();
      });
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    let client: Transport | undefined;
    try {
      const port = (tlsServer.address() as net.AddressInfo).port;
      const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
        host: '127.0.0.1',
        port,
        ssl: clientContext(),
        serverHostname: 'localhost',
      });
      client = transport;
      const data = randomBytes(total);
      for (let offset = 0; offset < total; offset += 256 * KiB) transport.write(data.subarray(offset, offset + 256 * KiB));
      // Nothing is read yet: once the kernel buffers are full the backlog
      // passes the high mark and the application is paused.
      await until(() => protocol.names.includes('pw') && serverSocket !== undefined, 'pauseWriting');
      expect(transport.getWriteBufferSize()).to.be.greaterThan(transport.getWriteBufferLimits()[1]);
      serverSocket!.resume();
      await gotAll.promise;
      await until(() => protocol.names.includes('rw'), 'resumeWriting');
      expect(Buffer.concat(received).equals(data)).to.equal(true);
      expect(transport.getWriteBufferSize()).to.equal(0);
      transport.close();
      await protocol.lost.promise;
    } finally {
      client?.abort();
      serverSocket?.destroy();
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    }
  });

  it('does not stall with a high water mark of 0 (PIT-1)', async () => {
    const echo = await createServer(
      () => {
        const protocol = new RecordingProtocol();
        protocol.onData = (data, self) => self.transport!.write(data);
        return protocol;
      },
      { host: '127.0.0.1', port: 0, ssl: serverContext() },
    );
    server = echo;
    const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
      host: '127.0.0.1',
      port: echo.address().port,
      ssl: clientContext(),
      serverHostname: 'localhost',
    });
    transport.setWriteBufferLimits(0);
    // Empty buffer with high = 0: not paused (asyncio pauses here and never resumes).
    expect((transport as SSLProtocolTransport).protocolPaused).to.equal(false);
    for (let i = 0; i < 5; i++) {
      transport.write(Buffer.from(`message ${i};`));
      expect((transport as SSLProtocolTransport).protocolPaused).to.equal(false);
    }
    const expected = Array.from({ length: 5 }, (_, i) => `message ${i};`).join('');
    expect((await protocol.receivedAtLeast(expected.length)).toString()).to.equal(expected);
    transport.close();
    await protocol.lost.promise;
  });

  it('stops reading the socket while the application pauses reading, and resumes intact (SP-FC2, SP-FC3)', async function () {
    this.timeout(30000);
    const total = 4 * MiB;
    const data = randomBytes(total);
    server = await createServer(
      () => {
        const protocol = new RecordingProtocol();
        protocol.onData = () => undefined;
        const originalMade = protocol.connectionMade.bind(protocol);
        protocol.connectionMade = (t: Transport) => {
          originalMade(t);
          t.write(data);
        };
        return protocol;
      },
      { host: '127.0.0.1', port: 0, ssl: serverContext() },
    );
    const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
      host: '127.0.0.1',
      port: server.address().port,
      ssl: clientContext(),
      serverHostname: 'localhost',
    });
    const sslTransport = transport as SSLProtocolTransport;
    transport.pauseReading();
    const before = protocol.chunks.length;
    const socket = transport.getExtraInfo('socket') as net.Socket;
    // The ciphertext piles up to the read high mark, then the socket is paused.
    await until(() => socket.isPaused(), 'socket paused');
    expect(protocol.chunks.length).to.equal(before);
    expect(sslTransport.getReadBufferSize()).to.be.at.least(sslTransport.getReadBufferLimits()[1]);
    transport.resumeReading();
    const all = await protocol.receivedAtLeast(total);
    expect(all.equals(data)).to.equal(true);
    transport.close();
    await protocol.lost.promise;
  });

  it('interoperates with a node:tls echo server over TLS 1.2 and RSA', async () => {
    const tlsServer = tls.createServer({ key: readCert('server-rsa.key'), cert: readCert('server-rsa.pem'), maxVersion: 'TLSv1.2' }, (socket) => {
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    try {
      const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
        host: '127.0.0.1',
        port: (tlsServer.address() as net.AddressInfo).port,
        ssl: clientContext(),
        serverHostname: 'localhost',
      });
      expect(transport.getExtraInfo('cipher')).to.satisfy((c: unknown[]) => c[1] === 'TLSv1.2');
      const payload = randomBytes(300 * KiB);
      transport.write(payload);
      expect((await protocol.receivedAtLeast(payload.length)).equals(payload)).to.equal(true);
      transport.close();
      expect(await protocol.lost.promise).to.equal(null);
    } finally {
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    }
  });
});

describe('SSLProtocol: the client\'s last handshake flight', () => {
  /**
   * A connected socket whose writes to the kernel are recorded: each call of
   * the stream's _write or _writev is one write system call's worth of bytes.
   */
  async function recordedSocket(port: number): Promise<{ socket: net.Socket; writes: number[] }> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const writes: number[] = [];
    const writeOne = socket._write.bind(socket);
    const writeMany = socket._writev!.bind(socket);
    socket._write = (chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) => {
      writes.push(chunk.length);
      writeOne(chunk, encoding, callback);
    };
    socket._writev = (chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void) => {
      writes.push(chunks.reduce((sum, entry) => sum + entry.chunk.length, 0));
      writeMany(chunks, callback);
    };
    return { socket, writes };
  }

  /** A node:tls echo server; close() also drops connections a failed test left open. */
  async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
    const accepted = new Set<tls.TLSSocket>();
    const tlsServer = tls.createServer({ key: readCert('server-ec.key'), cert: readCert('server-ec.pem'), minVersion: 'TLSv1.3' }, (socket) => {
      accepted.add(socket);
      socket.pipe(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    return {
      port: (tlsServer.address() as net.AddressInfo).port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of accepted) socket.destroy();
          tlsServer.close(() => resolve());
        }),
    };
  }

  /**
   * Connects a client through a recorded socket to a fresh echo server and
   * runs `body` right in the continuation of `await createConnection()`.
   */
  async function withRecordedClient(
    body: (client: { transport: Transport; protocol: RecordingProtocol; writes: number[] }) => Promise<void>,
    makeProtocol: () => RecordingProtocol = () => new RecordingProtocol(),
  ): Promise<void> {
    const peer = await echoServer();
    const { socket, writes } = await recordedSocket(peer.port);
    try {
      const [transport, protocol] = await createConnection(makeProtocol, { sock: socket, ssl: clientContext(), serverHostname: 'localhost' });
      await body({ transport, protocol, writes });
    } finally {
      socket.destroy();
      await peer.close();
    }
  }

  it('leaves with the first write made after `await createConnection()`, in one socket write', () =>
    withRecordedClient(async ({ transport, protocol, writes }) => {
      // Still waiting for this write, and not counted as the application's.
      expect(writes).to.have.length(1);
      expect(transport.getWriteBufferSize()).to.equal(0);
      transport.write(Buffer.from('ping'));
      expect((await protocol.receivedAtLeast(4)).toString()).to.equal('ping');
      // ClientHello, then Finished and the record carrying 'ping' together.
      expect(writes).to.have.length(2);
      transport.close();
      expect(await protocol.lost.promise).to.equal(null);
    }));

  it('leaves with the close_notify of a close() right after the handshake, in one socket write', () =>
    withRecordedClient(async ({ transport, protocol, writes }) => {
      transport.close();
      expect(await protocol.lost.promise).to.equal(null);
      expect(writes).to.have.length(2);
    }));

  /** Pauses reading in connectionMade, before the held Finished has left. */
  class PausingProtocol extends RecordingProtocol {
    override connectionMade(transport: Transport): void {
      super.connectionMade(transport);
      (transport as SSLProtocolTransport).pauseReading();
    }
  }

  for (const [when, makeProtocol] of [
    ['the application does nothing', () => new RecordingProtocol()],
    ['connectionMade paused reading', () => new PausingProtocol()],
  ] as const) {
    it(`goes out by itself at the end of the turn when ${when}`, () =>
      withRecordedClient(async ({ transport, protocol, writes }) => {
        await new Promise((resolve) => setImmediate(resolve));
        expect(writes).to.have.length(2);
        expect(transport.getWriteBufferSize()).to.equal(0);
        (transport as SSLProtocolTransport).resumeReading();
        // The server has the whole handshake: it answers application data.
        transport.write(Buffer.from('pong'));
        expect((await protocol.receivedAtLeast(4)).toString()).to.equal('pong');
        expect(writes).to.have.length(3);
        transport.close();
        expect(await protocol.lost.promise).to.equal(null);
      }, makeProtocol));
  }

  it('is counted in no buffer size inside connectionMade, and its buffer is given back once it has left', async () => {
    let sizeInConnectionMade = -1;
    class SizeProtocol extends RecordingProtocol {
      override connectionMade(transport: Transport): void {
        super.connectionMade(transport);
        sizeInConnectionMade = transport.getWriteBufferSize();
      }
    }
    await withRecordedClient(async ({ transport }) => {
      expect(sizeInConnectionMade).to.equal(0);
      const engine = (transport.getExtraInfo('sslObject') as SSLObject).engine;
      // The check phase of this turn comes before the server's answer can be
      // read: the handshake's buffers are as the handshake left them.
      await new Promise((resolve) => setImmediate(resolve));
      expect(engine.shrinkBuffers(0)).to.equal(0);
    }, () => new SizeProtocol());
  });

  it('is dropped with everything else by an abort() in that window, as node:tls drops it on destroy()', () =>
    withRecordedClient(async ({ transport, protocol, writes }) => {
      transport.abort();
      await protocol.lost.promise;
      await new Promise((resolve) => setImmediate(resolve));
      expect(writes).to.have.length(1);
    }));
});

describe('SSLProtocol decrypting into the socket\'s own chunks', () => {
  // The server's accepted sockets hand their reads over as the protocol's own
  // (ownedDataReceived), and SSLProtocol decrypts large ones in place. A relay
  // between a node:tls client and our server cuts the ciphertext into pieces
  // of at most 20,000 bytes: a read then often ends two records past where
  // the previous one left a partial record, so its plaintext is larger than
  // the chunk, and the rest is joined to it for one delivery. (Steady 64 KiB
  // reads of a stream of full records rarely overflow, hence the relay.)
  const PIECE = 20000;
  let server: Server | undefined;
  let relay: net.Server | undefined;

  afterEach(async () => {
    if (server !== undefined) {
      server.closeClients();
      await server.waitClosed();
      server = undefined;
    }
    if (relay !== undefined) {
      await new Promise<void>((resolve) => relay!.close(() => resolve()));
      relay = undefined;
    }
  });

  /** Forwards both ways; client to server in writes of at most PIECE bytes, one per millisecond. */
  async function rechunkingRelay(targetPort: number): Promise<number> {
    // Half-open both ways: the client's end() must not cut the server's answers off.
    relay = net.createServer({ allowHalfOpen: true }, (inbound) => {
      const outbound = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true, allowHalfOpen: true });
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      outbound.pipe(inbound);
      let held = Buffer.alloc(0);
      let ended = false;
      let pumping = false;
      const pump = (): void => {
        if (held.length > 0) {
          outbound.write(held.subarray(0, PIECE));
          held = held.subarray(PIECE);
          setTimeout(pump, 1);
        } else {
          pumping = false;
          if (ended) outbound.end();
        }
      };
      const kick = (): void => {
        if (!pumping) {
          pumping = true;
          pump();
        }
      };
      inbound.on('data', (chunk: Buffer) => {
        held = Buffer.concat([held, chunk]);
        kick();
      });
      inbound.on('end', () => {
        ended = true;
        kick();
      });
    });
    await new Promise<void>((resolve) => relay!.listen(0, '127.0.0.1', resolve));
    return (relay.address() as net.AddressInfo).port;
  }

  /** Our server's application: records deliveries, and how each relates to the chunk that brought it. */
  class InPlaceObserver extends RecordingProtocol {
    /** The memory of every chunk handed to the SSLProtocol as its own. */
    readonly ownedMemory = new WeakSet<ArrayBufferLike>();
    /** Deliveries made during each ownedDataReceived call. */
    readonly deliveriesPerChunk: number[] = [];
    inPlaceDeliveries = 0;
    /** Deliveries longer than the chunk that brought them: the overflow joined to the chunk. */
    joinedDeliveries = 0;
    #current = 0;
    #chunkLength = 0;
    #depth = 0;
    maxDepth = 0;
    /** Pause reading in each delivery of a chunk in place, resume on the next turn. */
    pauseAfterInPlace = false;
    /** Close the transport in the first delivery. */
    closeInFirst = false;
    paused = false;
    deliveredWhilePaused = 0;

    override connectionMade(transport: Transport): void {
      super.connectionMade(transport);
      const ssl = (transport as SSLProtocolTransport).sslProtocol!;
      const original = ssl.ownedDataReceived.bind(ssl);
      ssl.ownedDataReceived = (chunk: Buffer) => {
        this.ownedMemory.add(chunk.buffer);
        this.#current = 0;
        this.#chunkLength = chunk.length;
        original(chunk);
        this.deliveriesPerChunk.push(this.#current);
      };
    }

    override dataReceived(data: Buffer): void {
      this.#depth += 1;
      this.maxDepth = Math.max(this.maxDepth, this.#depth);
      this.#current += 1;
      if (this.paused) this.deliveredWhilePaused += 1;
      const inPlace = this.ownedMemory.has(data.buffer);
      if (inPlace) this.inPlaceDeliveries += 1;
      if (this.#current === 1 && data.length > this.#chunkLength) this.joinedDeliveries += 1;
      super.dataReceived(data);
      if (this.closeInFirst && this.chunks.length === 1) this.transport!.close();
      if (this.pauseAfterInPlace && inPlace) {
        this.paused = true;
        this.transport!.pauseReading();
        setImmediate(() => {
          this.paused = false;
          this.transport!.resumeReading();
        });
      }
      this.#depth -= 1;
    }
  }

  async function sendThroughRelay(observer: InPlaceObserver, data: Buffer, whole = true): Promise<Buffer> {
    server = await createServer(() => observer, { host: '127.0.0.1', port: 0, ssl: serverContext() });
    const port = await rechunkingRelay(server.address().port);
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readCert('ca.pem') });
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('secureConnect', () => resolve()));
    client.end(data);
    if (!whole) {
      await observer.lost.promise;
      client.destroy();
      return observer.received;
    }
    const got = await observer.receivedAtLeast(data.length);
    expect(got.length).to.equal(data.length);
    expect(got.equals(data)).to.equal(true);
    client.destroy();
    return got;
  }

  it('delivers every byte in order, in the chunk it came in, joining any overflow into one delivery', async function () {
    this.timeout(30000);
    const observer = new InPlaceObserver();
    await sendThroughRelay(observer, randomBytes(4 * MiB));
    expect(observer.inPlaceDeliveries).to.be.greaterThan(0);
    // Both shapes occurred: chunks whose plaintext fitted, and chunks whose plaintext had to be joined.
    expect(observer.joinedDeliveries).to.be.greaterThan(0);
    expect(Math.max(...observer.deliveriesPerChunk)).to.equal(1);
  });

  it('gives an application that pauses in a delivery nothing more until it resumes', async function () {
    this.timeout(30000);
    const observer = new InPlaceObserver();
    observer.pauseAfterInPlace = true;
    await sendThroughRelay(observer, randomBytes(2 * MiB));
    expect(observer.inPlaceDeliveries).to.be.greaterThan(0);
    expect(observer.deliveredWhilePaused).to.equal(0);
  });

  it('does not call dataReceived again from inside the call in which the application closes', async function () {
    this.timeout(30000);
    const observer = new InPlaceObserver();
    observer.closeInFirst = true;
    const sent = randomBytes(2 * MiB);
    const got = await sendThroughRelay(observer, sent, false);
    expect(observer.maxDepth).to.equal(1);
    expect(got.length).to.be.greaterThan(0);
    expect(got.equals(sent.subarray(0, got.length))).to.equal(true);
  });

  it('never writes into a chunk another listener of the socket was given', async function () {
    this.timeout(30000);
    const kept: Array<{ chunk: Buffer; copy: Buffer }> = [];
    const observer = new InPlaceObserver();
    const originalMade = observer.connectionMade.bind(observer);
    observer.connectionMade = (transport: Transport) => {
      originalMade(transport);
      const socket = transport.getExtraInfo('socket') as net.Socket;
      socket.on('data', (chunk: Buffer) => kept.push({ chunk, copy: Buffer.from(chunk) }));
    };
    await sendThroughRelay(observer, randomBytes(2 * MiB));
    expect(kept.length).to.be.greaterThan(0);
    expect(observer.inPlaceDeliveries).to.equal(0);
    for (const { chunk, copy } of kept) expect(chunk.equals(copy)).to.equal(true);
  });
});

describe('SSLProtocol: remaining asyncio scenarios', () => {
  let server: Server | undefined;

  afterEach(async () => {
    if (server !== undefined) {
      server.closeClients();
      await server.waitClosed();
      server = undefined;
    }
  });

  it('survives fatalError(null) (T-P4)', () => {
    const protocol = new SSLProtocol(null, new RecordingProtocol(), serverContext(), null, { serverSide: true });
    expect(() => protocol.fatalError(null)).not.to.throw();
  });

  it('refuses TLS-only options without ssl, and ssl=true for a server (§2.13, T-U12)', async () => {
    const factory = (): RecordingProtocol => new RecordingProtocol();
    for (const options of [{ serverHostname: 'x' }, { sslHandshakeTimeout: 1 }, { sslShutdownTimeout: 1 }]) {
      let caught: unknown;
      try {
        await createConnection(factory, { host: '127.0.0.1', port: 1, ...options });
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(TypeError);
      expect(String((caught as Error).message)).to.match(/only meaningful with ssl/);
    }
    let caught: unknown;
    try {
      await createServer(factory, { host: '127.0.0.1', port: 0, ssl: true as never });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(TypeError);
  });

  it('frees the SSLContext and protocols after a normal exchange and close (T-P16, T-S11)', async () => {
    const { track, survivors } = await import('../helpers/leak-check');
    server = await createServer(
      () => {
        const protocol = new RecordingProtocol();
        protocol.onData = (data, self) => {
          self.transport!.write(data);
          self.transport!.close();
        };
        return protocol;
      },
      { host: '127.0.0.1', port: 0, ssl: serverContext() },
    );
    const port = server.address().port;
    const tracked = await (async () => {
      const context = clientContext();
      const [transport, protocol] = await createConnection(() => new RecordingProtocol(), {
        host: '127.0.0.1',
        port,
        ssl: context,
        serverHostname: 'localhost',
      });
      transport.write(Buffer.from('ping'));
      expect(await protocol.lost.promise).to.equal(null);
      expect(protocol.received.toString()).to.equal('ping');
      return [track('client SSLContext', context), track('client protocol', protocol), track('client transport', transport)];
    })();
    expect(await survivors(tracked)).to.deep.equal([]);
  });

  it('closes an outer TLS transport carrying an inner SSLProtocol without errors (T-P7, gh-113214)', async () => {
    const { loop, messages } = recordingLoop();
    server = await createServer(
      () => {
        const protocol = new RecordingProtocol();
        protocol.onData = (_data, self) => self.transport!.write(Buffer.from('x'));
        return protocol;
      },
      { host: '127.0.0.1', port: 0, ssl: serverContext(), loop },
    );
    const [outer] = await createConnection(() => new RecordingProtocol(), {
      host: '127.0.0.1',
      port: server.address().port,
      ssl: clientContext(),
      serverHostname: 'localhost',
      loop,
    });
    // An inner SSLProtocol installed as the outer transport's application protocol.
    const inner = new SSLProtocol(loop, new RecordingProtocol(), clientContext(), null, { serverHostname: 'localhost' });
    outer.setProtocol(inner);
    inner.connectionMade(outer);
    expect(() => outer.close()).not.to.throw();
    await until(() => inner.state === 'UNWRAPPED', 'inner protocol closed');
    expect(messages).to.deep.equal([]);
  });
});

/**
 * startTls and the SSLProtocol over real loopback sockets: upgrades of plain
 * connections in both roles, TLS inside TLS, buffered protocols, flow control
 * at the moment of the upgrade, handshake timeouts and argument checks.
 * Peers are node:tls (upgrading a plain socket), our own createServer /
 * createConnection, or a hand-driven memtls SSLObject on a raw socket.
 */
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

import {
  ConnectionAbortedError,
  createConnection,
  createServer,
  startTls,
  type BufferedProtocolLike,
  type ProtocolLike,
  type Transport,
} from '../../lib/protocol';
import type { SSLContext } from '../../lib';
import { readCert, SERVER_NAME } from '../helpers/certs';
import { clientContext, serverContext } from '../helpers/pair';
import { Deferred, listenRaw, recordingLoop, RecordingProtocol, tick, until } from '../helpers/protocol';
import {
  Cleanups,
  connectRaw,
  endWithCloseNotify,
  HandDrivenTlsClient,
  HOST,
  readExactly,
  upgradeToNodeTlsClient,
  upgradeToNodeTlsServer,
} from '../helpers/starttls-peers';

/** CPython's PAYLOAD_SIZE / HELLO_MSG: 100 KiB. */
const PAYLOAD_SIZE = 100 * 1024;
/** CPython's A_DATA / B_DATA size: 1 MiB. */
const BIG_SIZE = 1024 * 1024;

const cleanups = new Cleanups();

afterEach(() => cleanups.run());

/** Random bytes, so any reordering, loss or duplication shows. */
function payload(size: number): Buffer {
  return crypto.randomBytes(size);
}

/** A plain TCP server whose sockets are destroyed at cleanup. */
async function rawServer(onSocket: (socket: net.Socket) => void): Promise<number> {
  const server = await listenRaw(onSocket);
  cleanups.add(server.close);
  return server.port;
}

/** The socket under a (possibly layered) transport, destroyed at cleanup. */
function ownSocket(transport: Transport): net.Socket {
  const socket = transport.getExtraInfo('socket') as net.Socket;
  expect(socket).to.be.instanceOf(net.Socket);
  cleanups.add(() => {
    socket.destroy();
  });
  return socket;
}

/**
 * Our plain createConnection to 127.0.0.1:port; resolves once the protocol's
 * connectionMade has run. (asyncio's create_connection resolves only after
 * connection_made; the dedicated ordering test below checks that our
 * createConnection does too, the other tests do not depend on it.)
 */
async function plainConnection<P extends ProtocolLike | BufferedProtocolLike>(
  port: number,
  protocol: P,
  loop: ReturnType<typeof recordingLoop>['loop'],
  made: () => boolean,
): Promise<Transport> {
  const [transport] = await createConnection(() => protocol, { host: HOST, port, loop });
  ownSocket(transport);
  await until(made, 'connectionMade');
  return transport;
}

/** True once a RecordingProtocol has seen connectionMade. */
function madeOf(proto: RecordingProtocol): () => boolean {
  return () => proto.events.some(([name]) => name === 'cm');
}

/** Settles with the rejection reason of `promise` (fails if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Event names without the flow-control ones. */
function lifecycle(names: string[]): string[] {
  return names.filter((name) => name !== 'pw' && name !== 'rw');
}

/**
 * A RecordingProtocol that also notes, at eofReceived, whether the socket
 * had already seen TCP FIN: false means the EOF came from the peer's TLS
 * close_notify, true means from the TCP FIN alone.
 */
class EofSourceProtocol extends RecordingProtocol {
  socketEndedAtEof: boolean | null = null;

  override eofReceived(): void {
    const socket = this.transport?.getExtraInfo('socket') as net.Socket | undefined;
    this.socketEndedAtEof = socket?.readableEnded ?? null;
    super.eofReceived();
  }
}

describe('protocol: startTls over real sockets', function () {
  this.timeout(10000);

  // T-P15 (SHUT_RDWR: the server ends with TCP FIN only) and T-S10 (the
  // server ends with close_notify): a plain exchange, then startTls on the
  // client with a regular Protocol.
  for (const ending of ['close_notify', 'tcp-fin'] as const) {
    const id = ending === 'close_notify' ? 'T-S10' : 'T-P15';
    it(`${id}: client startTls with a Protocol after a plain exchange; the server ends with ${ending}`, async () => {
      const { loop, messages } = recordingLoop();
      const hello = payload(PAYLOAD_SIZE);
      const secret = payload(PAYLOAD_SIZE);
      const server = new Deferred<{ plain: Buffer; overTls: Buffer }>();
      const port = await rawServer((socket) => {
        void (async () => {
          const plain = await readExactly(socket, hello.length);
          const peer = upgradeToNodeTlsServer(socket);
          await peer.secure;
          peer.socket.write('O');
          const overTls = await readExactly(peer.socket, secret.length);
          if (ending === 'close_notify') endWithCloseNotify(peer.socket);
          else peer.socket.destroy(); // FIN without close_notify
          server.resolve({ plain, overTls });
        })().catch((error: unknown) => server.reject(error));
      });

      const proto = new EofSourceProtocol();
      const transport = await plainConnection(port, proto, loop, madeOf(proto));
      transport.write(hello);
      const tlsTransport = await startTls(transport, proto, clientContext(), { serverHostname: SERVER_NAME, loop });
      expect(tlsTransport.getExtraInfo('sslcontext')).to.not.equal(undefined);
      expect(tlsTransport.getExtraInfo('cipher')).to.be.an('array');

      await proto.receivedAtLeast(1);
      expect(proto.received.toString()).to.equal('O');
      tlsTransport.write(secret);

      const got = await server.promise;
      expect(got.plain.equals(hello)).to.equal(true);
      expect(got.overTls.equals(secret)).to.equal(true);

      expect(await proto.lost.promise).to.equal(null);
      expect(lifecycle(proto.names)).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
      expect(proto.events.filter(([name]) => name === 'cm')).to.have.length(1);
      expect(proto.received.toString()).to.equal('O');
      // The EOF came from where the server said it would.
      expect(proto.socketEndedAtEof).to.equal(ending === 'tcp-fin');
      expect(tlsTransport.isClosing()).to.equal(true);
      expect(messages).to.deep.equal([]);
    });
  }

  // T-P15 / T-S10, the way CPython's client does it: `await create_connection`
  // (connection_made has run by then), then start_tls at once, with no turn of
  // the loop in between.
  it('T-P15 (ordering): connectionMade has run when createConnection resolves, so startTls can follow at once', async () => {
    const { loop, messages } = recordingLoop();
    const hello = payload(PAYLOAD_SIZE);
    const server = new Deferred<Buffer>();
    const port = await rawServer((socket) => {
      void (async () => {
        const plain = await readExactly(socket, hello.length);
        const peer = upgradeToNodeTlsServer(socket);
        await peer.secure;
        peer.socket.write('O');
        endWithCloseNotify(peer.socket);
        server.resolve(plain);
      })().catch((error: unknown) => server.reject(error));
    });

    const proto = new RecordingProtocol();
    const [transport, returned] = await createConnection(() => proto, { host: HOST, port, loop });
    ownSocket(transport);
    expect(returned).to.equal(proto);
    expect(proto.names, 'connectionMade before createConnection resolves').to.deep.equal(['cm']);
    expect(proto.transport).to.equal(transport);

    transport.write(hello);
    const tlsTransport = await startTls(transport, proto, clientContext(), { serverHostname: SERVER_NAME, loop });
    expect((await server.promise).equals(hello)).to.equal(true);
    expect(await proto.lost.promise).to.equal(null);
    expect(proto.received.toString()).to.equal('O');
    expect(lifecycle(proto.names)).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
    expect(tlsTransport.isClosing()).to.equal(true);
    expect(messages).to.deep.equal([]);
  });

  // T-P17 / T-S12: startTls with a BufferedProtocol handing out a 1-byte
  // buffer, then setProtocol() to a regular Protocol mid-connection.
  it('T-P17/T-S12: a BufferedProtocol with a 1-byte buffer, then setProtocol(Protocol)', async () => {
    const { loop, messages } = recordingLoop();
    const hello = payload(PAYLOAD_SIZE);
    const server = new Deferred<Buffer>();
    const port = await rawServer((socket) => {
      void (async () => {
        await readExactly(socket, hello.length);
        const peer = upgradeToNodeTlsServer(socket);
        await peer.secure;
        peer.socket.write('O');
        const overTls = await readExactly(peer.socket, hello.length);
        peer.socket.write('2');
        endWithCloseNotify(peer.socket);
        server.resolve(overTls);
      })().catch((error: unknown) => server.reject(error));
    });

    const oneByte = new Uint8Array(1);
    const buffered = {
      events: [] as string[],
      hints: [] as number[],
      bufferLengths: [] as number[],
      updates: [] as number[],
      data: [] as Buffer[],
      gotO: new Deferred(),
      connectionMade(): void {
        this.events.push('cm');
      },
      getBuffer(sizeHint: number): Uint8Array {
        this.hints.push(sizeHint);
        this.bufferLengths.push(oneByte.length);
        return oneByte;
      },
      bufferUpdated(nbytes: number): void {
        this.events.push('bu');
        this.updates.push(nbytes);
        this.data.push(Buffer.from(oneByte.subarray(0, nbytes)));
        if (Buffer.concat(this.data).toString() === 'O') this.gotO.resolve();
      },
      eofReceived(): void {
        this.events.push('eof');
      },
      connectionLost(): void {
        this.events.push('cl');
      },
    };

    const transport = await plainConnection(port, buffered, loop, () => buffered.events.includes('cm'));
    transport.write(hello);
    const tlsTransport = await startTls(transport, buffered, clientContext(), { serverHostname: SERVER_NAME, loop });
    await buffered.gotO.promise;
    expect(Buffer.concat(buffered.data).toString()).to.equal('O');
    expect(buffered.updates).to.deep.equal([1]);
    expect(buffered.bufferLengths.every((length) => length === 1)).to.equal(true);
    for (const hint of buffered.hints) expect(Number.isInteger(hint) && hint >= 0, `size hint ${hint}`).to.equal(true);

    const regular = new RecordingProtocol();
    tlsTransport.setProtocol(regular);
    expect(tlsTransport.getProtocol()).to.equal(regular);
    tlsTransport.write(hello);

    expect((await server.promise).equals(hello)).to.equal(true);
    expect(await regular.lost.promise).to.equal(null);
    expect(regular.received.toString()).to.equal('2');
    expect(lifecycle(regular.names)).to.deep.equal(['dr', 'eof', 'cl']);
    // connectionMade once in total (the first protocol, from the plain connection).
    expect(buffered.events).to.deep.equal(['cm', 'bu']);
    expect(messages).to.deep.equal([]);
  });

  // T-S14 / T-P19: startTls on the server side. Our plain createServer reads a
  // plaintext HELLO, says GO and upgrades; a node:tls client upgrades its
  // socket, sends 100 KiB, reads the answer and ends with close_notify.
  it('T-S14/T-P19: server-side startTls after a plaintext HELLO', async () => {
    const { loop, messages } = recordingLoop();
    const hello = Buffer.from('HELLO, please upgrade\n');
    const secret = payload(PAYLOAD_SIZE);
    const answer = Buffer.from('ANSWER');

    class UpgradingServer implements ProtocolLike {
      readonly events: string[] = [];
      readonly plain: Buffer[] = [];
      readonly overTls: Buffer[] = [];
      readonly lost = new Deferred<Error | null>();
      socketEndedAtEof: boolean | null = null;
      transport: Transport | null = null;
      upgraded: Promise<Transport> | null = null;

      connectionMade(transport: Transport): void {
        this.events.push('cm');
        this.transport = transport;
      }

      dataReceived(data: Buffer): void {
        if (this.upgraded === null) {
          this.plain.push(data);
          if (Buffer.concat(this.plain).length < hello.length) return;
          this.transport!.write(Buffer.from('GO'));
          this.upgraded = startTls(this.transport!, this, serverContext(), { serverSide: true, loop });
          this.upgraded.catch(() => undefined);
          return;
        }
        // The first TLS bytes may come before startTls() resolves (PIT-12).
        this.events.push('dr');
        this.overTls.push(data);
        if (Buffer.concat(this.overTls).length === secret.length) void this.upgraded.then((t) => t.write(answer));
      }

      eofReceived(): void {
        this.events.push('eof');
        const socket = this.transport?.getExtraInfo('socket') as net.Socket | undefined;
        this.socketEndedAtEof = socket?.readableEnded ?? null;
      }

      connectionLost(exc: Error | null): void {
        this.events.push('cl');
        this.lost.resolve(exc);
      }
    }

    const accepted = new Deferred<UpgradingServer>();
    const server = await createServer(
      () => {
        const proto = new UpgradingServer();
        accepted.resolve(proto);
        return proto;
      },
      { host: HOST, port: 0, loop },
    );
    cleanups.add(async () => {
      server.closeClients();
      await server.waitClosed();
    });

    const raw = await connectRaw(server.address().port);
    cleanups.add(() => {
      raw.destroy();
    });
    raw.write(hello);
    expect((await readExactly(raw, 2)).toString()).to.equal('GO');
    const client = upgradeToNodeTlsClient(raw);
    cleanups.add(() => {
      client.socket.destroy();
    });
    await client.secure;
    client.socket.write(secret);
    expect((await readExactly(client.socket, answer.length)).equals(answer)).to.equal(true);
    const clientEnded = new Promise<void>((resolve) => client.socket.once('end', () => resolve()));
    endWithCloseNotify(client.socket);

    const proto = await accepted.promise;
    expect(await proto.lost.promise).to.equal(null);
    await clientEnded;
    expect(Buffer.concat(proto.plain).equals(hello)).to.equal(true);
    expect(Buffer.concat(proto.overTls).equals(secret)).to.equal(true);
    const names = proto.events.filter((name, i, all) => !(name === 'dr' && all[i - 1] === 'dr'));
    expect(names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
    expect(proto.socketEndedAtEof).to.equal(false); // the EOF was the client's close_notify
    expect(client.errors).to.deep.equal([]);
    expect(messages).to.deep.equal([]);
  });

  // T-S15 (and T-P7's ground): TLS inside TLS. Both sides run startTls on an
  // SSL transport, so an inner SSLProtocol runs over an outer SSLProtocol.
  it('T-S15: TLS inside TLS, 1 MiB each way, clean close', async () => {
    const { loop, messages } = recordingLoop();
    const toServer = payload(BIG_SIZE);
    const toClient = payload(BIG_SIZE);

    class InnerTlsServer implements ProtocolLike {
      connectionsMade = 0;
      eofs = 0;
      received: Buffer[] = [];
      total = 0;
      inner: Promise<Transport> | null = null;
      outer: Transport | null = null;
      readonly lost = new Deferred<Error | null>();

      connectionMade(outer: Transport): void {
        this.connectionsMade += 1;
        this.outer = outer;
        this.inner = startTls(outer, this, serverContext(), { serverSide: true, loop });
        this.inner.catch(() => undefined);
      }

      dataReceived(data: Buffer): void {
        this.received.push(data);
        this.total += data.length;
        if (this.total === toServer.length) void this.inner!.then((t) => t.write(toClient));
      }

      eofReceived(): void {
        this.eofs += 1;
      }

      connectionLost(exc: Error | null): void {
        this.lost.resolve(exc);
      }
    }

    const accepted = new Deferred<InnerTlsServer>();
    const server = await createServer(
      () => {
        const proto = new InnerTlsServer();
        accepted.resolve(proto);
        return proto;
      },
      { host: HOST, port: 0, ssl: serverContext(), loop },
    );
    cleanups.add(async () => {
      server.closeClients();
      await server.waitClosed();
    });

    const [outer, proto] = await createConnection(() => new RecordingProtocol(), {
      host: HOST,
      port: server.address().port,
      ssl: clientContext(),
      serverHostname: SERVER_NAME,
      loop,
    });
    ownSocket(outer);
    const inner = await startTls(outer, proto, clientContext(), { serverHostname: SERVER_NAME, loop });
    expect(inner).to.not.equal(outer);
    expect(inner.getExtraInfo('sslObject')).to.not.equal(outer.getExtraInfo('sslObject'));
    expect(inner.getExtraInfo('cipher')).to.be.an('array');
    expect(inner.getExtraInfo('peername')).to.deep.equal(outer.getExtraInfo('peername'));

    inner.write(toServer);
    const got = await proto.receivedAtLeast(toClient.length);
    expect(got.equals(toClient)).to.equal(true);
    const serverProto = await accepted.promise;
    expect(Buffer.concat(serverProto.received).equals(toServer)).to.equal(true);

    inner.close();
    expect(await proto.lost.promise).to.equal(null);
    expect(await serverProto.lost.promise).to.equal(null);
    expect(serverProto.connectionsMade).to.equal(1);
    expect(serverProto.eofs).to.equal(1);
    expect(proto.events.filter(([name]) => name === 'cm')).to.have.length(1);
    expect(proto.events.filter(([name]) => name === 'cl')).to.have.length(1);
    expect(outer.isClosing()).to.equal(true);
    expect(messages).to.deep.equal([]);
  });

  // T-U11: the client's Finished and its first application data leave in ONE
  // socket write; the server must make the connection before delivering the
  // data, and its reply must go back encrypted.
  it('T-U11: first application data in the same write as the client Finished', async () => {
    const { loop, messages } = recordingLoop();
    const request = Buffer.from('first data, sent with the Finished message');
    const accepted = new Deferred<RecordingProtocol>();
    const server = await createServer(
      () => {
        const proto = new RecordingProtocol();
        proto.onData = (data, self) => self.transport!.write(Buffer.concat([Buffer.from('echo:'), data]));
        accepted.resolve(proto);
        return proto;
      },
      { host: HOST, port: 0, ssl: serverContext(), loop },
    );
    cleanups.add(async () => {
      server.closeClients();
      await server.waitClosed();
    });

    const raw = await connectRaw(server.address().port);
    cleanups.add(() => {
      raw.destroy();
    });
    const client = new HandDrivenTlsClient(raw, clientContext());
    const finishedBytes = await client.handshakeHoldingLastFlight();
    expect(client.endpoint.ssl.version()).to.equal('TLSv1.3');
    expect(finishedBytes, 'the client Finished is still unsent').to.be.greaterThan(0);
    const writesBefore = client.writes.length;
    client.endpoint.ssl.write(request);
    const flight = client.flush();
    expect(client.writes.length).to.equal(writesBefore + 1);
    expect(flight).to.be.greaterThan(finishedBytes + request.length);

    const reply = await client.readExactly(5 + request.length);
    expect(reply.toString()).to.equal(`echo:${request.toString()}`);
    const proto = await accepted.promise;
    expect(proto.names).to.deep.equal(['cm', 'dr']);
    expect(proto.received.equals(request)).to.equal(true);
    expect(messages).to.deep.equal([]);
  });

  // PIT-2: startTls over a socket transport that has already paused its
  // protocol's writing (the peer does not read).
  it('PIT-2: startTls over a lower transport already paused for writing', async () => {
    const { loop, messages } = recordingLoop();
    const peerSocket = new Deferred<net.Socket>();
    const port = await rawServer((socket) => {
      socket.pause(); // read nothing for now: the client's writes pile up
      peerSocket.resolve(socket);
    });

    const proto = new RecordingProtocol();
    const transport = await plainConnection(port, proto, loop, madeOf(proto));
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let plainBytes = 0;
    while (!proto.names.includes('pw')) {
      transport.write(chunk);
      plainBytes += chunk.length;
      expect(plainBytes, 'the transport never paused writing').to.be.below(512 * 1024 * 1024);
    }
    expect((transport as unknown as { isWritingPaused(): boolean }).isWritingPaused()).to.equal(true);

    const upgrading = startTls(transport, proto, clientContext(), { serverHostname: SERVER_NAME, loop });
    let settled = false;
    void upgrading.then(
      () => (settled = true),
      () => (settled = true),
    );
    // Let the new SSLProtocol start its handshake while the socket is still full.
    await tick();
    await tick();
    expect(settled).to.equal(false);

    // Now the peer reads everything sent in plain, then upgrades.
    const socket = await peerSocket.promise;
    const plain = await readExactly(socket, plainBytes);
    expect(plain.every((byte) => byte === 0x61)).to.equal(true);
    const peer = upgradeToNodeTlsServer(socket);
    // The listener allows half-open: answer our close_notify explicitly.
    peer.socket.once('end', () => peer.socket.end());
    await peer.secure;
    peer.socket.write('O');

    const tlsTransport = await upgrading;
    await proto.receivedAtLeast(1);
    expect(proto.received.toString()).to.equal('O');
    tlsTransport.write(Buffer.from('ping'));
    expect((await readExactly(peer.socket, 4)).toString()).to.equal('ping');

    tlsTransport.close();
    expect(await proto.lost.promise).to.equal(null);
    expect(peer.errors).to.deep.equal([]);
    expect(messages).to.deep.equal([]);
  });

  // PIT-5: a BufferedProtocol whose buffers are subarrays (views) of one small
  // Uint8Array; a 200 000-byte transfer takes hundreds of them.
  it('PIT-5: getBuffer() returning views into one 1000-byte array receives 200 000 bytes intact', async () => {
    const { loop, messages } = recordingLoop();
    const data = payload(200_000);
    const tlsServer = tls.createServer({ cert: readCert('server-ec.pem'), key: readCert('server-ec.key') }, (socket) => {
      socket.on('error', () => undefined);
      socket.write(data);
      endWithCloseNotify(socket);
    });
    const sockets = new Set<net.Socket>();
    tlsServer.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, HOST, resolve));
    cleanups.add(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          tlsServer.close(() => resolve());
        }),
    );

    const store = new Uint8Array(1000);
    const proto = {
      filled: 0,
      buffers: 0,
      out: [] as Buffer[],
      eofs: 0,
      lost: new Deferred<Error | null>(),
      flush(): void {
        if (this.filled > 0) this.out.push(Buffer.from(store.subarray(0, this.filled)));
        this.filled = 0;
      },
      getBuffer(): Uint8Array {
        this.buffers += 1;
        return store.subarray(this.filled);
      },
      bufferUpdated(nbytes: number): void {
        this.filled += nbytes;
        if (this.filled === store.length) this.flush();
      },
      eofReceived(): void {
        this.eofs += 1;
        this.flush();
      },
      connectionLost(exc: Error | null): void {
        this.flush();
        this.lost.resolve(exc);
      },
    };
    const [transport] = await createConnection(() => proto, {
      host: HOST,
      port: (tlsServer.address() as net.AddressInfo).port,
      ssl: clientContext(),
      serverHostname: SERVER_NAME,
      loop,
    });
    ownSocket(transport);
    expect(await proto.lost.promise).to.equal(null);
    const received = Buffer.concat(proto.out);
    expect(received.length).to.equal(data.length);
    expect(received.equals(data)).to.equal(true);
    expect(proto.eofs).to.equal(1);
    expect(proto.buffers).to.be.at.least(data.length / store.length);
    expect(messages).to.deep.equal([]);
  });

  // PIT-6: an empty buffer from getBuffer() is an error, never a close_notify.
  it('PIT-6: getBuffer() returning an empty buffer ends the connection with an error, without eofReceived', async () => {
    const { loop, messages } = recordingLoop();
    const tlsServer = tls.createServer({ cert: readCert('server-ec.pem'), key: readCert('server-ec.key') }, (socket) => {
      socket.on('error', () => undefined);
      socket.write('hello');
    });
    const sockets = new Set<net.Socket>();
    tlsServer.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, HOST, resolve));
    cleanups.add(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          tlsServer.close(() => resolve());
        }),
    );

    const proto = {
      events: [] as string[],
      lost: new Deferred<Error | null>(),
      connectionMade(): void {
        this.events.push('cm');
      },
      getBuffer(): Uint8Array {
        return new Uint8Array(0);
      },
      bufferUpdated(): void {
        this.events.push('bu');
      },
      eofReceived(): void {
        this.events.push('eof');
      },
      connectionLost(exc: Error | null): void {
        this.events.push('cl');
        this.lost.resolve(exc);
      },
    };
    const [transport] = await createConnection(() => proto, {
      host: HOST,
      port: (tlsServer.address() as net.AddressInfo).port,
      ssl: clientContext(),
      serverHostname: SERVER_NAME,
      loop,
    });
    ownSocket(transport);
    const exc = await proto.lost.promise;
    expect(exc).to.be.instanceOf(Error);
    expect(exc!.message).to.match(/empty buffer/);
    expect(proto.events).to.deep.equal(['cm', 'cl']);
    // A non-OS error may be reported to the loop (asyncio's _fatal_error does);
    // if so, it must be this one.
    for (const context of messages) expect(String((context.exception as Error)?.message)).to.match(/empty buffer/);
  });

  // T-P20: startTls argument checks.
  it('T-P20: startTls rejects a non-SSLContext and an unsupported transport', async () => {
    const { loop, messages } = recordingLoop();
    const port = await rawServer((socket) => socket.pipe(socket)); // echo
    const proto = new RecordingProtocol();
    const transport = await plainConnection(port, proto, loop, madeOf(proto));

    for (const notAContext of [null, undefined, {}, 'ctx']) {
      const error = await rejectionOf(startTls(transport, proto, notAContext as unknown as SSLContext, { loop }));
      expect(error).to.be.instanceOf(TypeError);
      expect(error.message).to.match(/SSLContext, got/);
    }

    const notSupported = {
      getExtraInfo: () => undefined,
      isClosing: () => false,
      close: () => undefined,
      pauseReading: () => undefined,
      resumeReading: () => undefined,
      write: () => undefined,
    };
    const error = await rejectionOf(startTls(notSupported as unknown as Transport, proto, clientContext(), { loop }));
    expect(error).to.be.instanceOf(TypeError);
    expect(error.message).to.match(/not supported/);

    // The real transport was left alone: still plain, still reading, still ours.
    expect(transport.getProtocol()).to.equal(proto);
    expect(transport.isReading()).to.equal(true);
    transport.write(Buffer.from('still plain'));
    expect((await proto.receivedAtLeast(11)).toString()).to.equal('still plain');
    transport.close();
    expect(await proto.lost.promise).to.equal(null);
    expect(messages).to.deep.equal([]);
  });

  // T-P18 / T-S13: startTls against a peer that never answers the handshake.
  it('T-P18/T-S13: startTls times out against a silent peer', async () => {
    const { loop, messages } = recordingLoop();
    const peerClosed = new Deferred<number>();
    const port = await rawServer((socket) => {
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length)); // read, never answer
      socket.once('end', () => peerClosed.resolve(bytes)); // our FIN (the listener allows half-open)
    });
    const proto = new RecordingProtocol();
    const transport = await plainConnection(port, proto, loop, madeOf(proto));

    const error = await rejectionOf(
      startTls(transport, proto, clientContext(), { serverHostname: SERVER_NAME, sslHandshakeTimeout: 0.2, loop }),
    );
    expect(error).to.be.instanceOf(ConnectionAbortedError);
    expect(error.message).to.match(/SSL handshake is taking longer than 0.2 seconds/);
    // The connection is gone: the peer saw our ClientHello, then the close.
    expect(await peerClosed.promise).to.be.greaterThan(0);
    await until(() => transport.isClosing(), 'the lower transport to close');
    expect(messages).to.deep.equal([]);
  });
});

/**
 * Hardening: slow and silent peers, and faults, for both memtls/protocol and
 * memtls/tls over loopback. Peers that connect and never speak, peers that
 * never answer close_notify, readers that stop reading under a flood, sockets
 * reset at every phase on either side, writes to a vanished peer, and the
 * application tearing the connection down from inside each of its callbacks.
 *
 * Every test also fails if anything reaches process 'uncaughtException' or
 * 'unhandledRejection' while it runs.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as net from 'node:net';

import { TimeoutError, createConnection, createServer, type Server, type SSLProtocolTransport, type Transport } from '../../lib/protocol';
import * as mtls from '../../lib/tls';
import { readCert, SERVER_NAME } from '../helpers/certs';
import { clientContext, serverContext } from '../helpers/pair';
import { atCleanup } from '../helpers/node-tls';
import { listenRaw, RecordingProtocol, tick, until } from '../helpers/protocol';
import { SocketPump } from '../helpers/socket-pump';

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;

// --- hooks: cleanup and the uncaught-error guard -------------------------------

let uncaught: unknown[] = [];
const recordUncaught = (error: unknown): void => {
  uncaught.push(error);
};

beforeEach(() => {
  uncaught = [];
  process.on('uncaughtException', recordUncaught);
  process.on('unhandledRejection', recordUncaught);
});

// Runs after the shared teardown hook of helpers/node-tls (registered first, on import).
afterEach(() => {
  process.off('uncaughtException', recordUncaught);
  process.off('unhandledRejection', recordUncaught);
});

/** Lets pending callbacks, timers and rejections run, then checks nothing escaped. */
async function expectNoUncaught(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(uncaught, 'uncaught exceptions / unhandled rejections').to.deep.equal([]);
}

function closedOnce(emitter: { once(event: 'close', fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => emitter.once('close', () => resolve()));
}

/**
 * Records, in order, the name of every event `emitter` emits from now on. It
 * wraps emit() instead of adding listeners, which would change what is being
 * watched: a 'data' listener starts the flow, a 'keylog' one turns key logging on.
 */
function recordEvents(emitter: NodeJS.EventEmitter): string[] {
  const events: string[] = [];
  const emit = emitter.emit;
  emitter.emit = function (this: NodeJS.EventEmitter, name: string | symbol, ...args: unknown[]): boolean {
    events.push(String(name));
    return emit.call(this, name, ...args);
  };
  return events;
}

function countOf(events: string[], name: string): number {
  return events.filter((event) => event === name).length;
}

/** Deterministic stream: chunk i is `size` bytes derived from i. */
function chunkAt(i: number, size: number): Buffer {
  const chunk = Buffer.alloc(size, i & 0xff);
  chunk.writeUInt32BE(i >>> 0, 0);
  return chunk;
}

// --- memtls/protocol peers -------------------------------------------------------

interface ProtoServer {
  server: Server;
  port: number;
  protocols: RecordingProtocol[];
  raws: net.Socket[];
}

async function protoServer(
  options: { sslHandshakeTimeout?: number; sslShutdownTimeout?: number } = {},
  make: () => RecordingProtocol = () => new RecordingProtocol(),
): Promise<ProtoServer> {
  const protocols: RecordingProtocol[] = [];
  const server = await createServer(
    () => {
      const protocol = make();
      protocols.push(protocol);
      return protocol;
    },
    { host: HOST, port: 0, ssl: serverContext(), ...options },
  );
  const raws: net.Socket[] = [];
  server.netServer.on('connection', (socket: net.Socket) => raws.push(socket));
  atCleanup(async () => {
    server.closeClients();
    await server.waitClosed();
  });
  return { server, port: server.address().port, protocols, raws };
}

/** A raw socket, connected, for createConnection({ sock }); destroyed at cleanup. */
async function rawConnect(port: number, allowHalfOpen = true): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port, allowHalfOpen });
  socket.on('error', () => undefined);
  atCleanup(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

async function protoClient<P extends RecordingProtocol = RecordingProtocol>(
  port: number,
  protocol: P = new RecordingProtocol() as P,
  extra: { sslShutdownTimeout?: number } = {},
): Promise<{ transport: Transport; protocol: P; raw: net.Socket }> {
  const raw = await rawConnect(port);
  const [transport] = await createConnection(() => protocol, {
    sock: raw,
    ssl: clientContext(),
    serverHostname: SERVER_NAME,
    ...extra,
  });
  atCleanup(() => transport.abort());
  return { transport, protocol, raw };
}

function lostCount(protocol: RecordingProtocol): number {
  return protocol.events.filter(([name]) => name === 'cl').length;
}

/** A raw server whose connections are TLS servers driven by hand (never answers close_notify). */
async function pumpServer(): Promise<{ port: number; pumps: SocketPump[] }> {
  const pumps: SocketPump[] = [];
  const server = await listenRaw((socket) => {
    const pump = new SocketPump(serverContext(), socket, { serverSide: true });
    pumps.push(pump);
    pump.handshake().catch(() => undefined);
  });
  atCleanup(server.close);
  return { port: server.port, pumps };
}

// --- memtls/tls peers ----------------------------------------------------------------

const serverOptions = { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') };

async function tlsServer(
  options: mtls.TlsServerOptions = {},
  onSecure: (socket: mtls.TLSSocket) => void = (socket) => socket.resume(),
): Promise<{ server: mtls.Server; port: number; raws: net.Socket[]; secured: mtls.TLSSocket[]; clientErrors: Error[] }> {
  const server = mtls.createServer({ ...serverOptions, ...options });
  const raws: net.Socket[] = [];
  const secured: mtls.TLSSocket[] = [];
  const clientErrors: Error[] = [];
  server.on('connection', (socket: net.Socket) => {
    raws.push(socket);
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', (error: Error) => clientErrors.push(error));
  server.on('secureConnection', (socket: mtls.TLSSocket) => {
    secured.push(socket);
    socket.on('error', () => undefined);
    onSecure(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  atCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of secured) socket.destroy();
        for (const socket of raws) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as net.AddressInfo).port, raws, secured, clientErrors };
}

function tlsConnect(port: number, extra: mtls.ConnectionOptions = {}): mtls.TLSSocket {
  const socket = mtls.connect({ host: HOST, port, servername: SERVER_NAME, ca: readCert('ca.pem'), ...extra });
  atCleanup(() => socket.destroy());
  return socket;
}

/** A TLSSocket under observation: every event it emits, in order, and the errors among them. */
interface Watched {
  socket: mtls.TLSSocket;
  events: string[];
  errors: Error[];
}

function watch(socket: mtls.TLSSocket): Watched {
  const errors: Error[] = [];
  socket.on('error', (error: Error) => errors.push(error));
  return { socket, events: recordEvents(socket), errors };
}

/**
 * What a watched socket went through, checked the same way everywhere: it
 * closed exactly once, nothing came after 'close', 'error' came at most once
 * (and once per error recorded), and no one-shot event came twice.
 */
function expectClosedOnce({ events, errors }: Watched, who: string): void {
  expect(countOf(events, 'close'), `${who} 'close'`).to.equal(1);
  expect(events.slice(events.indexOf('close') + 1), `${who} events after 'close'`).to.deep.equal([]);
  expect(countOf(events, 'error'), `${who} 'error'`).to.be.at.most(1);
  expect(countOf(events, 'error'), `${who} errors recorded`).to.equal(errors.length);
  for (const name of ['secure', 'secureConnect', 'end', 'finish', 'OCSPResponse']) {
    expect(countOf(events, name), `${who} '${name}'`).to.be.at.most(1);
  }
}

/** A server connection handler that sends back whatever it receives. */
function echo(socket: mtls.TLSSocket): void {
  socket.on('data', (data: Buffer) => socket.write(data));
}

/** A fresh client sends 'ping' to an echo server and must get it back. */
async function expectRoundTrip(port: number): Promise<void> {
  const client = tlsConnect(port);
  const reply = await new Promise<string>((resolve, reject) => {
    let got = '';
    client.on('error', reject);
    client.on('data', (data: Buffer) => {
      got += data.toString();
      if (got.length >= 4) resolve(got);
    });
    client.write('ping');
  });
  expect(reply).to.equal('ping');
  client.destroy();
}

// =====================================================================================

describe('security: slow and silent peers, faults', function () {
  this.timeout(10000);

  describe('memtls/protocol', () => {
    it('closes clients that connect and never send once the handshake timeout passes', async () => {
      const { port, protocols, raws } = await protoServer({ sslHandshakeTimeout: 0.2 });
      const silent = await Promise.all(Array.from({ length: 5 }, () => rawConnect(port, false)));
      const closes = silent.map((socket) => closedOnce(socket));
      let received = 0;
      for (const socket of silent) socket.on('data', (chunk: Buffer) => (received += chunk.length));
      await Promise.all(closes);
      await until(() => raws.length === 5 && raws.every((socket) => socket.destroyed), 'server sockets gone');
      expect(received).to.equal(0);
      // No connection ever reached its protocol.
      for (const protocol of protocols) expect(protocol.events).to.deep.equal([]);
      await expectNoUncaught();
    });

    it('force-closes a peer that never answers close_notify after sslShutdownTimeout', async () => {
      const { port, pumps } = await pumpServer();
      const { transport, protocol, raw } = await protoClient(port, new RecordingProtocol(), { sslShutdownTimeout: 0.2 });
      expect(pumps).to.have.length(1);
      const rawClosed = closedOnce(raw);
      transport.close();
      const exc = await protocol.lost.promise;
      expect(exc).to.be.instanceOf(TimeoutError);
      expect((exc as Error).message).to.equal('SSL shutdown timed out');
      await rawClosed;
      expect(lostCount(protocol)).to.equal(1);
      await expectNoUncaught();
    });

    for (const side of ['client', 'server'] as const) {
      for (const phase of ['handshake', 'transfer', 'shutdown'] as const) {
        // Client-side reset mid-handshake is left out: see the report (createConnection resolves).
        if (side === 'client' && phase === 'handshake') continue;
        it(`survives a ${side}-side socket reset mid-${phase}`, async () => {
          const server = await protoServer({ sslShutdownTimeout: 5 });
          if (phase === 'handshake') {
            if (side === 'server') {
              server.server.netServer.on('connection', (socket: net.Socket) => socket.once('data', () => socket.resetAndDestroy()));
            }
            const raw = await rawConnect(server.port);
            const protocol = new RecordingProtocol();
            const rawClosed = closedOnce(raw);
            const connecting = createConnection(() => protocol, { sock: raw, ssl: clientContext(), serverHostname: SERVER_NAME });
            // The ClientHello is out; the reply has not been read yet.
            if (side === 'client') raw.resetAndDestroy();
            const error = await connecting.then(
              () => null,
              (e: unknown) => e,
            );
            expect(error).to.be.instanceOf(Error);
            await rawClosed;
            await until(() => server.raws.length === 1 && server.raws[0].destroyed, 'server socket gone');
            // Neither side's protocol was ever connected, so neither hears of the loss.
            expect(protocol.events).to.deep.equal([]);
            for (const p of server.protocols) expect(p.events).to.deep.equal([]);
          } else {
            const { transport, protocol, raw } = await protoClient(server.port);
            await until(() => server.protocols[0]?.transport != null, 'server connected');
            const serverProtocol = server.protocols[0];
            if (phase === 'transfer') {
              const big = Buffer.alloc(4 * MiB, 7);
              serverProtocol.transport!.write(big);
              transport.write(big);
              await protocol.receivedAtLeast(1);
            } else if (side === 'client') {
              transport.close();
            } else {
              serverProtocol.transport!.close();
            }
            if (side === 'client') raw.resetAndDestroy();
            else server.raws[0].resetAndDestroy();
            await Promise.all([protocol.lost.promise, serverProtocol.lost.promise]);
            await expectNoUncaught();
            expect(lostCount(protocol)).to.equal(1);
            expect(lostCount(serverProtocol)).to.equal(1);
          }
          await expectNoUncaught();
        });
      }
    }

    it('drops writes after the peer has gone, without throwing', async () => {
      const server = await protoServer();
      const { transport, protocol } = await protoClient(server.port);
      await until(() => server.protocols[0]?.transport != null, 'server connected');
      server.raws[0].resetAndDestroy();
      await protocol.lost.promise;
      for (let i = 0; i < 10; i++) expect(() => transport.write(Buffer.alloc(1024, i))).to.not.throw();
      expect(() => transport.writelines([Buffer.from('a'), Buffer.from('b')])).to.not.throw();
      expect(() => transport.close()).to.not.throw();
      expect(() => transport.abort()).to.not.throw();
      expect(lostCount(protocol)).to.equal(1);
      await expectNoUncaught();
    });

    for (const callback of ['connectionMade', 'dataReceived', 'eofReceived', 'pauseWriting'] as const) {
      it(`tolerates abort() inside ${callback}`, async () => {
        // The server sends some data, then closes (close_notify: the client's eofReceived).
        const server = await protoServer({}, () => {
          const protocol = new RecordingProtocol();
          const connectionMade = protocol.connectionMade.bind(protocol);
          protocol.connectionMade = (transport: Transport): void => {
            connectionMade(transport);
            if (callback === 'pauseWriting') {
              transport.pauseReading();
              return;
            }
            transport.write(Buffer.from('hello'));
            transport.close();
          };
          return protocol;
        });
        let aborted = 0;
        const protocol = new RecordingProtocol();
        const raw = await rawConnect(server.port);
        const original = protocol[callback].bind(protocol) as (...args: unknown[]) => void;
        (protocol as unknown as Record<string, unknown>)[callback] = (...args: unknown[]): void => {
          original(...args);
          if (aborted++ === 0) protocol.transport!.abort();
        };
        const connected = createConnection(() => protocol, { sock: raw, ssl: clientContext(), serverHostname: SERVER_NAME }).then(
          ([transport]) => transport,
          (e: unknown) => e,
        );
        const result = await connected;
        if (callback === 'pauseWriting') {
          expect(result).to.not.be.instanceOf(Error);
          (result as Transport).write(Buffer.alloc(8 * MiB, 1));
        }
        await protocol.lost.promise;
        await expectNoUncaught();
        expect(aborted).to.equal(1);
        expect(lostCount(protocol)).to.equal(1);
        // Nothing after the abort but connectionLost; no callback twice.
        const names = protocol.events.map(([name]) => name);
        expect(names[names.length - 1]).to.equal('cl');
        for (const name of ['cm', 'eof', 'pw']) expect(names.filter((n) => n === name).length, name).to.be.at.most(1);
        const abortAt = names.indexOf(({ connectionMade: 'cm', dataReceived: 'dr', eofReceived: 'eof', pauseWriting: 'pw' } as const)[callback]);
        // After abort() only connectionLost follows, whatever else came in the same read.
        expect(names.slice(abortAt + 1)).to.deep.equal(['cl']);
      });
    }

    it('pauses a writer whose reader stopped reading, keeps the write buffer and RSS bounded, and delivers everything', async () => {
      const TOTAL = 128 * MiB;
      const CHUNK = 256 * 1024;
      const sentHash = createHash('sha256');
      let sent = 0;
      let pauses = 0;
      let writerPaused = false;
      let closed = false;
      // The server floods the connection as fast as pauseWriting/resumeWriting allow, then closes.
      class Writer extends RecordingProtocol {
        override connectionMade(transport: Transport): void {
          super.connectionMade(transport);
          this.pump();
        }
        override pauseWriting(): void {
          super.pauseWriting();
          writerPaused = true;
          pauses++;
        }
        override resumeWriting(): void {
          super.resumeWriting();
          writerPaused = false;
          this.pump();
        }
        pump(): void {
          while (!writerPaused && sent < TOTAL) {
            const chunk = chunkAt(sent / CHUNK, CHUNK);
            sentHash.update(chunk);
            sent += CHUNK;
            this.transport!.write(chunk);
          }
          if (sent === TOTAL && !closed) {
            closed = true;
            this.transport!.close();
          }
        }
      }
      // The client stops reading before the first byte of application data,
      // from inside connectionMade (that once held back the client's last
      // handshake flight, so the server never completed its handshake).
      class StalledReader extends RecordingProtocol {
        readonly hash = createHash('sha256');
        got = 0;
        override connectionMade(transport: Transport): void {
          super.connectionMade(transport);
          transport.pauseReading();
        }
        override dataReceived(data: Buffer): void {
          this.hash.update(data);
          this.got += data.length;
        }
      }
      const server = await protoServer({}, () => new Writer());
      const { transport, protocol: reader } = await protoClient(server.port, new StalledReader());
      expect(transport.isReading()).to.equal(false);
      await until(() => writerPaused, 'writer paused');
      const writer = server.protocols[0];
      if (global.gc) global.gc();
      const rssBefore = process.memoryUsage().rss;
      let maxBuffered = 0;
      let maxReadBuffer = 0;
      let maxRss = 0;
      for (let i = 0; i < 40; i++) {
        maxBuffered = Math.max(maxBuffered, writer.transport!.getWriteBufferSize() + server.raws[0].writableLength);
        maxReadBuffer = Math.max(maxReadBuffer, (transport as SSLProtocolTransport).getReadBufferSize());
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(writerPaused).to.equal(true);
      expect(sent).to.be.lessThan(TOTAL);
      expect(reader.got, 'bytes delivered while paused').to.equal(0);
      expect(maxBuffered, 'writer write buffer').to.be.lessThan(4 * MiB);
      expect(maxReadBuffer, 'reader read buffer').to.be.lessThan(1 * MiB);
      expect(maxRss - rssBefore, 'rss growth while stalled').to.be.lessThan(64 * MiB);
      transport.resumeReading();
      await until(() => reader.got === TOTAL, 'all bytes received');
      expect(await reader.lost.promise).to.equal(null);
      expect(pauses).to.be.greaterThan(0);
      expect(reader.hash.digest('hex')).to.equal(sentHash.digest('hex'));
      expect(lostCount(reader)).to.equal(1);
      await expectNoUncaught();
    });
  });

  describe('memtls/tls', () => {
    it('closes clients that connect and never send after handshakeTimeout, with tlsClientError', async () => {
      const { port, clientErrors } = await tlsServer({ handshakeTimeout: 200 });
      const silent = await Promise.all(Array.from({ length: 5 }, () => rawConnect(port, false)));
      await Promise.all(silent.map((socket) => closedOnce(socket)));
      await until(() => clientErrors.length === 5, 'five tlsClientError events');
      expect(clientErrors.map((e) => (e as NodeJS.ErrnoException).code)).to.deep.equal(Array(5).fill('ERR_TLS_HANDSHAKE_TIMEOUT'));
      await expectNoUncaught();
    });

    for (const side of ['client', 'server'] as const) {
      for (const phase of ['handshake', 'transfer', 'shutdown'] as const) {
        it(`survives a ${side}-side socket reset mid-${phase}`, async () => {
          // Half-open on both sides, so that mid-shutdown the peer of the side
          // that sent close_notify does not answer with its own.
          const watchedServer: Watched[] = [];
          const { server, port, raws, secured, clientErrors } = await tlsServer({ allowHalfOpen: true }, (socket) => {
            watchedServer.push(watch(socket));
            echo(socket);
          });
          const client = watch(tlsConnect(port, { allowHalfOpen: true }));
          const clientRaw = client.socket._parent!;
          if (phase === 'handshake') {
            // The server's TLS layer has read the ClientHello and answered it;
            // the client has not read the answer yet.
            server.once('connection', (raw: net.Socket) => raw.once('data', () => (side === 'client' ? clientRaw : raw).resetAndDestroy()));
          }
          if (phase !== 'handshake') {
            await new Promise((resolve) => client.socket.once('secureConnect', resolve));
            await until(() => watchedServer.length === 1, 'server secure');
            const serverSocket = watchedServer[0].socket;
            if (phase === 'transfer') {
              const echoed = new Promise((resolve) => client.socket.once('data', resolve));
              client.socket.write(Buffer.alloc(4 * MiB, 7));
              await echoed;
            } else {
              const [closer, peer] = side === 'client' ? [client.socket, serverSocket] : [serverSocket, client.socket];
              const peerEnded = new Promise((resolve) => peer.once('end', resolve));
              peer.resume();
              closer.end();
              await peerEnded;
            }
            (side === 'client' ? clientRaw : raws[0]).resetAndDestroy();
          }
          await until(() => countOf(client.events, 'close') === 1, 'client closed');
          await until(() => raws.length === 1 && raws[0].destroyed && secured.every((socket) => socket.destroyed), 'server side gone');
          await until(() => watchedServer.every(({ events }) => events.includes('close')), 'server socket closed');
          await expectNoUncaught();

          expectClosedOnce(client, 'client');
          for (const error of [...client.errors, ...clientErrors, ...watchedServer.flatMap(({ errors }) => errors)]) {
            expect((error as NodeJS.ErrnoException).code).to.match(/^(ECONNRESET|EPIPE|ERR_SSL_)/);
          }
          if (phase === 'handshake') {
            // Never secure: the client learns it from 'error', the server from 'tlsClientError'.
            expect(countOf(client.events, 'secureConnect')).to.equal(0);
            expect(client.errors).to.have.length(1);
            expect(watchedServer).to.have.length(0);
            expect(clientErrors).to.have.length.at.most(1);
          } else {
            expect(countOf(client.events, 'secureConnect')).to.equal(1);
            expect(watchedServer).to.have.length(1);
            expectClosedOnce(watchedServer[0], 'server');
            expect(clientErrors).to.deep.equal([]);
          }
          await expectRoundTrip(port);
          await expectNoUncaught();
        });
      }
    }

    for (const writerSide of ['client', 'server'] as const) {
      for (const when of ['as the connection goes', 'once the connection is gone'] as const) {
        it(`fails a ${writerSide} write made ${when} (peer destroyed) with EPIPE, and destroys the socket`, async () => {
          // The writer has unread data when its peer goes, so its socket is
          // not destroyed on its own (the reader has not seen 'end' yet).
          let serverSocket: mtls.TLSSocket | null = null;
          const { port } = await tlsServer({}, (socket) => {
            serverSocket = socket;
            if (writerSide === 'client') socket.write('hello');
            else socket.pause();
          });
          const client = watch(tlsConnect(port));
          await new Promise((resolve) => client.socket.once('secureConnect', resolve));
          await until(() => serverSocket !== null, 'server secure');
          const writer = writerSide === 'client' ? client.socket : serverSocket!;
          const peer = writerSide === 'client' ? serverSocket! : client.socket;
          const watched = writerSide === 'client' ? client : watch(serverSocket!);
          if (writerSide === 'client') client.socket.pause();
          else client.socket.write('hello');
          await until(() => writer.readableLength > 0, 'unread data at the writer');

          const results: Array<Error | null | undefined> = [];
          const write = (): void => {
            expect(() => writer.write(Buffer.from('late'), (error) => results.push(error))).to.not.throw();
          };
          const parent = writer._parent!;
          // Right after the TCP connection closed, before the TLS layer has told the socket.
          if (when === 'as the connection goes') parent.once('close', write);
          peer.destroy();
          await until(() => parent.destroyed, 'writer connection gone');
          if (when === 'once the connection is gone') {
            for (let i = 0; i < 3; i++) await tick();
            expect(writer.destroyed, 'socket still open with unread data').to.equal(false);
            write();
          }
          await until(() => results.length === 1, 'write callback');
          expect((results[0] as NodeJS.ErrnoException | null)?.code, 'write error').to.equal('EPIPE');
          await until(() => countOf(watched.events, 'close') === 1, 'socket closed');
          await expectNoUncaught();
          expect(watched.errors.map((error) => (error as NodeJS.ErrnoException).code)).to.deep.equal(['EPIPE']);
          expectClosedOnce(watched, writerSide);
        });
      }
    }

    it('fails writes after a peer reset without throwing or a second error', async () => {
      const { port, raws } = await tlsServer();
      const client = watch(tlsConnect(port));
      await new Promise((resolve) => client.socket.once('secureConnect', resolve));
      await until(() => raws.length === 1, 'server connection');
      raws[0].resetAndDestroy();
      await until(() => countOf(client.events, 'close') === 1, 'client closed');
      const results: Array<Error | null | undefined> = [];
      for (let i = 0; i < 3; i++) {
        expect(() => client.socket.write(Buffer.alloc(1024, i), (error) => results.push(error))).to.not.throw();
      }
      expect(() => client.socket.end()).to.not.throw();
      expect(() => client.socket.destroy()).to.not.throw();
      await until(() => results.length === 3, 'write callbacks');
      await expectNoUncaught();
      for (const error of results) expect(error).to.be.instanceOf(Error);
      expect(client.errors.map((error) => (error as NodeJS.ErrnoException).code)).to.deep.equal(['ECONNRESET']);
      expectClosedOnce(client, 'client');
    });

    /**
     * destroy() (or destroy(error)) inside one event callback of one side.
     * `server` shapes the server's connections, `client` what the client
     * does once created; `kill` is the destroy, hooked to the event.
     */
    interface DestroyCase {
      side: 'client' | 'server';
      event: string;
      withError?: boolean;
      clientOptions?: mtls.ConnectionOptions;
      server?: (socket: mtls.TLSSocket, kill: (socket: mtls.TLSSocket) => void) => void;
      setup?: (server: mtls.Server, kill: (socket: mtls.TLSSocket) => void) => void;
      client?: (client: mtls.TLSSocket, kill: (socket: mtls.TLSSocket) => void, secured: mtls.TLSSocket[]) => Promise<void> | void;
    }
    const big = (): Buffer => Buffer.alloc(1 * MiB, 3);
    const destroyCases: DestroyCase[] = [
      { side: 'client', event: 'secureConnect', client: (c, kill) => void c.once('secureConnect', () => kill(c)) },
      { side: 'client', event: 'keylog', client: (c, kill) => void c.on('keylog', () => kill(c)) },
      { side: 'client', event: 'OCSPResponse', clientOptions: { requestOCSP: true }, client: (c, kill) => void c.on('OCSPResponse', () => kill(c)) },
      { side: 'client', event: 'session', client: (c, kill) => void c.on('session', () => kill(c)) },
      { side: 'client', event: 'data', server: (s) => s.write('hello'), client: (c, kill) => void c.on('data', () => kill(c)) },
      { side: 'client', event: 'data', withError: true, server: (s) => s.write('hello'), client: (c, kill) => void c.on('data', () => kill(c)) },
      { side: 'client', event: 'end', server: (s) => s.end('bye'), client: (c, kill) => void c.on('end', () => kill(c)).resume() },
      {
        side: 'client',
        event: 'drain',
        server: (s) => s.pause(),
        client: async (c, kill, secured) => {
          await new Promise((resolve) => c.once('secureConnect', resolve));
          expect(c.write(big()), 'write() returns false').to.equal(false);
          c.once('drain', () => kill(c));
          await until(() => secured.length === 1, 'server secure');
          if (!secured[0].destroyed) secured[0].resume();
        },
      },
      { side: 'server', event: 'secureConnection', server: (s, kill) => kill(s) },
      { side: 'server', event: 'keylog', setup: (server, kill) => server.on('keylog', (_line: Buffer, s: mtls.TLSSocket) => kill(s)) },
      { side: 'server', event: 'data', server: (s, kill) => s.on('data', () => kill(s)), client: (c) => void c.write('hello') },
      { side: 'server', event: 'data', withError: true, server: (s, kill) => s.on('data', () => kill(s)), client: (c) => void c.write('hello') },
      { side: 'server', event: 'end', server: (s, kill) => s.on('end', () => kill(s)).resume(), client: (c) => void c.end() },
      {
        side: 'server',
        event: 'drain',
        server: (s, kill) => {
          expect(s.write(big()), 'write() returns false').to.equal(false);
          s.once('drain', () => kill(s));
        },
        client: async (c, _kill, secured) => {
          c.pause();
          await until(() => secured.length === 1, 'server secure');
          c.resume();
        },
      },
    ];
    for (const { side, event, withError, clientOptions, server: onServer, setup, client: onClient } of destroyCases) {
      it(`tolerates destroy(${withError ? 'error' : ''}) inside the ${side}'s '${event}'`, async () => {
        const boom = new Error('boom');
        let killed = 0;
        const victims = new Map<mtls.TLSSocket, Watched>();
        const kill = (socket: mtls.TLSSocket): void => {
          killed++;
          // A server socket is watched from the first callback that hands it over.
          if (side === 'server' && !victims.has(socket)) victims.set(socket, watch(socket));
          if (withError) socket.destroy(boom);
          else socket.destroy();
        };
        const serverPeers: Watched[] = [];
        const { server, port, raws, secured } = await tlsServer({}, (socket) => {
          if (side === 'client') serverPeers.push(watch(socket));
          if (onServer !== undefined) onServer(socket, kill);
          else socket.resume();
        });
        setup?.(server, kill);
        const client = watch(tlsConnect(port, clientOptions));
        if (side === 'client') victims.set(client.socket, client);
        await onClient?.(client.socket, kill, secured);

        await until(() => killed > 0, `'${event}'`);
        await until(() => victims.size === 1 && [...victims.values()].every(({ events }) => events.includes('close')), 'victim closed');
        // The peer sees the connection end.
        if (side === 'server') await until(() => client.events.includes('close'), 'client closed');
        await until(() => raws.length === 1 && raws[0].destroyed && secured.every((socket) => socket.destroyed), 'server side gone');
        await until(() => serverPeers.every(({ events }) => events.includes('close')), 'server socket closed');
        await expectNoUncaught();

        const [victim] = victims.values();
        expectClosedOnce(victim, side);
        expect(victim.errors, 'errors').to.deep.equal(withError ? [boom] : []);
        if (event !== 'keylog') {
          // keylog comes once per secret, even after destroy(): several lines come out of one native call.
          expect(killed, `'${event}' callbacks`).to.equal(1);
          expect(countOf(victim.events, event), `'${event}' events`).to.be.at.most(1);
        }
        if (side === 'server') expectClosedOnce(client, 'client');
        for (const peer of serverPeers) expectClosedOnce(peer, 'server');
      });
    }

    it('pauses a writer whose reader stopped reading, keeps bufferSize bounded, and delivers everything', async () => {
      const TOTAL = 128 * MiB;
      const CHUNK = 256 * 1024;
      const sentHash = createHash('sha256');
      let sent = 0;
      let paused = false;
      let falses = 0;
      let writer: mtls.TLSSocket | null = null;
      const pump = (): void => {
        while (sent < TOTAL) {
          const chunk = chunkAt(sent / CHUNK, CHUNK);
          sentHash.update(chunk);
          sent += CHUNK;
          if (!writer!.write(chunk)) {
            falses++;
            paused = true;
            writer!.once('drain', () => {
              paused = false;
              pump();
            });
            return;
          }
        }
        writer!.end();
      };
      const { port, raws } = await tlsServer({}, (socket) => {
        writer = socket;
        pump();
      });
      const client = tlsConnect(port);
      client.pause();
      const gotHash = createHash('sha256');
      let got = 0;
      client.on('data', (data: Buffer) => {
        gotHash.update(data);
        got += data.length;
      });
      const clientClosed = closedOnce(client);
      await until(() => writer !== null && paused, 'writer paused');
      if (global.gc) global.gc();
      const rssBefore = process.memoryUsage().rss;
      let maxBuffered = 0;
      let maxRss = 0;
      for (let i = 0; i < 40; i++) {
        maxBuffered = Math.max(maxBuffered, writer!.bufferSize + raws[0].writableLength);
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(paused).to.equal(true);
      expect(sent).to.be.lessThan(TOTAL);
      expect(maxBuffered, 'writer bufferSize').to.be.lessThan(4 * MiB);
      expect(maxRss - rssBefore, 'rss growth while stalled').to.be.lessThan(64 * MiB);
      client.resume();
      await until(() => got === TOTAL, 'all bytes received');
      await clientClosed;
      expect(falses).to.be.greaterThan(0);
      expect(gotHash.digest('hex')).to.equal(sentHash.digest('hex'));
      await expectNoUncaught();
    });
  });
});


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

import { TimeoutError, createConnection, createServer, type Server, type Transport } from '../../lib/protocol';
import * as mtls from '../../lib/tls';
import { readCert, SERVER_NAME } from '../helpers/certs';
import { clientContext, serverContext } from '../helpers/pair';
import { listenRaw, RecordingProtocol, until } from '../helpers/protocol';
import { SocketPump } from '../helpers/socket-pump';

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;

// --- hooks: cleanup and the uncaught-error guard -------------------------------

let cleanups: Array<() => unknown> = [];
let uncaught: unknown[] = [];
const recordUncaught = (error: unknown): void => {
  uncaught.push(error);
};

beforeEach(() => {
  uncaught = [];
  process.on('uncaughtException', recordUncaught);
  process.on('unhandledRejection', recordUncaught);
});

afterEach(async () => {
  const pending = cleanups.reverse();
  cleanups = [];
  for (const cleanup of pending) {
    try {
      await cleanup();
    } catch {
      // teardown of an already broken connection
    }
  }
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

function countEvents(emitter: NodeJS.EventEmitter, names: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) {
    counts[name] = 0;
    emitter.on(name, () => counts[name]++);
  }
  return counts;
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
  cleanups.push(async () => {
    server.closeClients();
    await server.waitClosed();
  });
  return { server, port: server.address().port, protocols, raws };
}

/** A raw socket, connected, for createConnection({ sock }); destroyed at cleanup. */
async function rawConnect(port: number, allowHalfOpen = true): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port, allowHalfOpen });
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

async function protoClient(
  port: number,
  protocol = new RecordingProtocol(),
  extra: { sslShutdownTimeout?: number } = {},
): Promise<{ transport: Transport; protocol: RecordingProtocol; raw: net.Socket }> {
  const raw = await rawConnect(port);
  const [transport] = await createConnection(() => protocol, {
    sock: raw,
    ssl: clientContext(),
    serverHostname: SERVER_NAME,
    ...extra,
  });
  cleanups.push(() => transport.abort());
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
  cleanups.push(server.close);
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
  cleanups.push(
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
  cleanups.push(() => socket.destroy());
  return socket;
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


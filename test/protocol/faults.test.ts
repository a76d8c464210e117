/**
 * memtls/protocol under faults, over real loopback sockets: peers that hang
 * up or reset during the handshake, refuse our certificate, speak HTTP,
 * corrupt the record stream, never answer close_notify, or keep talking
 * while we close; plus the application's own mistakes (throwing callbacks,
 * writes after close, a second close) and the leaks CPython once had.
 *
 * Peers are node:tls servers, raw net sockets, a core SSLObject driven over
 * a raw socket (SocketPump, which does only what the test tells it: it never
 * answers close_notify on its own), and our own createServer.
 *
 * Each `it` names the upstream scenario it ports
 * (T-P* test_sslproto, T-S* test_ssl, T-U* uvloop, E* the extra
 * experiments, PIT-* the pitfalls).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

import {
  PROTOCOL_TLS_SERVER,
  SSLCertVerificationError,
  SSLContext,
  SSLEOFError,
  SSLError,
  SSLObject,
} from '../../lib';
import {
  AppProtocolState,
  ConnectionAbortedError,
  ConnectionResetError,
  SSLProtocol,
  SSLProtocolState,
  SSLProtocolTransport,
  SocketTransport,
  TimeoutError,
  Waiter,
  createConnection,
  createServer,
  type CreateConnectionOptions,
  type NodeEventLoop,
  type Server,
} from '../../lib/protocol';
import { certPath, readCert, SERVER_NAME } from '../helpers/certs';
import { survivors, track } from '../helpers/leak-check';
import { clientContext, serverContext } from '../helpers/pair';
import { Deferred, listenRaw, RecordingProtocol, recordingLoop, tick, until } from '../helpers/protocol';
import { SocketPump } from '../helpers/socket-pump';

const HOST = '127.0.0.1';
const KiB = 1024;

// --- cleanup ------------------------------------------------------------------

/** Undone in reverse order after each test: transports, sockets, servers. */
let cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  const pending = cleanups.reverse();
  cleanups = [];
  for (const cleanup of pending) await cleanup();
});

// --- small tools ----------------------------------------------------------------

/** A FIFO whose shift() waits for the next push. */
class Queue<T> {
  #items: T[] = [];
  #waiters: Array<(item: T) => void> = [];
  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(item);
    else this.#items.push(item);
  }
  shift(): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** Resolves when `socket` emits 'close' (attach it right after the socket exists). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The error a promise rejects with; fails the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/**
 * Fails with `what` if `promise` has not settled after `ms`: a generous bound
 * that turns "this never happens" into a readable failure instead of a mocha
 * timeout. Not a timing assertion.
 */
async function eventually<T>(promise: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`never happened: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deterministic payload: chunk i is filled with byte i. */
function chunks(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(size, i & 0xff));
}

function sha256(data: Buffer | Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of Array.isArray(data) ? data : [data]) hash.update(part);
  return hash.digest('hex');
}

/** Collects `process.emitWarning` warnings with `code` until stop() is called. */
function captureWarnings(code: string): { warnings: Error[]; stop: () => void } {
  const warnings: Error[] = [];
  const listener = (warning: Error & { code?: string }): void => {
    if (warning.code === code) warnings.push(warning);
  };
  process.on('warning', listener);
  const stop = (): void => {
    process.off('warning', listener);
  };
  cleanups.push(stop);
  return { warnings, stop };
}

// --- peers ----------------------------------------------------------------------

interface Accepted {
  socket: net.Socket;
  /** The socket closed (both directions done). */
  closed: Promise<void>;
  /** The peer's FIN arrived, or the socket closed: the server saw the connection go. */
  ended: Promise<void>;
}

function accepted(socket: net.Socket): Accepted {
  const ended = new Promise<void>((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  return { socket, closed: closed(socket), ended };
}

/** A raw TCP server on 127.0.0.1:0; `onSocket` decides what it does with each connection. */
async function rawServer(onSocket: (socket: net.Socket) => void = (socket) => socket.resume()) {
  const connections = new Queue<Accepted>();
  const all: Accepted[] = [];
  const server = await listenRaw((socket) => {
    const connection = accepted(socket);
    all.push(connection);
    connections.push(connection);
    onSocket(socket);
  });
  cleanups.push(server.close);
  return { port: server.port, next: () => connections.shift(), all };
}

/**
 * A raw TCP server whose connections are TLS server endpoints built from a
 * core SSLObject (SocketPump): the test drives every TLS step by hand.
 */
async function pumpServer() {
  const pumps = new Queue<SocketPump>();
  const server = await listenRaw((socket) => pumps.push(new SocketPump(serverContext(), socket, { serverSide: true })));
  cleanups.push(server.close);
  return { port: server.port, next: () => pumps.shift() };
}

/** A node:tls server (server-ec.pem unless `options` says otherwise) on 127.0.0.1:0. */
async function nodeTlsServer(options: tls.TlsOptions = {}) {
  const server = tls.createServer({ cert: readCert('server-ec.pem'), key: readCert('server-ec.key'), ...options });
  const secure = new Queue<tls.TLSSocket>();
  const clientErrors = new Queue<Error>();
  const tcp = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    tcp.add(socket);
    socket.once('close', () => tcp.delete(socket));
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    socket.on('error', () => undefined);
    secure.push(socket);
  });
  server.on('tlsClientError', (error: Error) => clientErrors.push(error));
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of tcp) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    nextSecure: () => secure.shift(),
    nextClientError: () => clientErrors.shift(),
  };
}

/** Our own TLS server; its connections are aborted and it stops listening at cleanup. */
async function ourServer(factory: () => RecordingProtocol, options: { ssl?: SSLContext; loop?: NodeEventLoop; sslShutdownTimeout?: number } = {}) {
  const server: Server = await createServer(factory, { host: HOST, port: 0, ssl: serverContext(), ...options });
  const connections = new Queue<Accepted>();
  server.netServer.on('connection', (socket: net.Socket) => connections.push(accepted(socket)));
  cleanups.push(async () => {
    server.closeClients();
    await server.waitClosed();
  });
  return { server, port: server.address().port, nextConnection: () => connections.shift() };
}

/** A plain TCP client socket (closing once the server has closed), destroyed at cleanup. */
async function rawClient(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port });
  socket.on('error', () => undefined);
  cleanups.push(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

// --- our client -----------------------------------------------------------------

function clientOptions(port: number, extra: Partial<CreateConnectionOptions> = {}): CreateConnectionOptions {
  return { host: HOST, port, ssl: clientContext(), serverHostname: SERVER_NAME, ...extra };
}

/** createConnection with `app`; the transport and its socket are torn down at cleanup. */
async function connectTls(
  port: number,
  app: RecordingProtocol = new RecordingProtocol(),
  extra: Partial<CreateConnectionOptions> = {},
): Promise<{ transport: SSLProtocolTransport; app: RecordingProtocol; socket: net.Socket; sslProtocol: SSLProtocol }> {
  const [transport] = await createConnection(() => app, clientOptions(port, extra));
  const ssl = transport as SSLProtocolTransport;
  const socket = ssl.getExtraInfo('socket') as net.Socket;
  const sslProtocol = ssl.sslProtocol!;
  cleanups.push(() => {
    ssl.abort();
    socket.destroy();
  });
  return { transport: ssl, app, socket, sslProtocol };
}

/** createConnection that is expected to fail; a success is cleaned up and fails the test. */
async function failedConnection(port: number, app: RecordingProtocol, extra: Partial<CreateConnectionOptions> = {}): Promise<Error> {
  const attempt = createConnection(() => app, clientOptions(port, extra));
  attempt.then(([transport]) => cleanups.push(() => transport.abort())).catch(() => undefined);
  return rejectionOf(attempt);
}

/**
 * An SSLProtocol and SocketTransport wired by hand over a fresh TCP
 * connection, as createConnection does, but without awaiting the handshake.
 */
async function manualClient(port: number, options: { loop: NodeEventLoop; sslHandshakeTimeout?: number }) {
  const socket = net.connect({ host: HOST, port, allowHalfOpen: true });
  cleanups.push(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const socketClosed = closed(socket);
  const app = new RecordingProtocol();
  const waiter = new Waiter();
  const sslProtocol = new SSLProtocol(options.loop, app, clientContext(), waiter, {
    serverHostname: SERVER_NAME,
    sslHandshakeTimeout: options.sslHandshakeTimeout,
  });
  new SocketTransport(socket, sslProtocol, { loop: options.loop });
  const appTransport = sslProtocol.appTransport!;
  return { socket, socketClosed, app, waiter, sslProtocol, appTransport };
}

/** Settles to 'resolved' or the rejection error. */
function outcome(promise: Promise<unknown>): Promise<'resolved' | Error> {
  return promise.then(
    () => 'resolved' as const,
    (error: Error) => error,
  );
}

// =================================================================================

describe('protocol faults over loopback sockets', function () {
  this.timeout(8000);

  describe('the peer goes away during the handshake', () => {
    // T-P3 test_eof_received_waiter, E12, T-S6 test_ssl_handshake_connection_lost:
    // the server reads the ClientHello and sends FIN.
    it('rejects with ConnectionResetError on FIN, and the app protocol hears nothing', async () => {
      const raw = await rawServer((socket) => socket.once('data', () => socket.end()));
      const { loop, messages } = recordingLoop();
      const app = new RecordingProtocol();

      const error = await failedConnection(raw.port, app, { loop });
      expect(error).to.be.instanceOf(ConnectionResetError);
      expect((error as ConnectionResetError).code).to.equal('ECONNRESET');

      const { closed: serverSide } = await raw.next();
      await serverSide; // our side closed the socket after the failure
      await tick();
      await tick();
      expect(app.events).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });

    // T-S6 / E12 with a reset instead of an orderly FIN.
    it('rejects with an ECONNRESET error on RST, and the app protocol hears nothing', async () => {
      const raw = await rawServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
      const { loop, messages } = recordingLoop();
      const app = new RecordingProtocol();

      const error = await failedConnection(raw.port, app, { loop });
      expect((error as NodeJS.ErrnoException).code).to.equal('ECONNRESET');

      await tick();
      await tick();
      expect(app.events).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });
  });

  describe('certificate verification fails', () => {
    function unknownCaServerContext(): SSLContext {
      const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
      ctx.loadCertChain(certPath('unknown-ca.pem'), certPath('unknown-ca.key'));
      return ctx;
    }

    // T-P23 / T-S4 test_create_connection_ssl_failed_certificate, E5, PIT-20:
    // a verifying client against a node:tls server whose CA it does not know.
    it('rejects with SSLCertVerificationError (verifyCode 20) and node:tls hears our alert', async () => {
      const peer = await nodeTlsServer({ cert: readCert('unknown-ca.pem'), key: readCert('unknown-ca.key') });
      const { loop, messages } = recordingLoop();
      const app = new RecordingProtocol();

      const error = await failedConnection(peer.port, app, { loop });
      expect(error).to.be.instanceOf(SSLCertVerificationError);
      expect((error as SSLCertVerificationError).verifyCode).to.equal(20);

      // The server's handshake fails too; since the alert is flushed before we
      // close (PIT-20, our improvement on CPython), it names the reason.
      const serverError = await peer.nextClientError();
      expect(serverError.message).to.match(/unknown ca/i);
      await tick();
      expect(app.events).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });

    // T-P23 / T-S4 against our own createServer: both sides fail, neither app protocol starts.
    it('fails on both sides against our createServer with an unknown-CA certificate', async () => {
      const { loop, messages } = recordingLoop();
      const serverApps: RecordingProtocol[] = [];
      const ours = await ourServer(
        () => {
          const app = new RecordingProtocol();
          serverApps.push(app);
          return app;
        },
        { ssl: unknownCaServerContext(), loop },
      );
      const app = new RecordingProtocol();

      const error = await failedConnection(ours.port, app, { loop });
      expect(error).to.be.instanceOf(SSLCertVerificationError);
      expect((error as SSLCertVerificationError).verifyCode).to.equal(20);

      const connection = await ours.nextConnection();
      await connection.closed; // the server side closed its socket
      await tick();
      expect(serverApps).to.have.length(1);
      expect(serverApps[0].events).to.deep.equal([]);
      expect(app.events).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });
  });

  // §3.5 "HTTP sent to a TLS server" (SSLError HTTP_REQUEST on the server side).
  it('closes a connection that speaks HTTP to our TLS server, and serves the next client', async () => {
    const { loop, messages } = recordingLoop();
    const serverApps: RecordingProtocol[] = [];
    const ours = await ourServer(
      () => {
        const app = new RecordingProtocol();
        app.onData = (data, self) => self.transport!.write(data); // echo
        serverApps.push(app);
        return app;
      },
      { loop },
    );

    const http = await rawClient(ours.port);
    const httpClosed = closed(http);
    const connection = await ours.nextConnection();
    http.resume();
    http.write('GET / HTTP/1.1\r\n\r\n');
    await connection.closed; // the server closed its side
    await httpClosed; // and the raw client saw the connection go
    await tick();
    expect(serverApps).to.have.length(1);
    expect(serverApps[0].events).to.deep.equal([]);

    // A well-behaved client afterwards is served normally.
    const { transport, app } = await connectTls(ours.port, new RecordingProtocol(), { loop });
    transport.write(Buffer.from('ping'));
    expect((await app.receivedAtLeast(4)).toString()).to.equal('ping');
    transport.close();
    expect(await app.lost.promise).to.equal(null);
    expect(serverApps).to.have.length(2);
    expect(serverApps[1].names[0]).to.equal('cm');
    expect(messages).to.deep.equal([]);
  });

  // E10, T-P24 / T-S9 test_start_tls_client_corrupted_ssl: valid records, then
  // raw garbage on the same socket.
  it('delivers the data before garbage, then loses the connection with an SSLError (no handler call)', async () => {
    const peer = await pumpServer();
    const { loop, messages } = recordingLoop();
    const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
    const pump = await peer.next();
    await pump.handshake();
    const { app, transport } = await connecting;

    await pump.send(Buffer.from('A\n'));
    expect((await app.receivedAtLeast(2)).toString()).to.equal('A\n');
    pump.socket.write(Buffer.from('this is not a TLS record, just garbage bytes\n'.repeat(4)));

    const lost = await app.lost.promise;
    expect(lost).to.be.instanceOf(SSLError);
    expect((lost as SSLError).reason).to.be.oneOf([
      'WRONG_VERSION_NUMBER',
      'DECRYPTION_FAILED_OR_BAD_RECORD_MAC',
      'BAD_RECORD_MAC',
      'PACKET_LENGTH_TOO_LONG',
    ]);
    expect(app.names).to.deep.equal(['cm', 'dr', 'cl']);
    expect(app.received.toString()).to.equal('A\n');
    expect(() => transport.close()).not.to.throw();
    expect(messages).to.deep.equal([]);
  });

  // E11 / SP-26: the application's dataReceived throws.
  it('reports an exception from dataReceived to the handler once and to connectionLost', async () => {
    const peer = await pumpServer();
    const { loop, messages } = recordingLoop();
    const bug = new RangeError('application bug in dataReceived');
    const recording = new RecordingProtocol();
    recording.onData = () => {
      throw bug;
    };
    const connecting = connectTls(peer.port, recording, { loop });
    const pump = await peer.next();
    await pump.handshake();
    const { app } = await connecting;

    await pump.send(Buffer.from('boom'));
    expect(await app.lost.promise).to.equal(bug);
    expect(messages).to.have.length(1);
    expect(messages[0].message).to.equal('Fatal error on SSL protocol');
    expect(messages[0].exception).to.equal(bug);
    expect(app.names).to.deep.equal(['cm', 'dr', 'cl']);
  });

  describe('the peer closes', () => {
    // E1 / SP-29: the node:tls server sends data and close_notify.
    it("reports ['cm','dr','eof','cl'] with cl(null) on the peer's close_notify", async () => {
      const peer = await nodeTlsServer();
      const { loop, messages } = recordingLoop();
      const { app } = await connectTls(peer.port, new RecordingProtocol(), { loop });
      const serverSocket = await peer.nextSecure();
      serverSocket.end('hello');

      expect(await app.lost.promise).to.equal(null);
      expect(app.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
      expect(app.received.toString()).to.equal('hello');
      expect(messages).to.deep.equal([]);
    });

    // E2 / SP-EOF: TCP FIN after data, without close_notify (CPython semantics: a clean close).
    it("reports ['cm','dr','eof','cl'] with cl(null) on a TCP FIN without close_notify", async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
      const pump = await peer.next();
      await pump.handshake();
      const { app } = await connecting;

      await pump.send(Buffer.from('data'));
      await app.receivedAtLeast(4);
      pump.socket.end(); // FIN, no unwrap()

      expect(await app.lost.promise).to.equal(null);
      expect(app.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
      expect(app.received.toString()).to.equal('data');
      expect(messages).to.deep.equal([]);
    });
  });

  // E7 / SP-20: abort() sends no close_notify and reports connectionLost(null).
  it('abort() loses the connection with null and the peer sees a close without close_notify', async () => {
    const peer = await pumpServer();
    const { loop, messages } = recordingLoop();
    const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
    const pump = await peer.next();
    await pump.handshake();
    const { app, transport } = await connecting;
    await pump.send(Buffer.from('ping'));
    await app.receivedAtLeast(4); // nothing left unread, so the close is a FIN, not a reset
    const peerSawEnd = outcome(pump.receiveUntilEnd());

    transport.abort();
    expect(transport.isClosing()).to.equal(true);
    expect(await app.lost.promise).to.equal(null);
    const peerOutcome = await peerSawEnd;
    expect(peerOutcome).to.be.instanceOf(SSLEOFError); // the socket ended, with no close_notify
    expect(app.names).to.deep.equal(['cm', 'dr', 'cl']);
    expect(messages).to.deep.equal([]);
  });

  describe('shutdown timeout: the peer never answers close_notify', () => {
    // T-U2 test_shutdown_timeout, E3, PIT-9, SP-19: our client closes.
    it("client close(): connectionLost(TimeoutError('SSL shutdown timed out'))", async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop, sslShutdownTimeout: 0.2 });
      const pump = await peer.next();
      await pump.handshake(); // and then never reads or unwraps
      const { app, transport } = await connecting;

      transport.close();
      const lost = await app.lost.promise;
      expect(lost).to.be.instanceOf(TimeoutError);
      expect(lost!.message).to.equal('SSL shutdown timed out');
      expect(app.names).to.deep.equal(['cm', 'cl']);
      expect(messages).to.deep.equal([]);
    });

    // T-U2 from the server side: our createServer closes, the raw client stays silent.
    it("server close(): connectionLost(TimeoutError('SSL shutdown timed out'))", async () => {
      const { loop, messages } = recordingLoop();
      const serverApp = new Deferred<RecordingProtocol>();
      const ours = await ourServer(
        () => {
          const app = new RecordingProtocol();
          app.made.promise.then((transport) => transport.close());
          serverApp.resolve(app);
          return app;
        },
        { loop, sslShutdownTimeout: 0.2 },
      );
      const socket = await rawClient(ours.port);
      const pump = new SocketPump(clientContext(), socket, { serverHostname: SERVER_NAME });
      await pump.handshake(); // and then never unwraps

      const app = await serverApp.promise;
      const lost = await app.lost.promise;
      expect(lost).to.be.instanceOf(TimeoutError);
      expect(lost!.message).to.equal('SSL shutdown timed out');
      expect(app.names).to.deep.equal(['cm', 'cl']);
      expect(messages).to.deep.equal([]);
    });
  });

  // T-P21 test_handshake_timeout, T-S3 / T-P22 slow handshake, E4, SP-11.
  it('handshake timeout: rejects with ConnectionAbortedError and the silent server sees the close', async () => {
    const raw = await rawServer(); // reads the ClientHello, never answers
    const { loop, messages } = recordingLoop();
    const app = new RecordingProtocol();

    const error = await failedConnection(raw.port, app, { loop, sslHandshakeTimeout: 0.2 });
    expect(error).to.be.instanceOf(ConnectionAbortedError);
    expect(error.message).to.match(/SSL handshake is taking longer than 0\.2 seconds/);

    const { ended } = await raw.next();
    await ended; // the silent server sees our side close
    await tick();
    expect(app.events).to.deep.equal([]);
    expect(messages).to.deep.equal([]);
  });

  describe('no leaks on timeouts (PIT-8)', () => {
    /**
     * A handshake that times out against a silent server, set up by hand so
     * the SSLProtocol itself can be tracked. Everything strong lives in this
     * function's frame; only WeakRefs and the rejection error come out.
     */
    async function timedOutHandshake(port: number, loop: NodeEventLoop) {
      const client = await manualClient(port, { loop, sslHandshakeTimeout: 0.2 });
      const tracked = [
        track('SSLProtocol', client.sslProtocol),
        track('app protocol', client.app),
        track('app transport', client.appTransport),
        track('SSLContext', client.sslProtocol.getExtraInfo('sslcontext') as object),
      ];
      const error = await rejectionOf(client.waiter.promise);
      await client.socketClosed;
      return { tracked, error };
    }

    // T-S20 test_handshake_timeout_handler_leak: the handshake timer must not
    // keep the protocol and its context alive.
    it('frees the SSLProtocol, app protocol and SSLContext after a handshake timeout', async () => {
      const raw = await rawServer();
      const { loop, messages } = recordingLoop();
      const { tracked, isAbort } = await timedOutHandshake(raw.port, loop).then(({ tracked, error }) => ({
        tracked,
        isAbort: error instanceof ConnectionAbortedError,
      }));
      expect(isAbort).to.equal(true);
      expect(await survivors(tracked)).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });

    // T-S21 test_shutdown_timeout_handler_leak: likewise the shutdown timer.
    it('frees the SSLProtocol, app protocol and SSLContext after a shutdown timeout', async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();

      const run = async () => {
        const connecting = createConnection(() => new RecordingProtocol(), clientOptions(peer.port, { loop, sslShutdownTimeout: 0.2 }));
        const pump = await peer.next();
        await pump.handshake(); // then silent
        const [transport, app] = await connecting;
        const sslProtocol = (transport as SSLProtocolTransport).sslProtocol!;
        const socket = transport.getExtraInfo('socket') as net.Socket;
        const socketClosed = closed(socket);
        const tracked = [
          track('SSLProtocol', sslProtocol),
          track('app protocol', app),
          track('app transport', transport),
          track('SSLContext', transport.getExtraInfo('sslcontext') as object),
        ];
        transport.close();
        const lost = await app.lost.promise;
        await socketClosed;
        return { tracked, timedOut: lost instanceof TimeoutError && lost.message === 'SSL shutdown timed out' };
      };
      const { tracked, timedOut } = await run();
      expect(timedOut).to.equal(true);
      expect(await survivors(tracked)).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });

    // PIT-8, the JS form of gh-109534 (exception -> traceback -> frame): an
    // application that keeps the error it was handed must not keep the
    // connection's objects with it. (V8 keeps the receivers of the frames
    // an Error was created in until its .stack is first read.)
    it('holding the handshake-timeout error does not keep the SSLProtocol or SSLContext alive', async () => {
      const raw = await rawServer();
      const { loop, messages } = recordingLoop();
      const { tracked, error } = await timedOutHandshake(raw.port, loop);
      expect(await survivors(tracked)).to.deep.equal([]);
      expect(error).to.be.instanceOf(ConnectionAbortedError); // still held until here
      expect(messages).to.deep.equal([]);
    });
  });

  // T-U4 test_write_to_closed_transport, E6, T-P11 test_write_after_closing, SP-21/SP-23.
  it('drops writes after close() silently; rejects non-bytes; has no writeEof', async () => {
    const peer = await nodeTlsServer();
    const { loop, messages } = recordingLoop();
    const { transport, app } = await connectTls(peer.port, new RecordingProtocol(), { loop });
    const serverSocket = await peer.nextSecure();
    const serverGot: Buffer[] = [];
    serverSocket.on('data', (chunk: Buffer) => serverGot.push(chunk));
    const serverEnded = new Promise<void>((resolve) => serverSocket.once('end', () => resolve()));
    const captured = captureWarnings('MEMTLS_WRITE_AFTER_CLOSE');

    transport.write(Buffer.from('before'));
    transport.close();
    for (let i = 0; i < 8; i++) expect(() => transport.write(Buffer.from('data'))).not.to.throw();
    expect(transport.getWriteBufferSize()).to.equal(0);
    expect(() => transport.write('str' as unknown as Uint8Array)).to.throw(TypeError);
    expect(() => transport.writeEof()).to.throw();
    expect(transport.canWriteEof()).to.equal(false);

    await serverEnded;
    expect(Buffer.concat(serverGot).toString()).to.equal('before');
    expect(await app.lost.promise).to.equal(null);
    await tick();
    captured.stop();
    // 8 writes after close: the threshold (5) lets the last 3 warn (E6).
    expect(captured.warnings.map((w) => w.message)).to.deep.equal(Array(3).fill('SSL connection is closed'));
    expect(messages).to.deep.equal([]);
  });

  // T-P10 test_data_received_after_closing, PIT-3: application data the peer
  // sends after our close_notify, and bytes after connectionLost, are ignored.
  it('ignores data that arrives after close() without error', async () => {
    const peer = await pumpServer();
    const { loop, messages } = recordingLoop();
    const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
    const pump = await peer.next();
    await pump.handshake();
    const { app, transport, sslProtocol } = await connecting;

    transport.close();
    // The peer reads our close_notify, keeps sending, then answers.
    expect((await pump.receiveUntilEnd()).length).to.equal(0);
    await pump.send(Buffer.alloc(64 * KiB, 0x61));
    await pump.close();

    expect(await app.lost.promise).to.equal(null);
    expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
    // Bytes after the connection is gone are ignored as well.
    expect(sslProtocol.state).to.equal(SSLProtocolState.UNWRAPPED);
    expect(() => sslProtocol.dataReceived(Buffer.from('hello'))).not.to.throw();
    expect(() => sslProtocol.eofReceived()).not.to.throw();
    await tick();
    expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
    expect(messages).to.deep.equal([]);
  });

  // T-P8 test_get_extra_info_on_closed_connection, SP-X1/SP-X2.
  it('getExtraInfo: socket, peercert, cipher, sslObject, sslcontext, peername, sockname; socket gone after loss', async () => {
    const peer = await nodeTlsServer();
    const { loop, messages } = recordingLoop();
    const ctx = clientContext();
    const { transport, app, socket } = await connectTls(peer.port, new RecordingProtocol(), { loop, ssl: ctx });

    expect(transport.getExtraInfo('socket')).to.equal(socket);
    expect(socket).to.be.instanceOf(net.Socket);
    const peercert = transport.getExtraInfo('peercert') as { subject: Record<string, string> };
    expect(peercert.subject.CN).to.equal('localhost');
    const cipher = transport.getExtraInfo('cipher') as [string, string, number];
    expect(cipher).to.have.length(3);
    expect(cipher.map((part) => typeof part)).to.deep.equal(['string', 'string', 'number']);
    const sslObject = transport.getExtraInfo('sslObject') as SSLObject;
    expect(sslObject).to.be.instanceOf(SSLObject);
    expect(sslObject.cipher()).to.deep.equal(cipher);
    expect(transport.getExtraInfo('sslcontext')).to.equal(ctx);
    expect(transport.getExtraInfo('peername')).to.deep.equal([HOST, peer.port]);
    const sockname = transport.getExtraInfo('sockname') as [string, number];
    expect(sockname[0]).to.equal(HOST);
    expect(sockname[1]).to.equal(socket.localPort);
    expect(transport.getExtraInfo('no such thing', 'fallback')).to.equal('fallback');

    transport.close();
    expect(await app.lost.promise).to.equal(null);
    expect(transport.getExtraInfo('socket')).to.equal(undefined);
    expect(transport.getExtraInfo('socket', 'gone')).to.equal('gone');
    expect(transport.getExtraInfo('peercert', 'gone')).to.equal('gone');
    expect(messages).to.deep.equal([]);
  });

  // PIT-13 / SP-14 (gh-98539): after a second close() every method is a harmless no-op.
  it('a second close() detaches the transport; every method is then a no-op', async () => {
    const peer = await nodeTlsServer();
    const { loop, messages } = recordingLoop();
    const { transport, app } = await connectTls(peer.port, new RecordingProtocol(), { loop });
    const serverSocket = await peer.nextSecure();
    serverSocket.resume();

    transport.close();
    transport.close();
    expect(transport.sslProtocol).to.equal(null);
    expect(() => {
      transport.write(Buffer.from('x'));
      transport.writelines([Buffer.from('y')]);
      transport.pauseReading();
      transport.resumeReading();
      transport.setWriteBufferLimits(1024);
      transport.setReadBufferLimits(1024);
      transport.abort();
      transport.close();
    }).not.to.throw();
    expect(transport.getExtraInfo('socket', 'default')).to.equal('default');
    expect(transport.getWriteBufferSize()).to.equal(0);
    expect(transport.getReadBufferSize()).to.equal(0);
    expect(transport.isClosing()).to.equal(true);
    expect(transport.isReading()).to.equal(false);

    // The graceful close that the first close() started still completes
    // (the peer answers close_notify, which the app hears as eof).
    expect(await app.lost.promise).to.equal(null);
    expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
    expect(messages).to.deep.equal([]);
  });

  // PIT-14 (CVE-2026-19553): serverHostname '' with a hostname-checking context.
  it("refuses serverHostname '' with a context that checks hostnames (ERR_MISSING_OPTION)", async () => {
    const raw = await rawServer();
    const ctx = clientContext();
    expect(ctx.checkHostname).to.equal(true);
    const app = new RecordingProtocol();

    const error = await rejectionOf(
      (async () => createConnection(() => app, { host: HOST, port: raw.port, ssl: ctx, serverHostname: '' }))(),
    );
    expect(error).to.be.instanceOf(TypeError);
    expect((error as NodeJS.ErrnoException).code).to.equal('ERR_MISSING_OPTION');
    expect(app.events).to.deep.equal([]);

    // No TCP connection may be left behind. A probe connected now is accepted
    // after any connection the failed attempt made; each of those must end.
    const probe = await rawClient(raw.port);
    await until(() => raw.all.some(({ socket }) => socket.remotePort === probe.localPort), 'the probe to be accepted');
    const leftovers = raw.all.filter(({ socket }) => socket.remotePort !== probe.localPort);
    await eventually(Promise.all(leftovers.map(({ ended }) => ended)), 'the failed attempt closed its TCP connection');
  });

  describe('data written before close() is not lost', () => {
    // T-S17 test_flush_before_shutdown, T-U5: close() while the socket is
    // "paused" must still send the whole backlog before close_notify.
    it('flushes 4 MiB buffered while paused before close_notify', async () => {
      const peer = await nodeTlsServer();
      const { loop, messages } = recordingLoop();
      const { transport, app, sslProtocol } = await connectTls(peer.port, new RecordingProtocol(), { loop });
      const serverSocket = await peer.nextSecure();
      const serverGot: Buffer[] = [];
      serverSocket.on('data', (chunk: Buffer) => serverGot.push(chunk));
      const atEnd = new Promise<number>((resolve) =>
        serverSocket.once('end', () => resolve(serverGot.reduce((n, c) => n + c.length, 0))),
      );

      const data = chunks(32, 128 * KiB);
      sslProtocol.pauseWriting(); // as if the socket had asked us to stop
      for (const chunk of data) transport.write(chunk);
      transport.close();
      expect(transport.getWriteBufferSize()).to.be.at.least(4096 * KiB);
      sslProtocol.resumeWriting();

      expect(await atEnd).to.equal(4096 * KiB);
      expect(sha256(serverGot)).to.equal(sha256(data));
      expect(await app.lost.promise).to.equal(null);
      expect(messages).to.deep.equal([]);
    });

    // T-S18 (a) test_remote_shutdown_receives_trailing_data, T-U6, PIT-3: the
    // peer sends close_notify while 4 MiB sit in our backlog.
    it("sends the whole backlog after the peer's close_notify, then closes cleanly (node:tls)", async () => {
      const peer = await nodeTlsServer();
      const { loop, messages } = recordingLoop();
      const { transport, app } = await connectTls(peer.port, new RecordingProtocol(), { loop });
      const serverSocket = await peer.nextSecure();
      const serverGot: Buffer[] = [];
      serverSocket.on('data', (chunk: Buffer) => serverGot.push(chunk));
      const atEnd = new Promise<number>((resolve) =>
        serverSocket.once('end', () => resolve(serverGot.reduce((n, c) => n + c.length, 0))),
      );

      const data = chunks(32, 128 * KiB);
      for (const chunk of data) transport.appendWriteBacklogForTest(chunk);
      serverSocket.end(); // close_notify (and FIN) without waiting for our data

      expect(await atEnd).to.equal(4096 * KiB);
      expect(sha256(serverGot)).to.equal(sha256(data));
      const lost = await app.lost.promise;
      expect(lost, String(lost)).to.equal(null); // no APPLICATION_DATA_AFTER_CLOSE_NOTIFY
      expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });

    // T-S18 (b): the same with a peer that only sends TCP FIN (SHUT_WR).
    it('sends the whole backlog after the peer half-closes TCP without close_notify', async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
      const pump = await peer.next();
      await pump.handshake();
      const { transport, app } = await connecting;

      const data = chunks(32, 128 * KiB);
      for (const chunk of data) transport.appendWriteBacklogForTest(chunk);
      pump.socket.end(); // FIN only; the pump keeps reading
      const got = await pump.receiveExactly(4096 * KiB);

      expect(sha256(got)).to.equal(sha256(data));
      expect(await app.lost.promise).to.equal(null);
      expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });
  });

  describe('the peer keeps talking while we close', () => {
    // T-U10 test_bpo_39951_discard_trailing_data, PIT-3: trailing data as we close.
    it('close() while a node:tls server sends trailing data: connectionLost(null)', async () => {
      const peer = await nodeTlsServer();
      const { loop, messages } = recordingLoop();
      const { transport, app } = await connectTls(peer.port, new RecordingProtocol(), { loop });
      const serverSocket = await peer.nextSecure();
      serverSocket.resume();

      serverSocket.write(Buffer.alloc(256 * KiB, 0x74)); // "trailing", in flight as we close
      transport.close();

      const lost = await app.lost.promise;
      expect(lost, String(lost)).to.equal(null);
      expect(messages).to.deep.equal([]);
    });

    // T-U10 with a peer that sends application data after it has read our close_notify.
    it('close() while the peer sends data after our close_notify: connectionLost(null)', async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
      const pump = await peer.next();
      await pump.handshake();
      const { app, transport } = await connecting;

      transport.close();
      await pump.send(Buffer.from('trailing'));
      await pump.send(Buffer.alloc(100 * KiB, 0x74));
      expect((await pump.receiveUntilEnd()).length).to.equal(0);
      await pump.close();

      const lost = await app.lost.promise;
      expect(lost, String(lost)).to.equal(null);
      expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });

    // T-U9 test_shutdown_while_pause_reading.
    it('pauseReading() then close(): eofReceived, connectionLost(null), and the peer sees close_notify', async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
      const pump = await peer.next();
      await pump.handshake();
      const { app, transport, sslProtocol } = await connecting;

      transport.pauseReading();
      await pump.send(Buffer.from('trailing data'));
      await until(() => sslProtocol.getReadBufferSize() > 0, 'the trailing data to reach the paused client');
      transport.close();

      // The peer reads a proper close_notify (an EOF without it would reject).
      expect((await pump.receiveUntilEnd()).length).to.equal(0);
      await pump.close();

      expect(await app.lost.promise).to.equal(null);
      expect(app.names).to.include('eof');
      expect(app.names.slice(-2)).to.deep.equal(['eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });

    // T-S22 test_shutdown_timeout_handler_not_set (CPython semantics, not uvloop's T-U8).
    it('delivers data that came before a TCP FIN while reading was paused, then connectionLost(null)', async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
      const pump = await peer.next();
      await pump.handshake();
      const { app, transport, sslProtocol } = await connecting;

      await pump.send(Buffer.from('hello'));
      expect((await app.receivedAtLeast(5)).toString()).to.equal('hello');
      transport.write(Buffer.from('world'));
      transport.pauseReading();
      expect((await pump.receiveExactly(5)).toString()).to.equal('world');
      await pump.send(Buffer.from('extra bytes'));
      pump.socket.end(); // FIN without close_notify
      await until(() => sslProtocol.state === SSLProtocolState.FLUSHING, 'the FIN to reach the paused client');
      expect(app.received.toString()).to.equal('hello');

      transport.resumeReading();
      expect(await app.lost.promise).to.equal(null);
      expect(app.received.toString()).to.equal('helloextra bytes');
      expect(app.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });
  });

  describe('close and abort before, during and after the handshake', () => {
    // Before the lower transport's connectionMade (the handshake has not
    // started): the application closed or aborted its transport, so the
    // connection must not come alive afterwards. A node:tls server that would
    // complete the handshake is the peer.
    for (const how of ['close', 'abort'] as const) {
      it(`${how}() before the handshake starts: the app never sees connectionMade and the socket closes`, async () => {
        const peer = await nodeTlsServer();
        const { loop, messages } = recordingLoop();
        const client = await manualClient(peer.port, { loop });
        expect(client.sslProtocol.state).to.equal(SSLProtocolState.UNWRAPPED);

        expect(() => client.appTransport[how]()).not.to.throw();
        expect(client.appTransport.isClosing()).to.equal(true);
        const settled = await outcome(client.waiter.promise);
        await tick();
        expect(client.app.events, `waiter: ${String(settled)}`).to.deep.equal([]);
        await eventually(client.socketClosed, 'the socket closed');
        expect(messages).to.deep.equal([]);
      });
    }

    // T-P6 test_close_during_handshake (bpo-29743), SP-15: close() during the
    // handshake force-closes the socket and the waiter resolves.
    it('close() during the handshake force-closes the socket and resolves the waiter', async () => {
      const raw = await rawServer();
      const { loop, messages } = recordingLoop();
      const client = await manualClient(raw.port, { loop });
      const server = await raw.next();
      await new Promise((resolve) => server.socket.once('data', resolve)); // the ClientHello
      expect(client.sslProtocol.state).to.equal(SSLProtocolState.DO_HANDSHAKE);

      client.appTransport.close();
      expect(await outcome(client.waiter.promise)).to.equal('resolved');
      await client.socketClosed;
      await server.ended;
      expect(client.sslProtocol.state).to.equal(SSLProtocolState.UNWRAPPED);
      await tick();
      expect(client.app.events).to.deep.equal([]);
      expect(client.sslProtocol.appState).to.equal(AppProtocolState.INIT);
      expect(messages).to.deep.equal([]);
    });

    // SP-20 during the handshake: abort() closes at once; the waiter resolves.
    it('abort() during the handshake closes the socket and resolves the waiter', async () => {
      const raw = await rawServer();
      const { loop, messages } = recordingLoop();
      const client = await manualClient(raw.port, { loop });
      const server = await raw.next();
      await new Promise((resolve) => server.socket.once('data', resolve));
      expect(client.sslProtocol.state).to.equal(SSLProtocolState.DO_HANDSHAKE);

      client.appTransport.abort();
      expect(await outcome(client.waiter.promise)).to.equal('resolved');
      await client.socketClosed;
      await server.ended;
      await tick();
      expect(client.app.events).to.deep.equal([]);
      expect(messages).to.deep.equal([]);
    });

    // SP-15..SP-18 after the handshake: close() sends close_notify, waits for
    // the peer's, then closes the socket; connectionLost(null).
    it('close() after the handshake: the peer reads close_notify; connectionLost(null)', async () => {
      const peer = await pumpServer();
      const { loop, messages } = recordingLoop();
      const connecting = connectTls(peer.port, new RecordingProtocol(), { loop });
      const pump = await peer.next();
      await pump.handshake();
      const { app, transport } = await connecting;

      transport.write(Buffer.from('last words'));
      transport.close();
      expect(transport.isClosing()).to.equal(true);
      expect((await pump.receiveUntilEnd()).toString()).to.equal('last words');
      await pump.close();
      expect(await app.lost.promise).to.equal(null);
      expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });

    // After a completed close, close() and abort() again are harmless.
    it('close() and abort() after connectionLost are no-ops', async () => {
      const peer = await nodeTlsServer();
      const { loop, messages } = recordingLoop();
      const { app, transport } = await connectTls(peer.port, new RecordingProtocol(), { loop });
      (await peer.nextSecure()).end();
      expect(await app.lost.promise).to.equal(null);

      expect(() => {
        transport.abort();
        transport.close();
        transport.close();
        transport.abort();
      }).not.to.throw();
      await tick();
      expect(app.names).to.deep.equal(['cm', 'eof', 'cl']);
      expect(messages).to.deep.equal([]);
    });
  });

  describe("the application's protocol factory throws", () => {
    it('createConnection rejects with its error and closes the socket it connected', async () => {
      const ended = new Deferred();
      const raw = await listenRaw((socket) => socket.once('end', () => ended.resolve()));
      try {
        const failure = new Error('factory failed');
        let caught: unknown = null;
        try {
          await createConnection(() => {
            throw failure;
          }, clientOptions(raw.port));
        } catch (error) {
          caught = error;
        }
        expect(caught).to.equal(failure);
        // The peer sees our side of the connection go: nothing is left open,
        // reading into the shared buffer with no listener for its errors.
        await ended.promise;
      } finally {
        await raw.close();
      }
    });
  });
});

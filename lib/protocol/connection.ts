/**
 * asyncio's loop.create_connection / create_server / start_tls for Node:
 * open or accept TCP connections and run a protocol over them, with TLS when
 * an SSLContext is given.
 */
import * as net from 'node:net';

import { SSLContext, createDefaultContext } from '../ssl/ssl-context';
import { getEventLoop, type EventLoop } from './event-loop';
import type { AnyProtocol, LowerTransport, Transport } from './protocols';
import { SocketTransport } from './socket-transport';
import { SSLProtocol, SSLProtocolTransport } from './ssl-protocol';
import { Waiter } from './waiter';

export type ProtocolFactory<P extends AnyProtocol = AnyProtocol> = () => P;

export interface TlsOptions {
  /** An SSLContext, or `true` for a default client context. */
  ssl?: SSLContext | boolean | null;
  sslHandshakeTimeout?: number | null;
  sslShutdownTimeout?: number | null;
  loop?: EventLoop | null;
}

export interface CreateConnectionOptions extends TlsOptions {
  host?: string;
  port?: number;
  /** An already connected socket (or any Duplex) to use instead of host/port. */
  sock?: net.Socket;
  /** Name for SNI and certificate checks; defaults to `host`. '' means none. */
  serverHostname?: string | null;
  noDelay?: boolean;
}

export interface CreateServerOptions extends TlsOptions {
  host?: string;
  port?: number;
  backlog?: number;
  noDelay?: boolean;
}

function invalid(message: string, Type: typeof TypeError | typeof RangeError = TypeError): Error {
  return Object.assign(new Type(message), { code: 'ERR_INVALID_ARG_VALUE' });
}

function checkTlsOnlyOptions(options: TlsOptions & { serverHostname?: string | null }): void {
  if (options.ssl) return;
  if (options.serverHostname != null) throw invalid('serverHostname is only meaningful with ssl');
  if (options.sslHandshakeTimeout != null) throw invalid('sslHandshakeTimeout is only meaningful with ssl');
  if (options.sslShutdownTimeout != null) throw invalid('sslShutdownTimeout is only meaningful with ssl');
}

function connectSocket(host: string | undefined, port: number | undefined, noDelay: boolean, sharedBufferReads: boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const onread = sharedBufferReads ? SocketTransport.sharedBufferOnread : undefined;
    const socket = net.connect({ host, port: port as number, allowHalfOpen: true, noDelay, onread });
    const onError = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/**
 * Wraps a connected socket in a transport running `protocol`, with TLS when
 * `ssl` is given. Resolves once the TLS handshake is done.
 */
async function makeTransport(
  socket: net.Socket,
  protocol: AnyProtocol,
  ssl: SSLContext | null,
  options: {
    serverSide: boolean;
    serverHostname: string | null;
    loop: EventLoop;
    sslHandshakeTimeout?: number | null;
    sslShutdownTimeout?: number | null;
    sharedBufferReads?: boolean;
  },
): Promise<Transport> {
  if (ssl === null) {
    const transport = new SocketTransport(socket, protocol, { loop: options.loop, sharedBufferReads: options.sharedBufferReads });
    await transport.connectionMadePromise;
    return transport;
  }
  const waiter = new Waiter();
  let sslProtocol: SSLProtocol;
  try {
    sslProtocol = new SSLProtocol(options.loop, protocol, ssl, waiter, {
      serverSide: options.serverSide,
      serverHostname: options.serverHostname,
      sslHandshakeTimeout: options.sslHandshakeTimeout,
      sslShutdownTimeout: options.sslShutdownTimeout,
    });
  } catch (error) {
    socket.destroy();
    throw error;
  }
  new SocketTransport(socket, sslProtocol, { loop: options.loop, sharedBufferReads: options.sharedBufferReads });
  const appTransport = sslProtocol.appTransport!;
  try {
    await waiter.promise;
  } catch (error) {
    appTransport.close();
    throw error;
  }
  return appTransport;
}

/**
 * Opens a TCP connection (with TLS when `ssl` is set) and runs the protocol
 * made by `protocolFactory` over it. Resolves with [transport, protocol] once
 * the connection (and the TLS handshake) is established; a failed handshake
 * rejects with the handshake's own error.
 */
export async function createConnection<P extends AnyProtocol>(
  protocolFactory: ProtocolFactory<P>,
  options: CreateConnectionOptions = {},
): Promise<[Transport, P]> {
  checkTlsOnlyOptions(options);
  const loop = options.loop ?? getEventLoop();
  let ssl: SSLContext | null = null;
  let serverHostname: string | null = null;
  if (options.ssl) {
    ssl = options.ssl === true ? createDefaultContext() : options.ssl;
    if (!(ssl instanceof SSLContext)) throw invalid('ssl must be an SSLContext or true');
    if (options.serverHostname == null) {
      if (!options.host) throw invalid('You must set serverHostname when using ssl without a host');
      serverHostname = options.host;
    } else {
      serverHostname = options.serverHostname;
    }
  }
  // A TLS socket made here reads into the shared static buffer (see
  // SocketTransport.sharedBufferOnread); a plain one keeps emitting 'data'.
  const sharedBufferReads = options.sock === undefined && ssl !== null;
  const socket = options.sock ?? (await connectSocket(options.host, options.port, options.noDelay ?? true, sharedBufferReads));
  socket.setNoDelay?.(options.noDelay ?? true);
  let protocol: P;
  try {
    protocol = protocolFactory();
  } catch (error) {
    // Nobody else holds a socket made here, and node never closes an
    // unreferenced one: close it (asyncio leaves it to the collector).
    if (options.sock === undefined) socket.destroy();
    throw error;
  }
  const transport = await makeTransport(socket, protocol, ssl, {
    serverSide: false,
    serverHostname,
    loop,
    sharedBufferReads,
    sslHandshakeTimeout: options.sslHandshakeTimeout,
    sslShutdownTimeout: options.sslShutdownTimeout,
  });
  return [transport, protocol];
}

/** A listening server (asyncio.Server): `address()`, `close()`, `waitClosed()`. */
export class Server {
  readonly netServer: net.Server;
  readonly #connections = new Set<net.Socket>();
  #closed: Promise<void> | null = null;

  constructor(netServer: net.Server) {
    this.netServer = netServer;
    netServer.on('connection', (socket) => {
      this.#connections.add(socket);
      socket.once('close', () => this.#connections.delete(socket));
    });
  }

  address(): net.AddressInfo {
    return this.netServer.address() as net.AddressInfo;
  }

  isServing(): boolean {
    return this.netServer.listening;
  }

  /** Stops listening. Established connections are left alone, as in asyncio. */
  close(): void {
    this.#closed ??= new Promise((resolve) => this.netServer.close(() => resolve()));
  }

  /** Resolves once the server has stopped listening and its connections are gone. */
  async waitClosed(): Promise<void> {
    this.close();
    await this.#closed;
  }

  /** Aborts every connection still open. */
  closeClients(): void {
    for (const socket of this.#connections) socket.destroy();
  }
}

/**
 * Listens on host:port and runs a new protocol for each accepted connection,
 * with TLS when `ssl` is set. A connection whose handshake fails is closed
 * and never reaches its protocol.
 */
export async function createServer(protocolFactory: ProtocolFactory, options: CreateServerOptions = {}): Promise<Server> {
  if (options.ssl != null && !(options.ssl instanceof SSLContext)) {
    throw Object.assign(new TypeError('ssl argument must be an SSLContext or null'), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  checkTlsOnlyOptions(options);
  const loop = options.loop ?? getEventLoop();
  const ssl = (options.ssl as SSLContext | null | undefined) ?? null;
  const netServer = net.createServer({ allowHalfOpen: true, noDelay: options.noDelay ?? true });
  const server = new Server(netServer);
  netServer.on('connection', (socket) => {
    let protocol: AnyProtocol;
    try {
      protocol = protocolFactory();
    } catch (error) {
      socket.destroy();
      loop.callExceptionHandler({ message: 'protocolFactory() failed', exception: error });
      return;
    }
    makeTransport(socket, protocol, ssl, {
      serverSide: true,
      serverHostname: null,
      loop,
      sslHandshakeTimeout: options.sslHandshakeTimeout,
      sslShutdownTimeout: options.sslShutdownTimeout,
    }).catch((error: unknown) => {
      // The connection is closed already; asyncio reports this only in debug mode.
      if (loop.getDebug()) loop.callExceptionHandler({ message: 'Error on transport creation for incoming connection', exception: error });
    });
  });
  await new Promise<void>((resolve, reject) => {
    netServer.once('error', reject);
    netServer.listen({ host: options.host, port: options.port ?? 0, backlog: options.backlog }, () => {
      netServer.off('error', reject);
      resolve();
    });
  });
  return server;
}

export interface StartTlsOptions {
  serverSide?: boolean;
  serverHostname?: string | null;
  sslHandshakeTimeout?: number | null;
  sslShutdownTimeout?: number | null;
  loop?: EventLoop | null;
}

/**
 * Upgrades a live connection to TLS (asyncio's loop.start_tls): `transport`
 * keeps carrying bytes, `protocol` (already connected, so connectionMade is
 * not called again) now sees plaintext through the returned transport.
 * Works over an SSL transport too (TLS inside TLS).
 */
export async function startTls(
  transport: Transport,
  protocol: AnyProtocol,
  sslContext: SSLContext,
  options: StartTlsOptions = {},
): Promise<SSLProtocolTransport> {
  if (!(sslContext instanceof SSLContext)) {
    throw Object.assign(new TypeError(`sslcontext is expected to be an instance of SSLContext, got ${String(sslContext)}`), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  }
  const lower = transport as Partial<LowerTransport>;
  if (typeof lower.forceClose !== 'function' || typeof lower.setProtocol !== 'function') {
    throw Object.assign(new TypeError(`transport ${String(transport)} is not supported by startTls()`), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  }
  const loop = options.loop ?? getEventLoop();
  const waiter = new Waiter();
  const serverSide = Boolean(options.serverSide);
  const sslProtocol = new SSLProtocol(loop, protocol, sslContext, waiter, {
    serverSide,
    serverHostname: options.serverHostname ?? null,
    callConnectionMade: false,
    sslHandshakeTimeout: options.sslHandshakeTimeout,
    sslShutdownTimeout: options.sslShutdownTimeout,
  });
  // Hold reading until the new protocol is installed and has started.
  transport.pauseReading();
  transport.setProtocol(sslProtocol);
  const connectionMade = loop.callSoon(() => sslProtocol.connectionMade(transport));
  const resume = loop.callSoon(() => transport.resumeReading());
  try {
    await waiter.promise;
  } catch (error) {
    transport.close();
    connectionMade.cancel();
    resume.cancel();
    throw error;
  }
  return sslProtocol.appTransport!;
}


/**
 * TLSSocket: node:tls's TLSSocket on memtls.
 *
 * Theory of operation
 * -------------------
 * A TLSSocket is a net.Socket with no handle of its own. Its ciphertext
 * travels over a parent stream (a net.Socket it connected or was given, or
 * any Duplex), carried by the protocol layer:
 *
 *   parent stream <-> SocketTransport <-> SSLProtocol <-> TLSSocket (its app protocol)
 *
 * The TLSSocket is SSLProtocol's application protocol: dataReceived pushes
 * plaintext into the readable side (pausing the transport when the stream
 * buffer is full), eofReceived ends it, connectionLost destroys the socket.
 * Writes go to the SSL transport; a write's callback waits while the transport
 * has paused us (back-pressure). end() sends close_notify after everything
 * written and keeps reading until the peer's close_notify (TLS half-close).
 *
 * node:tls's decisions happen after the handshake, as in Node: the chain is
 * verified by OpenSSL without aborting, then `authorized` is computed from the
 * verify result and checkServerIdentity, and rejectUnauthorized decides.
 * Errors before the socket is secure go to 'error' on a client and to the
 * server's 'tlsClientError' on a server.
 *
 * The server's handshake-time decisions run while the core holds the
 * handshake paused, never inside OpenSSL: at the ClientHello the
 * 'resumeSession' lookup and then ALPNCallback (clientHelloBridge), at the
 * certificate SNICallback and then 'OCSPRequest' (sniBridge, ocspBridge).
 * 'newSession' holds our last handshake flight (and 'secureConnection')
 * until its `done` is called, as node:tls does.
 *
 * With `onread`, plaintext is decrypted straight into the caller's buffer
 * (the TLSSocket is then a BufferedProtocol) and no 'data' is emitted.
 */
import * as net from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';

import { decodeIdentity, type DetailedPeerCertificate, type PeerCertificate } from '../ssl/certificate';
import { SSLError } from '../ssl/errors';
import type { SSLObject } from '../ssl/ssl-object';
import { SSLSession } from '../ssl/session';
import type { ClientHelloInfo, ClientHelloResult, ServerSession, SSLContext } from '../ssl/ssl-context';
import { ConnectionAbortedError, ConnectionResetError } from '../protocol/errors';
import { NodeEventLoop, getEventLoop, type ExceptionContext } from '../protocol/event-loop';
import type { BufferedProtocolLike, ProtocolLike, Transport } from '../protocol/protocols';
import { SocketTransport } from '../protocol/socket-transport';
import { SSLProtocol, SSLProtocolState, type SSLProtocolTransport } from '../protocol/ssl-protocol';
import { Waiter, type WaiterListener } from '../protocol/waiter';
import { checkServerIdentity as defaultCheckServerIdentity } from './check-server-identity';
import { SecureContext, type ContextVariant, type SecureContextOptions } from './secure-context';

/**
 * Session Buffers this process gave out ('session' events, getSession()) or
 * was handed (setSession(), connect({ session })), with their parsed
 * sessions. Parsing a session means parsing the certificates inside it, the
 * largest cost of a resumed client handshake; node:tls pays it on every
 * connection.
 */
const parsedSessions = new WeakMap<Buffer, { session: SSLSession; bytes: Buffer }>();

/** Remembers `session` for `key`, with a copy of the bytes to notice a Buffer rewritten since. */
function rememberSession(key: Buffer, session: SSLSession): void {
  parsedSessions.set(key, { session, bytes: Buffer.from(key) });
}

export type CheckServerIdentity = (hostname: string, cert: PeerCertificate) => Error | undefined;

/**
 * node:tls's ALPNCallback: picks one of the client's protocols, or undefined
 * to refuse the connection. `servername` is false when the client sent no
 * SNI (as node:tls; typed as @types/node types it).
 */
export type ALPNCallback = (info: { servername: string; protocols: string[] }) => string | undefined;

/** net.Socket's `onread`: plaintext goes into `buffer` and `callback(nread, buffer)` sees it. */
export interface OnReadOptions {
  buffer: Uint8Array | (() => Uint8Array);
  callback: (bytesWritten: number, buffer: Uint8Array) => boolean | void;
}

export interface TLSSocketOptions extends SecureContextOptions {
  isServer?: boolean;
  server?: net.Server;
  secureContext?: SecureContext;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[] | Buffer[] | Uint8Array;
  SNICallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  ALPNCallback?: ALPNCallback;
  session?: Buffer | string;
  servername?: string;
  checkServerIdentity?: CheckServerIdentity;
  /** Milliseconds; server sockets default to 120 s as node:tls. */
  handshakeTimeout?: number;
  highWaterMark?: number;
  allowHalfOpen?: boolean;
  signal?: AbortSignal;
  requestOCSP?: boolean;
  /** Client sockets that make their own connection (no `socket` given): see OnReadOptions. */
  onread?: OnReadOptions;
  host?: string;
  port?: number;
}

/**
 * The drop-in's event loop: the process-wide one, except that a failed
 * handshake is not logged, because a TLSSocket always reports it to the
 * application ('error', or the server's 'tlsClientError'), as node:tls does.
 * This matters for errors that are not OS or SSL errors: those given by
 * SNICallback, ALPNCallback, 'resumeSession' or 'OCSPRequest'.
 */
class TLSEventLoop extends NodeEventLoop {
  override getDebug(): boolean {
    return getEventLoop().getDebug();
  }

  override callExceptionHandler(context: ExceptionContext): void {
    if (context.protocol instanceof SSLProtocol && context.message.startsWith('SSL handshake failed')) return;
    getEventLoop().callExceptionHandler(context);
  }
}

const tlsLoop = new TLSEventLoop();

/** Which TLSSocket each live SSLObject belongs to (for context-wide callbacks). */
const socketOf = new WeakMap<SSLObject, TLSSocket>();

function sessionCallback(sslObject: SSLObject, session?: ServerSession): void {
  socketOf.get(sslObject)?.[kNewSession](session);
}

function clientHelloBridge(sslObject: SSLObject, hello: ClientHelloInfo): ClientHelloResult | Promise<ClientHelloResult> | undefined {
  return socketOf.get(sslObject)?.[kClientHello](hello);
}

function ocspBridge(sslObject: SSLObject): Promise<Buffer | undefined> | undefined {
  return socketOf.get(sslObject)?.[kOCSPRequest](sslObject);
}

function keylogCallback(line: Buffer, sslObject: SSLObject): void {
  const socket = socketOf.get(sslObject);
  if (socket === undefined) return;
  socket.emit('keylog', line);
  const server = socket.server as (net.Server & { emit(event: 'keylog', line: Buffer, socket: TLSSocket): boolean }) | undefined;
  server?.emit('keylog', line, socket);
}

const kNewSession = Symbol('memtls.newSession');
const kSelectContext = Symbol('memtls.selectContext');
const kClientHello = Symbol('memtls.clientHello');
const kOCSPRequest = Symbol('memtls.OCSPRequest');

/** net.Socket's rule: an onread with a usable buffer and a callback, otherwise none. */
function validOnread(onread: unknown): OnReadOptions | null {
  if (onread === null || typeof onread !== 'object') return null;
  const { buffer, callback } = onread as Partial<OnReadOptions>;
  if (!(buffer instanceof Uint8Array || typeof buffer === 'function') || typeof callback !== 'function') return null;
  return onread as OnReadOptions;
}

/**
 * The copy of a caller's options that connect() and the server build on. A
 * spread copy keeps an own `__proto__` key (JSON.parse makes them) as inert
 * data, as node:tls does; the Object.assign that builds each connection's
 * options from it would take it for the prototype instead, so it is dropped.
 */
export function copyOptions<T extends object>(options: T): T {
  const copy = { ...options };
  if (Object.prototype.hasOwnProperty.call(copy, '__proto__')) delete (copy as Record<string, unknown>)['__proto__'];
  return copy;
}

/** Decodes ALPN options given as strings, Buffers or wire format. */
export function alpnList(value: TLSSocketOptions['ALPNProtocols']): string[] | null {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map((item: string | Buffer) => (typeof item === 'string' ? item : item.toString('latin1')));
  const bytes = Buffer.from(value as Uint8Array);
  const list: string[] = [];
  for (let i = 0; i < bytes.length; ) {
    const length = bytes[i];
    list.push(bytes.subarray(i + 1, i + 1 + length).toString('latin1'));
    i += 1 + length;
  }
  return list;
}

/** A net.Socket still connecting, or not yet asked to connect: TLS must wait for 'connect'. */
export function isUnconnected(stream: Duplex): boolean {
  return stream instanceof net.Socket && !stream.destroyed && (stream.connecting || stream.pending);
}

function typeError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' });
}

function nodeError(message: string, code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

export class TLSSocket extends net.Socket {
  /** Always true: how http, ws and undici tell TLS from TCP. */
  readonly encrypted = true;
  authorized = false;
  authorizationError: string | null = null;
  alpnProtocol: string | false | null = null;
  servername: string | false | null = null;
  secureConnecting = true;
  server: net.Server | undefined;
  _parent: net.Socket | null = null;
  #parent: Duplex | null = null;

  readonly #options: TLSSocketOptions;
  readonly #isServer: boolean;
  readonly #secureContext: SecureContext;
  #sslProtocol: SSLProtocol | null = null;
  #transport: SSLProtocolTransport | null = null;
  #pendingWrites: Array<{ chunks: Uint8Array[]; callback: (error?: Error | null) => void }> = [];
  #blockedCallbacks: Array<(error?: Error | null) => void> = [];
  #writePaused = false;
  /**
   * Writes of this tick, handed to the transport together on the next one.
   * Invariant: #batchCallbacks holds only callbacks not called yet; a write
   * completed at once (see #writeChunks) has its bytes here but no callback,
   * and counts in #completedBatchBytes (the stream's writableLength counts
   * the others). Once one write waits, every later one does, so the first
   * #completedBatchChunks chunks of #batch are exactly the completed ones.
   */
  #batch: Uint8Array[] = [];
  #completedBatchBytes = 0;
  #completedBatchChunks = 0;
  #batchCallbacks: Array<(error?: Error | null) => void> = [];
  #flushScheduled = false;
  #readPaused = false;
  #secure = false;
  #pendingSessions = 0;
  #bytesRead = 0;
  #bytesWritten = 0;
  #verifyError: Error | null = null;
  #closed = false;
  #variant: ContextVariant = {};
  /** Server: 'newSession' listeners that have not called done() yet. */
  #newSessionsPending = 0;
  /** Server: the handshake completed while a 'newSession' was pending. */
  #securePending = false;
  #onread: OnReadOptions | null = null;
  #onreadBuffer: Uint8Array | null = null;

  constructor(socket?: Duplex | null, options: TLSSocketOptions = {}) {
    super({
      allowHalfOpen: socket != null ? (socket as Duplex & { allowHalfOpen?: boolean }).allowHalfOpen : options.allowHalfOpen,
      highWaterMark: options.highWaterMark,
      signal: options.signal,
    } as net.SocketConstructorOpts);
    this.#options = options;
    this.#isServer = Boolean(options.isServer);
    this.server = options.server;
    // As net.Socket: onread applies only to a socket this TLSSocket connects itself.
    if (socket == null && !this.#isServer) this.#onread = validOnread(options.onread);
    this.#secureContext = options.secureContext ?? new SecureContext(options);
    if (this.#isServer) {
      this.servername = null;
    }
    this.on('newListener', TLSSocket.#onNewListener);
    if (socket != null) this.#attach(socket);
  }

  // As node:tls: adding a 'keylog' listener turns key logging on, even on a
  // socket whose TLS layer already started (new TLSSocket(connectedSocket)).
  // One function for every socket: `this` is the socket.
  static readonly #onNewListener = function (this: TLSSocket, event: string | symbol): void {
    if (event !== 'keylog') return;
    const context = this.#sslProtocol?.sslObject.context;
    if (context !== undefined && context.keylogCallback !== keylogCallback) context.keylogCallback = keylogCallback;
  };

  /**
   * @internal Connects the TLS layer to its parent stream and starts the
   * handshake. `sharedBufferReads`: connect() made the socket with
   * `onread: SocketTransport.sharedBufferOnread`.
   */
  _start(parent: Duplex, sharedBufferReads = false): void {
    if (this.destroyed) return;
    // node:tls's `_parent` is a net.Socket (Node wraps other streams); code,
    // including net.Socket's own timer walk, follows it, so it stays null for
    // any other Duplex.
    this.#parent = parent;
    this._parent = parent instanceof net.Socket ? parent : null;
    const options = this.#options;
    const alpn = alpnList(options.ALPNProtocols);
    const wantsSessions = !this.#isServer;
    const server = this.#isServer ? this.server : undefined;
    this.#variant = {
      requestCert: this.#isServer && Boolean(options.requestCert),
      rejectUnauthorized: options.rejectUnauthorized !== false,
      alpn,
      keylog: this.#wantsKeylog(),
      sessions: wantsSessions,
      // node:tls checks the server's listeners when a connection starts.
      sessionCache: server !== undefined && (server.listenerCount('newSession') > 0 || server.listenerCount('resumeSession') > 0),
      ocsp: server !== undefined && server.listenerCount('OCSPRequest') > 0,
      alpnCallback: this.#isServer && typeof options.ALPNCallback === 'function',
    };
    let context: SSLContext;
    try {
      context = this.#secureContext.sslContext(this.#isServer ? 'server' : 'client', this.#variant);
    } catch (error) {
      process.nextTick(() => this.destroy(error as Error));
      return;
    }
    this.#prepareContext(context);
    const servername = this.#isServer ? null : (options.servername ?? null);
    // Success arrives through connectionMade; the waiter reports failures, and
    // a close before the handshake finished (it resolves without a handshake).
    const waiter = new Waiter(this.#appProtocol);
    let sslProtocol: SSLProtocol;
    try {
      sslProtocol = new SSLProtocol(tlsLoop, this.#onread !== null ? this.#bufferedAppProtocol() : this.#appProtocol, context, waiter, {
        serverSide: this.#isServer,
        serverHostname: servername && net.isIP(servername) === 0 ? servername : null,
        sslHandshakeTimeout: this.#handshakeTimeoutSeconds(),
        halfClose: true,
      });
    } catch (error) {
      process.nextTick(() => this.destroy(error as Error));
      return;
    }
    this.#sslProtocol = sslProtocol;
    this.#transport = sslProtocol.appTransport;
    socketOf.set(sslProtocol.sslObject, this);
    if (options.session !== undefined && !this.#isServer) this.setSession(options.session);
    if (options.requestOCSP && !this.#isServer) sslProtocol.sslObject.requestOcsp();
    if (this.#readPaused) this.#transport?.pauseReading();
    const transport = new SocketTransport(parent, sslProtocol, { callConnectionMade: false, sharedBufferReads, captureAddresses: false });
    sslProtocol.connectionMade(transport);
    // Writes made before the transport existed go out now (queued in the handshake backlog).
    const pending = this.#pendingWrites;
    this.#pendingWrites = [];
    for (const { chunks, callback } of pending) this.#writeChunks(chunks, callback);
  }

  #attach(socket: Duplex): void {
    this.#parent = socket;
    if (socket instanceof net.Socket) this._parent = socket;
    if (isUnconnected(socket)) socket.once('connect', () => this._start(socket));
    else this._start(socket);
  }

  /** node:tls: servers give up after 120 s by default, clients never; 0 turns it off. */
  #handshakeTimeoutSeconds(): number {
    const ms = this.#options.handshakeTimeout ?? (this.#isServer ? 120000 : 0);
    return ms > 0 ? ms / 1000 : Infinity;
  }

  #wantsKeylog(): boolean {
    return this.listenerCount('keylog') > 0 || (this.server?.listenerCount('keylog') ?? 0) > 0;
  }

  /**
   * Installs the bridges this connection's variant needs on `context` (once
   * per context). `sni` is false for a context an SNICallback chose: its
   * certificate is already decided.
   */
  #prepareContext(context: SSLContext, sni = true): void {
    const variant = this.#variant;
    if ((variant.sessions || variant.sessionCache) && context.newSessionCallback !== sessionCallback) {
      context.newSessionCallback = sessionCallback;
    }
    if (this.#wantsKeylog() && context.keylogCallback !== keylogCallback) context.keylogCallback = keylogCallback;
    if (this.#isServer) {
      if (sni && this.#options.SNICallback !== undefined && context.sniCallback === undefined) {
        context.sniCallback = sniBridge;
      }
      if ((variant.sessionCache || variant.alpnCallback) && context.clientHelloCallback !== clientHelloBridge) {
        context.clientHelloCallback = clientHelloBridge;
      }
      if (variant.ocsp && context.ocspCallback !== ocspBridge) context.ocspCallback = ocspBridge;
    }
  }

  // --- the application protocol of the SSLProtocol -----------------------------

  /**
   * What SSLProtocol and its waiter call: a small object per socket whose
   * methods live on one prototype, rather than a closure per method and
   * connection (an idle connection is mostly such small objects).
   */
  static readonly #AppProtocol: new (socket: TLSSocket) => ProtocolLike & WaiterListener = class implements ProtocolLike, WaiterListener {
    constructor(readonly socket: TLSSocket) {}

    // Called synchronously when the handshake completes, before any data or
    // EOF that came with it is delivered.
    connectionMade(): void {
      this.socket.#onSecure();
    }

    dataReceived(data: Buffer): void {
      const socket = this.socket;
      socket.#bytesRead += data.length;
      socket.#refreshTimeout();
      if (!socket.push(data)) {
        socket.#readPaused = true;
        socket.#transport?.pauseReading();
      }
    }

    eofReceived(): boolean {
      this.socket.#pushEnd();
      // Keep the write side open: as on any net.Socket, the stream itself
      // calls end() after 'end' unless allowHalfOpen, and end() runs only
      // after the writes already made, so none is lost.
      return true;
    }

    connectionLost(exc: Error | null): void {
      const socket = this.socket;
      socket.#closed = true;
      socket.#releaseBlockedWrites(exc ?? undefined);
      if (exc !== null) {
        if (socket.#secure) socket.destroy(socket.#mapError(exc));
        // Before the handshake completed, the waiter reports the error.
        return;
      }
      // The connection is over: end the readable side; once the reader has
      // seen 'end' the socket is destroyed (as net.Socket does after EOF).
      if (socket.readableEnded || !socket.readable) socket.destroy();
      else {
        socket.once('end', () => socket.destroy());
        socket.#pushEnd();
      }
    }

    pauseWriting(): void {
      this.socket.#writePaused = true;
    }

    resumeWriting(): void {
      this.socket.#writePaused = false;
      this.socket.#releaseBlockedWrites();
    }

    // The waiter resolves without a handshake when the connection closed first.
    waiterResolved(): void {
      const socket = this.socket;
      if (!socket.#secure && !socket.destroyed) socket.#onHandshakeError(new ConnectionResetError());
    }

    waiterRejected(error: unknown): void {
      this.socket.#onHandshakeError(error);
    }
  };

  readonly #appProtocol = new TLSSocket.#AppProtocol(this);

  /**
   * The application protocol with `onread`: the same events, but plaintext
   * is decrypted straight into the caller's buffer and handed to its callback.
   */
  #bufferedAppProtocol(): BufferedProtocolLike {
    return {
      connectionMade: (transport) => this.#appProtocol.connectionMade?.(transport),
      getBuffer: () => {
        if (this.#onreadBuffer === null) {
          const source = this.#onread!.buffer;
          this.#onreadBuffer = typeof source === 'function' ? source() : source;
        }
        return this.#onreadBuffer;
      },
      bufferUpdated: (nbytes: number) => {
        const onread = this.#onread!;
        const buffer = this.#onreadBuffer!;
        this.#bytesRead += nbytes;
        this.#refreshTimeout();
        const keepReading = onread.callback.call(this, nbytes, buffer) !== false;
        // A buffer function is asked for the next buffer after each callback (as net.Socket).
        if (typeof onread.buffer === 'function') {
          const next = onread.buffer();
          if (next instanceof Uint8Array && next.byteLength > 0) this.#onreadBuffer = next;
        }
        if (!keepReading) this.pause();
      },
      eofReceived: () => this.#appProtocol.eofReceived?.(),
      connectionLost: (exc: Error | null) => this.#appProtocol.connectionLost?.(exc),
      pauseWriting: () => this.#appProtocol.pauseWriting?.(),
      resumeWriting: () => this.#appProtocol.resumeWriting?.(),
    };
  }

  /**
   * Ends the readable side as net.Socket does on EOF: 'end' follows at once
   * if nothing is buffered, otherwise once the reader has drained the data.
   */
  #pushEnd(): void {
    if (this.readableEnded) return;
    this.push(null);
    this.read(0);
  }

  /** Activity restarts the setTimeout() idle timer, as on a net.Socket. */
  #refreshTimeout(): void {
    (this as unknown as { _unrefTimer?: () => void })._unrefTimer?.();
  }

  #releaseBlockedWrites(error?: Error): void {
    const callbacks = this.#blockedCallbacks;
    this.#blockedCallbacks = [];
    for (const callback of callbacks) callback(error ?? null);
  }

  // --- handshake outcome ---------------------------------------------------------

  #onSecure(): void {
    const sslObject = this.#sslProtocol?.sslObject;
    if (sslObject === undefined || this.destroyed || !sslObject.isHandshakeDone()) return;
    this.#secure = true;
    this.alpnProtocol = sslObject.selectedAlpnProtocol() ?? false;
    this.servername = this.#isServer ? (sslObject.getServername() ?? false) : (this.#options.servername ?? false);
    if (this.#isServer) {
      if (this.#options.requestCert) {
        const result = sslObject.verifyResult();
        const hasCert = sslObject.getPeerCert(true) !== null;
        if (result !== null && result.code !== 0) {
          this.authorizationError = result.name;
        } else if (!hasCert) {
          this.authorizationError = 'UNABLE_TO_GET_ISSUER_CERT';
        }
        this.authorized = this.authorizationError === null && hasCert;
        if (!this.authorized && this.#options.rejectUnauthorized !== false) {
          // As node:tls: the unverified client is dropped before 'secureConnection',
          // which the server reports as 'tlsClientError' ECONNRESET.
          this.destroy(nodeError('socket hang up', 'ECONNRESET'));
          return;
        }
      }
      if (this.#newSessionsPending > 0) {
        // node:tls: 'secureConnection' waits for the 'newSession' listener's done().
        this.#securePending = true;
        return;
      }
      this.secureConnecting = false;
      this.emit('secure');
      return;
    }
    if (this.#options.requestOCSP) {
      // As node:tls, before the verdict: the response, or null when none was stapled.
      this.emit('OCSPResponse', sslObject.ocspResponse());
      if (this.destroyed) return;
    }
    const result = sslObject.verifyResult();
    if (result !== null && result.code !== 0) {
      this.#verifyError = nodeError(result.message, result.name);
    } else if (!sslObject.sessionReused) {
      const check = this.#options.checkServerIdentity ?? defaultCheckServerIdentity;
      const hostname = this.#options.servername || this.#options.host || 'localhost';
      if (check !== defaultCheckServerIdentity) {
        const error = check(hostname, this.getPeerCertificate() as PeerCertificate);
        if (error) this.#verifyError = error;
      } else if (!sslObject.peerMatchesHost(hostname)) {
        // OpenSSL's own check confirms most names without decoding anything.
        // Otherwise node's rules decide, on the certificate's names alone; the
        // whole certificate is decoded only for the error of a failed check.
        const der = sslObject.getPeerCert(true);
        const error = check(hostname, (der !== null ? decodeIdentity(der) : this.getPeerCertificate()) as PeerCertificate);
        if (error) this.#verifyError = Object.assign(error, { cert: this.getPeerCertificate() });
      }
    }
    this.authorized = this.#verifyError === null;
    this.authorizationError = this.#verifyError === null ? null : ((this.#verifyError as Error & { code?: string }).code ?? this.#verifyError.message);
    if (this.#verifyError !== null && this.#options.rejectUnauthorized !== false) {
      this.destroy(this.#verifyError);
      return;
    }
    this.secureConnecting = false;
    this.emit('secure');
    this.emit('secureConnect');
    for (; this.#pendingSessions > 0; this.#pendingSessions--) this.#emitSession();
  }

  #onHandshakeError(error: unknown): void {
    const mapped = this.#mapError(error);
    if (this.#isServer && this.server !== undefined) {
      this.server.emit('tlsClientError', mapped, this);
      this.destroy();
    } else {
      this.destroy(mapped);
    }
  }

  /** node:tls's error shapes for what the protocol layer reports. */
  #mapError(error: unknown): Error {
    if (error instanceof ConnectionResetError) {
      if (this.#isServer) return nodeError('socket hang up', 'ECONNRESET');
      const parent = this._parent as net.Socket | null;
      return nodeError('Client network socket disconnected before secure TLS connection was established', 'ECONNRESET', {
        host: this.#options.host,
        port: this.#options.port,
        localAddress: parent?.localAddress,
      });
    }
    if (error instanceof ConnectionAbortedError && /handshake/.test(error.message)) {
      return nodeError('TLS handshake timeout', 'ERR_TLS_HANDSHAKE_TIMEOUT');
    }
    if (error instanceof Error) return error;
    return new Error(String(error));
  }

  [kNewSession](session?: ServerSession): void {
    if (this.#isServer) {
      if (session !== undefined) this.#emitNewSession(session);
      return;
    }
    if (this.listenerCount('session') === 0) return;
    if (!this.#secure) {
      // node:tls emits 'session' only after the peer is verified.
      this.#pendingSessions += 1;
      return;
    }
    this.#emitSession();
  }

  /** Runs the server's SNICallback for this connection and switches context. */
  [kSelectContext](sslObject: SSLObject, serverName: string): Promise<void> {
    const callback = this.#options.SNICallback;
    if (callback === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      callback(serverName, (err, secureContext) => {
        if (err) {
          reject(err);
          return;
        }
        if (secureContext != null && !(secureContext instanceof SecureContext)) {
          reject(nodeError('Invalid SNI context', 'ERR_TLS_INVALID_CONTEXT'));
          return;
        }
        try {
          if (secureContext != null) {
            const context = secureContext.sslContext('server', this.#variant);
            // OpenSSL asks the context in use for ALPN and keylog: same bridges.
            this.#prepareContext(context, false);
            sslObject.context = context;
          }
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /**
   * Server: hands a new session to the 'newSession' listeners (an external
   * cache). Until `done` is called, our ciphertext (the end of the handshake)
   * is held back and 'secureConnection' waits.
   */
  #emitNewSession(session: ServerSession): void {
    const server = this.server;
    if (server === undefined) return;
    let called = false;
    const done = (): void => {
      if (called) return;
      called = true;
      if (--this.#newSessionsPending > 0) return;
      this.#sslProtocol?.holdOutgoing(false);
      if (this.#securePending && !this.destroyed) {
        this.#securePending = false;
        this.secureConnecting = false;
        this.emit('secure');
      }
    };
    if (this.#newSessionsPending++ === 0) this.#sslProtocol?.holdOutgoing(true);
    if (!server.emit('newSession', session.id, session.der, done)) done();
  }

  /**
   * Server, at the ClientHello: asks the 'resumeSession' listeners for the
   * session the client offers (when it offers one by id, not by ticket),
   * then ALPNCallback for the protocol; node:tls's order.
   */
  [kClientHello](hello: ClientHelloInfo): ClientHelloResult | Promise<ClientHelloResult> {
    const result: ClientHelloResult = {};
    const chooseAlpn = (): ClientHelloResult => {
      const callback = this.#options.ALPNCallback;
      const protocols = hello.alpnProtocols;
      if (typeof callback !== 'function' || protocols === undefined) return result;
      const selected = callback.call(this, { servername: hello.serverName ?? (false as unknown as string), protocols });
      if (selected === undefined) {
        // node:tls: undefined refuses the connection (no_application_protocol).
        result.alpnProtocol = null;
      } else if (!protocols.includes(selected)) {
        throw nodeError(
          `ALPN callback returned a value (${String(selected)}) that did not match any of the client's offered protocols (${protocols.join(', ')})`,
          'ERR_TLS_ALPN_CALLBACK_INVALID_RESULT',
        );
      } else {
        result.alpnProtocol = selected;
      }
      return result;
    };
    const server = this.server;
    if (server === undefined || hello.sessionId.length === 0 || hello.hasTicket || server.listenerCount('resumeSession') === 0) {
      return chooseAlpn();
    }
    return new Promise((resolve, reject) => {
      let called = false;
      server.emit('resumeSession', hello.sessionId, (err: Error | null | undefined, sessionData?: Buffer | null) => {
        if (called) {
          this.destroy(nodeError('Callback called multiple times', 'ERR_MULTIPLE_CALLBACK'));
          return;
        }
        called = true;
        if (err) {
          reject(err);
          return;
        }
        if (sessionData != null) result.session = typeof sessionData === 'string' ? Buffer.from(sessionData, 'latin1') : sessionData;
        try {
          resolve(chooseAlpn());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /**
   * Server, at the certificate (after SNICallback): asks the 'OCSPRequest'
   * listeners for the response to staple, given the certificate being served
   * and its issuer (DER; the issuer is null when unknown).
   */
  [kOCSPRequest](sslObject: SSLObject): Promise<Buffer | undefined> | undefined {
    const server = this.server;
    if (server === undefined || server.listenerCount('OCSPRequest') === 0) return undefined;
    const context = sslObject.context;
    const certificate = context.getCertificate() ?? null;
    const issuer = context.getIssuer() ?? null;
    return new Promise((resolve, reject) => {
      let called = false;
      server.emit('OCSPRequest', certificate, issuer, (err: Error | null | undefined, response?: Buffer | null) => {
        if (called) {
          this.destroy(nodeError('Callback called multiple times', 'ERR_MULTIPLE_CALLBACK'));
          return;
        }
        called = true;
        if (err) reject(err);
        else resolve(response ?? undefined);
      });
    });
  }

  #emitSession(): void {
    const session = this.getSession();
    if (session !== undefined) this.emit('session', session);
  }

  // --- stream plumbing -------------------------------------------------------------

  override _read(size: number): void {
    if (this.#readPaused && this.#onread === null) {
      this.#readPaused = false;
      this.#transport?.resumeReading();
    }
  }

  // With onread no data goes through the readable side: pause() and resume()
  // stop and restart decryption into the caller's buffer (net.Socket's rule).
  override pause(): this {
    if (this.#onread !== null && !this.#readPaused) {
      this.#readPaused = true;
      this.#transport?.pauseReading();
    }
    return super.pause();
  }

  override resume(): this {
    if (this.#onread !== null && this.#readPaused) {
      this.#readPaused = false;
      this.#transport?.resumeReading();
    }
    return super.resume();
  }

  // net.Socket keeps strings as strings (decodeStrings: false): encode here.
  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeChunks([typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    this.#writeChunks(
      chunks.map(({ chunk, encoding }) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk)),
      callback,
    );
  }

  /**
   * Writes are gathered for the rest of this tick and handed over together on
   * the next one, which the protocol layer coalesces into full records.
   *
   * A write completes at once, as a net.Socket's does when the kernel takes
   * it whole, while the connection can take it: secure, not paused by the
   * transport, its parent stream still open, and what waits here and in the
   * transport under the transport's high-water mark. Otherwise its callback
   * waits for the hand-over (and, when paused, for resumeWriting), so the
   * stream buffers further writes and write() returns false: a loop that
   * writes until false stops at the same bound as on node:tls.
   */
  #writeChunks(chunks: Uint8Array[], callback: (error?: Error | null) => void): void {
    const transport = this.#transport;
    if (transport === null || this.#closed) {
      if (this.#closed) {
        // The connection is gone: as on a net.Socket, the write fails (and the
        // stream is destroyed) instead of vanishing.
        callback(nodeError('This socket has been ended by the other party', 'EPIPE'));
        return;
      }
      this.#pendingWrites.push({ chunks, callback });
      return;
    }
    let bytes = 0;
    for (const chunk of chunks) {
      bytes += chunk.length;
      this.#batch.push(chunk);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(TLSSocket.#flushLater, this);
    }
    if (
      !this.#secure ||
      this.#writePaused ||
      this.#batchCallbacks.length > 0 ||
      this.#parent?.destroyed !== false ||
      this.#completedBatchBytes + bytes + transport.getWriteBufferSize() > transport.getWriteBufferLimits()[1]
    ) {
      this.#batchCallbacks.push(callback);
    } else {
      this.#completedBatchBytes += bytes;
      this.#completedBatchChunks += chunks.length;
      callback();
    }
  }

  static #flushLater(socket: TLSSocket): void {
    socket.#flushBatch();
  }

  #flushBatch(): void {
    this.#flushScheduled = false;
    const chunks = this.#batch;
    const callbacks = this.#batchCallbacks;
    if (chunks.length === 0) return;
    this.#batch = [];
    this.#completedBatchBytes = 0;
    this.#completedBatchChunks = 0;
    this.#batchCallbacks = [];
    const transport = this.#transport;
    if (transport === null || this.destroyed) {
      for (const callback of callbacks) callback(nodeError('Canceled because of SSL destruction', 'ECANCELED'));
      return;
    }
    const state = this.#sslProtocol?.state;
    if (this.#closed || (state !== SSLProtocolState.WRAPPED && state !== SSLProtocolState.DO_HANDSHAKE)) {
      // The connection went away after the write was made (the protocol
      // layer would drop it): fail it as #writeChunks does.
      for (const callback of callbacks) callback(nodeError('This socket has been ended by the other party', 'EPIPE'));
      return;
    }
    for (const chunk of chunks) this.#bytesWritten += chunk.length;
    transport.writelines(chunks);
    this.#refreshTimeout();
    if (this.#writePaused) this.#blockedCallbacks.push(...callbacks);
    else for (const callback of callbacks) callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    const transport = this.#transport;
    if (transport === null || !this.#secure) {
      if (this.#closed || this.destroyed) {
        callback();
        return;
      }
      // end() during the handshake: close_notify follows the handshake, as in Node.
      this.once('secure', () => this._final(callback));
      return;
    }
    // close_notify goes out after everything written; reading goes on
    // until the peer's close_notify (TLS half-close).
    this.#flushBatch();
    transport.close();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Writes that already completed go out before the connection is torn
    // down, as a net.Socket's would from the kernel; the others are canceled
    // when the scheduled flush finds the socket destroyed.
    if (this.#completedBatchChunks > 0 && !this.#closed && this.#sslProtocol?.state === SSLProtocolState.WRAPPED) {
      const completed = this.#batch.splice(0, this.#completedBatchChunks);
      this.#completedBatchBytes = 0;
      this.#completedBatchChunks = 0;
      for (const chunk of completed) this.#bytesWritten += chunk.length;
      this.#transport?.writelines(completed);
    }
    this.#closed = true;
    this.#releaseBlockedWrites(error ?? undefined);
    this.#transport?.abort();
    (this.#parent ?? this._parent)?.destroy();
    // secureConnecting stays as it was: the server tells a failure before the
    // handshake ('tlsClientError') from one after by it, when 'error' comes.
    super._destroy(error, callback);
  }

  // --- net.Socket surface delegated to the parent ------------------------------

  /** @internal */
  _getpeername(): net.AddressInfo | Record<string, never> {
    const parent = this._parent as (net.Socket & { _getpeername?: () => unknown }) | null;
    return (parent?._getpeername?.() as net.AddressInfo | undefined) ?? {};
  }

  /** @internal */
  _getsockname(): net.AddressInfo | Record<string, never> {
    const parent = this._parent as (net.Socket & { _getsockname?: () => unknown }) | null;
    return (parent?._getsockname?.() as net.AddressInfo | undefined) ?? {};
  }

  override address(): net.AddressInfo | Record<string, never> {
    return this._getsockname();
  }

  override setNoDelay(noDelay?: boolean): this {
    (this._parent as net.Socket | null)?.setNoDelay?.(noDelay);
    return this;
  }

  override setKeepAlive(enable?: boolean, initialDelay?: number): this {
    (this._parent as net.Socket | null)?.setKeepAlive?.(enable, initialDelay);
    return this;
  }

  override ref(): this {
    (this._parent as net.Socket | null)?.ref?.();
    return this;
  }

  override unref(): this {
    (this._parent as net.Socket | null)?.unref?.();
    return this;
  }

  // @ts-expect-error net.Socket declares a property; at runtime it is an accessor we replace
  override get bytesRead(): number {
    return this.#bytesRead;
  }

  // @ts-expect-error net.Socket declares a property; at runtime it is an accessor we replace
  override get bytesWritten(): number {
    return this.#bytesWritten;
  }

  // @ts-expect-error net.Socket declares a property; at runtime it is an accessor we replace
  override get bufferSize(): number {
    return this.writableLength + this.#completedBatchBytes + (this.#transport?.getWriteBufferSize() ?? 0);
  }

  // @ts-expect-error net.Socket declares a property; at runtime it is an accessor we replace
  override get connecting(): boolean {
    return (this._parent as net.Socket | null)?.connecting ?? false;
  }

  override set connecting(_value: boolean) {
    // net.Socket's constructor assigns it; the parent is the source of truth.
  }

  // @ts-expect-error net.Socket declares a property; at runtime it is an accessor we replace
  override get pending(): boolean {
    return (this.#parent === null && this._parent === null) || this.connecting;
  }

  // @ts-expect-error net.Socket declares a property; at runtime it is an accessor we replace
  override get readyState(): net.SocketReadyState {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  // --- TLS methods -----------------------------------------------------------------

  #sslObject(): SSLObject | null {
    const protocol = this.#sslProtocol;
    if (protocol === null || this.destroyed) return null;
    return protocol.sslObject;
  }

  getPeerCertificate(detailed = false): DetailedPeerCertificate | PeerCertificate | Record<string, never> | null {
    const ssl = this.#sslObject();
    if (ssl === null) return null;
    if (!ssl.isHandshakeDone()) return {};
    const cert = detailed ? ssl.getPeerCertChain() : ssl.getPeerCert();
    return cert ?? {};
  }

  getPeerX509Certificate(): X509Certificate | undefined {
    const der = this.#sslObject()?.getPeerCert(true);
    return der ? new X509Certificate(der) : undefined;
  }

  getCertificate(): PeerCertificate | Record<string, never> | null {
    const ssl = this.#sslObject();
    if (ssl === null) return null;
    return ssl.getCertificate() ?? {};
  }

  getX509Certificate(): X509Certificate | undefined {
    const der = this.#sslObject()?.getCertificate(true);
    return der ? new X509Certificate(der) : undefined;
  }

  getCipher(): { name: string; standardName: string; version: string } | undefined {
    const ssl = this.#sslObject();
    const cipher = ssl?.cipher();
    if (!ssl || !cipher) return undefined;
    return { name: cipher[0], standardName: ssl.cipherStandardName() ?? cipher[0], version: cipher[1] };
  }

  getProtocol(): string | null {
    const ssl = this.#sslObject();
    if (ssl === null) return null;
    return ssl.version() ?? 'unknown';
  }

  getSession(): Buffer | undefined {
    const current = this.#sslObject()?.session;
    if (!current) return undefined;
    // Context-free (node:tls lets any connection try any session), and
    // remembered with its Buffer: handed back to connect({ session }), as
    // https.Agent does, it resumes without being parsed again.
    const session = new SSLSession(current.handle);
    rememberSession(session.der, session);
    return session.der;
  }

  setSession(session: Buffer | string): void {
    const ssl = this.#sslObject();
    if (ssl === null) return;
    const der = typeof session === 'string' ? Buffer.from(session, 'latin1') : session;
    try {
      const known = typeof session === 'string' ? undefined : parsedSessions.get(der);
      // A Buffer rewritten since it was parsed is parsed again.
      let parsed = known !== undefined && known.bytes.equals(der) ? known.session : undefined;
      if (parsed === undefined) {
        parsed = new SSLSession(der);
        if (typeof session !== 'string') rememberSession(der, parsed);
      }
      ssl.session = parsed;
    } catch (error) {
      // A session node:tls would not accept either: start a full handshake.
      if (!(error instanceof SSLError)) throw error;
    }
  }

  isSessionReused(): boolean {
    return this.#sslObject()?.sessionReused ?? false;
  }

  getFinished(): Buffer | undefined {
    return this.#sslObject()?.getFinished() ?? undefined;
  }

  getPeerFinished(): Buffer | undefined {
    return this.#sslObject()?.getPeerFinished() ?? undefined;
  }

  exportKeyingMaterial(length: number, label: string, context?: Buffer): Buffer {
    if (typeof length !== 'number') throw typeError('The "length" argument must be of type number');
    if (!Number.isInteger(length) || length < 1 || length > 2 ** 31 - 1) {
      throw Object.assign(new RangeError(`The value of "length" is out of range. Received ${length}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (typeof label !== 'string') throw typeError('The "label" argument must be of type string');
    if (context !== undefined && !ArrayBuffer.isView(context)) {
      throw typeError('The "context" argument must be an instance of Buffer, TypedArray, or DataView');
    }
    const ssl = this.#sslObject();
    if (ssl === null || !this.#secure) {
      throw nodeError('TLS socket connection must be securely established', 'ERR_TLS_INVALID_STATE');
    }
    return ssl.exportKeyingMaterial(length, label, context);
  }

  getEphemeralKeyInfo(): { type?: string; name?: string; size?: number } | null {
    if (this.#isServer) return null;
    const ssl = this.#sslObject();
    return ssl === null ? null : ssl.getEphemeralKeyInfo();
  }

  setMaxSendFragment(size: number): boolean {
    return this.#sslObject()?.setMaxSendFragment(size) ?? false;
  }

  setServername(name: string): void {
    if (this.#isServer) throw nodeError('Cannot issue SNI from a TLS server-side socket', 'ERR_TLS_SNI_FROM_SERVER');
    this.#options.servername = name;
  }

  /** The session ticket the server gave this client, if any. */
  getTLSTicket(): Buffer | undefined {
    return this.#sslObject()?.getSessionTicket() ?? undefined;
  }

  disableRenegotiation(): void {
    // Renegotiation is always refused by memtls.
  }

  /** The SSLObject underneath, for code that wants the core API. */
  get sslObject(): SSLObject | null {
    return this.#sslObject();
  }

  /** The protocol-layer transport underneath (null before the parent connects). */
  get sslTransport(): Transport | null {
    return this.#transport;
  }
}

/**
 * Bridges node:tls's SNICallback(servername, cb) to the core's promise-based
 * sniCallback: the handshake waits for `cb`, then switches to the chosen
 * SecureContext.
 */
function sniBridge(sslObject: SSLObject, serverName: string | undefined): Promise<void> {
  const socket = socketOf.get(sslObject);
  if (socket === undefined) return Promise.resolve();
  return socket[kSelectContext](sslObject, serverName ?? '');
}

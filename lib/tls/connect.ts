/**
 * connect(): node:tls's client factory, every signature:
 *   connect(options[, cb]), connect(port[, host][, options][, cb]),
 *   connect(path[, options][, cb]).
 * `cb` becomes a 'secureConnect' listener.
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';

import { SocketTransport } from '../protocol/socket-transport';
import { checkServerIdentity } from './check-server-identity';
import { tlsDefaults } from './defaults';
import { SecureContext, checkSupportedOptions, type SecureContextOptions } from './secure-context';
import { TLSSocket, copyOptions, isUnconnected, type TLSSocketOptions } from './tls-socket';

export interface ConnectionOptions extends TLSSocketOptions, Omit<net.TcpNetConnectOpts, 'port' | 'host' | 'timeout' | 'onread' | 'signal'> {
  host?: string;
  port?: number;
  path?: string;
  socket?: Duplex;
  timeout?: number;
  minDHSize?: number;
  keepAlive?: boolean;
  noDelay?: boolean;
}

type Callback = () => void;

/** The options that shape a secure context: equal values give the same context. */
const CONTEXT_KEYS = ['ca', 'cert', 'key', 'passphrase', 'ciphers', 'ecdhCurve', 'minVersion', 'maxVersion', 'secureProtocol', 'honorCipherOrder', 'sessionIdContext', 'sessionTimeout', 'secureOptions'] as const;

/**
 * node:tls builds a new SecureContext per connect() unless one is passed;
 * memtls reuses one per distinct set of context options (one SSL_CTX per
 * configuration), keyed by a digest of those options.
 */
const contextCache = new Map<string, SecureContext>();
const CONTEXT_CACHE_LIMIT = 64;

function digestPart(hash: ReturnType<typeof createHash>, value: unknown): void {
  if (value === undefined || value === null) {
    hash.update('\u0000u');
  } else if (Buffer.isBuffer(value) || typeof value === 'string') {
    hash.update(`\u0000${typeof value}${value.length}:`);
    hash.update(value);
  } else if (Array.isArray(value)) {
    hash.update(`\u0000a${value.length}`);
    for (const item of value) digestPart(hash, item);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    hash.update(`\u0000o${entries.length}`);
    for (const [key, item] of entries) {
      hash.update(key);
      digestPart(hash, item);
    }
  } else {
    hash.update(`\u0000${typeof value}:${String(value)}`);
  }
}

function sharedContext(options: SecureContextOptions): SecureContext {
  checkSupportedOptions(options);
  const hash = createHash('sha256');
  for (const key of CONTEXT_KEYS) digestPart(hash, options[key]);
  digestPart(hash, [tlsDefaults.DEFAULT_CIPHERS, tlsDefaults.DEFAULT_MIN_VERSION, tlsDefaults.DEFAULT_MAX_VERSION, tlsDefaults.DEFAULT_ECDH_CURVE]);
  const key = hash.digest('hex');
  let context = contextCache.get(key);
  if (context === undefined) {
    context = new SecureContext(options);
    if (contextCache.size >= CONTEXT_CACHE_LIMIT) contextCache.delete(contextCache.keys().next().value as string);
    contextCache.set(key, context);
  }
  return context;
}

function normalizeArgs(args: unknown[]): [ConnectionOptions, Callback | undefined] {
  let options: ConnectionOptions = {};
  let callback: Callback | undefined;
  const rest = [...args];
  if (typeof rest[rest.length - 1] === 'function') callback = rest.pop() as Callback;
  const [first, second, third] = rest;
  if (typeof first === 'object' && first !== null) {
    options = copyOptions(first as ConnectionOptions);
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    options.port = Number(first);
    if (typeof second === 'string') {
      options.host = second;
      if (typeof third === 'object' && third !== null) options = Object.assign(copyOptions(third as ConnectionOptions), { port: options.port, host: options.host });
    } else if (typeof second === 'object' && second !== null) {
      options = Object.assign(copyOptions(second as ConnectionOptions), { port: options.port });
    }
  } else if (typeof first === 'string') {
    options.path = first;
    if (typeof second === 'object' && second !== null) options = Object.assign(copyOptions(second as ConnectionOptions), { path: first });
  }
  return [options, callback];
}

export function connect(options: ConnectionOptions, secureConnectListener?: Callback): TLSSocket;
export function connect(port: number, host?: string, options?: ConnectionOptions, secureConnectListener?: Callback): TLSSocket;
export function connect(port: number, options?: ConnectionOptions, secureConnectListener?: Callback): TLSSocket;
export function connect(path: string, options?: ConnectionOptions, secureConnectListener?: Callback): TLSSocket;
export function connect(...args: unknown[]): TLSSocket {
  const [given, callback] = normalizeArgs(args);
  // Per-connection option objects are built with Object.assign, not spread:
  // V8 gives each spread copy of an object that has out-of-object properties
  // a hidden class of its own, which the socket would keep for its lifetime
  // (about 0.3 kB) and which makes every read of its options megamorphic.
  const options: ConnectionOptions = Object.assign(
    { rejectUnauthorized: process.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0', checkServerIdentity, minDHSize: 1024 },
    given,
  );
  options.host ??= options.socket === undefined && options.path === undefined ? 'localhost' : options.host;
  const secureContext = options.secureContext ?? sharedContext(options);
  const socket = new TLSSocket(
    null,
    Object.assign({}, options, {
      // As node:tls: onread is for a connection tls.connect makes itself.
      onread: options.socket === undefined ? options.onread : undefined,
      isServer: false,
      secureContext,
      // The hostname checked against the certificate when `servername` is not given.
      host: options.host ?? (options.socket as (Duplex & { _host?: string }) | undefined)?._host ?? 'localhost',
    }),
  );
  if (callback !== undefined) socket.once('secureConnect', callback);
  if (options.timeout !== undefined) socket.setTimeout(options.timeout);

  if (options.socket !== undefined) {
    const parent = options.socket;
    if (parent instanceof net.Socket) socket._parent = parent;
    if (isUnconnected(parent)) parent.once('connect', () => socket._start(parent));
    else socket._start(parent);
    return socket;
  }

  // The caller's onread is for the TLS socket's plaintext; the raw socket gets
  // our own, which lends each ciphertext chunk straight to the engine.
  const { socket: _ignored, secureContext: _ctx, timeout: _timeout, onread: _onread, ...netOptions } = options;
  const raw = net.connect(
    Object.assign(netOptions as net.NetConnectOpts, { allowHalfOpen: true, onread: SocketTransport.sharedBufferOnread }) as net.NetConnectOpts,
  ) as RawSocket;
  raw[kTlsSocket] = socket;
  socket._parent = raw;
  raw.on('lookup', forwardLookup);
  raw.once('connect', startOnConnect);
  raw.on('error', destroyOnError);
  return socket;
}

/**
 * The TLSSocket a raw socket made by connect() carries. The raw socket's
 * listeners are the functions below, shared by every connection (no closures
 * kept per connection); EventEmitter calls them with the raw socket as `this`.
 */
const kTlsSocket = Symbol('memtls.tlsSocket');
type RawSocket = net.Socket & { [kTlsSocket]: TLSSocket };

function forwardLookup(this: RawSocket, ...lookup: unknown[]): void {
  this[kTlsSocket].emit('lookup', ...lookup);
}

function startOnConnect(this: RawSocket): void {
  const socket = this[kTlsSocket];
  socket._start(this, true);
  socket.emit('connect');
  socket.emit('ready');
}

// Stays for the socket's life. It is registered before the transport's own
// 'error' listener, so an error of the raw socket reaches the TLSSocket here
// first, before the handshake or after it; a destroyed TLSSocket ignores it.
function destroyOnError(this: RawSocket, error: Error): void {
  const socket = this[kTlsSocket];
  if (!socket.destroyed) socket.destroy(error);
}

/**
 * Server / createServer: node:tls's server on memtls. Each accepted socket
 * becomes a TLSSocket; 'secureConnection' fires once it is secure (and, with
 * requestCert + rejectUnauthorized, verified); failures before that go to
 * 'tlsClientError'. `tls.Server(...)` works without `new`, as in Node.
 */
import * as net from 'node:net';

import { SecureContext, type SecureContextOptions } from './secure-context';
import { TLSSocket, alpnList, copyOptions, type TLSSocketOptions } from './tls-socket';

export interface TlsServerOptions extends TLSSocketOptions, SecureContextOptions {
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

type SecureConnectionListener = (socket: TLSSocket) => void;

/** Turns "*.example.com" into a regular expression for one label. */
function hostPattern(hostname: string): RegExp {
  const escaped = hostname.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*');
  return new RegExp(`^${escaped}$`, 'i');
}

/**
 * A connection that fails before it is secure must not crash the server: it
 * becomes 'tlsClientError'. One listener for every socket (`this` is it).
 */
function reportClientError(this: TLSSocket, error: Error): void {
  if (this.secureConnecting) this.server?.emit('tlsClientError', error, this);
}

class TlsServer extends net.Server {
  #options: TlsServerOptions;
  #secureContext: SecureContext;
  readonly #contexts: Array<[RegExp, SecureContext]> = [];
  handshakeTimeout: number;
  requestCert: boolean;
  rejectUnauthorized: boolean;

  constructor(options?: TlsServerOptions | SecureConnectionListener, listener?: SecureConnectionListener) {
    if (typeof options === 'function') {
      listener = options;
      options = {};
    }
    const opts: TlsServerOptions = copyOptions(options ?? {});
    if (opts.ALPNCallback !== undefined && opts.ALPNProtocols !== undefined) {
      throw Object.assign(new TypeError('The ALPNCallback and ALPNProtocols TLS options are mutually exclusive'), {
        code: 'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS',
      });
    }
    if (opts.ALPNCallback != null && typeof opts.ALPNCallback !== 'function') {
      throw Object.assign(new TypeError('The "options.ALPNCallback" property must be of type function'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    super({
      allowHalfOpen: opts.allowHalfOpen,
      pauseOnConnect: opts.pauseOnConnect,
      noDelay: opts.noDelay,
      keepAlive: opts.keepAlive,
      keepAliveInitialDelay: opts.keepAliveInitialDelay,
    });
    this.#options = opts;
    this.#secureContext = opts.secureContext ?? new SecureContext(opts);
    this.handshakeTimeout = opts.handshakeTimeout ?? 120000;
    this.requestCert = Boolean(opts.requestCert);
    this.rejectUnauthorized = opts.rejectUnauthorized !== false;
    this.on('connection', (socket: net.Socket) => this.#onConnection(socket));
    if (listener !== undefined) this.on('secureConnection', listener);
  }

  #onConnection(raw: net.Socket): void {
    const options = this.#options;
    const sniCallback = options.SNICallback ?? (this.#contexts.length > 0 ? this.#defaultSniCallback : undefined);
    // Object.assign, not a spread, for the reason given in connect().
    const socket = new TLSSocket(
      null,
      Object.assign({}, options, {
        isServer: true,
        server: this,
        secureContext: this.#secureContext,
        requestCert: this.requestCert,
        rejectUnauthorized: this.rejectUnauthorized,
        ALPNProtocols: alpnList(options.ALPNProtocols) ?? undefined,
        SNICallback: sniCallback,
        handshakeTimeout: this.handshakeTimeout,
      }),
    );
    socket.once('secure', () => this.emit('secureConnection', socket));
    socket.on('error', reportClientError);
    socket._start(raw);
  }

  readonly #defaultSniCallback = (servername: string, callback: (err: Error | null, ctx?: SecureContext) => void): void => {
    for (let i = this.#contexts.length - 1; i >= 0; i--) {
      const [pattern, context] = this.#contexts[i];
      if (pattern.test(servername)) {
        callback(null, context);
        return;
      }
    }
    callback(null, undefined);
  };

  /** Serves `context` (or a context made from these options) to clients asking for `hostname`. */
  addContext(hostname: string, context: SecureContext | SecureContextOptions): void {
    if (!hostname) throw Object.assign(new TypeError('"servername" is required parameter for Server.addContext'), { code: 'ERR_TLS_REQUIRED_SERVER_NAME' });
    const secureContext = context instanceof SecureContext ? context : new SecureContext(context);
    this.#contexts.push([hostPattern(hostname), secureContext]);
  }

  /** Replaces the credentials for new connections; established ones keep theirs. */
  setSecureContext(options: SecureContextOptions): void {
    this.#options = { ...this.#options, ...copyOptions(options) };
    this.#secureContext = new SecureContext(this.#options);
  }

  getTicketKeys(): Buffer {
    return this.#secureContext.ticketKeys;
  }

  setTicketKeys(keys: Buffer): void {
    if (!Buffer.isBuffer(keys) || keys.length !== 48) {
      throw Object.assign(new TypeError('Session ticket keys must be a 48-byte buffer'), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    this.#secureContext.ticketKeys = keys;
  }
}

/** node:tls's Server: a class that may also be called without `new`. */
export const Server = new Proxy(TlsServer, {
  apply(target, _thisArg, args: ConstructorParameters<typeof TlsServer>) {
    return new target(...args);
  },
}) as typeof TlsServer & ((...args: ConstructorParameters<typeof TlsServer>) => TlsServer);
export type Server = TlsServer;

export function createServer(options?: TlsServerOptions | SecureConnectionListener, listener?: SecureConnectionListener): TlsServer {
  return new TlsServer(options, listener);
}

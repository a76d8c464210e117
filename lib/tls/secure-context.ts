/**
 * createSecureContext / SecureContext: node:tls's credentials object on top of
 * the core's SSLContext.
 *
 * node:tls contexts are side-agnostic; an OpenSSL context of ours is either a
 * client or a server context, and it carries the per-socket choices node:tls
 * makes on each connection (requestCert, ALPN). So one SecureContext keeps a
 * small cache of SSLContexts, one per side and per such choice, each built
 * once and shared by every connection that needs it.
 */
import {
  CERT_NONE,
  CERT_OPTIONAL,
  CERT_REQUIRED,
  PROTOCOL_TLS_CLIENT,
  PROTOCOL_TLS_SERVER,
  TLS_VERSION_NUMBERS,
  type TLSVersion,
} from '../ssl/constants';
import { SSLContext } from '../ssl/ssl-context';
import { tlsDefaults } from './defaults';

type PemInput = string | Buffer;
type KeyInput = PemInput | { pem: PemInput; passphrase?: string };

export interface SecureContextOptions {
  ca?: PemInput | PemInput[];
  cert?: PemInput | PemInput[];
  key?: KeyInput | KeyInput[];
  passphrase?: string;
  ciphers?: string;
  ecdhCurve?: string;
  minVersion?: TLSVersion;
  maxVersion?: TLSVersion;
  secureProtocol?: string;
  honorCipherOrder?: boolean;
  sessionIdContext?: string;
  ticketKeys?: Buffer;
  sessionTimeout?: number;
  /** OpenSSL SSL_OP_* bits (crypto.constants), e.g. SSL_OP_NO_TICKET. */
  secureOptions?: number;
  [other: string]: unknown;
}

/** Options node:tls accepts that memtls does not implement: each raises a clear error. */
export const UNSUPPORTED_CONTEXT_OPTIONS = [
  'pfx',
  'crl',
  'dhparam',
  'sigalgs',
  'privateKeyEngine',
  'privateKeyIdentifier',
  'clientCertEngine',
  'pskCallback',
] as const;

/** The per-connection choices that select one SSLContext of a SecureContext. */
export interface ContextVariant {
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  alpn?: readonly string[] | null;
  keylog?: boolean;
  sessions?: boolean;
  /** Server: 'newSession'/'resumeSession' listeners (an external session cache). */
  sessionCache?: boolean;
  /** Server: 'OCSPRequest' listeners. */
  ocsp?: boolean;
  /** Server: an ALPNCallback. */
  alpnCallback?: boolean;
}

function unsupported(option: string): Error {
  return Object.assign(new Error(`memtls/tls does not support the '${option}' option`), {
    code: 'ERR_MEMTLS_UNSUPPORTED_OPTION',
  });
}

function invalidVersion(version: unknown): TypeError {
  return Object.assign(new TypeError(`${String(version)} is an invalid TLS protocol version`), {
    code: 'ERR_TLS_INVALID_PROTOCOL_VERSION',
  });
}

function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

const LEGACY_METHODS: Record<string, [TLSVersion | undefined, TLSVersion | undefined]> = {
  TLS_method: [undefined, undefined],
  SSLv23_method: [undefined, undefined],
  TLS_client_method: [undefined, undefined],
  TLS_server_method: [undefined, undefined],
  TLSv1_2_method: ['TLSv1.2', 'TLSv1.2'],
  TLSv1_2_client_method: ['TLSv1.2', 'TLSv1.2'],
  TLSv1_2_server_method: ['TLSv1.2', 'TLSv1.2'],
};

export class SecureContext {
  readonly options: Readonly<SecureContextOptions>;
  readonly #contexts = new Map<string, SSLContext>();
  readonly #minVersion: TLSVersion;
  readonly #maxVersion: TLSVersion;
  /** One set of ticket keys for every server SSLContext of this SecureContext. */
  #ticketKeys: Buffer | undefined;

  constructor(options: SecureContextOptions = {}) {
    checkSupportedOptions(options);
    let min = options.minVersion;
    let max = options.maxVersion;
    if (options.secureProtocol !== undefined) {
      const legacy = LEGACY_METHODS[options.secureProtocol];
      if (legacy === undefined) throw Object.assign(new TypeError(`Unknown method: ${options.secureProtocol}`), { code: 'ERR_TLS_INVALID_PROTOCOL_METHOD' });
      if ((min !== undefined || max !== undefined) && legacy[0] !== undefined) {
        throw Object.assign(new TypeError('TLS protocol version conflicts with secureProtocol'), { code: 'ERR_TLS_PROTOCOL_VERSION_CONFLICT' });
      }
      min ??= legacy[0];
      max ??= legacy[1];
    }
    this.#minVersion = (min ?? tlsDefaults.DEFAULT_MIN_VERSION) as TLSVersion;
    this.#maxVersion = (max ?? tlsDefaults.DEFAULT_MAX_VERSION) as TLSVersion;
    for (const version of [this.#minVersion, this.#maxVersion]) {
      if (!(version in TLS_VERSION_NUMBERS)) throw invalidVersion(version);
    }
    if (options.ciphers !== undefined && options.ciphers !== null && typeof options.ciphers !== 'string') {
      throw Object.assign(new TypeError(`The "options.ciphers" property must be of type string. Received ${typeof options.ciphers}`), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
    }
    this.options = {
      ...options,
      // '' means the defaults, as in node:tls.
      ciphers: options.ciphers || tlsDefaults.DEFAULT_CIPHERS,
      ecdhCurve: options.ecdhCurve ?? tlsDefaults.DEFAULT_ECDH_CURVE,
    };
    // Build one context now so bad keys, certificates or ciphers fail here,
    // as they do in node:tls, and not on the first connection.
    this.sslContext(options.cert !== undefined || options.key !== undefined ? 'server' : 'client');
  }

  /** node:tls exposes the native handle as `.context`; code that passes it around keeps working. */
  get context(): this {
    return this;
  }

  /** The SSLContext for one side and one set of per-connection choices. */
  sslContext(side: 'client' | 'server', variant: ContextVariant = {}): SSLContext {
    const key = [
      side,
      variant.requestCert ? 1 : 0,
      variant.rejectUnauthorized ? 1 : 0,
      variant.alpn ? variant.alpn.join('\u0000') : '',
      variant.keylog ? 1 : 0,
      variant.sessions ? 1 : 0,
      variant.sessionCache ? 1 : 0,
      variant.ocsp ? 1 : 0,
      variant.alpnCallback ? 1 : 0,
    ].join('|');
    let context = this.#contexts.get(key);
    if (context === undefined) {
      context = this.#build(side, variant);
      this.#contexts.set(key, context);
    }
    return context;
  }

  /** Every SSLContext built so far (to apply server-wide changes such as ticket keys). */
  builtContexts(): SSLContext[] {
    return [...this.#contexts.values()];
  }

  /**
   * The session ticket keys shared by all the server SSLContexts of this
   * SecureContext (whatever per-connection variant a connection uses, a
   * ticket from one is accepted by the others).
   */
  get ticketKeys(): Buffer {
    if (this.#ticketKeys === undefined) this.sslContext('server');
    return Buffer.from(this.#ticketKeys!);
  }

  set ticketKeys(keys: Buffer) {
    this.#ticketKeys = Buffer.from(keys);
    for (const context of this.#contexts.values()) {
      if (context.serverSide) context.setTicketKeys(this.#ticketKeys);
    }
  }

  #build(side: 'client' | 'server', variant: ContextVariant): SSLContext {
    const options = this.options;
    const ctx = new SSLContext(side === 'client' ? PROTOCOL_TLS_CLIENT : PROTOCOL_TLS_SERVER);
    ctx.minimumVersion = this.#minVersion;
    ctx.maximumVersion = this.#maxVersion;
    this.#applyCiphers(ctx, options.ciphers as string);
    if (options.ecdhCurve) ctx.setEcdhCurves(options.ecdhCurve);

    // Verification runs in OpenSSL but never aborts the handshake: node:tls
    // decides afterwards (authorized, rejectUnauthorized, checkServerIdentity).
    if (side === 'client') {
      ctx.checkHostname = false;
      ctx.verifyMode = CERT_REQUIRED;
    } else if (variant.requestCert) {
      ctx.verifyMode = variant.rejectUnauthorized ? CERT_REQUIRED : CERT_OPTIONAL;
    } else {
      ctx.verifyMode = CERT_NONE;
    }
    ctx.deferVerification = true;
    if (side === 'client' || variant.requestCert) {
      const cas = asList(options.ca);
      if (cas.length === 0) ctx.loadDefaultCerts();
      for (const ca of cas) ctx.loadVerifyLocations({ cadata: ca });
    }

    const certs = asList(options.cert);
    const keys = asList(options.key);
    if (certs.length > 0 || keys.length > 0) {
      const cert = certs[0];
      const key = keys[0];
      const keyPem = key !== undefined && typeof key === 'object' && !Buffer.isBuffer(key) ? key.pem : key;
      const passphrase = key !== undefined && typeof key === 'object' && !Buffer.isBuffer(key) ? (key.passphrase ?? options.passphrase) : options.passphrase;
      if (cert === undefined) throw Object.assign(new Error('a key was given without a certificate'), { code: 'ERR_INVALID_ARG_VALUE' });
      ctx.loadCertChain(toPem(cert), keyPem === undefined ? undefined : toPem(keyPem), passphrase ?? null);
    }
    if (options.sessionIdContext !== undefined) ctx.setSessionIdContext(String(options.sessionIdContext).slice(0, 32));
    if (options.sessionTimeout !== undefined) ctx.setSessionTimeout(options.sessionTimeout);
    if (side === 'server') {
      // Every server variant uses the same ticket keys: the option's, or the
      // first context's random ones.
      this.#ticketKeys ??= options.ticketKeys !== undefined ? Buffer.from(options.ticketKeys) : ctx.getTicketKeys();
      if (this.#ticketKeys !== undefined) ctx.setTicketKeys(this.#ticketKeys);
      if (variant.sessionCache) ctx.externalSessionCache = true;
    }
    if (options.secureOptions !== undefined && options.secureOptions !== null) ctx.setOptions(Number(options.secureOptions));
    if (variant.alpn && variant.alpn.length > 0) ctx.setAlpnProtocols(variant.alpn);
    return ctx;
  }

  /** node:tls's rule: TLS_* names are TLS 1.3 suites, the rest the TLS 1.2 list. */
  #applyCiphers(ctx: SSLContext, ciphers: string): void {
    const names = ciphers.split(':').filter((name) => name.length > 0);
    const suites = names.filter((name) => name.startsWith('TLS_'));
    const list = names.filter((name) => !name.startsWith('TLS_'));
    // A list without TLS_* names leaves the TLS 1.3 suites at their defaults;
    // one with only TLS_* names means TLS 1.3 only (Node 20's rules).
    if (names.length === 0) {
      throw Object.assign(new TypeError(`The property 'options.ciphers' is invalid. Received '${ciphers}'`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    if (suites.length > 0) ctx.setCiphersuites(suites.join(':'));
    if (list.length > 0) ctx.setCiphers(list.join(':'));
    else if (suites.length > 0 && ctx.minimumVersion === 'TLSv1.2') ctx.minimumVersion = 'TLSv1.3';
  }
}

/** Throws ERR_MEMTLS_UNSUPPORTED_OPTION for an option memtls does not implement. */
export function checkSupportedOptions(options: Record<string, unknown>): void {
  for (const option of UNSUPPORTED_CONTEXT_OPTIONS) {
    if (options[option] !== undefined && options[option] !== null) throw unsupported(option);
  }
}

function toPem(value: PemInput): Buffer {
  return typeof value === 'string' ? Buffer.from(value) : value;
}

/** node:tls's createSecureContext(options). */
export function createSecureContext(options: SecureContextOptions = {}): SecureContext {
  return new SecureContext(options);
}

/**
 * SSLContext: the configuration shared by many connections (Python's
 * ssl.SSLContext, camelCased). One native SSL_CTX per context, reused by every
 * SSLObject that wrapBio() makes from it.
 */
import * as fs from 'node:fs';
import { rootCertificates } from 'node:tls';
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';

import { native, type NativeMemoryBIO, type NativeSSLContext, type CipherTuple } from '../native';
import {
  CERT_NONE,
  CERT_OPTIONAL,
  CERT_REQUIRED,
  PROTOCOL_TLS_CLIENT,
  PROTOCOL_TLS_SERVER,
  TLS_VERSION_NUMBERS,
  versionName,
  type Protocol,
  type TLSVersion,
  type VerifyMode,
} from './constants';
import { SSLError } from './errors';
import { SSLSession } from './session';
import { SSLObject, kCreateSSLObject } from './ssl-object';

export type PemOrPath = string | Buffer;
export type Password = string | Buffer | (() => string | Buffer);

/**
 * Called on the server once the client's server name is known, before the
 * certificate is chosen. Set `sslObject.context` to switch certificates.
 * Return a number (an alert, as in Python) to refuse the handshake (OpenSSL
 * then sends internal_error), or nothing to go on. The
 * protocol layer also accepts a promise of either (the handshake waits); the
 * Python-style doHandshake() needs an answer at once.
 */
export type SNICallback = (
  sslObject: SSLObject,
  serverName: string | undefined,
  context: SSLContext,
) => number | void | undefined | Promise<number | void | undefined>;

/** Receives each NSS key log line (with its trailing newline), as node:tls's 'keylog'. */
export type KeylogCallback = (line: Buffer, sslObject: SSLObject) => void;

/** A session a server created, for an external session cache. */
export interface ServerSession {
  /** The session id the client will offer to resume it. */
  id: Buffer;
  /** DER encoding (i2d_SSL_SESSION): give it back from a clientHelloCallback to resume. */
  der: Buffer;
}

/**
 * Client: called when a resumable session (a TLS 1.3 ticket, or the TLS 1.2
 * session) arrives; read it from `sslObject.session`. Server: called for each
 * session the server creates, with its id and DER (`session`).
 */
export type NewSessionCallback = (sslObject: SSLObject, session?: ServerSession) => void;

/** What the client offered, as a server sees it before choosing anything. */
export interface ClientHelloInfo {
  /** The SNI host name, if the client sent one. */
  serverName: string | undefined;
  /** The ALPN protocols offered, in the client's order; undefined without the extension. */
  alpnProtocols: string[] | undefined;
  /** The legacy session id (a TLS 1.2 session to resume, or TLS 1.3's compatibility id). */
  sessionId: Buffer;
  /** True when the client resumes with a TLS 1.2 session ticket. */
  hasTicket: boolean;
}

/** A server's decisions taken at the ClientHello. */
export interface ClientHelloResult {
  /**
   * A protocol from `alpnProtocols` to select; null to refuse the connection
   * with a no_application_protocol alert; undefined to let the context's
   * ALPN protocols decide.
   */
  alpnProtocol?: string | null;
  /** DER of a session to resume (from an external cache); OpenSSL checks it still applies. */
  session?: Uint8Array | null;
}

/**
 * Called on the server once the ClientHello is parsed, before the session,
 * certificate and ALPN protocol are chosen. Return (or resolve with) the
 * decisions; throwing (or rejecting) fails the handshake with a
 * handshake_failure alert. The protocol layer waits for a promise; the
 * Python-style doHandshake() needs an answer at once.
 */
export type ClientHelloCallback = (
  sslObject: SSLObject,
  hello: ClientHelloInfo,
) => ClientHelloResult | void | undefined | Promise<ClientHelloResult | void | undefined>;

/**
 * Called on the server when the client asked for a stapled OCSP response,
 * after the sniCallback (so `sslObject.context` is the one serving the
 * certificate). Return the DER of the response to staple, or nothing.
 */
export type OCSPCallback = (sslObject: SSLObject) => Uint8Array | null | undefined | Promise<Uint8Array | null | undefined>;

export interface VerifyLocations {
  cafile?: string;
  capath?: string;
  /** PEM text (string or Buffer) or DER bytes of one or more certificates. */
  cadata?: string | Buffer;
}

export interface WrapBioOptions {
  serverSide?: boolean;
  serverHostname?: string | null;
  session?: SSLSession | null;
}

function invalidArgument(message: string, code = 'ERR_INVALID_ARG_VALUE'): TypeError {
  return Object.assign(new TypeError(message), { code });
}

function looksLikePem(value: string | Buffer): boolean {
  const text = typeof value === 'string' ? value : value.subarray(0, 4096).toString('latin1');
  return text.includes('-----BEGIN ');
}

function readPemOrPath(value: PemOrPath, what: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value !== 'string') throw invalidArgument(`${what} must be a path or PEM content`);
  return looksLikePem(value) ? Buffer.from(value) : fs.readFileSync(value);
}

/** Encodes ALPN protocol names in wire format: one length byte before each. */
function alpnWire(protocols: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const protocol of protocols) {
    const bytes = Buffer.from(protocol, 'latin1');
    if (bytes.length === 0 || bytes.length > 255) {
      throw invalidArgument(`ALPN protocol names must be 1 to 255 bytes: ${JSON.stringify(protocol)}`);
    }
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  return Buffer.concat(parts);
}

let defaultRootsPem: Buffer | undefined;

/**
 * Checks and normalises a server hostname as Python's wrap_bio does: no empty
 * name, no leading dot, internationalised names IDNA-encoded to A-labels.
 */
function normaliseHostname(name: string): string {
  if (typeof name !== 'string') throw invalidArgument('serverHostname must be a string');
  if (name === '' || name.startsWith('.')) {
    throw invalidArgument('serverHostname cannot be an empty string or start with a leading dot.');
  }
  if (isIP(name) !== 0) return name;
  const ascii = /^[\x00-\x7f]*$/.test(name) ? name.toLowerCase() : domainToASCII(name);
  if (ascii === '') throw invalidArgument(`serverHostname is not a valid host name: ${name}`);
  return ascii;
}

export class SSLContext {
  readonly protocol: Protocol;
  /** @internal the native SSL_CTX wrapper */
  readonly native: NativeSSLContext;
  #checkHostname: boolean;
  #verifyMode: VerifyMode;
  #deferVerification = false;
  #sniCallback: SNICallback | undefined;
  #keylogCallback: KeylogCallback | undefined;
  #newSessionCallback: NewSessionCallback | undefined;
  #clientHelloCallback: ClientHelloCallback | undefined;
  #ocspCallback: OCSPCallback | undefined;
  #externalSessionCache = false;
  #alpnProtocols: string[] = [];

  constructor(protocol: Protocol) {
    if (protocol !== PROTOCOL_TLS_CLIENT && protocol !== PROTOCOL_TLS_SERVER) {
      throw invalidArgument('protocol must be PROTOCOL_TLS_CLIENT or PROTOCOL_TLS_SERVER');
    }
    this.protocol = protocol;
    this.native = new native.SSLContext(protocol);
    this.#checkHostname = protocol === PROTOCOL_TLS_CLIENT;
    this.#verifyMode = protocol === PROTOCOL_TLS_CLIENT ? CERT_REQUIRED : CERT_NONE;
  }

  /** True for a PROTOCOL_TLS_SERVER context. */
  get serverSide(): boolean {
    return this.protocol === PROTOCOL_TLS_SERVER;
  }

  get verifyMode(): VerifyMode {
    return this.#verifyMode;
  }

  set verifyMode(mode: VerifyMode) {
    if (mode !== CERT_NONE && mode !== CERT_OPTIONAL && mode !== CERT_REQUIRED) {
      throw invalidArgument('verifyMode must be CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED');
    }
    if (mode === CERT_NONE && this.#checkHostname) {
      throw invalidArgument('Cannot set verifyMode to CERT_NONE when checkHostname is enabled.');
    }
    this.native.setVerifyMode(mode, this.#deferVerification);
    this.#verifyMode = mode;
  }

  /**
   * When true, the peer's certificate is still requested and verified (chain,
   * and hostname when checkHostname is on) but a failure does not abort the
   * handshake: it is reported by SSLObject.verifyResult() and the caller
   * decides, as node:tls does with `rejectUnauthorized`. Off by default.
   */
  get deferVerification(): boolean {
    return this.#deferVerification;
  }

  set deferVerification(on: boolean) {
    this.#deferVerification = Boolean(on);
    this.native.setVerifyMode(this.#verifyMode, this.#deferVerification);
  }

  get checkHostname(): boolean {
    return this.#checkHostname;
  }

  /** Turning hostname checks on also turns on certificate verification. */
  set checkHostname(on: boolean) {
    const enable = Boolean(on);
    if (enable && this.#verifyMode === CERT_NONE) {
      this.native.setVerifyMode(CERT_REQUIRED, this.#deferVerification);
      this.#verifyMode = CERT_REQUIRED;
    }
    this.#checkHostname = enable;
    this.native.setCheckHostname(enable);
  }

  get minimumVersion(): TLSVersion | 'MINIMUM_SUPPORTED' {
    return versionName(this.native.getProtocolVersions()[0]) ?? 'MINIMUM_SUPPORTED';
  }

  set minimumVersion(version: TLSVersion | 'MINIMUM_SUPPORTED') {
    const [, max] = this.native.getProtocolVersions();
    this.native.setProtocolVersions(this.#versionNumber(version), max);
  }

  get maximumVersion(): TLSVersion | 'MAXIMUM_SUPPORTED' {
    return versionName(this.native.getProtocolVersions()[1]) ?? 'MAXIMUM_SUPPORTED';
  }

  set maximumVersion(version: TLSVersion | 'MAXIMUM_SUPPORTED') {
    const [min] = this.native.getProtocolVersions();
    this.native.setProtocolVersions(min, this.#versionNumber(version));
  }

  #versionNumber(version: string): number {
    if (version === 'MINIMUM_SUPPORTED' || version === 'MAXIMUM_SUPPORTED') return 0;
    const wire = TLS_VERSION_NUMBERS[version as TLSVersion];
    if (wire === undefined) throw invalidArgument(`unknown TLS version: ${String(version)}`);
    return wire;
  }

  /**
   * Loads the certificate chain (leaf first) and its private key. Each may be
   * a file path or PEM content; the key defaults to the certificate data.
   */
  loadCertChain(certfile: PemOrPath, keyfile?: PemOrPath | null, password?: Password | null): void {
    const cert = readPemOrPath(certfile, 'certfile');
    const key = keyfile == null ? undefined : readPemOrPath(keyfile, 'keyfile');
    let secret: Buffer | undefined;
    if (password != null) {
      const value = typeof password === 'function' ? password() : password;
      if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
        throw invalidArgument('password should be a string or bytes');
      }
      secret = Buffer.from(value);
    }
    this.native.loadCertChain(cert, key, secret);
  }

  /** Adds trusted CA certificates from a file, a hashed directory or in-memory data. */
  loadVerifyLocations(locations: VerifyLocations = {}): void {
    const { cafile, capath, cadata } = locations;
    if (cafile == null && capath == null && cadata == null) {
      throw invalidArgument('cafile, capath and cadata cannot be all omitted');
    }
    if (cafile != null || capath != null) this.native.loadVerifyLocations(cafile ?? undefined, capath ?? undefined);
    if (cadata != null) {
      const bytes = typeof cadata === 'string' ? Buffer.from(cadata) : cadata;
      this.native.loadCaData(bytes, looksLikePem(bytes));
    }
  }

  /** Trusts the Mozilla roots bundled with Node and the system's default store. */
  loadDefaultCerts(): void {
    defaultRootsPem ??= Buffer.from(rootCertificates.join('\n'));
    this.native.loadCaData(defaultRootsPem, true);
    this.native.loadDefaultPaths();
  }

  /** OpenSSL cipher list for TLS 1.2 and below. */
  setCiphers(list: string): void {
    this.native.setCiphers(list);
  }

  /** OpenSSL ciphersuite list for TLS 1.3. */
  setCiphersuites(list: string): void {
    this.native.setCiphersuites(list);
  }

  /** The enabled ciphers as [name, protocol, bits]. */
  getCiphers(): CipherTuple[] {
    return this.native.getCiphers();
  }

  /** ALPN protocols in preference order (the server picks by its own order). */
  setAlpnProtocols(protocols: readonly string[]): void {
    if (!Array.isArray(protocols)) throw invalidArgument('protocols must be an array of strings');
    this.native.setAlpnProtocols(alpnWire(protocols));
    this.#alpnProtocols = [...protocols];
  }

  get alpnProtocols(): readonly string[] {
    return this.#alpnProtocols;
  }

  /** TLS 1.3 session tickets a server sends after each full handshake (default 2). */
  get numTickets(): number {
    return this.native.getNumTickets();
  }

  set numTickets(count: number) {
    if (!Number.isInteger(count) || count < 0) throw invalidArgument('numTickets must be a non-negative integer');
    this.native.setNumTickets(count);
  }

  get sniCallback(): SNICallback | undefined {
    return this.#sniCallback;
  }

  set sniCallback(callback: SNICallback | undefined | null) {
    if (callback != null && typeof callback !== 'function') throw invalidArgument('sniCallback must be a function');
    if (!this.serverSide && callback != null) {
      throw new SSLError('sniCallback is only used by server contexts');
    }
    this.#sniCallback = callback ?? undefined;
    this.native.setSniHook(callback != null);
  }

  get keylogCallback(): KeylogCallback | undefined {
    return this.#keylogCallback;
  }

  set keylogCallback(callback: KeylogCallback | undefined | null) {
    if (callback != null && typeof callback !== 'function') throw invalidArgument('keylogCallback must be a function');
    this.#keylogCallback = callback ?? undefined;
    this.native.setKeylog(callback != null);
  }

  get newSessionCallback(): NewSessionCallback | undefined {
    return this.#newSessionCallback;
  }

  /**
   * Client contexts: told of every new resumable session (read it from
   * `sslObject.session`). Server contexts: told of every session created,
   * with its id and DER (for an external cache, see externalSessionCache).
   */
  set newSessionCallback(callback: NewSessionCallback | undefined | null) {
    if (callback != null && typeof callback !== 'function') throw invalidArgument('newSessionCallback must be a function');
    this.#newSessionCallback = callback ?? undefined;
    this.native.setSessionCallback(callback != null);
  }

  get clientHelloCallback(): ClientHelloCallback | undefined {
    return this.#clientHelloCallback;
  }

  /** Server contexts: decides ALPN and the session to resume once the ClientHello is known. */
  set clientHelloCallback(callback: ClientHelloCallback | undefined | null) {
    if (callback != null && typeof callback !== 'function') throw invalidArgument('clientHelloCallback must be a function');
    if (!this.serverSide && callback != null) throw new SSLError('clientHelloCallback is only used by server contexts');
    this.#clientHelloCallback = callback ?? undefined;
    this.native.setClientHelloHook(callback != null);
  }

  get ocspCallback(): OCSPCallback | undefined {
    return this.#ocspCallback;
  }

  /** Server contexts: gives the OCSP response to staple when a client asks for one. */
  set ocspCallback(callback: OCSPCallback | undefined | null) {
    if (callback != null && typeof callback !== 'function') throw invalidArgument('ocspCallback must be a function');
    if (!this.serverSide && callback != null) throw new SSLError('ocspCallback is only used by server contexts');
    this.#ocspCallback = callback ?? undefined;
    this.native.setOcspHook(callback != null);
  }

  /**
   * Server contexts: when true, OpenSSL's own session cache is off; sessions
   * are reported through newSessionCallback and resumed only when a
   * clientHelloCallback returns one (node:tls's 'newSession'/'resumeSession').
   * Session tickets are not affected.
   */
  get externalSessionCache(): boolean {
    return this.#externalSessionCache;
  }

  set externalSessionCache(on: boolean) {
    if (!this.serverSide && on) throw new SSLError('externalSessionCache is only used by server contexts');
    this.#externalSessionCache = Boolean(on);
    this.native.setExternalSessionCache(this.#externalSessionCache);
  }

  /** Adds OpenSSL SSL_OP_* option bits (node:tls's `secureOptions`). */
  setOptions(bits: number): void {
    if (!Number.isSafeInteger(bits) || bits < 0) throw invalidArgument('options must be a non-negative integer');
    this.native.setOptions(bits);
  }

  /** DER of the issuer of this context's certificate (from its chain, else its trust store), if found. */
  getIssuer(): Buffer | undefined {
    return this.native.getIssuer();
  }

  /** Server contexts: the 48-byte session ticket keys (name, HMAC secret, AES key), as node:tls. */
  getTicketKeys(): Buffer | undefined {
    return this.native.getTicketKeys();
  }

  setTicketKeys(keys: Buffer): void {
    this.native.setTicketKeys(keys);
  }

  /** Sessions (and tickets) are only resumed by contexts with the same id context. */
  setSessionIdContext(id: string | Buffer): void {
    this.native.setSessionIdContext(typeof id === 'string' ? Buffer.from(id) : id);
  }

  /** Lifetime in seconds of the sessions this context issues. */
  setSessionTimeout(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0) throw invalidArgument('session timeout must be a non-negative integer');
    this.native.setSessionTimeout(seconds);
  }

  /** Key exchange groups, e.g. 'X25519:P-256', or 'auto' for OpenSSL's default. */
  setEcdhCurves(curves: string): void {
    this.native.setEcdhCurves(curves);
  }

  /** DER of this context's own certificate, if one is loaded. */
  getCertificate(): Buffer | undefined {
    return this.native.getCertificate();
  }

  /**
   * Creates a TLS connection over two memory BIOs. `incoming` receives the
   * peer's ciphertext; the SSLObject writes what must be sent to `outgoing`.
   */
  wrapBio(incoming: NativeMemoryBIO, outgoing: NativeMemoryBIO, options: WrapBioOptions = {}): SSLObject {
    const serverSide = Boolean(options.serverSide);
    let hostname: string | undefined;
    if (options.serverHostname != null) {
      if (serverSide) throw invalidArgument('serverHostname is only for client connections');
      hostname = normaliseHostname(options.serverHostname);
    } else if (!serverSide && this.#checkHostname) {
      // Without a name OpenSSL would check the chain but never the identity.
      throw invalidArgument('checkHostname requires serverHostname', 'ERR_MISSING_OPTION');
    }
    const sslObject = SSLObject[kCreateSSLObject](this, incoming, outgoing, serverSide, hostname);
    if (options.session != null) sslObject.session = options.session;
    return sslObject;
  }
}

/** A client context that verifies the chain and the hostname against the default roots. */
export function createDefaultContext(): SSLContext {
  const context = new SSLContext(PROTOCOL_TLS_CLIENT);
  context.loadDefaultCerts();
  return context;
}

/**
 * SSLObject: one TLS connection over two MemoryBIOs (Python's ssl.SSLObject,
 * camelCased). Instances come from SSLContext.wrapBio().
 *
 * These are the user-facing, exception-raising calls: doHandshake(), read()
 * and unwrap() throw SSLWantReadError when they need more input. The protocol
 * layer does not use them; it drives the same native object through the
 * batched, non-throwing fast path (`engine`), one call per socket chunk.
 */
import { native, Slot, Status, StatusFlag, type NativeMemoryBIO, type NativeSSLObject } from '../native';
import { decodeCertificate, decodeCertificateChain, type DetailedPeerCertificate, type PeerCertificate } from './certificate';
import { SSLError, SSLWantReadError, SSLWantWriteError, SSLZeroReturnError } from './errors';
import { SSLSession } from './session';
import type { SSLContext } from './ssl-context';

/** Used by SSLContext.wrapBio() to reach the private constructor. */
export const kCreateSSLObject = Symbol('memtls.createSSLObject');

const shared = native.sharedState;
let constructing = false;

function notBytes(what: string): TypeError {
  return Object.assign(new TypeError(`${what}: a bytes-like object is required`), { code: 'ERR_INVALID_ARG_TYPE' });
}

export class SSLObject {
  /**
   * The native engine, for the protocol layer's fast path. Application code
   * has no reason to touch it.
   */
  readonly engine: NativeSSLObject;
  readonly serverSide: boolean;
  /** The server name sent in SNI and checked against the certificate (A-label form). */
  readonly serverHostname: string | undefined;
  readonly incoming: NativeMemoryBIO;
  readonly outgoing: NativeMemoryBIO;
  #context: SSLContext;
  #handshakeDone = false;

  static [kCreateSSLObject](
    context: SSLContext,
    incoming: NativeMemoryBIO,
    outgoing: NativeMemoryBIO,
    serverSide: boolean,
    serverHostname: string | undefined,
  ): SSLObject {
    constructing = true;
    try {
      return new SSLObject(context, incoming, outgoing, serverSide, serverHostname);
    } finally {
      constructing = false;
    }
  }

  private constructor(
    context: SSLContext,
    incoming: NativeMemoryBIO,
    outgoing: NativeMemoryBIO,
    serverSide: boolean,
    serverHostname: string | undefined,
  ) {
    if (!constructing) {
      throw new TypeError(
        'SSLObject does not have a public constructor. Instances are returned by SSLContext.wrapBio().',
      );
    }
    this.engine = new native.SSLObject(context.native, incoming, outgoing, serverSide, serverHostname);
    this.#context = context;
    this.serverSide = serverSide;
    this.serverHostname = serverHostname;
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  /** The context in use; set it (from an SNI callback) to switch certificates. */
  get context(): SSLContext {
    return this.#context;
  }

  set context(context: SSLContext) {
    this.engine.setContext(context.native);
    this.#context = context;
  }

  /**
   * Runs the handshake as far as the input allows. Throws SSLWantReadError
   * while it needs the peer's next flight (send `outgoing` first).
   */
  doHandshake(): void {
    let status = this.engine.handshake();
    while ((status & StatusFlag.Mask) === Status.WantSni) {
      this.handleFlags(status);
      const pending = this.runSniCallback();
      if (pending !== undefined) {
        pending.catch(() => undefined);
        throw new SSLError('doHandshake() cannot wait for an asynchronous sniCallback', { reason: 'SNI_CALLBACK_ASYNC' });
      }
      status = this.engine.handshake();
    }
    this.check(status);
  }

  /**
   * Reads up to `len` bytes of plaintext. With `buffer`, reads into it and
   * returns the count. Returns an empty result once the peer has sent
   * close_notify (while ours is unsent); throws SSLWantReadError when more
   * ciphertext is needed.
   */
  read(len = 1024, buffer?: Uint8Array): Buffer | number {
    if (buffer === undefined) {
      if (typeof len !== 'number' || Number.isNaN(len)) throw notBytes('read() size');
      if (len < 0) throw Object.assign(new RangeError('size should not be negative'), { code: 'ERR_OUT_OF_RANGE' });
      if (len === 0) return Buffer.alloc(0);
      const out = Buffer.allocUnsafe(len);
      const got = this.readIntoBuffer(out, len);
      return got === len ? out : out.subarray(0, got);
    }
    if (!ArrayBuffer.isView(buffer)) throw notBytes('read() buffer');
    const view = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (view.length === 0) return 0;
    const size = len <= 0 || len > view.length ? view.length : len;
    return this.readIntoBuffer(view, size);
  }

  private readIntoBuffer(out: Uint8Array, size: number): number {
    const status = this.engine.readInto(out, 0, size);
    const got = shared[Slot.Bytes];
    // Plaintext wins over the status that ended the read (WantRead, close_notify).
    if (got > 0) {
      this.handleFlags(status);
      return got;
    }
    this.check(status, true);
    return 0;
  }

  /** Encrypts all of `data` into the outgoing BIO; returns its length. */
  write(data: Uint8Array): number {
    if (!ArrayBuffer.isView(data)) throw notBytes('write()');
    const status = this.engine.write(data as Uint8Array);
    this.check(status);
    return shared[Slot.Bytes];
  }

  /**
   * Sends close_notify (into `outgoing`) and completes once the peer's has
   * been read; throws SSLWantReadError until then.
   */
  unwrap(): void {
    this.check(this.engine.shutdown());
  }

  /** Decrypted bytes that read() can return without more input. */
  pending(): number {
    return this.engine.pending();
  }

  /**
   * The peer's certificate: DER bytes with `binaryForm`, otherwise decoded as
   * node:tls's getPeerCertificate() does. `null` if the peer sent none.
   */
  getPeerCert(binaryForm: true): Buffer | null;
  getPeerCert(binaryForm?: false): PeerCertificate | null;
  getPeerCert(binaryForm = false): Buffer | PeerCertificate | null {
    if (!this.engine.isHandshakeDone()) throw new SSLError('handshake not done yet', { reason: 'HANDSHAKE_NOT_DONE' });
    const der = this.engine.peerCertificate();
    if (der === undefined) return null;
    return binaryForm ? der : decodeCertificate(der);
  }

  /** The peer's chain, leaf first, each linked to its issuer (node:tls's detailed form). */
  getPeerCertChain(): DetailedPeerCertificate | null {
    if (!this.engine.isHandshakeDone()) throw new SSLError('handshake not done yet', { reason: 'HANDSHAKE_NOT_DONE' });
    const chain = this.engine.peerCertificateChain();
    const leaf = this.engine.peerCertificate();
    // A server's chain from OpenSSL omits the client's leaf.
    if (leaf !== undefined && (chain.length === 0 || !chain[0].equals(leaf))) chain.unshift(leaf);
    return decodeCertificateChain(chain) ?? null;
  }

  /** [name, protocol, secret bits] of the negotiated cipher, or null before the handshake. */
  cipher(): [string, string, number] | null {
    const tuple = this.engine.cipher();
    return tuple === undefined ? null : [tuple[0], tuple[1], tuple[2]];
  }

  /** Server only: the server's ciphers that the client also offered. */
  sharedCiphers(): Array<[string, string, number]> | null {
    const list = this.engine.sharedCiphers();
    if (list === undefined || !this.engine.isHandshakeDone()) return null;
    return list.map((tuple) => [tuple[0], tuple[1], tuple[2]]);
  }

  /** The IANA name of the negotiated cipher (e.g. TLS_AES_128_GCM_SHA256), or null. */
  cipherStandardName(): string | null {
    return this.engine.cipher()?.[3] ?? null;
  }

  /** Our own certificate as sent to the peer: DER with `binaryForm`, else decoded; null if none. */
  getCertificate(binaryForm: true): Buffer | null;
  getCertificate(binaryForm?: false): PeerCertificate | null;
  getCertificate(binaryForm = false): Buffer | PeerCertificate | null {
    const der = this.engine.localCertificate();
    if (der === undefined) return null;
    return binaryForm ? der : decodeCertificate(der);
  }

  /** Our Finished message of the latest handshake, or null. */
  getFinished(): Buffer | null {
    return this.engine.finished() ?? null;
  }

  /** The peer's Finished message of the latest handshake, or null. */
  getPeerFinished(): Buffer | null {
    return this.engine.peerFinished() ?? null;
  }

  /** The peer's ephemeral key-exchange key: {type, name, size}; empty when unknown. */
  getEphemeralKeyInfo(): { type?: string; name?: string; size?: number } {
    return this.engine.ephemeralKeyInfo();
  }

  /** Caps the plaintext per record (512 to 16384); false if refused. */
  setMaxSendFragment(size: number): boolean {
    if (!Number.isInteger(size) || size < 512 || size > 16384) return false;
    return this.engine.setMaxSendFragment(size);
  }

  /** The SNI name a server received, or the one a client sent; null if none. */
  getServername(): string | null {
    return this.engine.servername() ?? null;
  }

  /** Compression is always off. */
  compression(): null {
    return null;
  }

  /** 'TLSv1.3' or 'TLSv1.2' once the handshake is done, otherwise null. */
  version(): string | null {
    return this.engine.version() ?? null;
  }

  selectedAlpnProtocol(): string | null {
    return this.engine.alpnProtocol() ?? null;
  }

  /** The current session (a TLS 1.3 client's newest ticket), or null. */
  get session(): SSLSession | null {
    const der = this.engine.getSession();
    return der === undefined ? null : new SSLSession(der, this.#context);
  }

  set session(session: SSLSession) {
    if (!(session instanceof SSLSession)) {
      throw Object.assign(new TypeError('Value is not a SSLSession.'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    if (this.serverSide) throw new SSLError('Cannot set session for server-side SSLObject.', { reason: 'SESSION_SERVER_SIDE' });
    if (this.#handshakeDone || this.engine.isHandshakeDone()) {
      throw new SSLError('Cannot set session after handshake.', { reason: 'SESSION_AFTER_HANDSHAKE' });
    }
    if (session.context !== undefined && session.context !== this.#context) {
      throw new SSLError('Session refers to a different SSLContext.', { reason: 'SESSION_CONTEXT_MISMATCH' });
    }
    this.engine.setSession(session.der);
  }

  get sessionReused(): boolean {
    return this.engine.sessionReused();
  }

  /**
   * RFC 5929 'tls-unique': the first Finished message of the handshake, the
   * same bytes on both ends. null before the handshake.
   */
  getChannelBinding(cbType = 'tls-unique'): Buffer | null {
    if (cbType !== 'tls-unique') {
      throw Object.assign(new TypeError(`'${cbType}' channel binding type not implemented`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    if (!this.engine.isHandshakeDone()) return null;
    const ownFirst = this.engine.sessionReused() !== !this.serverSide;
    return (ownFirst ? this.engine.finished() : this.engine.peerFinished()) ?? null;
  }

  /** RFC 5705 keying material; both ends derive the same bytes. */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Buffer {
    return this.engine.exportKeyingMaterial(length, label, context);
  }

  /** Frees the native connection; later calls fail with a clear error. */
  close(): void {
    this.engine.close();
  }

  /**
   * Acts on the flags that accompany a status: delivers queued keylog lines,
   * reports each new session and notes handshake completion. Call it right
   * after the native call that returned `status` (it reads the shared slots).
   * The protocol layer calls it too.
   */
  handleFlags(status: number): void {
    if (status & StatusFlag.HandshakeDone) this.#handshakeDone = true;
    if (status & StatusFlag.Session) {
      const count = shared[Slot.Sessions];
      const callback = this.#context.newSessionCallback;
      if (callback !== undefined) for (let i = 0; i < count; i++) callback(this);
    }
    if (status & StatusFlag.Keylog) {
      const lines = this.engine.takeKeylog();
      const callback = this.#context.keylogCallback;
      if (callback !== undefined) for (const line of lines) callback(Buffer.from(`${line}\n`, 'latin1'), this);
    }
  }

  /**
   * Asks the context's SNI callback which context to use, then lets the
   * paused handshake go on (or refuses it if the callback returns an alert or
   * throws; a thrown error is rethrown after the handshake has failed).
   */
  runSniCallback(): Promise<void> | undefined {
    const callback = this.#context.sniCallback;
    let accepted = true;
    let thrown: unknown;
    if (callback !== undefined) {
      try {
        const alert = callback(this, this.engine.servername(), this.#context);
        if (alert !== null && typeof alert === 'object' && typeof (alert as Promise<unknown>).then === 'function') {
          // Asynchronous answer: the handshake stays paused until it settles.
          return (alert as Promise<number | void | undefined>).then(
            (value) => this.engine.sniDone(typeof value !== 'number'),
            (error: unknown) => {
              this.engine.sniDone(false);
              throw error;
            },
          );
        }
        if (typeof alert === 'number') accepted = false;
      } catch (error) {
        accepted = false;
        thrown = error;
      }
    }
    this.engine.sniDone(accepted);
    if (thrown !== undefined) {
      this.engine.handshake(); // fail the handshake so an alert is queued
      throw thrown;
    }
    return undefined;
  }

  /**
   * The outcome of verifying the peer's certificate (X509_V_OK is code 0),
   * or null before the handshake. Meaningful mainly with deferVerification.
   */
  verifyResult(): { code: number; message: string; name: string } | null {
    if (!this.engine.isHandshakeDone()) return null;
    const result = this.engine.verifyResult();
    if (result === undefined) return null;
    const [code, message, name] = result;
    return { code, message, name };
  }

  /**
   * Turns a status into the Python-style outcome: returns it when it is a
   * success (Ok, or CloseNotify when `eofIsData`), throws the matching
   * SSLError otherwise.
   */
  private check(status: number, eofIsData = false): Status {
    this.handleFlags(status);
    const outcome = (status & StatusFlag.Mask) as Status;
    switch (outcome) {
      case Status.Ok:
        return outcome;
      case Status.CloseNotify:
        if (eofIsData) return outcome;
        throw new SSLZeroReturnError();
      case Status.WantRead:
        throw new SSLWantReadError();
      case Status.WantWrite:
        throw new SSLWantWriteError();
      case Status.Closed:
        throw new SSLError('the SSLObject is closed', { reason: 'CLOSED' });
      default:
        throw this.engine.takeError();
    }
  }
}

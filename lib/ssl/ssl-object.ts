/**
 * SSLObject: one TLS connection over two MemoryBIOs (Python's ssl.SSLObject,
 * camelCased). Instances come from SSLContext.wrapBio().
 *
 * These are the user-facing, exception-raising calls: doHandshake(), read()
 * and unwrap() throw SSLWantReadError when they need more input. The protocol
 * layer does not use them; it drives the same native object through the
 * batched, non-throwing fast path (`engine`), one call per socket chunk.
 */
import { isIP } from 'node:net';

import { native, Slot, Status, StatusFlag, type NativeMemoryBIO, type NativeSSLObject } from '../native';
import { decodeCertificate, decodeCertificateChain, type DetailedPeerCertificate, type PeerCertificate } from './certificate';
import { SSLError, SSLWantReadError, SSLWantWriteError, SSLZeroReturnError } from './errors';
import { SSLSession } from './session';
import type { ClientHelloInfo, ClientHelloResult, SSLContext } from './ssl-context';

/** Letter-digit-hyphen labels only: no trailing dot, empty label, U-label or odd character. */
const PLAIN_NAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** Used by SSLContext.wrapBio() to reach the private constructor. */
export const kCreateSSLObject = Symbol('memtls.createSSLObject');

const shared = native.sharedState;
let constructing = false;

function isPromise(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as Promise<unknown>).then === 'function';
}

/**
 * One decision taken while a handshake is paused: `run` asks the callback
 * (its answer may be a promise), `apply` acts on the answer and returns false
 * to refuse the handshake.
 */
interface PauseStep {
  run(): unknown;
  apply(answer: unknown): boolean;
}

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
  /** The context the connection started with: OpenSSL's session context, kept across SNI switches. */
  readonly #sessionContext: SSLContext;
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
    this.#sessionContext = context;
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
    for (;;) {
      const outcome = status & StatusFlag.Mask;
      if (outcome !== Status.WantSni && outcome !== Status.WantClientHello) break;
      this.handleFlags(status);
      const pending = outcome === Status.WantSni ? this.runSniCallback() : this.runClientHelloCallback();
      if (pending !== undefined) {
        pending.catch(() => undefined);
        const which = outcome === Status.WantSni ? 'sniCallback or ocspCallback' : 'clientHelloCallback';
        throw new SSLError(`doHandshake() cannot wait for an asynchronous ${which}`, { reason: 'SNI_CALLBACK_ASYNC' });
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

  /** True once the handshake has completed (and the connection is open). */
  isHandshakeDone(): boolean {
    return this.engine.isHandshakeDone();
  }

  /** Client side: the ticket inside the current session, or null (node:tls's getTLSTicket). */
  getSessionTicket(): Buffer | null {
    return this.engine.sessionTicket() ?? null;
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

  /**
   * OpenSSL's own identity check of the peer's certificate: X509_check_host
   * without partial wildcards for a plain letter-digit-hyphen name,
   * X509_check_ip_asc (IP subjectAltNames only) for an IP address. It accepts
   * a subset of what node:tls's checkServerIdentity accepts (no partial
   * wildcards, no trailing dot, no U-labels), so true is a match by either
   * rule; false is no verdict. False without a peer certificate.
   */
  peerMatchesHost(hostname: string): boolean {
    if (isIP(hostname) !== 0) return this.engine.peerMatchesHost(hostname, true);
    return PLAIN_NAME.test(hostname) && this.engine.peerMatchesHost(hostname, false);
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
    const handle = this.engine.getSession();
    return handle === undefined ? null : new SSLSession(handle, this.#context);
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
    this.engine.setSession(session.handle);
  }

  get sessionReused(): boolean {
    return this.engine.sessionReused();
  }

  /** Client, before the handshake: asks the server to staple an OCSP response. */
  requestOcsp(): void {
    if (this.serverSide) throw new SSLError('Only a client requests OCSP stapling.', { reason: 'OCSP_SERVER_SIDE' });
    if (this.#handshakeDone || this.engine.isHandshakeDone()) {
      throw new SSLError('Cannot request OCSP stapling after the handshake.', { reason: 'OCSP_AFTER_HANDSHAKE' });
    }
    this.engine.requestOcsp();
  }

  /** Client: the OCSP response the server stapled (DER), or null. */
  ocspResponse(): Buffer | null {
    return this.engine.ocspResponse() ?? null;
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
      // The sessions are reported by the context the connection started
      // with (OpenSSL's session context), even after an SNI switch.
      const callback = this.#sessionContext.newSessionCallback;
      if (this.serverSide) {
        const sessions = this.engine.takeSessions();
        if (callback !== undefined) for (const [id, der] of sessions) callback(this, { id, der });
      } else if (callback !== undefined) {
        for (let i = 0; i < count; i++) callback(this);
      }
    }
    if (status & StatusFlag.Keylog) {
      const lines = this.engine.takeKeylog();
      const callback = this.#context.keylogCallback;
      if (callback !== undefined) for (const line of lines) callback(Buffer.from(`${line}\n`, 'latin1'), this);
    }
  }

  /**
   * Call on WantSni: the handshake paused in the certificate callback. Asks
   * the context's sniCallback which context to use, then (when the client
   * asked for OCSP stapling) the context's ocspCallback for the response to
   * staple, and lets the handshake go on. A number returned by the
   * sniCallback (an alert, as in Python) refuses the handshake; an error
   * thrown by either refuses it and is rethrown. Returns a promise when an
   * answer is asynchronous (the handshake stays paused until it settles),
   * undefined when everything was decided at once.
   */
  runSniCallback(): Promise<void> | undefined {
    const context = this.#context;
    const steps: PauseStep[] = [];
    const sni = context.sniCallback;
    if (sni !== undefined) {
      steps.push({
        run: () => sni(this, this.engine.servername(), context),
        apply: (alert) => typeof alert !== 'number',
      });
    }
    const ocsp = context.ocspCallback;
    if (ocsp !== undefined && this.engine.ocspRequested()) {
      steps.push({
        run: () => ocsp(this),
        apply: (response) => {
          if (response != null) {
            if (!ArrayBuffer.isView(response)) throw notBytes('ocspCallback result');
            this.engine.setOcspResponse(response as Uint8Array);
          }
          return true;
        },
      });
    }
    return this.runPauseSteps(steps, (accepted) => this.engine.sniDone(accepted));
  }

  /**
   * Call on WantClientHello: the handshake paused once the ClientHello was
   * parsed. Runs the context's clientHelloCallback with what the client
   * offered and hands its decisions (ALPN, a session to resume) to the
   * engine; otherwise as runSniCallback().
   */
  runClientHelloCallback(): Promise<void> | undefined {
    const context = this.#context;
    const callback = context.clientHelloCallback;
    let result: ClientHelloResult | undefined;
    const steps: PauseStep[] = [];
    if (callback !== undefined) {
      const hello = this.clientHello();
      steps.push({
        run: () => callback(this, hello),
        apply: (answer) => {
          if (answer != null && typeof answer !== 'object') {
            throw Object.assign(new TypeError('clientHelloCallback must return an object or nothing'), { code: 'ERR_INVALID_RETURN_VALUE' });
          }
          result = (answer ?? undefined) as ClientHelloResult | undefined;
          return true;
        },
      });
    }
    return this.runPauseSteps(steps, (accepted) => {
      const alpn = result?.alpnProtocol;
      const session = result?.session;
      this.engine.clientHelloDone(
        accepted,
        alpn === undefined ? undefined : alpn === null ? null : Buffer.from(alpn, 'latin1'),
        session != null && ArrayBuffer.isView(session) ? session : undefined,
      );
    });
  }

  /** What the client offered, while the handshake is paused at (or past) the ClientHello. */
  clientHello(): ClientHelloInfo {
    const raw = this.engine.clientHello();
    let alpnProtocols: string[] | undefined;
    if (raw?.alpn !== undefined) {
      alpnProtocols = [];
      const wire = raw.alpn;
      for (let i = 0; i < wire.length; ) {
        const length = wire[i];
        alpnProtocols.push(wire.subarray(i + 1, i + 1 + length).toString('latin1'));
        i += 1 + length;
      }
    }
    return {
      serverName: raw?.servername,
      alpnProtocols,
      sessionId: raw?.sessionId ?? Buffer.alloc(0),
      hasTicket: raw?.hasTicket ?? false,
    };
  }

  /**
   * Runs the decisions of a paused handshake in order, synchronously while
   * the answers are, then `done(accepted)`. A thrown error (or a rejection)
   * refuses the handshake: synchronously, the handshake is failed at once
   * (so its alert is queued) and the error rethrown; asynchronously, the
   * promise rejects with it and the caller drives the handshake to fail.
   */
  private runPauseSteps(steps: PauseStep[], done: (accepted: boolean) => void): Promise<void> | undefined {
    for (let i = 0; i < steps.length; i++) {
      let answer: unknown;
      try {
        answer = steps[i].run();
        if (isPromise(answer)) return this.continuePauseSteps(answer, steps, i, done);
        if (!steps[i].apply(answer)) {
          done(false);
          return undefined;
        }
      } catch (error) {
        done(false);
        this.engine.handshake(); // fail the handshake so an alert is queued
        throw error;
      }
    }
    done(true);
    return undefined;
  }

  private async continuePauseSteps(
    pending: Promise<unknown>,
    steps: PauseStep[],
    index: number,
    done: (accepted: boolean) => void,
  ): Promise<void> {
    try {
      if (!steps[index].apply(await pending)) {
        done(false);
        return;
      }
      for (let i = index + 1; i < steps.length; i++) {
        if (!steps[i].apply(await steps[i].run())) {
          done(false);
          return;
        }
      }
    } catch (error) {
      done(false);
      throw error;
    }
    done(true);
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

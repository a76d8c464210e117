/**
 * The one door to the native addon: loads it and describes, with types, every
 * native call the TypeScript layers make. Nothing else imports the .node file.
 */
import * as path from 'node:path';

/** Outcome of a fast-path call (native/addon.h `Status`). Low byte only. */
export const enum Status {
  Ok = 0,
  WantRead = 1,
  WantWrite = 2,
  /** The peer's close_notify arrived and ours is not sent: reads see EOF. */
  CloseNotify = 3,
  /** Closed in both directions: reads raise SSLZeroReturnError. */
  ZeroReturn = 4,
  /** Fatal; the error is fetched with takeError(). */
  Error = 5,
  /** A server handshake paused in the certificate callback (SNI, OCSP); resume with sniDone(). */
  WantSni = 6,
  /** The SSLObject was closed. */
  Closed = 7,
  /** A server handshake paused once the ClientHello was parsed; resume with clientHelloDone(). */
  WantClientHello = 8,
}

/** Flags that may accompany any status (high bits). */
export const enum StatusFlag {
  HandshakeDone = 1 << 8,
  Keylog = 1 << 9,
  Session = 1 << 10,
  Mask = 0xff,
}

/** Slots of the shared Int32Array the fast path returns lengths through. */
export const enum Slot {
  Bytes = 0,
  OutBytes = 1,
  Pending = 2,
  /** How many new sessions came with StatusFlag.Session (server: takeSessions() has them). */
  Sessions = 3,
}

/** The error kinds the native side asks the error factory to build. */
export const enum ErrorKind {
  SSLError = 0,
  WantRead = 1,
  WantWrite = 2,
  ZeroReturn = 3,
  EOF = 4,
  Syscall = 5,
  CertVerification = 6,
}

export interface NativeErrorDetails {
  message: string;
  library?: string;
  reason?: string;
  verifyCode?: number;
  verifyMessage?: string;
  verifyCodeName?: string;
}

export interface NativeMemoryBIO {
  write(data: ArrayBufferView | ArrayBuffer): number;
  read(size?: number): Buffer;
  readInto(target: Uint8Array, offset: number, length: number): number;
  writeEof(): void;
  readonly pending: number;
  readonly eof: boolean;
}

export type CipherTuple = [name: string, protocol: string, bits: number, standardName?: string];

export interface NativeSSLContext {
  loadCertChain(cert: Uint8Array, key?: Uint8Array, password?: Uint8Array): void;
  loadVerifyLocations(cafile?: string, capath?: string): void;
  loadCaData(data: Uint8Array, pem: boolean): number;
  loadDefaultPaths(): void;
  setVerifyMode(mode: number, deferred?: boolean): void;
  getVerifyMode(): number;
  setCheckHostname(on: boolean): void;
  setProtocolVersions(min: number, max: number): void;
  getProtocolVersions(): [number, number];
  setCiphers(list: string): void;
  setCiphersuites(list: string): void;
  getCiphers(): CipherTuple[];
  setAlpnProtocols(wire: Uint8Array): void;
  setSniHook(on: boolean): void;
  setKeylog(on: boolean): void;
  setOcspHook(on: boolean): void;
  setClientHelloHook(on: boolean): void;
  setExternalSessionCache(on: boolean): void;
  setOptions(bits: number): void;
  getIssuer(): Buffer | undefined;
  setNumTickets(n: number): void;
  getNumTickets(): number;
  setSessionCallback(on: boolean): void;
  setEcdhCurves(curves: string): void;
  setTicketKeys(keys: Uint8Array): void;
  getTicketKeys(): Buffer | undefined;
  setSessionIdContext(id: Uint8Array): void;
  setSessionTimeout(seconds: number): void;
  getCertificate(): Buffer | undefined;
}

/** A parsed SSL_SESSION in native memory, freed when the handle is collected. */
export type SessionHandle = { readonly __brand: 'SessionHandle' };

export interface SessionDescription {
  id: Buffer;
  time: number;
  timeout: number;
  hasTicket: boolean;
  ticketLifetimeHint: number;
  resumable: boolean;
  protocol: number;
}

/** What a client offered, as seen at the ClientHello pause. */
export interface NativeClientHello {
  sessionId: Buffer;
  hasTicket: boolean;
  servername?: string;
  /** The ALPN list in wire format, when the client sent the extension. */
  alpn?: Buffer;
}

export interface EphemeralKeyInfo {
  type?: 'ECDH' | 'DH';
  name?: string;
  size?: number;
}

/**
 * The native SSLObject. Python-style calls and the fast path both return a
 * status (plus flags); lengths come back through `sharedState`.
 */
export interface NativeSSLObject {
  handshake(): number;
  readInto(out: Uint8Array, offset: number, length: number): number;
  write(data: Uint8Array): number;
  shutdown(): number;
  receive(chunk: Uint8Array | null, out: Uint8Array, offset: number, length: number): number;
  send(data: Uint8Array | Uint8Array[], out: Uint8Array, offset: number, length: number): number;
  drain(out: Uint8Array, offset: number, length: number): number;
  shrinkBuffers(threshold?: number): number;
  takeError(): Error;
  takeKeylog(): string[];
  pending(): number;
  isHandshakeDone(): boolean;
  version(): string | undefined;
  cipher(): CipherTuple | undefined;
  sharedCiphers(): CipherTuple[] | undefined;
  alpnProtocol(): string | undefined;
  servername(): string | undefined;
  peerCertificate(): Buffer | undefined;
  peerCertificateChain(): Buffer[];
  /** OpenSSL's identity check of the peer certificate (see SSLObject.peerMatchesHost). */
  peerMatchesHost(name: string, isIp: boolean): boolean;
  localCertificate(): Buffer | undefined;
  verifyResult(): [code: number, message: string, name: string] | undefined;
  getSession(): SessionHandle | undefined;
  sessionTicket(): Buffer | undefined;
  setSession(session: SessionHandle): boolean;
  sessionReused(): boolean;
  finished(): Buffer | undefined;
  peerFinished(): Buffer | undefined;
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Buffer;
  ephemeralKeyInfo(): EphemeralKeyInfo;
  setMaxSendFragment(size: number): boolean;
  setContext(context: NativeSSLContext): void;
  sniDone(accept: boolean): void;
  clientHello(): NativeClientHello | undefined;
  clientHelloDone(accept: boolean, alpn?: Uint8Array | null, session?: Uint8Array): void;
  requestOcsp(): void;
  ocspRequested(): boolean;
  ocspResponse(): Buffer | undefined;
  setOcspResponse(response: Uint8Array | null): void;
  takeSessions(): Array<[id: Buffer, der: Buffer]>;
  close(): void;
  isClosed(): boolean;
}

export interface CeilingResult {
  seconds: number;
  bytes?: number;
  handshakes?: number;
}

export interface NativeBinding {
  MemoryBIO: new () => NativeMemoryBIO;
  SSLContext: new (protocol: number) => NativeSSLContext;
  SSLObject: {
    new (
      context: NativeSSLContext,
      incoming: NativeMemoryBIO,
      outgoing: NativeMemoryBIO,
      serverSide: boolean,
      serverHostname?: string,
    ): NativeSSLObject;
    /** Parses DER once; the handle can then be set on any number of connections. */
    parseSession(der: Uint8Array): SessionHandle;
    describeSession(session: SessionHandle): SessionDescription;
    encodeSession(session: SessionHandle): Buffer;
  };
  sharedState: Int32Array;
  opensslVersion: string;
  opensslVersionText: string;
  setErrorFactory(factory: (kind: ErrorKind, details: NativeErrorDetails) => Error): void;
  /** Bytes each SSLObject reports to V8 while its SSL lives. */
  reportedNativeSize: number;
  /** V8's running total of external memory reported by addons and node (not ArrayBuffers). */
  externalMemoryTotal(): number;
  ceilingBench(
    client: NativeSSLContext,
    server: NativeSSLContext,
    kind: 'bulk' | 'handshake',
    size: number,
    count: number,
    host: string,
  ): CeilingResult;
}

function loadBinding(): NativeBinding {
  // MEMTLS_ADDON selects another build of the addon (the sanitizer build).
  const override = process.env.MEMTLS_ADDON;
  if (override) return require(path.resolve(override)) as NativeBinding;
  const root = path.join(__dirname, '..', '..');
  const candidates = ['Release', 'Debug'].map((kind) => path.join(root, 'build', kind, 'memtls.node'));
  let firstError: unknown;
  for (const candidate of candidates) {
    try {
      return require(candidate) as NativeBinding;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
      firstError ??= error;
    }
  }
  throw new Error(`memtls: the native addon is not built (run npm install): ${String(firstError)}`);
}

export const native: NativeBinding = loadBinding();

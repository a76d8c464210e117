/**
 * SSLProtocol: asyncio's sslproto.py on Node, state for state.
 *
 * Theory of operation
 * -------------------
 * SSLProtocol sits between a lower transport (a socket) and the application's
 * protocol. To the socket it is a protocol: it receives ciphertext chunks,
 * EOF and connection loss. To the application it offers a transport
 * (SSLProtocolTransport) that takes plaintext writes and delivers plaintext.
 *
 *   socket --dataReceived(chunk)--> SSLProtocol --dataReceived/bufferUpdated--> app
 *   socket <------write(records)--- SSLProtocol <----------write(data)--------- app
 *
 * Connection states (SSLProtocolState), with the only legal moves:
 *
 *   UNWRAPPED --connectionMade--> DO_HANDSHAKE --handshake ok--> WRAPPED
 *   WRAPPED --close() / close_notify / EOF--> FLUSHING --backlog written--> SHUTDOWN
 *   any --abort / connectionLost / handshake failure--> UNWRAPPED
 *
 * The application's view (AppProtocolState) only moves forward:
 * INIT --connectionMade--> CON_MADE [--eofReceived--> EOF] --connectionLost--> CON_LOST,
 * so connectionMade happens once, eofReceived at most once, and
 * connectionLost never without connectionMade.
 *
 * Every byte goes through the core's non-throwing fast path: one native call
 * per socket chunk in (SSLObject.engine.receive), one per batch of writes out
 * (engine.send). Plaintext is decrypted straight into the Buffer that
 * `dataReceived` will get (a BufferedProtocol: into its own buffer); only
 * data nobody will see (read-into-void, half-close reads) goes through one
 * buffer shared by all connections. Ciphertext is written into a shared slab
 * whose slices go to the socket. Invariant: nothing in the shared read
 * buffer outlives the call that filled it; it is copied out before any
 * application callback runs.
 *
 * Deliberate differences from CPython (docs/protocol.md lists them all):
 * pause when the write buffer is *above* the high mark (PIT-1); pause and
 * resume from below are idempotent (PIT-2); application data that arrives
 * after our close_notify is read and discarded before unwrap (PIT-3);
 * is_closing() also reflects the socket (PIT-4); a handshake alert is flushed
 * before the socket is closed (PIT-20); FLUSHING waits for the write backlog
 * to drain before close_notify goes out, so no written data is lost.
 */
import { Slot, Status, StatusFlag, native, type NativeMemoryBIO, type NativeSSLObject } from '../native';
import { SSLCertVerificationError } from '../ssl/errors';
import type { SSLContext } from '../ssl/ssl-context';
import type { SSLObject } from '../ssl/ssl-object';
import {
  addFlowcontrolDefaults,
  FLOW_CONTROL_HIGH_WATER_SSL_READ,
  FLOW_CONTROL_HIGH_WATER_SSL_WRITE,
  LOG_THRESHOLD_FOR_CONNLOST_WRITES,
  SSL_HANDSHAKE_TIMEOUT,
  SSL_SHUTDOWN_TIMEOUT,
} from './constants';
import { ConnectionAbortedError, ConnectionResetError, TimeoutError, isOSError } from './errors';
import { getEventLoop, type EventLoop, type Handle } from './event-loop';
import { Waiter } from './waiter';
import {
  isBufferedProtocol,
  type AnyProtocol,
  type BufferedProtocolLike,
  type LowerTransport,
  type ProtocolLike,
  type Transport,
} from './protocols';

export enum SSLProtocolState {
  UNWRAPPED = 'UNWRAPPED',
  DO_HANDSHAKE = 'DO_HANDSHAKE',
  WRAPPED = 'WRAPPED',
  FLUSHING = 'FLUSHING',
  SHUTDOWN = 'SHUTDOWN',
}

export enum AppProtocolState {
  INIT = 'INIT',
  CON_MADE = 'CON_MADE',
  EOF = 'EOF',
  CON_LOST = 'CON_LOST',
}

const ALLOWED_MOVES: ReadonlyMap<SSLProtocolState, ReadonlySet<SSLProtocolState>> = new Map([
  [SSLProtocolState.UNWRAPPED, new Set([SSLProtocolState.DO_HANDSHAKE])],
  [SSLProtocolState.DO_HANDSHAKE, new Set([SSLProtocolState.WRAPPED])],
  [SSLProtocolState.WRAPPED, new Set([SSLProtocolState.FLUSHING])],
  [SSLProtocolState.FLUSHING, new Set([SSLProtocolState.SHUTDOWN])],
  [SSLProtocolState.SHUTDOWN, new Set<SSLProtocolState>()],
]);

export interface SSLProtocolOptions {
  serverSide?: boolean;
  serverHostname?: string | null;
  /** false for startTls: the application already saw connectionMade. */
  callConnectionMade?: boolean;
  /** Seconds; default SSL_HANDSHAKE_TIMEOUT. */
  sslHandshakeTimeout?: number | null;
  /** Seconds; default SSL_SHUTDOWN_TIMEOUT. */
  sslShutdownTimeout?: number | null;
  /**
   * TLS half-close, as node:tls does it: the peer's data is still delivered
   * after our close_notify until theirs arrives, and an application whose
   * eofReceived() returns true may keep writing after the peer's close_notify
   * until it calls close(). asyncio's behaviour, the default, discards the
   * former and ignores the latter.
   */
  halfClose?: boolean;
}

// --- buffers shared by every connection --------------------------------------

/** Plaintext lands here first (asyncio allocates 256 KiB per connection). */
const READ_BUFFER_SIZE = 256 * 1024;
const sharedRead = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
/**
 * Plaintext from socket chunks shorter than this is copied out of sharedRead
 * (see #doReadCopied): below it, a copy costs less than a guessed allocation.
 */
const COPY_BELOW = 4 * 1024;
/**
 * Ciphertext is written into slabs; each socket write takes a slice. A slice
 * the socket handed to the kernel at once (the common case) is taken back and
 * the next write reuses its bytes, so a busy sender keeps writing into the same
 * warm memory instead of a fresh slab every 256 KiB.
 */
const SLAB_SIZE = 256 * 1024;
/** Room for one full record and its overhead: below this a slab is retired. */
const MIN_SLAB_ROOM = 16384 + 512;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabOffset = 0;
const lengths = native.sharedState;

function slabRoom(): number {
  if (SLAB_SIZE - slabOffset < MIN_SLAB_ROOM) {
    // Slices of the old slab stay valid while the socket still holds them.
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabOffset = 0;
  }
  return SLAB_SIZE - slabOffset;
}

/** A positive number of seconds; `Infinity` means no timeout at all. */
function timeoutValue(value: number | null | undefined, fallback: number, name: string): number {
  if (value == null) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw Object.assign(new RangeError(`${name} should be a positive number, got ${String(value)}`), {
      code: 'ERR_OUT_OF_RANGE',
    });
  }
  return value;
}

function isBytes(data: unknown): data is Uint8Array {
  return ArrayBuffer.isView(data);
}

function asBytes(data: ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class SSLProtocol implements ProtocolLike {
  readonly loop: EventLoop;
  readonly serverSide: boolean;
  readonly serverHostname: string | null;
  readonly sslHandshakeTimeout: number;
  readonly sslShutdownTimeout: number;
  readonly halfClose: boolean;

  readonly #sslContext: SSLContext;
  readonly #sslObject: SSLObject;
  readonly #engine: NativeSSLObject;
  readonly #incoming: NativeMemoryBIO;
  #waiter: Waiter | null;

  #transport: LowerTransport | null = null;
  #appTransport: SSLProtocolTransport | null;
  #appTransportCreated = false;
  #appProtocol: AnyProtocol | null = null;
  #bufferedApp: BufferedProtocolLike | null = null;

  #state = SSLProtocolState.UNWRAPPED;
  #appState: AppProtocolState;

  /** The chunk from the socket not yet handed to OpenSSL (see #takeChunk). */
  #chunk: Buffer | null = null;
  /** #chunk came through ownedDataReceived: plaintext may be decrypted into its memory. */
  #chunkOwned = false;
  #writeBacklog: Uint8Array[] = [];
  #writeBufferSize = 0;
  /** Ciphertext waiting in the outgoing BIO (from the last native call). */
  #outgoingPending = 0;
  /**
   * A client's Finished waits in the outgoing BIO until the end of the turn
   * in which the handshake completed (see #onHandshakeComplete), or until
   * anything else sends. Not counted as buffered writes: they are not the
   * application's.
   */
  #finishedHeld = false;
  #connLost = 0;
  #eofReceived = false;
  /** halfClose: the peer's close_notify came and the application kept writing (see #afterRead). */
  #writingAfterPeerClose = false;

  #sslWritingPaused = false;
  #appWritingPaused = false;
  #appReadingPaused = false;
  #sslReadingPaused = false;
  #incomingHighWater = 0;
  #incomingLowWater = 0;
  #outgoingHighWater = 0;
  #outgoingLowWater = 0;

  #handshakeTimeoutHandle: Handle | null = null;
  #shutdownTimeoutHandle: Handle | null = null;
  #handshakeStart = 0;
  /** The handshake waits for an asynchronous callback (SNI, OCSP, ClientHello). */
  #sniPending = false;
  /** The application asked to hold our ciphertext back (see holdOutgoing). */
  #outgoingHeld = false;
  /** close() or abort() was called before connectionMade. */
  #closedBeforeStart = false;

  constructor(
    loop: EventLoop | null,
    appProtocol: AnyProtocol,
    sslContext: SSLContext,
    waiter: Waiter | null,
    options: SSLProtocolOptions = {},
  ) {
    this.loop = loop ?? getEventLoop();
    this.serverSide = Boolean(options.serverSide);
    this.sslHandshakeTimeout = timeoutValue(options.sslHandshakeTimeout, SSL_HANDSHAKE_TIMEOUT, 'sslHandshakeTimeout');
    this.sslShutdownTimeout = timeoutValue(options.sslShutdownTimeout, SSL_SHUTDOWN_TIMEOUT, 'sslShutdownTimeout');
    this.halfClose = Boolean(options.halfClose);
    if (sslContext == null) {
      throw Object.assign(new TypeError(this.serverSide ? 'Server side SSL needs a valid SSLContext' : 'SSL needs a valid SSLContext'), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
    }
    this.#sslContext = sslContext;
    // An empty name is no name (asyncio), and then wrapBio refuses a context
    // that checks hostnames: the check is never silently skipped (PIT-14).
    this.serverHostname = !this.serverSide && options.serverHostname ? options.serverHostname : null;
    this.#waiter = waiter;
    this.#incoming = new native.MemoryBIO();
    this.#sslObject = sslContext.wrapBio(this.#incoming, new native.MemoryBIO(), {
      serverSide: this.serverSide,
      serverHostname: this.serverHostname,
    });
    this.#engine = this.#sslObject.engine;
    this.#appState = options.callConnectionMade === false ? AppProtocolState.CON_MADE : AppProtocolState.INIT;
    this.#setAppProtocol(appProtocol);
    this.#appTransport = this.#getAppTransport();
    this.#setReadBufferLimits();
    this.#setWriteBufferLimits();
  }

  // --- introspection ----------------------------------------------------------

  get state(): SSLProtocolState {
    return this.#state;
  }

  get appState(): AppProtocolState {
    return this.#appState;
  }

  get sslObject(): SSLObject {
    return this.#sslObject;
  }

  get appTransport(): SSLProtocolTransport | null {
    return this.#appTransport;
  }

  // --- wiring -----------------------------------------------------------------

  #setAppProtocol(appProtocol: AnyProtocol): void {
    this.#appProtocol = appProtocol;
    this.#bufferedApp = isBufferedProtocol(appProtocol) ? appProtocol : null;
  }

  /** Swaps the application protocol (transport.setProtocol). */
  setAppProtocol(appProtocol: AnyProtocol): void {
    this.#setAppProtocol(appProtocol);
  }

  getAppProtocol(): AnyProtocol | null {
    return this.#appProtocol;
  }

  #getAppTransport(): SSLProtocolTransport {
    if (this.#appTransportCreated) throw new Error('Creating SSLProtocolTransport twice');
    this.#appTransportCreated = true;
    return new SSLProtocolTransport(this.loop, this);
  }

  #setState(next: SSLProtocolState): void {
    if (next !== SSLProtocolState.UNWRAPPED && !ALLOWED_MOVES.get(this.#state)!.has(next)) {
      throw new Error(`cannot switch state from ${this.#state} to ${next}`);
    }
    this.#state = next;
  }

  #wakeupWaiter(exc: unknown = null): void {
    // An Error keeps the receivers of the frames that built it alive until its
    // stack is formatted; format it now so holding the error holds nothing else.
    if (exc instanceof Error) void exc.stack;
    const waiter = this.#waiter;
    if (waiter === null) return;
    this.#waiter = null;
    if (exc != null) waiter.reject(exc);
    else waiter.resolve();
  }

  // --- events from the lower transport ---------------------------------------

  connectionMade(transport: Transport): void {
    this.#transport = transport as LowerTransport;
    if (this.#closedBeforeStart) {
      // close() or abort() came before the socket was ready: never start.
      this.#transport.forceClose(null);
      return;
    }
    // PIT-2: a startTls over a transport that is already paused for writing.
    if (typeof this.#transport.isWritingPaused === 'function' && this.#transport.isWritingPaused()) {
      this.#sslWritingPaused = true;
    }
    this.#startHandshake();
  }

  /**
   * Every chunk given to dataReceived is decrypted or copied into the
   * incoming BIO before the call returns, so a transport may lend a buffer it
   * reuses (SocketTransport.sharedBufferOnread).
   */
  readonly consumesChunksSynchronously = true;

  dataReceived(chunk: Buffer): void {
    this.#chunkReceived(chunk, false);
  }

  /**
   * A chunk nobody else holds (see ProtocolLike.ownedDataReceived): once
   * OpenSSL has copied it into the incoming BIO, its memory is free, so the
   * plaintext of a large one (4 KiB or more) is decrypted into it, memory the
   * socket has just written, instead of a new allocation (see #doReadCopied).
   */
  ownedDataReceived(chunk: Buffer): void {
    this.#chunkReceived(chunk, true);
  }

  #chunkReceived(chunk: Buffer, owned: boolean): void {
    if (chunk.length === 0) return;
    this.#chunkOwned = owned;
    switch (this.#state) {
      case SSLProtocolState.DO_HANDSHAKE:
        this.#chunk = chunk;
        this.#doHandshake();
        break;
      case SSLProtocolState.WRAPPED:
        this.#chunk = chunk;
        this.#doRead();
        break;
      case SSLProtocolState.FLUSHING:
        this.#chunk = chunk;
        this.#doFlush();
        break;
      case SSLProtocolState.SHUTDOWN:
        this.#chunk = chunk;
        this.#doShutdown();
        break;
      default:
        // UNWRAPPED: the connection is over; bytes after close are ignored.
        return;
    }
    // Whatever path ran, the chunk now belongs to OpenSSL or is obsolete.
    this.#feedChunk();
  }

  eofReceived(): boolean | void {
    this.#eofReceived = true;
    try {
      switch (this.#state) {
        case SSLProtocolState.DO_HANDSHAKE:
          this.#onHandshakeComplete(new ConnectionResetError());
          break;
        case SSLProtocolState.WRAPPED:
          // The TCP FIN that follows a close_notify: the peer only stopped
          // sending, and the application is still writing (halfClose).
          if (this.#writingAfterPeerClose) return true;
          // halfClose while the application is not reading: the peer's
          // close_notify may still wait in the BIO. Decided once reading
          // resumes (resumeReading).
          if (this.halfClose && this.#appReadingPaused) return true;
          this.#setState(SSLProtocolState.FLUSHING);
          this.#armShutdownTimer();
          if (this.#appReadingPaused) return true;
          this.#doFlush();
          break;
        case SSLProtocolState.FLUSHING:
          this.#doWrite();
          this.#doFlush();
          break;
        case SSLProtocolState.SHUTDOWN:
          this.#doShutdown();
          break;
        default:
          break;
      }
    } catch (error) {
      this.#transport?.close();
      throw error;
    }
    // Still flushing (the socket paused our writes): keep the socket open for
    // writing; the shutdown path closes it once the backlog is out.
    return this.#state === SSLProtocolState.FLUSHING ? true : undefined;
  }

  connectionLost(exc: Error | null): void {
    if (exc instanceof Error) void exc.stack;
    this.#writeBacklog = [];
    this.#writeBufferSize = 0;
    this.#outgoingPending = 0;
    this.#chunk = null;
    this.#chunkOwned = false;
    this.#connLost += 1;

    const appTransport = this.#appTransport;
    if (appTransport !== null) appTransport.markClosed();

    const app = this.#appProtocol;
    if (
      this.#state !== SSLProtocolState.DO_HANDSHAKE &&
      (this.#appState === AppProtocolState.CON_MADE || this.#appState === AppProtocolState.EOF)
    ) {
      this.#appState = AppProtocolState.CON_LOST;
      this.loop.callSoon(() => app?.connectionLost?.(exc));
    }
    this.#state = SSLProtocolState.UNWRAPPED;
    this.#transport = null;
    this.#appTransport = null;
    this.#appProtocol = null;
    this.#bufferedApp = null;
    this.#wakeupWaiter(exc);
    this.#cancelTimers();
    // The native connection is of no further use: give its memory back now.
    this.#sslObject.close();
  }

  pauseWriting(): void {
    this.#sslWritingPaused = true;
  }

  resumeWriting(): void {
    if (!this.#sslWritingPaused) return;
    this.#sslWritingPaused = false;
    switch (this.#state) {
      case SSLProtocolState.WRAPPED:
        this.#doWrite();
        break;
      case SSLProtocolState.FLUSHING:
        this.#doFlush();
        break;
      default:
        // SHUTDOWN: our close_notify may be waiting to go out.
        this.#processOutgoing();
        break;
    }
  }

  // --- handshake --------------------------------------------------------------

  #startHandshake(): void {
    this.#handshakeStart = this.loop.time();
    this.#setState(SSLProtocolState.DO_HANDSHAKE);
    if (Number.isFinite(this.sslHandshakeTimeout)) {
      this.#handshakeTimeoutHandle = this.loop.callLater(this.sslHandshakeTimeout, () => this.#checkHandshakeTimeout());
    }
    this.#doHandshake();
  }

  #checkHandshakeTimeout(): void {
    this.#handshakeTimeoutHandle = null;
    if (this.#state !== SSLProtocolState.DO_HANDSHAKE) return;
    this.#fatalError(
      new ConnectionAbortedError(
        `SSL handshake is taking longer than ${this.sslHandshakeTimeout} seconds: aborting the connection`,
      ),
    );
  }

  #doHandshake(): void {
    if (this.#sniPending) {
      this.#feedChunk(); // the handshake is paused on a callback
      return;
    }
    let status = this.#engine.receive(this.#takeChunk(), sharedRead, 0, 0);
    for (;;) {
      const paused = status & StatusFlag.Mask;
      if (paused !== Status.WantSni && paused !== Status.WantClientHello) break;
      try {
        this.#sslObject.handleFlags(status);
        const pending =
          paused === Status.WantSni ? this.#sslObject.runSniCallback() : this.#sslObject.runClientHelloCallback();
        if (pending !== undefined) {
          this.#sniPending = true;
          pending.then(
            () => this.#resumeAfterSni(null),
            (error: unknown) => this.#resumeAfterSni(error),
          );
          return;
        }
      } catch (error) {
        this.#outgoingPending = lengths[Slot.Pending];
        this.#onHandshakeComplete(error);
        return;
      }
      status = this.#engine.receive(null, sharedRead, 0, 0);
    }
    this.#outgoingPending = lengths[Slot.Pending];
    this.#sslObject.handleFlags(status);
    // A keylog or session callback may have closed the connection.
    if (this.#state !== SSLProtocolState.DO_HANDSHAKE) return;
    const outcome = status & StatusFlag.Mask;
    if (outcome === Status.Ok) {
      this.#onHandshakeComplete(null);
    } else if (outcome === Status.WantRead || outcome === Status.WantWrite) {
      this.#processOutgoing();
    } else {
      this.#onHandshakeComplete(this.#statusError(outcome));
    }
  }

  #resumeAfterSni(error: unknown): void {
    this.#sniPending = false;
    if (this.#state !== SSLProtocolState.DO_HANDSHAKE) return;
    if (error != null) {
      this.#engine.handshake(); // let OpenSSL fail the handshake and queue its alert
      this.#outgoingPending = this.#engine.isClosed() ? 0 : lengths[Slot.Pending];
      this.#onHandshakeComplete(error);
      return;
    }
    this.#doHandshake();
  }

  #onHandshakeComplete(handshakeError: unknown): void {
    if (this.#handshakeTimeoutHandle !== null) {
      this.#handshakeTimeoutHandle.cancel();
      this.#handshakeTimeoutHandle = null;
    }
    if (handshakeError != null) {
      this.#state = SSLProtocolState.UNWRAPPED;
      // PIT-20: let the peer see our alert before the socket goes away.
      this.#flushAlert();
      const message =
        handshakeError instanceof SSLCertVerificationError
          ? 'SSL handshake failed on verifying the certificate'
          : 'SSL handshake failed';
      this.#fatalError(handshakeError, message);
      this.#wakeupWaiter(handshakeError);
      return;
    }
    this.#setState(SSLProtocolState.WRAPPED);
    if (this.loop.getDebug()) {
      const ms = (this.loop.time() - this.#handshakeStart) * 1000;
      process.emitWarning(`SSL handshake took ${ms.toFixed(1)} ms`, { code: 'MEMTLS_DEBUG' });
    }
    // A client's last flight (its Finished) waits for this turn's promise
    // continuations: what the application does once connected (its first
    // request, or a close) then leaves in the same segment, as with node:tls.
    if (!this.serverSide && this.#outgoingPending > 0) {
      this.#finishedHeld = true;
      void Promise.resolve(this).then(SSLProtocol.#flushAfterTicks);
    }
    if (this.#appState === AppProtocolState.INIT) {
      this.#appState = AppProtocolState.CON_MADE;
      this.#appProtocol?.connectionMade?.(this.#appTransport!);
    }
    this.#wakeupWaiter();
    this.#doRead();
    // The handshake grew both memory BIOs, which never shrink on their own:
    // give their buffers back before the connection (maybe) goes idle. Only
    // an empty BIO gives its buffer back: with the Finished held, the
    // outgoing one is shrunk again once it has left (#flushHeld).
    if (this.#state === SSLProtocolState.WRAPPED) this.#engine.shrinkBuffers(0);
  }

  // --- shutdown ----------------------------------------------------------------

  /** Starts a graceful close: flush, then close_notify, then close the socket. */
  startShutdown(): void {
    if (this.#state === SSLProtocolState.UNWRAPPED && this.#transport === null && this.#connLost === 0) {
      this.#closedBeforeStart = true;
      return;
    }
    if (
      this.#state === SSLProtocolState.FLUSHING ||
      this.#state === SSLProtocolState.SHUTDOWN ||
      this.#state === SSLProtocolState.UNWRAPPED
    ) {
      return;
    }
    this.#appTransport?.markClosed();
    if (this.#state === SSLProtocolState.DO_HANDSHAKE) {
      this.abort(null);
    } else {
      this.#setState(SSLProtocolState.FLUSHING);
      this.#armShutdownTimer();
      this.#doFlush();
    }
  }

  #armShutdownTimer(): void {
    if (this.#shutdownTimeoutHandle !== null || !Number.isFinite(this.sslShutdownTimeout)) return;
    this.#shutdownTimeoutHandle = this.loop.callLater(this.sslShutdownTimeout, () => this.#checkShutdownTimeout());
  }

  #checkShutdownTimeout(): void {
    this.#shutdownTimeoutHandle = null;
    if (this.#state === SSLProtocolState.FLUSHING || this.#state === SSLProtocolState.SHUTDOWN) {
      this.#transport?.forceClose(new TimeoutError('SSL shutdown timed out'));
    }
  }

  /**
   * FLUSHING: deliver what can still be read, write the backlog, and move to
   * SHUTDOWN only once the backlog is fully handed to the socket, so the
   * close_notify comes after every byte the application wrote.
   */
  #doFlush(): void {
    if (this.#state !== SSLProtocolState.FLUSHING) return;
    this.#doRead();
    if (this.#state !== SSLProtocolState.FLUSHING) return;
    // A BufferedProtocol that paused reading leaves plaintext inside OpenSSL;
    // with halfClose none of it may be dropped: resumeReading() comes back here.
    if (this.halfClose && this.#bufferedApp !== null && this.#appReadingPaused) return;
    if (this.#writeBacklog.length > 0) {
      this.#doWrite();
      if (this.#writeBacklog.length > 0) return; // resumeWriting brings us back
    }
    this.#setState(SSLProtocolState.SHUTDOWN);
    this.#doShutdown();
  }

  #doShutdown(): void {
    if (this.#state !== SSLProtocolState.SHUTDOWN) return;
    try {
      // After the socket's EOF only a peer that sent close_notify first (and
      // was answered with writes, halfClose) still gets ours.
      if (!this.#eofReceived || this.#writingAfterPeerClose) {
        // PIT-3: application data sent before the peer saw our close_notify is
        // read and dropped, so unwrap() does not fail on it.
        const peerClosed = this.#writingAfterPeerClose || (this.halfClose ? this.#readIntoApp() : this.#readIntoVoid());
        const status = this.#engine.shutdown();
        this.#outgoingPending = lengths[Slot.Pending];
        const outcome = status & StatusFlag.Mask;
        if (outcome === Status.WantRead && !peerClosed) {
          this.#processOutgoing();
          return;
        }
        if (outcome !== Status.Ok && outcome !== Status.WantRead) throw this.#statusError(outcome);
      }
    } catch (error) {
      this.#onShutdownComplete(error);
      return;
    }
    this.#processOutgoing();
    this.#callEofReceived();
    this.#onShutdownComplete(null);
  }

  /** Reads and discards plaintext; true once the peer's close_notify has been seen. */
  #readIntoVoid(): boolean {
    for (;;) {
      const status = this.#engine.receive(this.#takeChunk(), sharedRead, 0, sharedRead.length);
      this.#outgoingPending = lengths[Slot.Pending];
      this.#sslObject.handleFlags(status);
      const outcome = status & StatusFlag.Mask;
      if (outcome === Status.Ok) continue;
      if (outcome === Status.WantRead) return false;
      if (outcome === Status.CloseNotify || outcome === Status.ZeroReturn) return true;
      throw this.#statusError(outcome);
    }
  }

  /** Half-close: delivers the peer's data; true once its close_notify has been seen. */
  #readIntoApp(): boolean {
    const app = this.#appProtocol as ProtocolLike | null;
    const buffered = this.#bufferedApp;
    for (;;) {
      let target: Uint8Array = sharedRead;
      if (buffered !== null) {
        const buffer = buffered.getBuffer(this.#chunk?.length ?? 0);
        if (!isBytes(buffer) || buffer.byteLength === 0) throw new Error('getBuffer() returned an empty buffer');
        target = asBytes(buffer);
      }
      const status = this.#engine.receive(this.#takeChunk(), target, 0, target.length);
      const n = lengths[Slot.Bytes];
      this.#outgoingPending = lengths[Slot.Pending];
      // Copied before handleFlags runs callbacks (see #doReadCopied).
      const copy = n > 0 && buffered === null ? Buffer.from(sharedRead.subarray(0, n)) : null;
      this.#sslObject.handleFlags(status);
      if (n > 0) {
        if (copy === null) {
          buffered!.bufferUpdated(n);
        } else {
          app?.dataReceived?.(copy);
        }
        if (this.#state !== SSLProtocolState.SHUTDOWN) return false;
      }
      const outcome = status & StatusFlag.Mask;
      if (outcome === Status.Ok) continue;
      if (outcome === Status.WantRead) return false;
      if (outcome === Status.CloseNotify || outcome === Status.ZeroReturn) return true;
      throw this.#statusError(outcome);
    }
  }

  #onShutdownComplete(shutdownError: unknown): void {
    if (this.#shutdownTimeoutHandle !== null) {
      this.#shutdownTimeoutHandle.cancel();
      this.#shutdownTimeoutHandle = null;
    }
    if (shutdownError != null) {
      this.#fatalError(shutdownError);
    } else {
      const transport = this.#transport;
      this.loop.callSoon(() => transport?.close());
    }
  }

  /** Closes at once: no close_notify, buffered data dropped. */
  abort(exc: Error | null): void {
    if (this.#transport === null && this.#connLost === 0) this.#closedBeforeStart = true;
    this.#state = SSLProtocolState.UNWRAPPED;
    this.#transport?.forceClose(exc);
  }

  // --- writing -----------------------------------------------------------------

  /** Queues plaintext from the application; writes at once when WRAPPED. */
  writeAppData(list: Iterable<Uint8Array>): void {
    if (
      this.#state === SSLProtocolState.FLUSHING ||
      this.#state === SSLProtocolState.SHUTDOWN ||
      this.#state === SSLProtocolState.UNWRAPPED
    ) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        process.emitWarning('SSL connection is closed', { code: 'MEMTLS_WRITE_AFTER_CLOSE' });
      }
      this.#connLost += 1;
      return;
    }
    for (const data of list) {
      const bytes = asBytes(data);
      if (bytes.length === 0) continue;
      this.#writeBacklog.push(bytes);
      this.#writeBufferSize += bytes.length;
    }
    try {
      if (this.#state === SSLProtocolState.WRAPPED) this.#doWrite();
    } catch (error) {
      this.#fatalError(error, 'Fatal error on SSL protocol');
    }
  }

  /** Test hook (asyncio's _test__append_write_backlog): queue without writing. */
  appendWriteBacklogForTest(data: Uint8Array): void {
    this.#writeBacklog.push(data);
    this.#writeBufferSize += data.length;
  }

  /**
   * Encrypts the backlog into slab slices and hands each to the socket, until
   * the backlog is empty or the socket asks us to pause.
   */
  #doWrite(): void {
    const backlog = this.#writeBacklog;
    while (backlog.length > 0 && !this.#sslWritingPaused && !this.#isOutgoingHeld() && this.#transport !== null) {
      const room = slabRoom();
      const start = slabOffset;
      const status = this.#engine.send(backlog.length === 1 ? backlog[0] : backlog, slab, start, room);
      const consumed = lengths[Slot.Bytes];
      const produced = lengths[Slot.OutBytes];
      this.#outgoingPending = lengths[Slot.Pending];
      this.#dropWritten(consumed);
      if (produced > 0) this.#writeSlab(start, produced);
      const outcome = status & StatusFlag.Mask;
      if (outcome !== Status.Ok) throw this.#statusError(outcome);
      if (consumed === 0 && produced === 0) break;
    }
    this.#processOutgoing();
  }

  /** Sends slab[start, start+n), just filled by the engine; reclaims it if the socket let go of it. */
  #writeSlab(start: number, n: number): void {
    const used = slab;
    slabOffset = start + n;
    const transport = this.#transport!;
    transport.write(used.subarray(start, start + n));
    // Only the newest slice can be taken back, and only if nothing else was
    // written into the slab from inside write().
    if (slab === used && slabOffset === start + n && transport.releasedWrites?.() === true) slabOffset = start;
  }

  #dropWritten(consumed: number): void {
    if (consumed === 0) return;
    this.#writeBufferSize -= consumed;
    const backlog = this.#writeBacklog;
    let left = consumed;
    let drop = 0;
    while (drop < backlog.length && left >= backlog[drop].length) {
      left -= backlog[drop].length;
      drop += 1;
    }
    if (drop === backlog.length) {
      backlog.length = 0;
      return;
    }
    if (drop > 0) backlog.splice(0, drop);
    if (left > 0) backlog[0] = backlog[0].subarray(left);
  }

  /**
   * Sends the held Finished once the current turn's ticks and microtasks
   * have run: this promise reaction runs among the microtasks and queues a
   * tick, and ticks queued from microtasks run once the microtask queue is
   * empty. Code that resumes after `await` through microtasks alone has
   * written or closed by then; code that blocks the turn delays the Finished
   * (and the server's answer to it) as long.
   */
  static #flushAfterTicks(this: void, protocol: SSLProtocol): void {
    process.nextTick(SSLProtocol.#flushHeld, protocol);
  }

  static #flushHeld(this: void, protocol: SSLProtocol): void {
    try {
      protocol.#processOutgoing();
      // The shrink after the handshake skipped the outgoing BIO while it held the Finished.
      if (protocol.#state === SSLProtocolState.WRAPPED) protocol.#engine.shrinkBuffers(0);
    } catch (error) {
      protocol.#fatalError(error, 'Fatal error on SSL protocol');
    }
  }

  /** Hands ciphertext waiting in the outgoing BIO (handshake flights, alerts) to the socket. */
  #processOutgoing(): void {
    this.#finishedHeld = false;
    while (!this.#sslWritingPaused && !this.#isOutgoingHeld() && this.#outgoingPending > 0 && this.#transport !== null) {
      const room = slabRoom();
      const start = slabOffset;
      const n = this.#engine.drain(slab, start, room);
      this.#outgoingPending = lengths[Slot.Pending];
      if (n === 0) break;
      this.#writeSlab(start, n);
    }
    this.#controlAppWriting();
  }

  /**
   * Holds our ciphertext back (handshake flights, records) while `hold` is
   * true, and sends what waited once it is false again. node:tls holds the
   * server's last handshake flight until a 'newSession' listener has stored
   * the session. Only the handshake and an open connection are held: closing
   * sends everything.
   */
  holdOutgoing(hold: boolean): void {
    if (this.#outgoingHeld === hold) return;
    this.#outgoingHeld = hold;
    if (hold) return;
    try {
      if (this.#state === SSLProtocolState.WRAPPED) this.#doWrite();
      else if (this.#state === SSLProtocolState.FLUSHING) this.#doFlush();
      else this.#processOutgoing();
    } catch (error) {
      this.#fatalError(error, 'Fatal error on SSL protocol');
    }
  }

  #isOutgoingHeld(): boolean {
    return this.#outgoingHeld && (this.#state === SSLProtocolState.DO_HANDSHAKE || this.#state === SSLProtocolState.WRAPPED);
  }

  /** After a failed handshake: send the alert OpenSSL queued, whatever the pause state. */
  #flushAlert(): void {
    if (this.#transport === null || this.#outgoingPending === 0) return;
    const room = slabRoom();
    const start = slabOffset;
    const n = this.#engine.drain(slab, start, room);
    this.#outgoingPending = 0;
    if (n > 0) this.#writeSlab(start, n);
  }

  // --- reading -----------------------------------------------------------------

  /** Returns the pending socket chunk for a native call; null if none. */
  #takeChunk(): Buffer | null {
    const chunk = this.#chunk;
    this.#chunk = null;
    this.#chunkOwned = false;
    return chunk;
  }

  /** Puts a chunk no native call consumed into the incoming BIO for later. */
  #feedChunk(): void {
    const chunk = this.#takeChunk();
    if (chunk !== null && this.#state !== SSLProtocolState.UNWRAPPED) this.#incoming.write(chunk);
  }

  #doRead(): void {
    if (this.#state !== SSLProtocolState.WRAPPED && this.#state !== SSLProtocolState.FLUSHING) return;
    try {
      if (!this.#appReadingPaused) {
        if (this.#bufferedApp !== null) this.#doReadBuffered(this.#bufferedApp);
        else this.#doReadCopied();
        if (this.#writeBacklog.length > 0) this.#doWrite();
        else if (!this.#finishedHeld) this.#processOutgoing();
      } else {
        this.#feedChunk();
        // What is already in the outgoing BIO still goes out (a held Finished
        // at the end of the turn, see #onHandshakeComplete).
        if (!this.#finishedHeld) this.#processOutgoing();
      }
      this.#controlSslReading();
    } catch (error) {
      this.#fatalError(error, 'Fatal error on SSL protocol');
    }
  }

  /**
   * Protocol apps: everything decryptable now, as one coalesced dataReceived.
   * Nothing decryptable is left in OpenSSL when it is called, so a read nested
   * in the application's callback (its close() flushes, which reads) finds
   * nothing to deliver.
   */
  #doReadCopied(): void {
    let first: Buffer | null = null;
    let more: Buffer[] | null = null;
    let outcome: number;
    for (;;) {
      // A large chunk is decrypted straight into memory the application will
      // get: no copy. That is the chunk itself when it is ours to overwrite
      // (ownedDataReceived), warm from the socket's read; otherwise a new
      // Buffer. Plaintext is at most the chunk plus a record OpenSSL still
      // held from the previous chunk: the new Buffer has room for both; the
      // chunk itself may not, and then the rest takes another round and the
      // pieces are joined (a copy, but only when a record the previous chunk
      // began ends in this one with more plaintext than the chunk's own
      // overhead; steady reads of a stream of full records do not do that).
      // A small chunk, or none, goes into the shared buffer and only what
      // came out is copied: a session ticket or an alert allocates nothing,
      // a short message only its own length.
      const owned = this.#chunkOwned;
      const chunk = this.#takeChunk();
      const small = chunk === null || chunk.length < COPY_BELOW;
      const out = small ? sharedRead : owned ? chunk : Buffer.allocUnsafe(chunk.length + (chunk.length >= 16384 ? 16640 : 512));
      const size = out.length;
      const status = this.#engine.receive(chunk, out, 0, size);
      const n = lengths[Slot.Bytes];
      this.#outgoingPending = lengths[Slot.Pending];
      // Copy out of sharedRead before handleFlags: the callbacks it runs
      // ('session', 'keylog') may make another connection read into it.
      if (n > 0) {
        const data = out === sharedRead ? Buffer.from(sharedRead.subarray(0, n)) : n === size ? out : out.subarray(0, n);
        if (first === null) first = data;
        else (more ??= [first]).push(data);
      }
      if (status & ~StatusFlag.Mask) this.#sslObject.handleFlags(status);
      outcome = status & StatusFlag.Mask;
      if (outcome !== Status.Ok) break;
    }
    if (first !== null) {
      const data = more === null ? first : Buffer.concat(more);
      (this.#appProtocol as ProtocolLike | null)?.dataReceived?.(data);
    }
    this.#afterRead(outcome);
  }

  /** BufferedProtocol apps: decrypt straight into the application's buffer. */
  #doReadBuffered(app: BufferedProtocolLike): void {
    let outcome: number;
    for (;;) {
      const buffer = app.getBuffer(this.#chunk?.length ?? 0);
      if (!isBytes(buffer) || buffer.byteLength === 0) {
        // PIT-6: an empty buffer must never be mistaken for close_notify.
        throw new Error('getBuffer() returned an empty buffer');
      }
      const view = asBytes(buffer);
      const status = this.#engine.receive(this.#takeChunk(), view, 0, view.length);
      const n = lengths[Slot.Bytes];
      this.#outgoingPending = lengths[Slot.Pending];
      if (status & ~StatusFlag.Mask) this.#sslObject.handleFlags(status);
      if (n > 0) app.bufferUpdated(n);
      outcome = status & StatusFlag.Mask;
      if (outcome !== Status.Ok || this.#appReadingPaused || this.#state === SSLProtocolState.UNWRAPPED) break;
    }
    this.#afterRead(outcome);
  }

  #afterRead(outcome: number): void {
    // The application aborted from inside dataReceived: nothing more reaches it.
    if (this.#state === SSLProtocolState.UNWRAPPED) return;
    if (outcome === Status.WantRead || outcome === Status.Ok) return;
    if (outcome === Status.CloseNotify || outcome === Status.ZeroReturn) {
      const keepOpen = this.#callEofReceived();
      // With halfClose, an application that asks to keep writing after the
      // peer's close_notify decides when ours goes out (its close()).
      if (this.halfClose && keepOpen) this.#writingAfterPeerClose = true;
      else this.startShutdown();
      return;
    }
    throw this.#statusError(outcome);
  }

  /** Tells the application about EOF once; returns what it answered (keep the write side open?). */
  #callEofReceived(): boolean {
    try {
      if (this.#appState === AppProtocolState.CON_MADE) {
        this.#appState = AppProtocolState.EOF;
        const keepOpen = Boolean(this.#appProtocol?.eofReceived?.());
        if (keepOpen && !this.halfClose) {
          process.emitWarning('returning true from eofReceived() has no effect when using ssl', {
            code: 'MEMTLS_EOF_RECEIVED',
          });
        }
        return keepOpen;
      }
    } catch (error) {
      this.#fatalError(error, 'Error calling eofReceived()');
    }
    return false;
  }

  // --- flow control ------------------------------------------------------------

  #controlAppWriting(): void {
    const size = this.getWriteBufferSize();
    // PIT-1: pause strictly above the high mark, so high=0 pauses only once
    // something is buffered and the matching resume can always come.
    if (size > this.#outgoingHighWater && !this.#appWritingPaused) {
      this.#appWritingPaused = true;
      try {
        this.#appProtocol?.pauseWriting?.();
      } catch (error) {
        this.loop.callExceptionHandler({
          message: 'protocol.pauseWriting() failed',
          exception: error,
          transport: this.#appTransport,
          protocol: this,
        });
      }
    } else if (size <= this.#outgoingLowWater && this.#appWritingPaused) {
      this.#appWritingPaused = false;
      try {
        this.#appProtocol?.resumeWriting?.();
      } catch (error) {
        this.loop.callExceptionHandler({
          message: 'protocol.resumeWriting() failed',
          exception: error,
          transport: this.#appTransport,
          protocol: this,
        });
      }
    }
  }

  #controlSslReading(): void {
    if (!this.#appReadingPaused && !this.#sslReadingPaused) return; // nothing can pile up
    const size = this.getReadBufferSize();
    if (size >= this.#incomingHighWater && !this.#sslReadingPaused) {
      this.#sslReadingPaused = true;
      this.#transport?.pauseReading();
    } else if (size <= this.#incomingLowWater && this.#sslReadingPaused) {
      this.#sslReadingPaused = false;
      this.#transport?.resumeReading();
    }
  }

  get appWritingPaused(): boolean {
    return this.#appWritingPaused;
  }

  getWriteBufferSize(): number {
    return (this.#finishedHeld ? 0 : this.#outgoingPending) + this.#writeBufferSize;
  }

  getReadBufferSize(): number {
    return this.#state === SSLProtocolState.UNWRAPPED && this.#sslObject.engine.isClosed() ? 0 : this.#incoming.pending;
  }

  #setWriteBufferLimits(high?: number | null, low?: number | null): void {
    [this.#outgoingHighWater, this.#outgoingLowWater] = addFlowcontrolDefaults(high, low, FLOW_CONTROL_HIGH_WATER_SSL_WRITE);
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this.#setWriteBufferLimits(high, low);
    this.#controlAppWriting();
  }

  getWriteBufferLimits(): [number, number] {
    return [this.#outgoingLowWater, this.#outgoingHighWater];
  }

  #setReadBufferLimits(high?: number | null, low?: number | null): void {
    [this.#incomingHighWater, this.#incomingLowWater] = addFlowcontrolDefaults(high, low, FLOW_CONTROL_HIGH_WATER_SSL_READ);
  }

  setReadBufferLimits(high?: number | null, low?: number | null): void {
    this.#setReadBufferLimits(high, low);
    this.#controlSslReading();
  }

  getReadBufferLimits(): [number, number] {
    return [this.#incomingLowWater, this.#incomingHighWater];
  }

  get appReadingPaused(): boolean {
    return this.#appReadingPaused;
  }

  pauseReading(): void {
    this.#appReadingPaused = true;
  }

  resumeReading(): void {
    if (!this.#appReadingPaused) return;
    this.#appReadingPaused = false;
    this.loop.callSoon(() => {
      switch (this.#state) {
        case SSLProtocolState.WRAPPED:
          this.#doRead();
          break;
        case SSLProtocolState.FLUSHING:
          this.#doFlush();
          break;
        case SSLProtocolState.SHUTDOWN:
          this.#doShutdown();
          break;
        default:
          break;
      }
      // A socket EOF that came while paused is finished now.
      if (this.#eofReceived && this.#state === SSLProtocolState.FLUSHING) this.#doFlush();
      // halfClose: the FIN came while paused and everything before it has now
      // been read without a close_notify: handle it as eofReceived would have.
      if (
        this.#eofReceived &&
        this.#state === SSLProtocolState.WRAPPED &&
        !this.#writingAfterPeerClose &&
        !this.#appReadingPaused
      ) {
        this.eofReceived();
      }
    });
  }

  // --- errors and extra info ---------------------------------------------------

  #statusError(outcome: number): Error {
    if (outcome === Status.Closed) return new ConnectionAbortedError('the TLS connection is closed');
    return this.#engine.takeError();
  }

  #fatalError(exc: unknown, message = 'Fatal error on transport'): void {
    const transport = this.#transport;
    if (transport !== null) transport.forceClose(exc instanceof Error ? exc : null);
    if (exc == null) return;
    if (isOSError(exc)) {
      if (this.loop.getDebug()) process.emitWarning(`${message}: ${String(exc)}`, { code: 'MEMTLS_DEBUG' });
    } else {
      this.loop.callExceptionHandler({ message, exception: exc, transport, protocol: this });
    }
  }

  /** Reports a fatal error (asyncio's _fatal_error); exposed for the app transport. */
  fatalError(exc: unknown, message?: string): void {
    this.#fatalError(exc, message);
  }

  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    switch (name) {
      case 'sslcontext':
        return this.#sslContext;
      case 'sslObject':
        return this.#state === SSLProtocolState.UNWRAPPED && this.#transport === null ? defaultValue : this.#sslObject;
      case 'peercert':
      case 'cipher':
      case 'compression': {
        if (this.#transport === null || !this.#engine.isHandshakeDone()) return defaultValue;
        if (name === 'cipher') return this.#sslObject.cipher();
        if (name === 'compression') return this.#sslObject.compression();
        return this.#sslObject.getPeerCert();
      }
      default:
        return this.#transport !== null ? this.#transport.getExtraInfo(name, defaultValue) : defaultValue;
    }
  }

  /** True once the socket below is closing (PIT-4). */
  isTransportClosing(): boolean {
    return this.#transport !== null && this.#transport.isClosing();
  }

  hasTransport(): boolean {
    return this.#transport !== null;
  }

  #cancelTimers(): void {
    this.#handshakeTimeoutHandle?.cancel();
    this.#handshakeTimeoutHandle = null;
    this.#shutdownTimeoutHandle?.cancel();
    this.#shutdownTimeoutHandle = null;
  }
}

/**
 * The transport the application sees (asyncio's _SSLProtocolTransport).
 * Every method is safe after close: a second close() detaches it from the
 * protocol (breaking the reference cycle) and later calls do nothing (PIT-13).
 */
export class SSLProtocolTransport implements Transport {
  readonly loop: EventLoop;
  #protocol: SSLProtocol | null;
  #closed = false;

  constructor(loop: EventLoop, sslProtocol: SSLProtocol) {
    this.loop = loop;
    this.#protocol = sslProtocol;
  }

  /** Marks the transport closed without acting (the protocol is shutting down). */
  markClosed(): void {
    this.#closed = true;
  }

  /** The SSLProtocol behind this transport (null after a second close()). */
  get sslProtocol(): SSLProtocol | null {
    return this.#protocol;
  }

  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    return this.#protocol !== null ? this.#protocol.getExtraInfo(name, defaultValue) : defaultValue;
  }

  setProtocol(protocol: AnyProtocol): void {
    this.#protocol?.setAppProtocol(protocol);
  }

  getProtocol(): AnyProtocol {
    return this.#protocol?.getAppProtocol() as AnyProtocol;
  }

  isClosing(): boolean {
    return this.#closed || (this.#protocol !== null && this.#protocol.isTransportClosing());
  }

  close(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#protocol?.startShutdown();
    } else {
      this.#protocol = null;
    }
  }

  isReading(): boolean {
    return this.#protocol !== null && !this.#protocol.appReadingPaused;
  }

  pauseReading(): void {
    this.#protocol?.pauseReading();
  }

  resumeReading(): void {
    this.#protocol?.resumeReading();
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this.#protocol?.setWriteBufferLimits(high, low);
  }

  getWriteBufferLimits(): [number, number] {
    return this.#protocol?.getWriteBufferLimits() ?? [0, 0];
  }

  getWriteBufferSize(): number {
    return this.#protocol?.getWriteBufferSize() ?? 0;
  }

  setReadBufferLimits(high?: number | null, low?: number | null): void {
    this.#protocol?.setReadBufferLimits(high, low);
  }

  getReadBufferLimits(): [number, number] {
    return this.#protocol?.getReadBufferLimits() ?? [0, 0];
  }

  getReadBufferSize(): number {
    return this.#protocol?.getReadBufferSize() ?? 0;
  }

  /** True while the application has been asked to pause writing. */
  get protocolPaused(): boolean {
    return this.#protocol?.appWritingPaused ?? false;
  }

  write(data: Uint8Array): void {
    if (!isBytes(data)) {
      const type = data === null ? 'null' : typeof data === 'object' ? (data as object).constructor?.name : typeof data;
      throw Object.assign(new TypeError(`data: expecting a bytes-like instance, got ${type}`), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    if (data.byteLength === 0) return;
    this.#protocol?.writeAppData([data]);
  }

  writelines(list: Iterable<Uint8Array>): void {
    this.#protocol?.writeAppData(list);
  }

  /** TLS has no half-close: end the write side with close(). */
  writeEof(): void {
    throw Object.assign(new Error('TLS transports do not support writeEof(); use close()'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' });
  }

  canWriteEof(): boolean {
    return false;
  }

  abort(): void {
    this.forceClose(null);
  }

  /** asyncio's _force_close: close at once, reporting `exc` to connectionLost. */
  forceClose(exc: Error | null): void {
    this.#closed = true;
    this.#protocol?.abort(exc);
  }

  isWritingPaused(): boolean {
    return this.protocolPaused;
  }

  /** Test hook: queue data in the backlog without writing it. */
  appendWriteBacklogForTest(data: Uint8Array): void {
    this.#protocol?.appendWriteBacklogForTest(data);
  }
}

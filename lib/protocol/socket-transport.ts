/**
 * SocketTransport: a Transport over a net.Socket or any stream.Duplex, the
 * counterpart of asyncio's selector socket transport. It feeds the protocol
 * with the stream's chunks and maps Node's stream back-pressure onto
 * pauseWriting/resumeWriting.
 *
 *  - close(): stop reading, flush what is buffered, send FIN, then close
 *    (socket.end(), then destroy once finished), then connectionLost(null).
 *  - abort()/forceClose(exc): destroy at once; connectionLost(exc).
 *  - the peer's EOF: protocol.eofReceived(); unless it returns true, close().
 *  - writes after close are dropped (PIT-11), counted and warned about.
 */
import type { Duplex } from 'node:stream';
import { Socket } from 'node:net';

import { LOG_THRESHOLD_FOR_CONNLOST_WRITES } from './constants';
import { getEventLoop, type EventLoop } from './event-loop';
import { Waiter } from './waiter';
import {
  isBufferedProtocol,
  type AnyProtocol,
  type BufferedProtocolLike,
  type LowerTransport,
  type ProtocolLike,
} from './protocols';

/** Writes smaller than this are gathered until the next tick (see write()). */
const CORK_BELOW = 16 * 1024;

/** Default write limits of the socket layer (asyncio's selector transport). */
const DEFAULT_HIGH_WATER = 64 * 1024;

/**
 * The transport a stream feeds. The stream's listeners are functions shared by
 * every transport (no closures per connection); they find their transport
 * here. null once the connection is lost (the stream then holds nothing of
 * it): a stream serves one transport, ever.
 */
const kTransport = Symbol('memtls.socketTransport');
type AttachedStream = Duplex & { [kTransport]?: SocketTransport | null; [kEarlyReads]?: Buffer[] };

function ignoreError(): void {}

/** Where sockets made with SocketTransport.sharedBufferOnread read: one buffer for all of them. */
const STATIC_READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Copies of the chunks a shared-buffer socket read before its transport
 * attached; made only if that happens. The transport takes them over.
 */
const kEarlyReads = Symbol('memtls.earlyReads');

export class SocketTransport implements LowerTransport {
  readonly loop: EventLoop;
  readonly stream: Duplex;
  #protocol: AnyProtocol;
  #buffered: BufferedProtocolLike | null = null;
  #closing = false;
  #lost = false;
  #lostError: Error | null = null;
  #reading = true;
  #writingPaused = false;
  #connLost = 0;
  #highWater = DEFAULT_HIGH_WATER;
  #lowWater = DEFAULT_HIGH_WATER / 4;
  readonly #extra: Record<string, unknown>;
  /**
   * The stream is a net.Socket (each read fills memory of its own) and no
   * other 'data' or 'readable' listener has been on it since this transport
   * attached: nobody else can have been handed one of its chunks (see
   * #dataReceived). Once false, false for good.
   */
  #exclusiveReads: boolean;
  #corked = false;
  /** Settled once connectionMade has run; made only when someone asks (connectionMadePromise). */
  #made: Waiter | null = null;
  #madeDone = false;
  /** The protocol whose connectionMade is scheduled and has not run yet. */
  #connectionMadeDue: AnyProtocol | null = null;

  // The stream's listeners: `this` is the stream.
  static readonly #onData = function (this: AttachedStream, chunk: Buffer | string): void {
    const transport = this[kTransport];
    if (transport != null) transport.#dataReceived(chunk, transport.#exclusiveReads);
  };
  static readonly #onNewListener = function (this: AttachedStream, event: string | symbol): void {
    const transport = this[kTransport];
    if (transport == null || (event !== 'data' && event !== 'readable')) return;
    // Someone else reads the stream from now on (a once() listener is gone
    // again before it runs, so counting listeners per chunk would miss it).
    transport.#exclusiveReads = false;
    this.removeListener('newListener', SocketTransport.#onNewListener);
  };
  static readonly #onEnd = function (this: AttachedStream): void {
    const transport = this[kTransport];
    if (transport != null) transport.#eofReceived();
  };
  static readonly #onDrain = function (this: AttachedStream): void {
    const transport = this[kTransport];
    if (transport != null) transport.#drained();
  };
  static readonly #onError = function (this: AttachedStream, error: Error): void {
    this[kTransport]?.forceClose(error);
  };
  static readonly #onClose = function (this: AttachedStream): void {
    const transport = this[kTransport];
    if (transport != null) transport.#connectionLost();
  };
  // net calls an onread callback with the socket as `this`.
  static readonly #onSharedBufferRead = function (this: AttachedStream, nread: number, buffer: Buffer): boolean {
    const chunk = buffer.subarray(0, nread);
    const transport = this[kTransport];
    if (transport != null) transport.#lentChunkReceived(chunk);
    else if (transport === undefined) (this[kEarlyReads] ??= []).push(Buffer.from(chunk));
    // true: pausing goes through socket.pause(), never through onread.
    return true;
  };

  /**
   * net.Socket's `onread` for sockets we create ourselves: the kernel's bytes
   * land in one shared buffer and go to the transport without a Buffer per
   * read or a pass through the socket's Readable. Pass it to net.connect, and
   * `sharedBufferReads: true` to the SocketTransport made on that socket. One
   * object for every socket, so a connection holds nothing of its own for it.
   *
   * Invariant: a chunk lent from the shared buffer is valid only during the
   * call that receives it. The transport hands it to protocols that say they
   * consume it synchronously (SSLProtocol copies it into OpenSSL's BIO) and a
   * copy to any other.
   */
  static readonly sharedBufferOnread: { readonly buffer: Buffer; readonly callback: (nread: number, buffer: Buffer) => boolean } = Object.freeze({
    buffer: STATIC_READ_BUFFER,
    callback: this.#onSharedBufferRead,
  });

  static #uncorkLater(transport: SocketTransport): void {
    transport.#uncork();
  }

  /**
   * Wraps `stream` and calls `protocol.connectionMade(this)` on the next turn
   * of the loop (asyncio does the same with call_soon), or at once if the
   * stream is lost first. The stream's listeners are called with the stream
   * as `this` (EventEmitter's rule), which is how they find this transport.
   */
  constructor(
    stream: Duplex,
    protocol: AnyProtocol,
    options: {
      loop?: EventLoop | null;
      callConnectionMade?: boolean;
      /** The stream was made with `onread: SocketTransport.sharedBufferOnread`. */
      sharedBufferReads?: boolean;
      /**
       * false: do not ask the socket for its addresses now (two system calls
       * per connection); getExtraInfo reads them from the socket when asked.
       * For owners that never ask, such as the drop-in TLSSocket.
       */
      captureAddresses?: boolean;
    } = {},
  ) {
    // One transport per stream: the shared listeners could not tell two apart.
    const attached = stream as AttachedStream;
    if (attached[kTransport] !== undefined) throw new Error('this stream already has a transport');
    const protocol0 = protocol;
    this.loop = options.loop ?? getEventLoop();
    this.stream = stream;
    this.#protocol = protocol;
    this.#buffered = isBufferedProtocol(protocol) ? protocol : null;
    this.#exclusiveReads =
      options.sharedBufferReads !== true && stream instanceof Socket && stream.listenerCount('data') === 0 && stream.listenerCount('readable') === 0;
    // We decide what the peer's EOF means, not the stream.
    (stream as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
    this.#extra = { socket: stream };
    if (options.captureAddresses !== false) this.#captureAddresses();
    attached[kTransport] = this;
    // From now on this transport owns reading: a stream paused by its
    // previous owner would otherwise never deliver a byte.
    if (options.sharedBufferReads === true) {
      const early = attached[kEarlyReads];
      if (early !== undefined) {
        attached[kEarlyReads] = undefined;
        for (const chunk of early) this.#lentChunkReceived(chunk);
      }
    } else {
      stream.on('data', SocketTransport.#onData);
    }
    if (this.#exclusiveReads) stream.on('newListener', SocketTransport.#onNewListener);
    if (stream.readableFlowing === false) stream.resume();
    stream.on('end', SocketTransport.#onEnd);
    stream.on('drain', SocketTransport.#onDrain);
    stream.on('error', SocketTransport.#onError);
    stream.on('close', SocketTransport.#onClose);
    if (options.callConnectionMade !== false) {
      // The protocol current now gets connectionMade, even if setProtocol()
      // (startTls) replaces it before the callback runs.
      this.#connectionMadeDue = protocol0;
      this.loop.callSoon(() => this.#callConnectionMade());
    } else {
      this.#madeDone = true;
    }
  }

  /**
   * connectionMade, once. A connection lost before the scheduled call ran
   * makes it at once, so the protocol still sees connectionMade first (as
   * asyncio's FIFO call_soon guarantees).
   */
  #callConnectionMade(): void {
    const protocol = this.#connectionMadeDue;
    if (protocol === null) return;
    this.#connectionMadeDue = null;
    try {
      protocol.connectionMade?.(this);
    } catch (error) {
      // Thrown on the loop's turn it would reach the loop's handler; here it
      // must not stop connectionLost (or the waiter) either.
      this.loop.callExceptionHandler({ message: 'protocol.connectionMade() failed', exception: error, transport: this, protocol });
    } finally {
      this.#madeDone = true;
      this.#made?.resolve();
    }
  }

  /** Resolves once the protocol's connectionMade has run (asyncio's waiter for plain transports). */
  get connectionMadePromise(): Promise<void> {
    if (this.#made === null) {
      this.#made = new Waiter();
      if (this.#madeDone) this.#made.resolve();
    }
    return this.#made.promise;
  }

  // --- reading -------------------------------------------------------------------

  #lentChunkReceived(chunk: Buffer): void {
    // A BufferedProtocol gets a copy in its own buffer anyway (#feedBuffered).
    const keeps = this.#buffered === null && (this.#protocol as { consumesChunksSynchronously?: boolean }).consumesChunksSynchronously !== true;
    this.#dataReceived(keeps ? Buffer.from(chunk) : chunk, false);
  }

  /**
   * `exclusive`: the chunk comes from a stream nobody else reads
   * (#exclusiveReads). It is then the protocol's to overwrite
   * (ownedDataReceived) if it spans its whole ArrayBuffer: a slice could
   * share memory with bytes someone kept, such as an unshift()ed remainder.
   * (A whole Buffer someone unshift()s or push()es and keeps reading is not
   * detectable; docs/api.md says not to.)
   */
  #dataReceived(chunk: Buffer | string, exclusive: boolean): void {
    if (this.#lost) return;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#buffered !== null) {
      this.#feedBuffered(this.#buffered, data);
      return;
    }
    const protocol = this.#protocol as ProtocolLike;
    if (exclusive && protocol.ownedDataReceived !== undefined && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
      protocol.ownedDataReceived(data);
    } else {
      protocol.dataReceived?.(data);
    }
  }

  /** Copies a chunk into the protocol's buffers, as many as it takes (PIT-5, PIT-6). */
  #feedBuffered(protocol: BufferedProtocolLike, data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      const buffer = protocol.getBuffer(data.length - offset);
      if (!ArrayBuffer.isView(buffer) || buffer.byteLength === 0) {
        this.forceClose(new Error('getBuffer() returned an empty buffer'));
        return;
      }
      const target = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      const n = Math.min(target.length, data.length - offset);
      target.set(data.subarray(offset, offset + n));
      offset += n;
      protocol.bufferUpdated(n);
    }
  }

  #eofReceived(): void {
    if (this.#lost) return;
    let keepOpen: boolean | void = false;
    try {
      keepOpen = this.#protocol.eofReceived?.();
    } catch (error) {
      this.forceClose(error as Error);
      return;
    }
    if (!keepOpen) this.close();
  }

  isReading(): boolean {
    return this.#reading && !this.#closing;
  }

  pauseReading(): void {
    if (!this.#reading) return;
    this.#reading = false;
    this.stream.pause();
  }

  resumeReading(): void {
    if (this.#reading || this.#closing) return;
    this.#reading = true;
    this.stream.resume();
  }

  // --- writing -------------------------------------------------------------------

  write(data: Uint8Array): void {
    if (this.#closing || this.#lost) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        process.emitWarning('socket.send() raised exception.', { code: 'MEMTLS_WRITE_AFTER_CLOSE' });
      }
      this.#connLost += 1;
      return;
    }
    if (data.byteLength === 0) return;
    // Small writes made in the same turn of the loop leave as one writev: the
    // stream is corked until the next tick (many small TLS records would
    // otherwise cost one system call each). A large write flushes them and
    // goes out at once.
    if (data.byteLength < CORK_BELOW) {
      if (!this.#corked) {
        this.#corked = true;
        this.stream.cork();
        process.nextTick(SocketTransport.#uncorkLater, this);
      }
    } else {
      this.#uncork();
    }
    const accepted = this.stream.write(data);
    // Pause only when the stream itself refused more (so a 'drain' is sure to
    // follow) and the backlog is above our mark: the effective mark is the
    // larger of ours and the stream's own.
    if (!accepted && !this.#writingPaused && this.stream.writableLength > this.#highWater) {
      this.#pauseProtocolWriting();
    }
  }

  writelines(list: Iterable<Uint8Array>): void {
    for (const data of list) this.write(data);
  }

  writeEof(): void {
    if (this.#closing || this.#lost) return;
    this.stream.end();
  }

  canWriteEof(): boolean {
    return true;
  }

  #uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.stream.uncork();
  }

  #pauseProtocolWriting(): void {
    this.#writingPaused = true;
    try {
      this.#protocol.pauseWriting?.();
    } catch (error) {
      this.loop.callExceptionHandler({ message: 'protocol.pauseWriting() failed', exception: error, transport: this, protocol: this.#protocol });
    }
  }

  #drained(): void {
    if (!this.#writingPaused || this.stream.writableLength > this.#lowWater) return;
    this.#writingPaused = false;
    try {
      this.#protocol.resumeWriting?.();
    } catch (error) {
      this.loop.callExceptionHandler({ message: 'protocol.resumeWriting() failed', exception: error, transport: this, protocol: this.#protocol });
    }
  }

  isWritingPaused(): boolean {
    return this.#writingPaused;
  }

  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    const hi = high ?? (low != null ? 4 * low : DEFAULT_HIGH_WATER);
    const lo = low ?? Math.floor(hi / 4);
    if (!(hi >= lo && lo >= 0)) {
      throw Object.assign(new RangeError(`high (${hi}) must be >= low (${lo}) must be >= 0`), { code: 'ERR_OUT_OF_RANGE' });
    }
    this.#highWater = hi;
    this.#lowWater = lo;
  }

  getWriteBufferLimits(): [number, number] {
    return [this.#lowWater, this.#highWater];
  }

  getWriteBufferSize(): number {
    return this.stream.writableLength ?? 0;
  }

  releasedWrites(): boolean {
    // A socket over a native handle completes a write synchronously when the
    // kernel took every byte, and then keeps no reference to the buffer. Any
    // other Duplex may hold on to written chunks (a PassThrough pushes them to
    // its readable side), so it never qualifies.
    const handle = (this.stream as { _handle?: { writeBuffer?: unknown } | null })._handle;
    return this.stream.writableLength === 0 && typeof handle?.writeBuffer === 'function';
  }

  // --- closing -------------------------------------------------------------------

  isClosing(): boolean {
    return this.#closing || this.#lost;
  }

  close(): void {
    if (this.#closing || this.#lost) return;
    this.#closing = true;
    this.stream.pause();
    const stream = this.stream;
    // end() flushes the queued writes and sends FIN; then release the socket.
    stream.end(() => stream.destroy());
  }

  abort(): void {
    this.forceClose(null);
  }

  forceClose(exc: Error | null): void {
    if (this.#lost) return;
    if (exc !== null && this.#lostError === null) this.#lostError = exc;
    this.#closing = true;
    // What was written this turn (a handshake alert, say) leaves before the
    // socket goes, as it would have without the cork.
    this.#uncork();
    this.stream.destroy();
  }

  #connectionLost(): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#closing = true;
    const stream = this.stream as AttachedStream;
    stream.off('data', SocketTransport.#onData);
    stream.off('end', SocketTransport.#onEnd);
    stream.off('drain', SocketTransport.#onDrain);
    stream.off('close', SocketTransport.#onClose);
    stream.off('newListener', SocketTransport.#onNewListener);
    // Keep an error listener: a late error on a dead stream must not crash.
    stream.off('error', SocketTransport.#onError);
    stream.on('error', ignoreError);
    stream[kTransport] = null;
    this.#callConnectionMade();
    const protocol = this.#protocol;
    const error = this.#lostError;
    protocol.connectionLost?.(error);
  }

  // --- misc ----------------------------------------------------------------------

  getExtraInfo(name: string, defaultValue: unknown = undefined): unknown {
    if (this.#lost && name === 'socket') return defaultValue;
    if ((name === 'peername' || name === 'sockname') && !(name in this.#extra)) this.#captureAddresses();
    return name in this.#extra ? this.#extra[name] : defaultValue;
  }

  #captureAddresses(): void {
    const socket = this.stream as Partial<Socket>;
    if (typeof socket.remoteAddress === 'string') this.#extra.peername = [socket.remoteAddress, socket.remotePort];
    if (typeof socket.localAddress === 'string') this.#extra.sockname = [socket.localAddress, socket.localPort];
  }

  setProtocol(protocol: AnyProtocol): void {
    this.#protocol = protocol;
    this.#buffered = isBufferedProtocol(protocol) ? protocol : null;
  }

  getProtocol(): AnyProtocol {
    return this.#protocol;
  }
}

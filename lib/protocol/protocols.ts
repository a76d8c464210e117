/**
 * asyncio's Protocol / BufferedProtocol / Transport interfaces, camelCased.
 *
 * A protocol receives events from its transport; a transport moves bytes.
 * Protocols are structural: any object with the methods works; the classes
 * here give no-op defaults for subclassing.
 */

export interface BaseProtocolLike {
  connectionMade?(transport: Transport): void;
  connectionLost?(exc: Error | null): void;
  pauseWriting?(): void;
  resumeWriting?(): void;
}

export interface ProtocolLike extends BaseProtocolLike {
  dataReceived?(data: Buffer): void;
  /**
   * Optional: called instead of dataReceived with a chunk that is this
   * protocol's alone: memory the socket allocated for this read that no other
   * listener saw, so the protocol may overwrite it (SSLProtocol decrypts into
   * it). A transport that cannot be sure calls dataReceived.
   */
  ownedDataReceived?(data: Buffer): void;
  /** Return true to keep the transport open for writing after the peer's EOF. */
  eofReceived?(): boolean | void;
}

export interface BufferedProtocolLike extends BaseProtocolLike {
  /** A buffer to read into; `sizeHint` is a suggestion (may be 0). Must not be empty. */
  getBuffer(sizeHint: number): Uint8Array;
  /** `nbytes` bytes were written at the start of the last buffer. */
  bufferUpdated(nbytes: number): void;
  eofReceived?(): boolean | void;
}

export type AnyProtocol = ProtocolLike | BufferedProtocolLike;

export function isBufferedProtocol(protocol: AnyProtocol): protocol is BufferedProtocolLike {
  const candidate = protocol as Partial<BufferedProtocolLike>;
  return typeof candidate.getBuffer === 'function' && typeof candidate.bufferUpdated === 'function';
}

/** Base class with no-op callbacks (asyncio.Protocol). */
export class Protocol implements ProtocolLike {
  connectionMade(_transport: Transport): void {}
  connectionLost(_exc: Error | null): void {}
  pauseWriting(): void {}
  resumeWriting(): void {}
  dataReceived(_data: Buffer): void {}
  eofReceived(): boolean | void {}
}

/** Base class for protocols that read into their own buffers (asyncio.BufferedProtocol). */
export abstract class BufferedProtocol implements BufferedProtocolLike {
  connectionMade(_transport: Transport): void {}
  connectionLost(_exc: Error | null): void {}
  pauseWriting(): void {}
  resumeWriting(): void {}
  abstract getBuffer(sizeHint: number): Uint8Array;
  abstract bufferUpdated(nbytes: number): void;
  eofReceived(): boolean | void {}
}

export interface Transport {
  getExtraInfo(name: string, defaultValue?: unknown): unknown;
  isClosing(): boolean;
  /** Graceful close: flushes what is buffered, then closes. */
  close(): void;
  setProtocol(protocol: AnyProtocol): void;
  getProtocol(): AnyProtocol;

  isReading(): boolean;
  pauseReading(): void;
  resumeReading(): void;

  write(data: Uint8Array): void;
  writelines(list: Iterable<Uint8Array>): void;
  writeEof(): void;
  canWriteEof(): boolean;
  /** Closes at once, dropping buffered data. */
  abort(): void;
  setWriteBufferLimits(high?: number | null, low?: number | null): void;
  /** [low, high], as asyncio returns them. */
  getWriteBufferLimits(): [number, number];
  getWriteBufferSize(): number;
}

/**
 * What SSLProtocol needs from the transport below it, beyond Transport:
 * asyncio's private `_force_close(exc)` and a way to learn whether the
 * transport has already paused its protocol's writing (PIT-2).
 */
export interface LowerTransport extends Transport {
  forceClose(exc: Error | null): void;
  isWritingPaused(): boolean;
  /**
   * True when everything written so far has gone to the operating system
   * and the transport keeps no reference to the buffers given to write():
   * the caller may then reuse them. Transports that cannot tell leave it out.
   */
  releasedWrites?(): boolean;
}

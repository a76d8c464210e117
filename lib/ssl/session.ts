/**
 * SSLSession: a resumable TLS session (Python's ssl.SSLSession). It holds the
 * session parsed once in native memory, so it can be passed to any number of
 * connections of the same context without parsing again, and gives its DER
 * encoding on demand, to be stored or handed to node:tls style APIs as a Buffer.
 */
import { native, type SessionDescription, type SessionHandle } from '../native';
import type { SSLContext } from './ssl-context';

export class SSLSession {
  /** The context whose connections can resume this session. */
  readonly context: SSLContext | undefined;
  /**
   * The session parsed once, in native memory. Setting it on a connection
   * costs no parsing, so one SSLSession can resume many connections.
   */
  readonly handle: SessionHandle;
  #der: Buffer | undefined;
  #description: SessionDescription | undefined;

  /** From DER (i2d_SSL_SESSION bytes); memtls itself also passes a native handle. */
  constructor(source: ArrayBufferView | SessionHandle, context?: SSLContext) {
    if (ArrayBuffer.isView(source)) {
      const bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
      this.handle = native.SSLObject.parseSession(bytes);
      this.#der = Buffer.from(bytes);
    } else if (typeof source === 'object' && source !== null) {
      // Throws a TypeError for anything but a session handle.
      this.#description = native.SSLObject.describeSession(source);
      this.handle = source;
    } else {
      throw new TypeError('session must be DER bytes');
    }
    this.context = context;
  }

  /** DER encoding (i2d_SSL_SESSION), what node:tls calls a session Buffer. */
  get der(): Buffer {
    return (this.#der ??= native.SSLObject.encodeSession(this.handle));
  }

  get id(): Buffer {
    return this.#describe().id;
  }

  /** Creation time, seconds since the epoch. */
  get time(): number {
    return this.#describe().time;
  }

  /** Lifetime in seconds. */
  get timeout(): number {
    return this.#describe().timeout;
  }

  get hasTicket(): boolean {
    return this.#describe().hasTicket;
  }

  get ticketLifetimeHint(): number {
    return this.#describe().ticketLifetimeHint;
  }

  /** False for a TLS 1.3 session before its ticket arrived. */
  get resumable(): boolean {
    return this.#describe().resumable;
  }

  /** Two sessions are equal when they have the same session id. */
  equals(other: SSLSession): boolean {
    return this.id.equals(other.id);
  }

  #describe(): SessionDescription {
    return (this.#description ??= native.SSLObject.describeSession(this.handle));
  }
}

/**
 * SSLSession: a resumable TLS session (Python's ssl.SSLSession). It holds the
 * session's DER encoding, so it can be stored, passed to another connection of
 * the same context, or handed to node:tls style APIs as a Buffer.
 */
import { native } from '../native';
import type { SSLContext } from './ssl-context';

export class SSLSession {
  /** DER encoding (i2d_SSL_SESSION), what node:tls calls a session Buffer. */
  readonly der: Buffer;
  /** The context whose connections can resume this session. */
  readonly context: SSLContext | undefined;
  readonly id: Buffer;
  /** Creation time, seconds since the epoch. */
  readonly time: number;
  /** Lifetime in seconds. */
  readonly timeout: number;
  readonly hasTicket: boolean;
  readonly ticketLifetimeHint: number;
  /** False for a TLS 1.3 session before its ticket arrived. */
  readonly resumable: boolean;

  constructor(der: Uint8Array, context?: SSLContext) {
    const description = native.SSLObject.describeSession(der);
    this.der = Buffer.from(der);
    this.context = context;
    this.id = description.id;
    this.time = description.time;
    this.timeout = description.timeout;
    this.hasTicket = description.hasTicket;
    this.ticketLifetimeHint = description.ticketLifetimeHint;
    this.resumable = description.resumable;
  }

  /** Two sessions are equal when they have the same session id. */
  equals(other: SSLSession): boolean {
    return this.id.equals(other.id);
  }
}

/**
 * Peers for the startTls tests: node:tls upgrades of plain sockets (both
 * roles), exact reads from a stream that leave the rest for whoever reads
 * next, and a hand-driven memtls SSLObject client over a raw socket whose
 * writes the test controls byte for byte.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';

import { SSLWantReadError, type SSLContext } from '../../lib';
import { readCert, SERVER_NAME } from './certs';
import { endpoint, type Endpoint } from './pair';

export const HOST = '127.0.0.1';

/** Undo steps run in reverse order (servers, sockets, processes). */
export class Cleanups {
  #steps: Array<() => void | Promise<void>> = [];

  add(step: () => void | Promise<void>): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      try {
        await step();
      } catch {
        // Cleanup must go on; the test itself reports what went wrong.
      }
    }
  }
}

/**
 * Resolves with exactly `n` bytes read from `stream` (paused mode). Bytes
 * read beyond `n` are pushed back with unshift(), so a TLS layer put on the
 * stream afterwards still sees them (node:tls takes over buffered data).
 */
export function readExactly(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (error: Error | null): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      if (error !== null) {
        reject(error);
        return;
      }
      const all = Buffer.concat(chunks, total);
      if (all.length > n) stream.unshift(all.subarray(n));
      resolve(all.subarray(0, n));
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (total < n && (chunk = stream.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        total += chunk.length;
      }
      if (total >= n) finish(null);
    };
    const onEnd = (): void => finish(new Error(`stream ended after ${total} of ${n} bytes`));
    const onError = (error: Error): void => finish(error);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
    onReadable();
  });
}

export interface NodeTlsPeer {
  socket: tls.TLSSocket;
  /** Resolves once the handshake is done; rejects on a TLS error. */
  secure: Promise<void>;
  /** Errors the socket emitted (kept, never thrown). */
  errors: Error[];
}

function track(socket: tls.TLSSocket, event: 'secure' | 'secureConnect'): NodeTlsPeer {
  const errors: Error[] = [];
  const secure = new Promise<void>((resolve, reject) => {
    socket.once(event, () => resolve());
    socket.on('error', (error: Error) => {
      errors.push(error);
      reject(error);
    });
  });
  secure.catch(() => undefined);
  return { socket, secure, errors };
}

/** Upgrades an accepted plain socket to a node:tls server (certificate for 'localhost'). */
export function upgradeToNodeTlsServer(socket: net.Socket, options: tls.TLSSocketOptions = {}): NodeTlsPeer {
  const upgraded = new tls.TLSSocket(socket, {
    isServer: true,
    cert: readCert('server-ec.pem'),
    key: readCert('server-ec.key'),
    ...options,
  } as tls.TLSSocketOptions);
  return track(upgraded, 'secure');
}

/** Upgrades a connected plain socket to a node:tls client trusting the test CA. */
export function upgradeToNodeTlsClient(socket: net.Socket, options: tls.ConnectionOptions = {}): NodeTlsPeer {
  const upgraded = tls.connect({ socket, ca: readCert('ca.pem'), servername: SERVER_NAME, ...options });
  return track(upgraded, 'secureConnect');
}

/** Ends a node:tls socket with close_notify (then FIN), once the current turn is over. */
export function endWithCloseNotify(socket: tls.TLSSocket): void {
  // node:tls sends no close_notify for an end() issued while its post-handshake
  // writes are still in progress; one turn later it always does.
  setImmediate(() => socket.end());
}

/** A plain TCP connection to 127.0.0.1:port, allowing half-open. */
export function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: HOST, allowHalfOpen: true });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/**
 * A memtls SSLObject client over a raw socket, driven by hand: nothing is
 * sent until the test calls flush(), so the test decides which TLS records
 * share one socket write.
 */
export class HandDrivenTlsClient {
  readonly endpoint: Endpoint;
  #inputArrived = false;
  #inputEnded = false;
  #wake: (() => void) | null = null;
  /** The sizes of the socket writes made so far. */
  readonly writes: number[] = [];

  constructor(
    readonly socket: net.Socket,
    context: SSLContext,
  ) {
    this.endpoint = endpoint(context, { serverHostname: SERVER_NAME });
    socket.on('data', (chunk: Buffer) => {
      this.endpoint.incoming.write(chunk);
      this.#signal();
    });
    socket.on('end', () => {
      this.#inputEnded = true;
      this.endpoint.incoming.writeEof();
      this.#signal();
    });
  }

  #signal(): void {
    this.#inputArrived = true;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #nextInput(): Promise<void> {
    if (this.#inputArrived) {
      this.#inputArrived = false;
      return Promise.resolve();
    }
    if (this.#inputEnded) return Promise.reject(new Error('the socket ended while TLS wanted more input'));
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#inputArrived = false;
        resolve();
      };
    });
  }

  /** Sends everything in the outgoing BIO as ONE socket write; returns its size. */
  flush(): number {
    const bytes = this.endpoint.outgoing.read();
    if (bytes.length > 0) {
      this.socket.write(bytes);
      this.writes.push(bytes.length);
    }
    return bytes.length;
  }

  /**
   * Runs the handshake, flushing each flight while it is incomplete, but
   * leaves the LAST flight (the client Finished) in the outgoing BIO.
   * Resolves with the number of bytes left there.
   */
  async handshakeHoldingLastFlight(): Promise<number> {
    for (;;) {
      try {
        this.endpoint.ssl.doHandshake();
        return this.endpoint.outgoing.pending;
      } catch (error) {
        if (!(error instanceof SSLWantReadError)) throw error;
      }
      this.flush();
      await this.#nextInput();
    }
  }

  /** Resolves with exactly `n` bytes of plaintext. */
  async readExactly(n: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < n) {
      try {
        const chunk = this.endpoint.ssl.read(n - total) as Buffer;
        if (chunk.length === 0) throw new Error(`peer closed after ${total} of ${n} bytes`);
        chunks.push(chunk);
        total += chunk.length;
        continue;
      } catch (error) {
        if (!(error instanceof SSLWantReadError)) throw error;
      }
      this.flush();
      await this.#nextInput();
    }
    return Buffer.concat(chunks, total);
  }
}

/**
 * Drives a core SSLObject over a real net.Socket: socket bytes go into the
 * incoming MemoryBIO, whatever the SSLObject writes to the outgoing BIO is sent
 * on the socket after every step. Only the public SSLObject API is used.
 *
 * One operation (handshake, receive, close) runs at a time: it is retried each
 * time the socket delivers more bytes, until it stops raising SSLWantReadError.
 */
import type * as net from 'node:net';
import { MemoryBIO, SSLObject, SSLWantReadError, type SSLContext, type WrapBioOptions } from '../../lib';

const READ_SIZE = 65536;

export class SocketPump {
  readonly incoming = new MemoryBIO();
  readonly outgoing = new MemoryBIO();
  readonly ssl: SSLObject;
  /** Plaintext read from the SSLObject but not yet handed to a caller. */
  #buffered: Buffer[] = [];
  #bufferedLength = 0;
  /** The operation waiting for more input, if any. */
  #retry: (() => void) | undefined;
  #socketError: Error | undefined;
  #inputEnded = false;

  constructor(
    context: SSLContext,
    readonly socket: net.Socket,
    options: WrapBioOptions = {},
  ) {
    this.ssl = context.wrapBio(this.incoming, this.outgoing, options);
    socket.on('data', (chunk: Buffer) => {
      this.incoming.write(chunk);
      this.#retry?.();
    });
    // Transport EOF: OpenSSL then reports SSLEOFError (or a clean close if
    // close_notify came first) instead of asking for more.
    const endOfInput = (): void => {
      if (!this.#inputEnded) this.incoming.writeEof();
      this.#inputEnded = true;
      this.#retry?.();
    };
    socket.on('end', endOfInput);
    socket.on('close', endOfInput);
    socket.on('error', (error: Error) => {
      this.#socketError = error;
      this.#retry?.();
    });
  }

  /** Runs the TLS handshake to completion. */
  handshake(): Promise<void> {
    return this.#until(() => this.ssl.doHandshake());
  }

  /** Encrypts `data` and resolves once the socket has taken the ciphertext. */
  async send(data: Uint8Array): Promise<void> {
    this.ssl.write(data);
    const ciphertext = this.outgoing.read();
    await new Promise<void>((resolve, reject) => {
      this.socket.write(ciphertext, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Resolves with exactly `n` bytes of plaintext; fails if the peer closes first. */
  receiveExactly(n: number): Promise<Buffer> {
    return this.#until(() => {
      while (this.#bufferedLength < n) {
        const chunk = this.ssl.read(READ_SIZE) as Buffer; // SSLWantReadError: wait for more
        if (chunk.length === 0) {
          throw new Error(`peer closed the TLS connection after ${this.#bufferedLength} of ${n} bytes`);
        }
        this.#keep(chunk);
      }
      return this.#take(n);
    });
  }

  /** Resolves with all plaintext up to the peer's close_notify. */
  receiveUntilEnd(): Promise<Buffer> {
    return this.#until(() => {
      for (;;) {
        const chunk = this.ssl.read(READ_SIZE) as Buffer;
        if (chunk.length === 0) return this.#take(this.#bufferedLength);
        this.#keep(chunk);
      }
    });
  }

  /**
   * Sends close_notify, waits for the peer's, then ends the socket and
   * resolves once it has closed.
   */
  async close(): Promise<void> {
    try {
      this.ssl.unwrap(); // queues our close_notify; done at once if the peer's was already read
    } catch (error) {
      if (!(error instanceof SSLWantReadError)) throw error;
    }
    await this.#until(() => this.ssl.unwrap());
    await this.endSocket();
  }

  /** Ends the TCP connection (no TLS close) and resolves once it has closed. */
  endSocket(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  #flush(): void {
    const bytes = this.outgoing.read();
    if (bytes.length > 0 && this.socket.writable) this.socket.write(bytes);
  }

  #keep(chunk: Buffer): void {
    this.#buffered.push(chunk);
    this.#bufferedLength += chunk.length;
  }

  #take(n: number): Buffer {
    const all = Buffer.concat(this.#buffered, this.#bufferedLength);
    const rest = all.subarray(n);
    this.#buffered = rest.length > 0 ? [rest] : [];
    this.#bufferedLength = rest.length;
    return all.subarray(0, n);
  }

  /**
   * Runs `step` now and again whenever input arrives, flushing the outgoing
   * BIO after each attempt, until it returns (resolve) or throws anything
   * other than SSLWantReadError (reject).
   */
  #until<T>(step: () => T): Promise<T> {
    if (this.#retry !== undefined) return Promise.reject(new Error('another operation is in progress'));
    return new Promise<T>((resolve, reject) => {
      const attempt = (): void => {
        try {
          const result = step();
          this.#retry = undefined;
          this.#flush();
          resolve(result);
        } catch (error) {
          this.#flush();
          this.#retry = undefined;
          if (!(error instanceof SSLWantReadError)) reject(error);
          else if (this.#socketError !== undefined) reject(this.#socketError);
          else if (this.#inputEnded) reject(new Error('the socket closed while TLS wanted more input'));
          else this.#retry = attempt;
        }
      };
      attempt();
    });
  }
}

/**
 * Small tools for the real-user tests of memtls/tls: a register of things to
 * tear down after each test (servers with their connections, sockets, agents,
 * child processes), stream readers that keep what they do not consume, an
 * in-memory pair of connected Duplex streams, and a promise-returning
 * execFile for the curl and openssl command-line tools.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type * as net from 'node:net';
import { Duplex } from 'node:stream';

export const HOST = '127.0.0.1';

type Step = () => void | Promise<void>;

/** Destroyable things, torn down newest first by `release()`. */
export class Teardown {
  #steps: Step[] = [];

  add(step: Step): void {
    this.#steps.push(step);
  }

  /** Destroys `stream` at teardown; returns it. */
  stream<T extends { destroy(): unknown }>(stream: T): T {
    this.add(() => {
      stream.destroy();
    });
    return stream;
  }

  /**
   * Closes `server` at teardown after destroying every connection it accepted
   * (raw 'connection' sockets and the TLS sockets of 'secureConnection').
   */
  server<T extends net.Server>(server: T): T {
    const sockets = new Set<{ destroy(): unknown }>();
    const remember = (socket: { destroy(): unknown; once(event: 'close', listener: () => void): unknown }): void => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    };
    server.on('connection', remember);
    server.on('secureConnection', remember);
    this.add(async () => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return server;
  }

  /** Kills `child` at teardown and waits until it has exited. */
  child(child: ChildProcess): ChildProcess {
    this.add(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await gone;
    });
    return child;
  }

  async release(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      try {
        await step();
      } catch {
        // Teardown goes on; the test has already said what went wrong.
      }
    }
  }
}

/** Listens on 127.0.0.1 port 0 and resolves with the port chosen. */
export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Everything `stream` delivers until its 'end'; rejects on 'error'. */
export function readToEnd(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer | string) => chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/**
 * Reads 'data' chunks from `stream` until `total` bytes have come; resolves
 * with them (rejects on 'error' or on an early 'end').
 */
export function readBytes(stream: Duplex, total: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= total) {
        stop();
        resolve(Buffer.concat(chunks, length));
      }
    };
    const onEnd = (): void => {
      stop();
      reject(new Error(`stream ended after ${length} of ${total} bytes`));
    };
    const onError = (error: Error): void => {
      stop();
      reject(error);
    };
    const stop = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/**
 * Reads one CRLF-terminated line from a plain stream in paused mode and
 * resolves with it (without the CRLF). Whatever came after the line stays
 * in the stream's buffer (unshift), for whoever reads the stream next.
 */
export function readLine(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = Buffer.alloc(0);
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = stream.read() as Buffer | null) !== null) {
        seen = Buffer.concat([seen, chunk]);
        const at = seen.indexOf('\r\n');
        if (at >= 0) {
          stop();
          const rest = seen.subarray(at + 2);
          if (rest.length > 0) stream.unshift(rest);
          resolve(seen.subarray(0, at).toString('latin1'));
          return;
        }
      }
    };
    const onEnd = (): void => {
      stop();
      reject(new Error(`stream ended before a line; got ${JSON.stringify(seen.toString('latin1'))}`));
    };
    const onError = (error: Error): void => {
      stop();
      reject(error);
    };
    const stop = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/** Resolves once `stream` has at least one byte waiting in its readable buffer (nothing is consumed). */
export function bytesBuffered(stream: Duplex): Promise<void> {
  if (stream.readableLength > 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReadable = (): void => {
      stop();
      resolve();
    };
    const onEnd = (): void => {
      stop();
      reject(new Error('stream ended with nothing buffered'));
    };
    const stop = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
  });
}

/**
 * One end of an in-memory connection: what is written to it is pushed to its
 * peer's readable side, with back-pressure (a write's callback waits until
 * the peer is read again when its buffer is full); end() ends the peer's
 * readable side.
 */
class MemoryEnd extends Duplex {
  peer!: MemoryEnd;
  #waiting: (() => void) | null = null;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.destroyed) {
      callback(Object.assign(new Error('the other end is destroyed'), { code: 'EPIPE' }));
      return;
    }
    if (this.peer.push(chunk)) callback();
    else this.peer.#waiting = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _read(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
    // The other end sees the connection go away, as a socket would.
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}

/** Two connected in-memory Duplex streams. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion; resolves with its output, rejects (with the
 * output attached to the message) if it fails. The child is registered with
 * `teardown` so a test that gives up does not leave it running.
 */
export function run(teardown: Teardown, file: string, args: string[], input?: string | Buffer): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 16 * 1024 * 1024, timeout: 8000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
    teardown.child(child);
    if (input !== undefined) child.stdin!.end(input);
  });
}

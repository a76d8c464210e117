/**
 * Helpers for protocol-layer tests: a protocol that records every event, a
 * deferred promise, loopback listeners, and a loop whose exception handler
 * calls are collected so tests can assert none happened.
 */
import * as net from 'node:net';
import { NodeEventLoop, type ExceptionContext, type Transport } from '../../lib/protocol';

export class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

export type ProtocolEvent =
  | ['cm']
  | ['dr', Buffer]
  | ['eof']
  | ['cl', Error | null]
  | ['pw']
  | ['rw'];

/**
 * Records connectionMade / dataReceived / eofReceived / connectionLost /
 * pauseWriting / resumeWriting, and resolves `lost` on connectionLost.
 */
export class RecordingProtocol {
  transport: Transport | null = null;
  readonly events: ProtocolEvent[] = [];
  readonly chunks: Buffer[] = [];
  readonly lost = new Deferred<Error | null>();
  readonly made = new Deferred<Transport>();
  #waiters: Array<{ bytes: number; deferred: Deferred<Buffer> }> = [];
  onData?: (data: Buffer, self: RecordingProtocol) => void;

  connectionMade(transport: Transport): void {
    this.transport = transport;
    this.events.push(['cm']);
    this.made.resolve(transport);
  }

  dataReceived(data: Buffer): void {
    this.events.push(['dr', data]);
    this.chunks.push(data);
    this.onData?.(data, this);
    this.#checkWaiters();
  }

  eofReceived(): void {
    this.events.push(['eof']);
  }

  connectionLost(exc: Error | null): void {
    this.events.push(['cl', exc]);
    this.lost.resolve(exc);
  }

  pauseWriting(): void {
    this.events.push(['pw']);
  }

  resumeWriting(): void {
    this.events.push(['rw']);
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Event names in order, e.g. ['cm', 'dr', 'eof', 'cl']; consecutive 'dr' collapse. */
  get names(): string[] {
    const names: string[] = [];
    for (const [name] of this.events) if (!(name === 'dr' && names[names.length - 1] === 'dr')) names.push(name);
    return names;
  }

  /** Resolves once at least `bytes` bytes have arrived in total. */
  receivedAtLeast(bytes: number): Promise<Buffer> {
    const deferred = new Deferred<Buffer>();
    this.#waiters.push({ bytes, deferred });
    this.#checkWaiters();
    return deferred.promise;
  }

  #checkWaiters(): void {
    const total = this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    this.#waiters = this.#waiters.filter(({ bytes, deferred }) => {
      if (total < bytes) return true;
      deferred.resolve(this.received);
      return false;
    });
  }
}

/** A loop that collects exception-handler calls instead of logging them. */
export function recordingLoop(): { loop: NodeEventLoop; messages: ExceptionContext[] } {
  const loop = new NodeEventLoop();
  const messages: ExceptionContext[] = [];
  loop.setExceptionHandler((_loop, context) => messages.push(context));
  return { loop, messages };
}

/** A plain TCP server on 127.0.0.1:0; closes its sockets on `close()`. */
export async function listenRaw(onSocket: (socket: net.Socket) => void): Promise<{ port: number; close: () => Promise<void>; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves on the next turn of the loop after pending I/O callbacks. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Waits until `predicate()` holds, checking once per loop turn (no wall-clock assertions). */
export async function until(predicate: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 100000; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`gave up waiting for ${what}`);
}

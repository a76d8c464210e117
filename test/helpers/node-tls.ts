/**
 * Shared scaffolding for the tests ported from Node's test-tls-* and
 * test-https-* files: listening on 127.0.0.1:0 and tearing down every
 * server and stream a test made, after each test.
 */
import { once } from 'node:events';
import * as net from 'node:net';

export const HOST = '127.0.0.1';

let cleanups: Array<() => unknown> = [];

afterEach(async () => {
  const pending = cleanups.reverse();
  cleanups = [];
  for (const cleanup of pending) {
    try {
      await cleanup();
    } catch {
      // A failing destroy() is reported by the test that made the stream.
    }
  }
});

/** Runs `cleanup` after the current test. */
export function atCleanup(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

/** Listens on 127.0.0.1:0; the server and every accepted socket go at cleanup. */
export async function listen(server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

/** Destroys `stream` at cleanup (an error it reports then is not the test's concern). */
export function track<T extends { destroy(): unknown; on(event: 'error', listener: () => void): unknown }>(stream: T): T {
  cleanups.push(() => {
    stream.on('error', () => undefined);
    stream.destroy();
  });
  return stream;
}

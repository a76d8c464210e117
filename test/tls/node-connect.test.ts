/**
 * Node's own tls.connect / TLSSocket tests, re-expressed against memtls/tls:
 * upgrading a given socket (connected, connecting, or not yet connecting), a
 * generic Duplex, the default host, attaching a TLSSocket to an accepted
 * socket late, highWaterMark, and what the client reports when the peer
 * closes before the handshake.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';

const key = readCert('server-ec.key');
const cert = readCert('server-ec.pem');
const ca = readCert('ca.pem');

/** Collects a readable's text until it ends. */
function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}

/** Two Duplex ends joined back to back, like Node's test/common/duplexpair. */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  for (let i = 0; i < 2; i++) {
    const self = i;
    ends.push(
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          ends[1 - self].push(chunk);
          callback();
        },
        final(callback) {
          ends[1 - self].push(null);
          callback();
        },
      }),
    );
  }
  return [ends[0], ends[1]];
}

describe('node tls: connect over a given socket', () => {
  // Ported from nodejs/node test/parallel/test-tls-connect-given-socket.js
  it('upgrades connected and still-connecting net.Sockets, and tolerates TLSSockets destroyed early', async () => {
    let secureConnections = 0;
    const server = tls.createServer({ key, cert }, (socket) => {
      secureConnections++;
      socket.end('Hello');
    });
    server.on('tlsClientError', () => undefined); // the clients destroyed early
    const port = await listen(server);

    const establish = (socket: net.Socket): tls.TLSSocket => {
      const client = track(tls.connect({ rejectUnauthorized: false, socket }));
      // Readable and writable at once, before any handshake.
      expect(client.readable).to.equal(true);
      expect(client.writable).to.equal(true);
      return client;
    };

    // A TLSSocket destroyed right away, over a socket still connecting.
    const dyingTcp = track(net.connect(port, HOST));
    const dying = establish(dyingTcp);
    let dyingSecure = false;
    dying.on('secureConnect', () => (dyingSecure = true));
    dying.destroy();

    // A TCP socket that outlives its TLSSocket: destroyed when TCP connects.
    const outlivingTcp = track(net.connect(port, HOST));
    const outliving = establish(outlivingTcp);
    let outlivingSecure = false;
    outliving.on('secureConnect', () => (outlivingSecure = true));
    outliving.on('error', () => undefined);
    await once(outlivingTcp, 'connect');
    outliving.destroy();

    // An already connected socket, and one still connecting.
    const connected = track(net.connect(port, HOST));
    await once(connected, 'connect');
    const fromConnected = establish(connected);
    const fromConnecting = establish(track(net.connect(port, HOST)));

    const [a, b] = await Promise.all([
      once(fromConnected, 'secureConnect').then(() => readAll(fromConnected)),
      once(fromConnecting, 'secureConnect').then(() => readAll(fromConnecting)),
    ]);
    expect(a).to.equal('Hello');
    expect(b).to.equal('Hello');
    expect(dyingSecure).to.equal(false);
    expect(outlivingSecure).to.equal(false);
    expect(secureConnections).to.equal(2);
  });
});

describe('node tls: connect({socket}) before the socket connects', () => {
  // Ported from nodejs/node test/parallel/test-tls-net-socket-keepalive.js
  it('waits for a net.Socket that connect() is called on afterwards, and closes cleanly half-open', async () => {
    const serverEvents: string[] = [];
    let serverClosed!: () => void;
    const serverDone = new Promise<void>((resolve) => (serverClosed = resolve));
    const server = tls.createServer({ key, cert }, (socket) => {
      socket.write('hello', () => serverEvents.push('write callback'));
      socket.on('data', () => serverEvents.push('data'));
      socket.on('end', () => serverEvents.push('end'));
      socket.on('close', () => serverClosed());
      socket.end();
    });
    const port = await listen(server);
    const raw = track(new net.Socket({ allowHalfOpen: true }));
    const client = track(tls.connect({ socket: raw, rejectUnauthorized: false }));
    raw.connect({ port, host: HOST });
    const clientEvents: string[] = [];
    client.on('secureConnect', () => clientEvents.push('secureConnect'));
    client.on('data', () => clientEvents.push('data'));
    client.on('end', () => clientEvents.push('end'));
    client.on('error', (error: Error & { code?: string }) => clientEvents.push(`error ${error.code ?? error.message}`));
    // The net.Socket itself must not fail (a write to it before it connects would).
    const rawErrors: string[] = [];
    const rawFailed = new Promise<void>((resolve) =>
      raw.once('error', (error: Error & { code?: string }) => {
        rawErrors.push(error.code ?? error.message);
        resolve();
      }),
    );
    client.write('hello');
    client.end();
    // The TLS socket closes first; should the TCP socket go first, stop waiting a turn later.
    const rawClosed = new Promise<void>((resolve) => raw.once('close', () => setImmediate(resolve)));
    await Promise.race([new Promise((resolve) => client.once('close', resolve)), rawFailed, rawClosed]);
    expect(rawErrors).to.deep.equal([]);
    expect(clientEvents).to.deep.equal(['secureConnect', 'data', 'end']);
    await serverDone;
    expect(serverEvents).to.include.members(['write callback', 'data', 'end']);
  });
});

describe('node tls: TLS over a generic stream', () => {
  // Ported from nodejs/node test/parallel/test-tls-generic-stream.js
  it('runs a client from connect({socket}) and a server TLSSocket over a Duplex pair', async () => {
    const [clientSide, serverSide] = duplexPair();
    const client = track(tls.connect({ socket: clientSide, ca, host: 'localhost' }));
    const server = track(new tls.TLSSocket(serverSide, { isServer: true, key, cert, ca }));
    expect(client.connecting).to.equal(false);
    expect(server.connecting).to.equal(false);

    await once(client, 'secureConnect');
    expect(client.authorized).to.equal(true);
    const received = new Promise<string>((resolve) => server.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    const written = new Promise<void>((resolve, reject) => client.write('foobar', (error) => (error ? reject(error) : resolve())));
    await written;
    expect(await received).to.equal('foobar');
  });
});

describe('node tls: connect without a host', () => {
  // Ported from nodejs/node test/parallel/test-tls-connect-no-host.js
  it("defaults the host to 'localhost', for the connection and for the identity check", async () => {
    const port = await listen(tls.createServer({ key, cert }));
    const lookedUp: string[] = [];
    // Resolve 'localhost' to the IPv4 loopback the server listens on.
    const lookup = (hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void): void => {
      lookedUp.push(hostname);
      if (options.all) callback(null, [{ address: HOST, family: 4 }]);
      else callback(null, HOST, 4);
    };
    const client = track(tls.connect({ port, ca, lookup } as tls.ConnectionOptions));
    await once(client, 'secureConnect');
    expect(lookedUp).to.deep.equal(['localhost']);
    expect(client.authorized).to.equal(true);
    expect(client.authorizationError).to.equal(null);
  });

  it('treats an own __proto__ key in the options as inert data, as node:tls does', async () => {
    const port = await listen(tls.createServer({ key, cert }));
    // JSON.parse makes "__proto__" an own key. Taken for the prototype, its
    // `socket` would make connect() wrap a plain object instead of connecting.
    const options = JSON.parse(`{"__proto__": {"socket": {}}, "port": ${port}, "host": "localhost", "servername": "localhost"}`) as tls.ConnectionOptions;
    const client = track(tls.connect(Object.assign(options, { ca })));
    await once(client, 'secureConnect');
    expect(client.authorized).to.equal(true);
  });

  it("emits the raw socket's 'lookup' on the TLSSocket, with node's arguments", async () => {
    const port = await listen(tls.createServer({ key, cert }));
    // Answers on a later turn, as dns.lookup does, so a listener added after
    // connect() returns can see the event.
    const lookup = (_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void): void => {
      setImmediate(() => (options.all ? callback(null, [{ address: HOST, family: 4 }]) : callback(null, HOST, 4)));
    };
    const client = track(tls.connect({ port, host: 'localhost', ca, lookup } as tls.ConnectionOptions));
    const events: unknown[][] = [];
    client.on('lookup', (...args: unknown[]) => events.push(args));
    await once(client, 'secureConnect');
    expect(events).to.deep.equal([[null, HOST, 4, 'localhost']]);
  });
});

describe('node tls: attaching a TLSSocket late', () => {
  // Ported from nodejs/node test/parallel/test-tls-delayed-attach.js
  it('handshakes over an accepted socket wrapped after the ClientHello has arrived', async () => {
    const sent = 'hello world';
    const secureContext = tls.createSecureContext({ key, cert });
    let received: Promise<string> | undefined;
    const attached = new Promise<void>((resolve) => {
      const server = net.createServer((raw) => {
        // Wait until the client's first flight is sitting in the socket.
        raw.once('readable', () => {
          const socket = track(new tls.TLSSocket(raw, { isServer: true, secureContext }));
          received = readAll(socket);
          resolve();
        });
      });
      void listen(server).then((port) => {
        const client = track(tls.connect(port, HOST, { rejectUnauthorized: false }, () => client.end(sent)));
      });
    });
    await attached;
    expect(await received).to.equal(sent);
  });
});

describe('node tls: the highWaterMark option of connect', () => {
  // Ported from nodejs/node test/parallel/test-tls-connect-hwm-option.js
  for (const [given, expected] of [
    [128000, 128000],
    [undefined, 16 * 1024],
    [0, 0],
  ] as const) {
    it(`highWaterMark ${String(given)} gives readableHighWaterMark ${expected}`, async () => {
      const port = await listen(tls.createServer({ key, cert }));
      const client = track(tls.connect({ port, host: HOST, rejectUnauthorized: false, highWaterMark: given }));
      await once(client, 'secureConnect');
      expect(client.readableHighWaterMark).to.equal(expected);
    });
  }
});

describe('node tls: the peer closing before the handshake', () => {
  // Ported from nodejs/node test/parallel/test-tls-wrap-econnreset.js
  it('fails the client with ECONNRESET carrying host and port, then closes it', async () => {
    const server = net.createServer((raw) => raw.end());
    const port = await listen(server);
    const client = track(tls.connect(port, HOST));
    let secure = false;
    client.on('secureConnect', () => (secure = true));
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException & { host?: string; port?: number; localAddress?: string }];
    expect(error.code).to.equal('ECONNRESET');
    expect(error.message).to.equal('Client network socket disconnected before secure TLS connection was established');
    expect(error.path).to.equal(undefined);
    expect(error.host).to.equal(HOST);
    expect(error.port).to.equal(port);
    expect(error.localAddress).to.equal(undefined);
    if (!client.closed) await once(client, 'close');
    expect(secure).to.equal(false);
  });
});

describe('node tls: the signal option', () => {
  // Behaviour of net.Socket's `signal` option, which tls.connect passes on.
  it('destroys the socket with an AbortError when the signal aborts', async () => {
    const server = tls.createServer({ key, cert }, (socket) => socket.resume());
    const port = await listen(server);
    const controller = new AbortController();
    const socket = track(tls.connect({ port, host: HOST, ca, servername: 'localhost', signal: controller.signal }));
    await once(socket, 'secureConnect');
    const failed = once(socket, 'error');
    controller.abort();
    const [error] = (await failed) as [Error & { code?: string }];
    expect(error.name).to.equal('AbortError');
    expect(error.code).to.equal('ABORT_ERR');
    if (!socket.closed) await once(socket, 'close');
    expect(socket.destroyed).to.equal(true);
  });
});

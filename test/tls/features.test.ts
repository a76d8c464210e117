/**
 * The handshake-time features of memtls/tls that run JavaScript while the
 * handshake waits: the server's ALPNCallback, OCSP stapling ('OCSPRequest' on
 * the server, requestOCSP and 'OCSPResponse' on the client), an external TLS
 * 1.2 session cache ('newSession' / 'resumeSession'), and the client's
 * `onread` static-buffer reads. Peers are node:tls and the openssl CLI.
 */
import { expect } from 'chai';
import { constants as cryptoConstants, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import * as nodeTls from 'node:tls';

import * as tls from '../../lib/tls';
import { readCert, certPath } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';
import { killOpensslChildren, runOpensslClient } from '../helpers/openssl-cli';

const ca = readCert('ca.pem');
const ec = { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') };
/** The same certificate with its issuer in the chain, so 'OCSPRequest' can name the issuer. */
const ecChain = { key: readCert('server-ec.key'), cert: readCert('server-ec-chain.pem') };
const alt = { key: readCert('alt.key'), cert: readCert('alt.pem') };

function der(pem: Buffer): Buffer {
  return new X509Certificate(pem).raw;
}

/** Resolves with the first 'tlsClientError' of `server`. */
function nextClientError(server: net.Server): Promise<Error & { code?: string }> {
  return new Promise((resolve) => server.once('tlsClientError', (error: Error) => resolve(error)));
}

/** Resolves with the error a client socket reports (or rejects if it connects). */
function clientFailure(socket: nodeTls.TLSSocket | tls.TLSSocket): Promise<Error & { code?: string }> {
  return new Promise((resolve, reject) => {
    socket.once('error', (error: Error) => resolve(error));
    socket.once('secureConnect', () => reject(new Error('the handshake should have failed')));
  });
}

describe('tls features: ALPNCallback', () => {
  afterEach(killOpensslChildren);

  type Seen = { servername: string | false; protocols: string[] };

  async function serve(callback: (info: Seen) => string | undefined): Promise<{ server: tls.Server; port: number; seen: Seen[] }> {
    const seen: Seen[] = [];
    const server = tls.createServer(
      {
        ...ec,
        ALPNCallback: (info) => {
          seen.push({ servername: info.servername, protocols: [...info.protocols] });
          return callback(info);
        },
      },
      (socket) => socket.end(`alpn=${String(socket.alpnProtocol)}`),
    );
    return { server, port: await listen(server), seen };
  }

  it('selects the protocol the callback returns, told the server name and the offered list', async () => {
    const { server, port, seen } = await serve(({ protocols }) => protocols[1]);
    const accepted = once(server, 'secureConnection');
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', ALPNProtocols: ['a', 'b', 'c'] }));
    await once(client, 'secureConnect');
    const [socket] = (await accepted) as [tls.TLSSocket];
    expect(client.alpnProtocol).to.equal('b');
    expect(socket.alpnProtocol).to.equal('b');
    expect(seen).to.deep.equal([{ servername: 'localhost', protocols: ['a', 'b', 'c'] }]);
  });

  it('passes servername false when the client sent no SNI', async () => {
    const { port, seen } = await serve(({ protocols }) => protocols[0]);
    const client = track(nodeTls.connect({ port, host: HOST, ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }));
    await once(client, 'secureConnect');
    expect(client.alpnProtocol).to.equal('h2');
    expect(seen).to.deep.equal([{ servername: false, protocols: ['h2'] }]);
  });

  it('is not called when the client offers no ALPN: no protocol is selected', async () => {
    const { server, port, seen } = await serve(() => 'never');
    const accepted = once(server, 'secureConnection');
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost' }));
    await once(client, 'secureConnect');
    const [socket] = (await accepted) as [tls.TLSSocket];
    expect(seen).to.deep.equal([]);
    expect(client.alpnProtocol).to.equal(false);
    expect(socket.alpnProtocol).to.equal(false);
  });

  it('fails the handshake with ERR_TLS_ALPN_CALLBACK_INVALID_RESULT for a protocol the client did not offer', async () => {
    const { server, port } = await serve(() => 'zz');
    const serverError = nextClientError(server);
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', ALPNProtocols: ['a', 'b'] }));
    const failure = clientFailure(client);
    const error = await serverError;
    expect(error.code).to.equal('ERR_TLS_ALPN_CALLBACK_INVALID_RESULT');
    expect(error.message).to.equal("ALPN callback returned a value (zz) that did not match any of the client's offered protocols (a, b)");
    await failure;
  });

  it('refuses the connection with no_application_protocol when the callback returns undefined (as node:tls)', async () => {
    const { server, port } = await serve(() => undefined);
    const serverError = nextClientError(server);
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', ALPNProtocols: ['a'] }));
    const failure = clientFailure(client);
    expect((await serverError).code).to.equal('ERR_SSL_NO_APPLICATION_PROTOCOL');
    expect((await failure).code).to.equal('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
  });

  it('reports an error thrown by the callback through tlsClientError', async () => {
    const { server, port } = await serve(() => {
      throw Object.assign(new Error('no protocol today'), { code: 'E_TEST_ALPN' });
    });
    const serverError = nextClientError(server);
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', ALPNProtocols: ['a'] }));
    const failure = clientFailure(client);
    const error = await serverError;
    expect(error.code).to.equal('E_TEST_ALPN');
    await failure;
  });

  it('works with an asynchronous SNICallback on the same server, and for openssl s_client', async () => {
    const server = tls.createServer({
      ...ec,
      SNICallback: (name, callback) => setImmediate(() => callback(null, tls.createSecureContext(alt))),
      ALPNCallback: ({ protocols }) => protocols.find((protocol) => protocol === 'http/1.1'),
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => socket.end());
    const port = await listen(server);
    const result = await runOpensslClient(['-connect', `${HOST}:${port}`, '-servername', 'alt.memtls.test', '-alpn', 'h2,http/1.1', '-CAfile', certPath('ca.pem')]);
    expect(result.output).to.match(/^ALPN protocol: http\/1\.1$/m);
    expect(result.output).to.match(/subject=.*CN ?= ?alt\.memtls\.test/);
    expect(result.output).to.match(/Verify return code: 0 \(ok\)/);
  });

  it('cannot be combined with ALPNProtocols, and must be a function', () => {
    expect(() => tls.createServer({ ...ec, ALPNCallback: () => 'a', ALPNProtocols: ['a'] }))
      .to.throw(TypeError)
      .with.property('code', 'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS');
    expect(() => tls.createServer({ ...ec, ALPNCallback: 'h2' as unknown as () => string }))
      .to.throw(TypeError)
      .with.property('code', 'ERR_INVALID_ARG_TYPE');
  });
});

describe('tls features: OCSP stapling', () => {
  const fakeResponse = Buffer.from('not really an OCSP response, but node:tls staples any bytes');

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`our client (requestOCSP) receives what a node:tls server stapled, before secureConnect (${version})`, async () => {
      const server = nodeTls.createServer({ ...ec, maxVersion: version }, (socket) => socket.end());
      server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, callback: (err: Error | null, response?: Buffer) => void) =>
        callback(null, fakeResponse),
      );
      const port = await listen(server);
      const events: string[] = [];
      const client = track(tls.connect({ port, host: HOST, ca, servername: 'localhost', requestOCSP: true }));
      const response = new Promise<Buffer | null>((resolve) =>
        client.once('OCSPResponse', (value: Buffer | null) => {
          events.push('OCSPResponse');
          resolve(value);
        }),
      );
      let protocol: string | null = null;
      client.once('secureConnect', () => {
        events.push('secureConnect');
        protocol = client.getProtocol();
      });
      await once(client, 'secureConnect');
      const stapled = await response;
      expect(stapled).to.be.instanceOf(Buffer);
      expect(stapled!.equals(fakeResponse)).to.equal(true);
      expect(events).to.deep.equal(['OCSPResponse', 'secureConnect']);
      expect(protocol).to.equal(version);
    });
  }

  it('our client gets OCSPResponse null when the server staples nothing, and no event without requestOCSP', async () => {
    const server = nodeTls.createServer(ec, (socket) => socket.end());
    const port = await listen(server);
    const asking = track(tls.connect({ port, host: HOST, ca, servername: 'localhost', requestOCSP: true }));
    const responses: Array<Buffer | null> = [];
    asking.on('OCSPResponse', (value: Buffer | null) => responses.push(value));
    await once(asking, 'secureConnect');
    expect(responses).to.deep.equal([null]);

    const silent = track(tls.connect({ port, host: HOST, ca, servername: 'localhost' }));
    let fired = false;
    silent.on('OCSPResponse', () => (fired = true));
    await once(silent, 'secureConnect');
    expect(fired).to.equal(false);
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`our server emits OCSPRequest(cert, issuer, cb), waits for cb and staples the answer for node:tls (${version})`, async () => {
      const server = tls.createServer({ ...ecChain, maxVersion: version }, (socket) => socket.end());
      const requests: Array<{ cert: Buffer; issuer: Buffer | null }> = [];
      server.on('OCSPRequest', (cert: Buffer, issuer: Buffer | null, callback: (err: Error | null, response?: Buffer) => void) => {
        requests.push({ cert, issuer });
        // Answer on a later turn: the handshake must wait for it.
        setTimeout(() => callback(null, fakeResponse), 5);
      });
      const port = await listen(server);
      const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', requestOCSP: true } as nodeTls.ConnectionOptions));
      const response = new Promise<Buffer | null>((resolve) => client.once('OCSPResponse', resolve));
      await once(client, 'secureConnect');
      const stapled = await response;
      expect(stapled).to.be.instanceOf(Buffer);
      expect(stapled!.equals(fakeResponse)).to.equal(true);
      expect(requests).to.have.length(1);
      expect(requests[0].cert.equals(der(ec.cert))).to.equal(true);
      expect(requests[0].issuer).to.be.instanceOf(Buffer);
      expect(requests[0].issuer!.equals(der(ca))).to.equal(true);
    });
  }

  it('our server does not emit OCSPRequest for a client that did not ask, and staples nothing when cb gives nothing', async () => {
    const server = tls.createServer(ec, (socket) => socket.end());
    let requests = 0;
    server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer | null, callback: (err: Error | null, response?: Buffer) => void) => {
      requests++;
      callback(null);
    });
    const port = await listen(server);
    const silent = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost' }));
    await once(silent, 'secureConnect');
    expect(requests).to.equal(0);

    const asking = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', requestOCSP: true } as nodeTls.ConnectionOptions));
    const response = new Promise<unknown>((resolve) => asking.once('OCSPResponse', resolve));
    await once(asking, 'secureConnect');
    expect(await response).to.equal(null);
    expect(requests).to.equal(1);
  });

  it('names the certificate chosen by SNICallback, and our client receives the stapled bytes', async () => {
    const server = tls.createServer({
      ...ec,
      SNICallback: (name, callback) => setImmediate(() => callback(null, name === 'alt.memtls.test' ? tls.createSecureContext(alt) : undefined)),
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => socket.end());
    const certificates: Buffer[] = [];
    server.on('OCSPRequest', (cert: Buffer, _issuer: Buffer | null, callback: (err: Error | null, response?: Buffer) => void) => {
      certificates.push(cert);
      callback(null, Buffer.from(`staple for ${new X509Certificate(cert).subject.replace(/\n/g, ', ')}`));
    });
    const port = await listen(server);
    const client = track(tls.connect({ port, host: HOST, ca, servername: 'alt.memtls.test', requestOCSP: true }));
    const response = new Promise<Buffer | null>((resolve) => client.once('OCSPResponse', resolve));
    await once(client, 'secureConnect');
    expect(certificates).to.have.length(1);
    expect(certificates[0].equals(der(alt.cert))).to.equal(true);
    expect((await response)?.toString()).to.equal(`staple for ${new X509Certificate(alt.cert).subject.replace(/\n/g, ', ')}`);
  });

  it('fails the handshake with the error given to the OCSPRequest callback', async () => {
    const server = tls.createServer(ec);
    server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer | null, callback: (err: Error | null) => void) =>
      setImmediate(() => callback(Object.assign(new Error('responder down'), { code: 'E_TEST_OCSP' }))),
    );
    const port = await listen(server);
    const serverError = nextClientError(server);
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', requestOCSP: true } as nodeTls.ConnectionOptions));
    const failure = clientFailure(client);
    expect((await serverError).code).to.equal('E_TEST_OCSP');
    await failure;
  });
});

describe('tls features: newSession / resumeSession (external TLS 1.2 session cache)', () => {
  afterEach(killOpensslChildren);

  interface Cache {
    server: tls.Server;
    port: number;
    store: Map<string, Buffer>;
    events: string[];
  }

  /** Our server with an in-memory cache; `delayDone` answers each event on a later turn. */
  async function cachingServer(options: tls.TlsServerOptions = {}): Promise<Cache> {
    const store = new Map<string, Buffer>();
    const events: string[] = [];
    const server = tls.createServer({ ...ec, ...options }, (socket) => {
      events.push(`secureConnection reused=${socket.isSessionReused()}`);
      socket.end('hello');
    });
    server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      events.push(`newSession ${id.toString('hex')}`);
      store.set(id.toString('hex'), data);
      setTimeout(done, 5);
    });
    server.on('resumeSession', (id: Buffer, callback: (err: Error | null, data?: Buffer | null) => void) => {
      events.push(`resumeSession ${id.toString('hex')}`);
      const data = store.get(id.toString('hex')) ?? null;
      setImmediate(() => callback(null, data));
    });
    return { server, port: await listen(server), store, events };
  }

  /** One node:tls TLS 1.2 connection; resolves with whether it resumed and the session it got. */
  async function connect12(port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer }> {
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', maxVersion: 'TLSv1.2', session }));
    let received: Buffer | undefined;
    client.on('session', (fresh: Buffer) => (received = fresh));
    await once(client, 'secureConnect');
    const reused = client.isSessionReused();
    client.resume();
    if (!client.closed) await once(client, 'close');
    // A TLS 1.2 client gets a session from a full handshake; a resumed one keeps its own.
    expect(received !== undefined).to.equal(!reused);
    return { reused, session: received ?? session! };
  }

  it('stores the session through newSession and resumes it through resumeSession with the same id', async () => {
    const { port, store, events } = await cachingServer({ secureOptions: cryptoConstants.SSL_OP_NO_TICKET });
    const first = await connect12(port);
    expect(first.reused).to.equal(false);
    expect(store.size).to.equal(1);
    const [id] = [...store.keys()];
    expect(Buffer.from(id, 'hex')).to.have.length(32);

    const second = await connect12(port, first.session);
    expect(second.reused).to.equal(true);
    // 'secureConnection' of the first connection waited for done().
    expect(events).to.deep.equal([
      `newSession ${id}`,
      'secureConnection reused=false',
      `resumeSession ${id}`,
      'secureConnection reused=true',
    ]);
  });

  it("holds the server's last handshake flight until newSession's done() is called", async () => {
    const order: string[] = [];
    const server = tls.createServer({ ...ec, secureOptions: cryptoConstants.SSL_OP_NO_TICKET }, (socket) => {
      order.push('secureConnection');
      socket.end();
    });
    server.on('newSession', (_id: Buffer, _data: Buffer, done: () => void) => {
      order.push('newSession');
      setTimeout(() => {
        order.push('done');
        done();
      }, 20);
    });
    const port = await listen(server);
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', maxVersion: 'TLSv1.2' }));
    await once(client, 'secureConnect');
    order.push('client secureConnect');
    // The client cannot finish before our Finished, sent only after done().
    expect(order.slice(0, 2)).to.deep.equal(['newSession', 'done']);
    expect(order).to.include.members(['secureConnection', 'client secureConnect']);
  });

  it('makes a full handshake when resumeSession finds nothing, and fails it on a callback error', async () => {
    const { server, port, store, events } = await cachingServer({ secureOptions: cryptoConstants.SSL_OP_NO_TICKET });
    const first = await connect12(port);
    store.clear();
    const second = await connect12(port, first.session);
    expect(second.reused).to.equal(false);
    expect(events.filter((event) => event.startsWith('resumeSession'))).to.have.length(1);
    expect(events.filter((event) => event.startsWith('newSession'))).to.have.length(2);

    server.removeAllListeners('resumeSession');
    server.on('resumeSession', (_id: Buffer, callback: (err: Error | null) => void) =>
      callback(Object.assign(new Error('cache offline'), { code: 'E_TEST_CACHE' })),
    );
    const serverError = nextClientError(server);
    const client = track(nodeTls.connect({ port, host: HOST, ca, servername: 'localhost', maxVersion: 'TLSv1.2', session: second.session }));
    const failure = clientFailure(client);
    expect((await serverError).code).to.equal('E_TEST_CACHE');
    await failure;
  });

  it('leaves ticket resumption to tickets: no event fires when the client resumes from a ticket (as node:tls)', async () => {
    const { events } = await cachingServer().then(async (cache) => {
      const first = await connect12(cache.port);
      const second = await connect12(cache.port, first.session);
      expect(second.reused).to.equal(true);
      return cache;
    });
    expect(events).to.deep.equal(['secureConnection reused=false', 'secureConnection reused=true']);
  });

  it('resumes openssl s_client -no_ticket -reconnect through the external cache', async () => {
    const { port, store, events } = await cachingServer();
    const result = await runOpensslClient(
      ['-connect', `${HOST}:${port}`, '-tls1_2', '-no_ticket', '-servername', 'localhost', '-CAfile', certPath('ca.pem'), '-reconnect'],
    );
    expect(result.code, result.output).to.equal(0);
    expect(result.output.match(/^Reused, /gm) ?? [], result.output).to.have.length(5);
    expect(store.size).to.equal(1);
    const [id] = [...store.keys()];
    expect(events.filter((event) => event === `resumeSession ${id}`)).to.have.length(5);
    expect(events.filter((event) => event === 'secureConnection reused=true')).to.have.length(5);
  });
});

describe('tls features: onread', () => {
  const payload = Buffer.alloc(100 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;

  async function sendingServer(): Promise<number> {
    const server = nodeTls.createServer(ec, (socket) => {
      socket.on('error', () => undefined);
      socket.end(payload);
    });
    return listen(server);
  }

  it('delivers plaintext into one static buffer through the callback, with no data events', async () => {
    const port = await sendingServer();
    const buffer = Buffer.alloc(1024);
    const chunks: Buffer[] = [];
    let sameBuffer = true;
    let largest = 0;
    const client = track(
      tls.connect({
        port,
        host: HOST,
        ca,
        servername: 'localhost',
        onread: {
          buffer,
          callback: (nread, buf) => {
            sameBuffer &&= buf === buffer;
            largest = Math.max(largest, nread);
            chunks.push(Buffer.from(buf.subarray(0, nread)));
          },
        },
      }),
    );
    let dataEvents = 0;
    client.on('data', () => dataEvents++);
    await once(client, 'end');
    expect(Buffer.concat(chunks).equals(payload)).to.equal(true);
    expect(sameBuffer).to.equal(true);
    expect(largest).to.be.at.most(buffer.length);
    expect(client.bytesRead).to.equal(payload.length);
    expect(dataEvents).to.equal(0);
  });

  it('asks a buffer function for each next buffer, and pauses while the callback returns false until resume()', async () => {
    const port = await sendingServer();
    const pool = [Buffer.alloc(4096), Buffer.alloc(4096), Buffer.alloc(4096)];
    let next = 0;
    const chunks: Buffer[] = [];
    const used = new Set<Uint8Array>();
    let pauses = 0;
    let callsWhilePaused = 0;
    let paused = false;
    const client = track(
      tls.connect({
        port,
        host: HOST,
        ca,
        servername: 'localhost',
        onread: {
          buffer: () => pool[next++ % pool.length],
          callback: (nread, buf) => {
            if (paused) callsWhilePaused++;
            used.add(buf);
            chunks.push(Buffer.from(buf.subarray(0, nread)));
            if (chunks.length % 5 === 0) {
              // Stop reading; start again on a later turn.
              pauses++;
              paused = true;
              setImmediate(() => {
                paused = false;
                client.resume();
              });
              return false;
            }
            return true;
          },
        },
      }),
    );
    await once(client, 'end');
    expect(Buffer.concat(chunks).equals(payload)).to.equal(true);
    expect(used.size).to.equal(pool.length);
    expect(pauses).to.be.above(0);
    expect(callsWhilePaused).to.equal(0);
  });

  it('is ignored when tls.connect is given a socket: data events as usual', async () => {
    const port = await sendingServer();
    const raw = track(net.connect(port, HOST));
    await once(raw, 'connect');
    let calls = 0;
    const client = track(
      tls.connect({ socket: raw, ca, servername: 'localhost', onread: { buffer: Buffer.alloc(512), callback: () => void calls++ } }),
    );
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(client, 'end');
    expect(Buffer.concat(chunks).equals(payload)).to.equal(true);
    expect(calls).to.equal(0);
  });
});

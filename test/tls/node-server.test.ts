/**
 * Node's own tests of what a tls.Server reports for connections that never
 * become secure (garbage, a reset, a stalled client), re-expressed against
 * memtls/tls, plus an ECDHE handshake with a chosen curve against openssl
 * s_client.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';
import { killOpensslChildren, runOpensslClient } from '../helpers/openssl-cli';

const key = readCert('server-ec.key');
const cert = readCert('server-ec.pem');

afterEach(killOpensslChildren);

/** A server whose secureConnection must never fire; resolves its first tlsClientError. */
async function failingServer(options: tls.TlsServerOptions): Promise<{ port: number; clientError: Promise<[Error & { code?: string }, tls.TLSSocket]>; secured: () => number }> {
  let secured = 0;
  const server = tls.createServer(options, () => secured++);
  const clientError = new Promise<[Error & { code?: string }, tls.TLSSocket]>((resolve) => {
    server.once('tlsClientError', (error: Error, socket: tls.TLSSocket) => resolve([error, socket]));
  });
  const port = await listen(server);
  return { port, clientError, secured: () => secured };
}

describe('node tls: a failed handshake on the server', () => {
  // Ported from nodejs/node test/parallel/test-tls-server-failed-handshake-emits-clienterror.js
  it("emits 'tlsClientError' with an OpenSSL error for a client sending garbage", async () => {
    const { port, clientError, secured } = await failingServer({ key, cert });
    const raw = track(net.connect(port, HOST, () => raw.write(Buffer.alloc(1024, 42))));
    raw.on('error', () => undefined);
    const [error, socket] = await clientError;
    expect(error).to.be.instanceOf(Error);
    expect(error.code).to.be.oneOf(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_UNKNOWN_PROTOCOL']);
    expect(error.message).to.match(/wrong version number|unknown protocol/i);
    expect(socket).to.be.instanceOf(tls.TLSSocket);
    expect(secured()).to.equal(0);
  });
});

describe('node tls: a client resetting before the handshake', () => {
  // Ported from nodejs/node test/parallel/test-tls-econnreset.js
  it("emits 'tlsClientError' ECONNRESET 'socket hang up' with the socket", async () => {
    const { port, clientError, secured } = await failingServer({ key, cert });
    const raw = track(net.connect(port, HOST, () => raw.destroy()));
    let rawError: Error | undefined;
    raw.on('error', (error) => (rawError = error));
    const [error, socket] = await clientError;
    expect(error.message).to.match(/socket hang up/);
    expect(error.code).to.equal('ECONNRESET');
    expect(socket).to.be.instanceOf(tls.TLSSocket);
    expect(rawError).to.equal(undefined);
    expect(secured()).to.equal(0);
  });
});

describe('node tls: the server handshakeTimeout option', () => {
  // Ported from nodejs/node test/parallel/test-tls-timeout-server.js
  it("emits 'tlsClientError' ERR_TLS_HANDSHAKE_TIMEOUT for a client that never says hello", async () => {
    const { port, clientError, secured } = await failingServer({ key, cert, handshakeTimeout: 50 });
    const raw = track(net.connect(port, HOST));
    raw.on('error', () => undefined);
    const [error, socket] = await clientError;
    expect(error.code).to.equal('ERR_TLS_HANDSHAKE_TIMEOUT');
    expect(error.message).to.equal('TLS handshake timeout');
    expect(socket).to.be.instanceOf(tls.TLSSocket);
    socket.destroy();
    // The server side gives the connection up: the client sees it close.
    if (!raw.closed) await once(raw, 'close');
    expect(secured()).to.equal(0);
  });
});

describe('node tls: ECDHE with a chosen curve', () => {
  // Ported from nodejs/node test/parallel/test-tls-ecdh.js
  it('serves openssl s_client with ECDHE-RSA-AES128-SHA256 over prime256v1', async () => {
    const reply = 'I AM THE WALRUS';
    const ciphers = '-ALL:ECDHE-RSA-AES128-SHA256';
    const server = tls.createServer(
      { key: readCert('server-rsa.key'), cert: readCert('server-rsa.pem'), ciphers, ecdhCurve: 'prime256v1' },
      (socket) => socket.end(reply),
    );
    const port = await listen(server);
    const result = await runOpensslClient(['-connect', `${HOST}:${port}`, '-cipher', ciphers, '-tls1_2', '-ign_eof']);
    expect(result.code).to.equal(0);
    expect(result.output).to.include(reply);
    expect(result.output).to.match(/ECDHE-RSA-AES128-SHA256/);
    expect(result.output).to.match(/prime256v1|P-256/);
  });
});

describe('node tls: server options parsed from JSON', () => {
  it('treats an own __proto__ key as inert data, as node:tls does', async () => {
    const ca = readCert('ca.pem');
    /** The readableHighWaterMark of the server's side of one connection. */
    async function acceptedHighWaterMark(options: tls.TlsServerOptions): Promise<number> {
      const server = tls.createServer(options);
      const port = await listen(server);
      const accepted = once(server, 'secureConnection');
      track(tls.connect({ port, host: HOST, servername: 'localhost', ca }));
      const [socket] = (await accepted) as [tls.TLSSocket];
      return socket.readableHighWaterMark;
    }
    const usual = await acceptedHighWaterMark({ key, cert });
    // JSON.parse makes "__proto__" an own key; taken for the prototype of a
    // connection's options, its highWaterMark would reach the socket.
    const parsed = Object.assign(JSON.parse('{"__proto__": {"highWaterMark": 7}}') as tls.TlsServerOptions, { key, cert });
    expect(await acceptedHighWaterMark(parsed)).to.equal(usual);
    expect(usual).to.not.equal(7);
  });
});

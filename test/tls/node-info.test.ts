/**
 * Node's own tests of what a secure TLSSocket reports about itself,
 * re-expressed against memtls/tls: getCipher, getProtocol,
 * getFinished/getPeerFinished and exportKeyingMaterial.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';

const ec = { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') };
const rsa = { key: readCert('server-rsa.key'), cert: readCert('server-rsa.pem') };

async function secureClient(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const client = track(tls.connect({ port, host: HOST, rejectUnauthorized: false, ...options }));
  await once(client, 'secureConnect');
  return client;
}

describe('node tls: getCipher', () => {
  // Ported from nodejs/node test/parallel/test-tls-getcipher.js
  it('names the TLS 1.2 suite the client asked for, in OpenSSL and IANA spelling', async () => {
    const port = await listen(tls.createServer({ ...rsa, honorCipherOrder: true }));
    for (const [name, standardName] of [
      ['AES128-SHA256', 'TLS_RSA_WITH_AES_128_CBC_SHA256'],
      ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
    ]) {
      const client = await secureClient(port, { ciphers: name, maxVersion: 'TLSv1.2' });
      expect(client.getCipher()).to.deep.equal({ name, standardName, version: 'TLSv1.2' });
      client.end();
    }
  });

  it('names a TLS 1.3 suite by its single name', async () => {
    const port = await listen(tls.createServer({ ...rsa, ciphers: 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_8_SHA256', maxVersion: 'TLSv1.3' }));
    const client = await secureClient(port, { ciphers: 'TLS_AES_128_CCM_8_SHA256', maxVersion: 'TLSv1.3' });
    expect(client.getCipher()).to.deep.equal({ name: 'TLS_AES_128_CCM_8_SHA256', standardName: 'TLS_AES_128_CCM_8_SHA256', version: 'TLSv1.3' });
  });
});

describe('node tls: getProtocol', () => {
  // Ported from nodejs/node test/parallel/test-tls-getprotocol.js (TLSv1 and
  // TLSv1.1 are left out: memtls offers TLS 1.2 and 1.3 only)
  for (const [options, version] of [
    [{ secureProtocol: 'TLSv1_2_method' }, 'TLSv1.2'],
    [{ maxVersion: 'TLSv1.2' }, 'TLSv1.2'],
    [{ minVersion: 'TLSv1.3' }, 'TLSv1.3'],
  ] as Array<[tls.ConnectionOptions, string]>) {
    it(`reports ${version} for ${JSON.stringify(options)}, and null once closed`, async () => {
      let serverSaw!: (protocol: string | null) => void;
      const serverProtocol = new Promise<string | null>((resolve) => (serverSaw = resolve));
      const port = await listen(tls.createServer({ ...ec, secureProtocol: 'TLS_method' }, (socket) => serverSaw(socket.getProtocol())));
      const client = await secureClient(port, options);
      expect(client.getProtocol()).to.equal(version);
      expect(await serverProtocol).to.equal(version);
      client.resume();
      client.end();
      await once(client, 'close');
      expect(client.getProtocol()).to.equal(null);
    });
  }
});

describe('node tls: getFinished and getPeerFinished', () => {
  // Ported from nodejs/node test/parallel/test-tls-finished.js
  it('are undefined before the handshake, then the Finished messages, mirrored between the ends', async () => {
    let serverSide: { own?: Buffer; peer?: Buffer } = {};
    const port = await listen(
      tls.createServer(ec, (socket) => {
        serverSide = { own: socket.getFinished(), peer: socket.getPeerFinished() };
      }),
    );
    const client = track(tls.connect({ port, host: HOST, rejectUnauthorized: false }));
    expect(client.getFinished()).to.equal(undefined);
    expect(client.getPeerFinished()).to.equal(undefined);
    await once(client, 'secureConnect');
    const own = client.getFinished()!;
    const peer = client.getPeerFinished()!;
    client.end();
    await once(client, 'close');
    for (const message of [own, peer, serverSide.own!, serverSide.peer!]) {
      expect(message).to.be.instanceOf(Buffer);
      expect(message.length).to.be.above(0);
    }
    expect(serverSide.own!.equals(peer)).to.equal(true);
    expect(serverSide.peer!.equals(own)).to.equal(true);
  });
});

describe('node tls: exportKeyingMaterial', () => {
  // Ported from nodejs/node test/parallel/test-tls-exportkeyingmaterial.js
  it('throws before the handshake, validates its arguments, and agrees with the peer', async () => {
    const secureContext = tls.createSecureContext(ec);
    let serverSocket: tls.TLSSocket | undefined;
    let beforeHandshake: unknown;
    let serverSecure!: () => void;
    const serverReady = new Promise<void>((resolve) => (serverSecure = resolve));
    const server = net.createServer((raw) => {
      serverSocket = track(new tls.TLSSocket(raw, { isServer: true, server, secureContext }));
      try {
        serverSocket.exportKeyingMaterial(128, 'label');
      } catch (error) {
        beforeHandshake = error;
      }
      serverSocket.once('secure', () => serverSecure());
    });
    const port = await listen(server);
    const client = track(tls.connect({ port, host: HOST, rejectUnauthorized: false }));
    await Promise.all([serverReady, once(client, 'secureConnect')]);
    const socket = serverSocket!;

    expect(beforeHandshake).to.be.instanceOf(Error);
    expect((beforeHandshake as { code?: string }).code).to.equal('ERR_TLS_INVALID_STATE');

    const label = 'client finished';
    const plain = socket.exportKeyingMaterial(128, label);
    const withContext = socket.exportKeyingMaterial(128, label, Buffer.from([0, 1, 2, 3]));
    const emptyContext = socket.exportKeyingMaterial(128, label, Buffer.alloc(0));
    expect(plain).to.have.length(128);
    expect(withContext).to.have.length(128);
    expect(emptyContext).to.have.length(128);
    expect(plain.equals(withContext)).to.equal(false);
    // Both ends derive the same material.
    expect(client.exportKeyingMaterial(128, label).equals(plain)).to.equal(true);
    expect(client.exportKeyingMaterial(128, label, Buffer.from([0, 1, 2, 3])).equals(withContext)).to.equal(true);

    // Node's argument checks: [arguments, error class, code].
    const invalid: Array<[unknown[], string, string]> = [
      [[128, label, 'stringAsContextNotSupported'], 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [[128, label, 1234], 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [[10, null], 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [['length', 1234], 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [[-3, 'a'], 'RangeError', 'ERR_OUT_OF_RANGE'],
      [[0, 'a'], 'RangeError', 'ERR_OUT_OF_RANGE'],
    ];
    const mismatches: string[] = [];
    for (const [args, name, code] of invalid) {
      let outcome = 'returned';
      try {
        (socket.exportKeyingMaterial as (...a: unknown[]) => Buffer)(...args);
      } catch (error) {
        outcome = `${(error as Error).name} ${String((error as { code?: string }).code)}`;
      }
      if (outcome !== `${name} ${code}`) mismatches.push(`${JSON.stringify(args)}: expected ${name} ${code}, got ${outcome}`);
    }
    expect(mismatches).to.deep.equal([]);
  });
});

describe('node tls: the ciphers option', () => {
  // Ported from nodejs/node test/parallel/test-tls-set-ciphers.js
  type Outcome = { cipher?: string; clientError?: string; serverError?: string };
  const codeOf = (error: unknown): string => String((error as { code?: string }).code ?? (error as Error).message);

  /**
   * One handshake between a server and a client with the given `ciphers`.
   * As in Node's test, a side whose list names no TLS 1.3 suite is capped at
   * TLS 1.2 unless `maxVersion` says otherwise.
   */
  async function handshake(clientCiphers: unknown, serverCiphers: unknown, maxVersion?: 'TLSv1.3'): Promise<Outcome> {
    const cap = (ciphers: unknown): 'TLSv1.2' | 'TLSv1.3' =>
      maxVersion ?? (typeof ciphers === 'string' && ciphers.length > 0 && !ciphers.includes('TLS_') ? 'TLSv1.2' : 'TLSv1.3');
    const reply = 'So long and thanks for all the fish.';
    let serverCipher: string | undefined;
    let serverError: string | undefined;
    let server: tls.Server;
    try {
      server = tls.createServer({ ...rsa, ciphers: serverCiphers as string, maxVersion: cap(serverCiphers) }, (socket) => {
        serverCipher = socket.getCipher()?.name;
        socket.end(reply);
      });
    } catch (error) {
      return { serverError: codeOf(error) };
    }
    server.on('tlsClientError', (error: Error) => (serverError ??= codeOf(error)));
    const port = await listen(server);
    let client: tls.TLSSocket;
    try {
      client = track(
        tls.connect({ port, host: HOST, ca: readCert('ca.pem'), checkServerIdentity: () => undefined, ciphers: clientCiphers as string, maxVersion: cap(clientCiphers) }),
      );
    } catch (error) {
      return { clientError: codeOf(error) };
    }
    let clientError: string | undefined;
    let text = '';
    client.on('error', (error: Error) => (clientError ??= codeOf(error)));
    client.on('data', (chunk: Buffer) => (text += chunk.toString()));
    let clientCipher: string | undefined;
    client.once('secureConnect', () => (clientCipher = client.getCipher()?.name));
    if (!client.closed) await new Promise((resolve) => client.once('close', resolve));
    // The server side reports a failed handshake once its socket is gone too.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (clientError === undefined && serverError === undefined) {
      expect(text).to.equal(reply);
      expect(serverCipher).to.equal(clientCipher);
      return { cipher: clientCipher };
    }
    return { ...(clientError ? { clientError } : {}), ...(serverError ? { serverError } : {}) };
  }

  const U = undefined;
  const noSharedCipher = { clientError: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', serverError: 'ERR_SSL_NO_SHARED_CIPHER' };
  const rows: Array<[string, unknown, unknown, Outcome, 'TLSv1.3'?]> = [
    ['a TLS 1.2 suite set on the server', U, 'AES256-SHA', { cipher: 'AES256-SHA' }],
    ['a TLS 1.2 suite set on the client', 'AES256-SHA', U, { cipher: 'AES256-SHA' }],
    ['a TLS 1.3 suite set on the server', U, 'TLS_AES_256_GCM_SHA384', { cipher: 'TLS_AES_256_GCM_SHA384' }],
    ['a TLS 1.3 suite set on the client', 'TLS_AES_256_GCM_SHA384', U, { cipher: 'TLS_AES_256_GCM_SHA384' }],
    ['disjoint TLS 1.3 suites', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', noSharedCipher],
    ['disjoint TLS 1.2 suites', 'AES256-SHA', 'AES256-SHA256', noSharedCipher],
    ['disjoint mixed lists', 'AES256-SHA:TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256:AES256-SHA256', noSharedCipher],
    ['TLS 1.3 preferred over an earlier TLS 1.2 entry (client list)', 'AES256-SHA:TLS_AES_256_GCM_SHA384', U, { cipher: 'TLS_AES_256_GCM_SHA384' }],
    ['TLS 1.3 preferred over an earlier TLS 1.2 entry (server list)', U, 'AES256-SHA:TLS_AES_256_GCM_SHA384', { cipher: 'TLS_AES_256_GCM_SHA384' }],
    ['a TLS 1.2-only client list keeps the default TLS 1.3 suites', 'AES256-SHA', U, { cipher: 'TLS_AES_256_GCM_SHA384' }, 'TLSv1.3'],
    ['a TLS 1.2-only server list keeps the default TLS 1.3 suites', U, 'AES256-SHA', { cipher: 'TLS_AES_256_GCM_SHA384' }, 'TLSv1.3'],
    ['a suite the server does not enable by default', 'TLS_AES_128_CCM_8_SHA256', U, noSharedCipher],
    ['that suite enabled on both ends', 'TLS_AES_128_CCM_8_SHA256', 'TLS_AES_128_CCM_8_SHA256', { cipher: 'TLS_AES_128_CCM_8_SHA256' }],
    ['a number on the client', 9, 'AES256-SHA', { clientError: 'ERR_INVALID_ARG_TYPE' }],
    ['a number on the server', 'AES256-SHA', 9, { serverError: 'ERR_INVALID_ARG_TYPE' }],
    ['an empty list on the client', ':', 'AES256-SHA', { clientError: 'ERR_INVALID_ARG_VALUE' }],
    ['an empty list on the server', 'AES256-SHA', ':', { serverError: 'ERR_INVALID_ARG_VALUE' }],
    ["'' on the server means the defaults", 'TLS_AES_256_GCM_SHA384', '', { cipher: 'TLS_AES_256_GCM_SHA384' }],
    ["'' on the client means the defaults", '', 'TLS_AES_256_GCM_SHA384', { cipher: 'TLS_AES_256_GCM_SHA384' }],
    ['null on the client means the defaults', null, 'AES256-SHA', { cipher: 'AES256-SHA' }],
    ['null on the server means the defaults', 'AES256-SHA', null, { cipher: 'AES256-SHA' }],
  ];
  for (const [name, clientCiphers, serverCiphers, expected, maxVersion] of rows) {
    it(`${name}: client ${JSON.stringify(clientCiphers)}, server ${JSON.stringify(serverCiphers)}`, async () => {
      expect(await handshake(clientCiphers, serverCiphers, maxVersion)).to.deep.equal(expected);
    });
  }
});

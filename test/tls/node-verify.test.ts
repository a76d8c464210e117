/**
 * Node's own certificate verification tests, re-expressed against
 * memtls/tls with memtls's test certificates: rejectUnauthorized on the
 * client, which CAs authorize which servers, and client certificates
 * (requestCert) with the errors each side reports.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';

const ca = readCert('ca.pem');
const otherCa = readCert('other-ca.pem');
const server = { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') };
/** server-ec's certificate followed by the CA that issued it. */
const serverWithCa = { key: readCert('server-ec.key'), cert: readCert('server-ec-chain.pem') };
const client = { key: readCert('client.key'), cert: readCert('client.pem') };

type CodedError = Error & { code?: string };

interface End {
  conn?: tls.TLSSocket;
  err?: CodedError;
}

/**
 * One echo server and one client, as Node's test/fixtures/tls-connect.js:
 * resolves once each side has either a secure socket or an error.
 */
async function connectPair(serverOptions: tls.TlsServerOptions, clientOptions: tls.ConnectionOptions): Promise<{ server: End; client: End }> {
  const result = { server: {} as End, client: {} as End };
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const check = (): void => {
    if (result.server.conn && result.client.conn) settle();
  };
  let srv: tls.Server;
  try {
    srv = tls.createServer(serverOptions, (conn) => {
      result.server.conn = conn;
      conn.on('error', () => undefined);
      conn.pipe(conn);
      check();
    });
  } catch (error) {
    // Options the server refuses: reported like a failed handshake.
    result.server.err = error as CodedError;
    return result;
  }
  srv.on('tlsClientError', (err: CodedError, conn: tls.TLSSocket) => {
    result.server.err ??= err;
    result.server.conn = conn;
    check();
  });
  // A side that closes without reporting anything must not hang the test:
  // once the client and every server-side socket have closed, settle.
  let open = 0;
  let clientClosed = false;
  const closedEverywhere = (): void => {
    if (clientClosed && open === 0) setImmediate(settle);
  };
  srv.on('connection', (raw: net.Socket) => {
    open++;
    raw.once('close', () => {
      open--;
      closedEverywhere();
    });
  });
  const port = await listen(srv);
  let conn: tls.TLSSocket;
  try {
    conn = track(tls.connect({ port, host: HOST, ...clientOptions }));
  } catch (error) {
    result.client.err = error as CodedError;
    return result;
  }
  conn.once('close', () => {
    clientClosed = true;
    closedEverywhere();
  });
  conn.on('secureConnect', () => {
    result.client.conn = conn;
    check();
  });
  conn.on('error', (err: CodedError) => {
    result.client.err ??= err;
    result.client.conn = conn;
    check();
  });
  await settled;
  return result;
}

describe('node tls: client rejectUnauthorized', () => {
  // Ported from nodejs/node test/parallel/test-tls-client-reject.js
  let port: number;

  beforeEach(async () => {
    const srv = tls.createServer(server, (socket) => socket.pipe(socket));
    port = await listen(srv);
  });

  async function echo(socket: tls.TLSSocket): Promise<string> {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.end('ok');
    await once(socket, 'end');
    return text;
  }

  it('connects unauthorized with rejectUnauthorized: false', async () => {
    const socket = track(tls.connect({ port, host: HOST, servername: 'localhost', rejectUnauthorized: false }));
    await once(socket, 'secureConnect');
    expect(socket.authorized).to.equal(false);
    expect(socket.authorizationError).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(await echo(socket)).to.equal('ok');
  });

  it('fails, with no secureConnect and no data, when the CA is unknown', async () => {
    const socket = track(tls.connect(port, HOST, { servername: 'localhost' }));
    const events: string[] = [];
    socket.on('secureConnect', () => events.push('secureConnect'));
    socket.on('data', () => events.push('data'));
    socket.end('ng');
    const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [CodedError];
    expect(error.code).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    if (!socket.closed) await once(socket, 'close');
    expect(events).to.deep.equal([]);
  });

  it('connects authorized when the CA is given', async () => {
    const socket = track(tls.connect(port, HOST, { ca: [ca], servername: 'localhost' }));
    await once(socket, 'secureConnect');
    expect(socket.authorized).to.equal(true);
    expect(socket.authorizationError).to.equal(null);
    expect(await echo(socket)).to.equal('ok');
  });
});

describe('node tls: which CAs authorize which servers', () => {
  // Ported from nodejs/node test/parallel/test-tls-client-verify.js
  const servers = {
    'server-ec (issued by ca)': { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') },
    'self-signed': { key: readCert('self-signed.key'), cert: readCert('self-signed.pem') },
    'unknown-ca (issued by other-ca)': { key: readCert('unknown-ca.key'), cert: readCert('unknown-ca.pem') },
  };
  const cases: Array<{ name: string; ca: Buffer[]; ok: boolean[] }> = [
    { name: 'ca', ca: [ca], ok: [true, false, false] },
    { name: 'no CA', ca: [], ok: [false, false, false] },
    { name: 'ca + other-ca', ca: [ca, otherCa], ok: [true, false, true] },
  ];
  for (const testCase of cases) {
    Object.entries(servers).forEach(([serverName, credentials], index) => {
      const ok = testCase.ok[index];
      it(`with ${testCase.name}: ${serverName} is ${ok ? '' : 'not '}authorized`, async () => {
        const srv = tls.createServer(credentials, (socket) => socket.end('hello world\n'));
        const port = await listen(srv);
        const socket = track(tls.connect({ port, host: HOST, ca: testCase.ca, ...client, rejectUnauthorized: false }));
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        await once(socket, 'secureConnect');
        const authorized = socket.authorized || socket.authorizationError === 'ERR_TLS_CERT_ALTNAME_INVALID';
        expect(authorized).to.equal(ok);
        await once(socket, 'end');
        expect(text).to.equal('hello world\n');
      });
    });
  }
});

describe('node tls: client certificates', () => {
  // Ported from nodejs/node test/parallel/test-tls-client-auth.js
  // (the cases with intermediate CAs are left out: memtls's test PKI has none)
  it('authorizes both sides when each trusts the other', async () => {
    const pair = await connectPair({ ...server, ca, requestCert: true }, { ...client, ca });
    expect(pair.client.err).to.equal(undefined);
    expect(pair.server.err).to.equal(undefined);
    expect(pair.client.conn!.authorized).to.equal(true);
    expect(pair.server.conn!.authorized).to.equal(true);
    expect((pair.server.conn!.getPeerCertificate() as { subject?: { CN?: string } } | null)?.subject?.CN).to.equal('memtls client');
  });

  it('connects without a client certificate when none is requested', async () => {
    const pair = await connectPair({ ...server, ca }, { ca });
    expect(pair.client.err).to.equal(undefined);
    expect(pair.server.err).to.equal(undefined);
    expect(pair.client.conn!.authorized).to.equal(true);
    expect(pair.server.conn!.authorized).to.equal(false);
  });

  it('fails a TLS 1.2 client that has no certificate to send', async () => {
    const pair = await connectPair({ ...server, ca, requestCert: true }, { ca, maxVersion: 'TLSv1.2' });
    expect(pair.server.err?.code).to.equal('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    expect(pair.client.err?.code).to.equal('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
  });

  it('fails a TLS 1.3 client that has no certificate to send, after its secureConnect', async () => {
    const pair = await connectPair({ ...server, ca, requestCert: true }, { ca });
    expect(pair.server.err?.code).to.equal('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    // The TLS 1.3 client finished first; the server's alert arrives after.
    const conn = pair.client.conn!;
    const [error] = pair.client.err ? [pair.client.err] : ((await once(conn, 'error').catch((e: unknown) => [e])) as [CodedError]);
    expect(error.code).to.equal('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  });

  it('accepts CAs given as one multi-PEM string, or as an array holding one', async () => {
    const bundle = `${otherCa.toString()}\n${ca.toString()}`;
    for (const given of [bundle, [bundle]]) {
      const pair = await connectPair({ ...server, ca: given, requestCert: true }, { ...client, ca: given });
      expect(pair.client.err).to.equal(undefined);
      expect(pair.server.err).to.equal(undefined);
      expect(pair.client.conn!.authorized).to.equal(true);
      expect(pair.server.conn!.authorized).to.equal(true);
    }
  });

  it('fails the client with UNABLE_TO_VERIFY_LEAF_SIGNATURE when it does not know the issuer', async () => {
    const pair = await connectPair(server, {});
    expect(pair.client.err?.code).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('fails the client with SELF_SIGNED_CERT_IN_CHAIN when the server sends a CA the client does not trust', async () => {
    const pair = await connectPair(serverWithCa, {});
    expect(pair.client.err?.code).to.equal('SELF_SIGNED_CERT_IN_CHAIN');
  });

  it('authorizes a server that sends its CA when the client trusts that CA', async () => {
    const pair = await connectPair(serverWithCa, { ca });
    expect(pair.client.err).to.equal(undefined);
    expect(pair.client.conn!.authorized).to.equal(true);
  });

  it("drops a client whose certificate the server cannot verify, with 'tlsClientError' ECONNRESET", async () => {
    const pair = await connectPair(
      { ...server, ca, requestCert: true },
      { key: readCert('unknown-ca.key'), cert: readCert('unknown-ca.pem'), ca },
    );
    expect(pair.server.err?.code).to.equal('ECONNRESET');
    expect(pair.server.conn!.authorized).to.equal(false);
  });

  for (const label of ['TRUSTED CERTIFICATE', 'X509 CERTIFICATE']) {
    it(`reads CAs in "BEGIN ${label}" PEM blocks, on the client and on the server`, async () => {
      const relabelled = ca.toString().replace(/CERTIFICATE/g, label);
      expect(() => tls.createSecureContext({ ca: relabelled })).to.not.throw();
      for (const [serverCa, clientCa] of [
        [ca, relabelled],
        [relabelled, ca],
      ]) {
        const pair = await connectPair({ ...server, ca: serverCa, requestCert: true }, { ...client, ca: clientCa });
        expect(pair.client.err?.message).to.equal(undefined);
        expect(pair.server.err?.message).to.equal(undefined);
        expect(pair.client.conn?.authorized).to.equal(true);
        expect(pair.server.conn?.authorized).to.equal(true);
      }
    });
  }
});

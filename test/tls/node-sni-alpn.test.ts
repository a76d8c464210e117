/**
 * Node's own SNI and ALPN tests, re-expressed against memtls/tls: an
 * asynchronous SNICallback choosing the certificate (and the CA that checks
 * client certificates), Server#addContext with wildcards, and ALPN
 * negotiation seen from both ends.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';

const ca = readCert('ca.pem');
const ec = { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') };
const alt = { key: readCert('alt.key'), cert: readCert('alt.pem') };
/** The SNI tests' default certificate: self-signed, so it is told apart from server-ec by its issuer. */
const selfSigned = { key: readCert('self-signed.key'), cert: readCert('self-signed.pem') };
/** Clients of the SNI tests trust both issuers: any mismatch left is a name mismatch. */
const trusted = [ca, selfSigned.cert];
// Every certificate served here has an EC key: the context switch must not
// depend on the key type (node:tls keeps the default context's certificate
// in play when the SNI context's key is of another type).

/** Which of the test certificates a client was served: "subject CN by issuer CN". */
function served(socket: tls.TLSSocket): string {
  const x509 = socket.getPeerX509Certificate();
  if (x509 === undefined) return 'none';
  const cn = (name: string): string => /CN=([^\n]+)/.exec(name)?.[1] ?? '?';
  return `${cn(x509.subject)} by ${cn(x509.issuer)}`;
}

describe('node tls: the SNICallback option', () => {
  // Ported from nodejs/node test/parallel/test-tls-sni-option.js
  type Seen = { sni: string | false | null; authorized: boolean };
  let port: number;
  let seen: Seen[];
  let serverErrors: string[];

  beforeEach(async () => {
    seen = [];
    serverErrors = [];
    // Per name: the certificate to serve and, through `ca`, whose client certificates to trust.
    const contexts: Record<string, tls.SecureContextOptions | 'empty'> = {
      'alt.memtls.test': { ...alt, ca },
      'server.memtls.test': ec,
      'empty.memtls.test': 'empty',
    };
    const server = tls.createServer(
      {
        ...selfSigned,
        requestCert: true,
        rejectUnauthorized: false,
        SNICallback: (servername, callback) => {
          const chosen = contexts[servername];
          // Answer on a later turn: the handshake must wait for it.
          setTimeout(() => {
            if (chosen === undefined) callback(null, undefined);
            else if (chosen === 'empty') callback(null, {} as tls.SecureContext);
            else callback(null, tls.createSecureContext(chosen));
          }, 5);
        },
      },
      (socket) => seen.push({ sni: socket.servername, authorized: socket.authorized }),
    );
    server.on('tlsClientError', (error: Error) => serverErrors.push(error.message));
    port = await listen(server);
  });

  async function connect(servername: string, credentials: { key: Buffer; cert: Buffer }): Promise<tls.TLSSocket> {
    const client = track(tls.connect({ port, host: HOST, ca: trusted, servername, rejectUnauthorized: false, ...credentials }));
    await once(client, 'secureConnect');
    return client;
  }

  it("serves the callback's context, whose CA rejects a client certificate from another CA", async () => {
    const client = await connect('alt.memtls.test', { key: readCert('unknown-ca.key'), cert: readCert('unknown-ca.pem') });
    expect(served(client)).to.equal('alt.memtls.test by memtls Test CA');
    expect(client.authorizationError).to.equal(null);
    client.end();
    await once(client, 'close');
    expect(seen).to.deep.equal([{ sni: 'alt.memtls.test', authorized: false }]);
    expect(serverErrors).to.deep.equal([]);
  });

  it("serves the callback's context, whose CA accepts a client certificate it issued", async () => {
    const client = await connect('alt.memtls.test', { key: readCert('client.key'), cert: readCert('client.pem') });
    expect(served(client)).to.equal('alt.memtls.test by memtls Test CA');
    client.end();
    await once(client, 'close');
    expect(seen).to.deep.equal([{ sni: 'alt.memtls.test', authorized: true }]);
  });

  it('serves a context without a CA, which authorizes no client certificate', async () => {
    const client = await connect('server.memtls.test', { key: readCert('client.key'), cert: readCert('client.pem') });
    expect(served(client)).to.equal('localhost by memtls Test CA');
    expect(client.authorizationError).to.equal(null);
    client.end();
    await once(client, 'close');
    expect(seen).to.deep.equal([{ sni: 'server.memtls.test', authorized: false }]);
  });

  it('keeps the default context when the callback gives none', async () => {
    const client = await connect('elsewhere.memtls.test', { key: readCert('client.key'), cert: readCert('client.pem') });
    expect(served(client)).to.equal('localhost by localhost');
    expect(client.authorizationError).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
    client.end();
    await once(client, 'close');
    expect(seen).to.deep.equal([{ sni: 'elsewhere.memtls.test', authorized: false }]);
  });

  it("fails the handshake when the callback gives something that is not a context: 'Invalid SNI context'", async () => {
    const client = track(tls.connect({ port, host: HOST, ca: trusted, servername: 'empty.memtls.test', rejectUnauthorized: false }));
    let secure = false;
    client.on('secureConnect', () => (secure = true));
    const [error] = (await once(client, 'error').catch((e: unknown) => [e])) as [Error & { code?: string }];
    // Node resets the connection; a fatal alert instead is as good an answer
    // (Node's own ALPN test accepts either for a refused handshake).
    expect(error.code).to.be.oneOf(['ECONNRESET', 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR']);
    if (error.code === 'ECONNRESET') {
      expect(error.message).to.equal('Client network socket disconnected before secure TLS connection was established');
    }
    expect(secure).to.equal(false);
    expect(seen).to.deep.equal([]);
    expect(serverErrors).to.deep.equal(['Invalid SNI context']);
  });
});

describe('node tls: Server#addContext', () => {
  // Ported from nodejs/node test/parallel/test-tls-sni-server-client.js
  let port: number;
  let seen: Array<{ sni: string | false | null; authorized: boolean }>;
  let serverErrors: Error[];

  beforeEach(async () => {
    seen = [];
    serverErrors = [];
    const server = tls.createServer(selfSigned, (socket) => seen.push({ sni: socket.servername, authorized: socket.authorized }));
    // Looked up from the last added: the exact name wins over the wildcard added before it.
    server.addContext('*.memtls.test', ec);
    server.addContext('alt.memtls.test', tls.createSecureContext(alt));
    server.on('tlsClientError', (error: Error) => serverErrors.push(error));
    port = await listen(server);
  });

  const cases: Array<[string, string, boolean]> = [
    ['alt.memtls.test', 'alt.memtls.test by memtls Test CA', true],
    ['server.memtls.test', 'localhost by memtls Test CA', true],
    ['other.memtls.test', 'localhost by memtls Test CA', false],
    ['a.b.memtls.test', 'localhost by localhost', false],
    ['elsewhere.test', 'localhost by localhost', false],
  ];
  for (const [servername, certificate, nameMatches] of cases) {
    it(`serves ${certificate} for ${servername}`, async () => {
      const client = track(tls.connect({ port, host: HOST, ca: trusted, servername, rejectUnauthorized: false }));
      await once(client, 'secureConnect');
      expect(served(client)).to.equal(certificate);
      expect(client.authorizationError).to.equal(nameMatches ? null : 'ERR_TLS_CERT_ALTNAME_INVALID');
      client.end();
      await once(client, 'close');
      expect(seen).to.deep.equal([{ sni: servername, authorized: false }]);
      expect(serverErrors).to.deep.equal([]);
    });
  }
});

describe('node tls: ALPN between server and client', () => {
  // Ported from nodejs/node test/parallel/test-tls-alpn-server-client.js
  type Result = { server: string | false | null; client: string | false | null };

  async function negotiate(serverProtocols: string[] | undefined, clientProtocols: Array<string[] | undefined>): Promise<Result[]> {
    const serverSide: Array<string | false | null> = [];
    const server = tls.createServer({ ...ec, ALPNProtocols: serverProtocols }, (socket) => serverSide.push(socket.alpnProtocol));
    const port = await listen(server);
    const results: Result[] = [];
    for (const ALPNProtocols of clientProtocols) {
      const client = track(tls.connect({ port, host: HOST, ca, servername: 'localhost', ALPNProtocols }));
      await once(client, 'secureConnect');
      const clientSide = client.alpnProtocol;
      client.end();
      await once(client, 'close');
      results.push({ server: serverSide.shift() ?? null, client: clientSide });
    }
    return results;
  }

  it("picks the server's first choice the client offers", async () => {
    const results = await negotiate(['a', 'b', 'c'], [['a', 'b', 'c'], ['c', 'b', 'e'], ['x', 'y', 'c']]);
    expect(results).to.deep.equal([
      { server: 'a', client: 'a' },
      { server: 'b', client: 'b' },
      { server: 'c', client: 'c' },
    ]);
  });

  it('gives false on both ends when the client offers nothing', async () => {
    const results = await negotiate(['a', 'b', 'c'], [undefined, undefined]);
    expect(results).to.deep.equal([
      { server: false, client: false },
      { server: false, client: false },
    ]);
  });

  it('gives false on both ends when the server supports nothing', async () => {
    const results = await negotiate(undefined, [['c', 'b', 'e'], ['first-priority-unsupported', 'x', 'y']]);
    expect(results).to.deep.equal([
      { server: false, client: false },
      { server: false, client: false },
    ]);
  });

  it('gives false on both ends when neither side has a list', async () => {
    const results = await negotiate(undefined, [undefined]);
    expect(results).to.deep.equal([{ server: false, client: false }]);
  });

  it('refuses ALPNCallback together with ALPNProtocols', () => {
    expect(() => tls.createServer({ ...ec, ALPNCallback: () => 'a', ALPNProtocols: ['b', 'c'] }))
      .to.throw()
      .with.property('code', 'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS');
  });
});

describe('node tls: keylog on a socket wrapped after it connected', () => {
  // As test-tls-enable-keylog-cli / the 'keylog' event docs: adding a listener turns logging on.
  it("emits 'keylog' lines when the listener is added after new TLSSocket(connectedSocket)", async () => {
    const secureContext = tls.createSecureContext({ key: readCert('server-ec.key'), cert: readCert('server-ec.pem') });
    const lines: Buffer[] = [];
    const secured = new Promise<void>((resolve) => {
      const raw = net.createServer((socket) => {
        const tlsSocket = track(new tls.TLSSocket(socket, { isServer: true, secureContext }));
        tlsSocket.on('keylog', (line: Buffer) => lines.push(line));
        tlsSocket.once('secure', () => resolve());
      });
      void listen(raw).then((port) => {
        const client = track(tls.connect({ port, host: HOST, servername: 'localhost', ca: readCert('ca.pem') }));
        client.resume();
      });
    });
    await secured;
    expect(lines.length).to.be.at.least(4);
    for (const line of lines) expect(line.toString()).to.match(/^[A-Z_0-9]+ [0-9a-f]+ [0-9a-f]+\n$/);
  });
});

/**
 * The drop-in's default identity check lets OpenSSL confirm a match without
 * decoding the certificate, and falls back to node:tls's rules otherwise.
 * Whatever path it takes, every verdict must be node:tls's own: for each
 * certificate and host name below, a node:tls client and a memtls/tls client
 * connect to the same server and must agree on authorized, the error code
 * and the error message.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import * as nodeTls from 'node:tls';

import { PROTOCOL_TLS_SERVER, SSLContext } from '../../lib';
import * as mtls from '../../lib/tls';
import { certPath, readCert } from '../helpers/certs';
import { clientContext, handshake, makePair } from '../helpers/pair';

const HOST = '127.0.0.1';

interface Verdict {
  authorized: boolean;
  code?: string;
  message?: string;
}

/** Connects over a fresh TCP socket; `name` is checked as the server's identity (an IP as host, a DNS name as servername). */
function verdict(api: typeof nodeTls | typeof mtls, port: number, name: string): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port }, () => {
      const isIp = net.isIP(name) !== 0;
      const client = (api.connect as typeof nodeTls.connect)({
        socket,
        host: name,
        ...(isIp ? {} : { servername: name }),
        ca: readCert('ca.pem'),
      });
      client.once('secureConnect', () => {
        resolve({ authorized: client.authorized });
        client.destroy();
      });
      client.once('error', (error: Error & { code?: string }) => {
        resolve({ authorized: false, code: error.code, message: error.message });
        client.destroy();
      });
    });
    socket.once('error', reject);
  });
}

describe('memtls/tls identity check: OpenSSL fast path and node:tls rules agree', () => {
  const cases: Array<[cert: string, names: string[], expectAccepted: string[]]> = [
    [
      'names',
      [
        'a.wild.memtls.test', // whole-label wildcard: OpenSSL confirms
        'A.WILD.memtls.test',
        'wild.memtls.test', // the wildcard needs a label
        'a.b.wild.memtls.test', // ...and only one
        'foo.partial.memtls.test', // partial wildcard: node's rules only
        'bar.partial.memtls.test',
        'xn--bcher-kva.memtls.test',
        'upper.memtls.test',
        'xn--abc.xn--idna.memtls.test', // wildcard pattern whose base contains an IDNA label
        'a.wild.memtls.test.', // trailing dot: node's rules only
        'names.memtls.test', // the CN does not count next to DNS names
        '10.0.0.1',
        '10.0.0.2',
        '::1',
        '0:0::1',
        '127.0.0.1',
      ],
      [
        'a.wild.memtls.test',
        'A.WILD.memtls.test',
        'foo.partial.memtls.test',
        'xn--bcher-kva.memtls.test',
        'upper.memtls.test',
        'xn--abc.xn--idna.memtls.test',
        'a.wild.memtls.test.',
        '10.0.0.1',
        '::1',
        '0:0::1',
      ],
    ],
    ['cn-only', ['cn.memtls.test', 'CN.memtls.test', 'other.memtls.test', '127.0.0.2', '127.0.0.1'], ['cn.memtls.test', 'CN.memtls.test', '127.0.0.2']],
    ['server-ec', ['localhost', 'server.memtls.test', 'nope.memtls.test', '127.0.0.1', '::1'], ['localhost', 'server.memtls.test', '127.0.0.1']],
  ];

  for (const [cert, names, accepted] of cases) {
    it(`${cert}: ${names.length} names, the same verdict as node:tls for each`, async () => {
      const server = nodeTls.createServer({ cert: readCert(`${cert}.pem`), key: readCert(`${cert}.key`) }, (socket) => socket.end());
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
      try {
        const port = (server.address() as net.AddressInfo).port;
        const accepting: string[] = [];
        for (const name of names) {
          const theirs = await verdict(nodeTls, port, name);
          const ours = await verdict(mtls, port, name);
          expect(ours, `${cert} as ${name}`).to.deep.equal(theirs);
          if (ours.authorized) accepting.push(name);
          else expect(ours.code, `${cert} as ${name}`).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
        }
        // node:tls's verdicts are the reference; this pins them so the cases keep covering both outcomes.
        expect(accepting).to.deep.equal(accepted);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }

  it("the engine's OpenSSL check says yes only where node's rules do, and no to what only they accept", () => {
    const server = new SSLContext(PROTOCOL_TLS_SERVER);
    server.loadCertChain(certPath('names.pem'), certPath('names.key'));
    const client = clientContext((ctx) => (ctx.checkHostname = false));
    const pair = makePair(client, server);
    handshake(pair);
    const ours = pair.client.ssl;
    expect(ours.peerMatchesHost('a.wild.memtls.test')).to.equal(true);
    expect(ours.peerMatchesHost('UPPER.memtls.test')).to.equal(true);
    expect(ours.peerMatchesHost('::1')).to.equal(true);
    expect(ours.peerMatchesHost('0:0::1')).to.equal(true);
    expect(ours.peerMatchesHost('10.0.0.1')).to.equal(true);
    // node's rules accept these; OpenSSL's do not (or is not asked), so the drop-in must fall back for them.
    expect(ours.peerMatchesHost('foo.partial.memtls.test')).to.equal(false);
    expect(ours.peerMatchesHost('a.wild.memtls.test.')).to.equal(false);
    // Never a match: no such name, the CN beside DNS names, an IP absent from the IP names.
    expect(ours.peerMatchesHost('a.b.wild.memtls.test')).to.equal(false);
    expect(ours.peerMatchesHost('names.memtls.test')).to.equal(false);
    expect(ours.peerMatchesHost('10.0.0.2')).to.equal(false);
    // An IP is never checked against DNS names (the engine call that would).
    expect(ours.engine.peerMatchesHost('10.0.0.1', false)).to.equal(false);
    // Without a peer certificate (a server's view of a client that sent none) nothing matches.
    expect(pair.server.ssl.peerMatchesHost('localhost')).to.equal(false);
    pair.client.ssl.close();
    pair.server.ssl.close();
  });
});

/**
 * Node's table of hostname-versus-certificate decisions, re-expressed against
 * memtls's tls.checkServerIdentity, plus the same rules applied to a live
 * connection through connect()'s checkServerIdentity option.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import type { PeerCertificate } from '../../lib/ssl/certificate';
import { readCert } from '../helpers/certs';

const HOST = '127.0.0.1';

/** A minimal certificate object: what checkServerIdentity reads. */
interface FakeCert {
  subject?: { CN?: string | string[] };
  subjectaltname?: string;
}

/** [host, certificate, the `reason` of the error, or null when the host matches]. */
type Row = [unknown, FakeCert, string | null];

const cn = (name: string | string[], subjectaltname?: string): FakeCert =>
  subjectaltname === undefined ? { subject: { CN: name } } : { subject: { CN: name }, subjectaltname };
const san = (subjectaltname: string, subject: FakeCert['subject'] = {}): FakeCert => ({ subject, subjectaltname });
const notCn = (host: string, name: string): string => `Host: ${host}. is not cert's CN: ${name}`;
const notInAltnames = (host: string, names: string): string => `Host: ${host}. is not in the cert's altnames: ${names}`;
const notInIpList = (ip: string, list = ''): string => `IP: ${ip} is not in the cert's list: ${list}`;
const NO_DNS_NAME = 'Cert does not contain a DNS name';

const groups: Record<string, Row[]> = {
  'hosts that are not strings': [
    [false, cn('a.com'), notCn('false', 'a.com')],
    [null, cn('a.com'), notCn('null', 'a.com')],
    [undefined, cn('a.com'), notCn('undefined', 'a.com')],
  ],
  'the subject CN when there are no DNS altnames': [
    ['a.com', cn('a.com'), null],
    ['a.com', cn('A.COM'), null],
    ['a.com', cn('b.com'), notCn('a.com', 'b.com')],
    ['a.com', cn('a.com.'), null],
    ['a.com', cn('.a.com'), notCn('a.com', '.a.com')],
    ['foo.com', cn(['foo.com', 'bar.com']), null],
  ],
  'IP hosts, which only IP Address altnames can match': [
    ['8.8.8.8', cn('8.8.8.8'), notInIpList('8.8.8.8')],
    ['8.8.8.8', cn('8.8.8.8', 'DNS:8.8.8.8'), notInIpList('8.8.8.8')],
    ['8.8.8.8', cn('8.8.8.8', 'URI:http://8.8.8.8/'), notInIpList('8.8.8.8')],
    ['8.8.8.8', cn('8.8.8.8', 'IP Address:8.8.8.8'), null],
    ['8.8.8.8', cn('8.8.8.8', 'IP Address:8.8.8.0/24'), notInIpList('8.8.8.8')],
    ['127.0.0.1', san('IP Address:127.0.0.1'), null],
    ['127.0.0.2', san('IP Address:127.0.0.1'), notInIpList('127.0.0.2', '127.0.0.1')],
    ['127.0.0.1', san('DNS:a.com'), notInIpList('127.0.0.1')],
  ],
  'wildcards in the CN': [
    ['b.a.com', cn('*.a.com'), null],
    ['ba.com', cn('*.a.com'), notCn('ba.com', '*.a.com')],
    ['\n.b.com', cn('*n.b.com'), notCn('\n.b.com', '*n.b.com')],
    ['b.a.com', cn('b*b.a.com'), notCn('b.a.com', 'b*b.a.com')],
    ['b.a.com', cn('*.a.com', 'DNS:omg.com'), notInAltnames('b.a.com', 'DNS:omg.com')],
  ],
  'certificates with little or nothing in them': [
    ['a.com', {}, NO_DNS_NAME],
    ['a.com', { subjectaltname: 'DNS:a.com' }, null],
    ['a.b.a.com', { subjectaltname: 'URI:http://a.b.a.com/' }, NO_DNS_NAME],
  ],
  'DNS altnames, which take precedence over the CN': [
    ['a.com', san('DNS:*', { CN: 'b.com' }), notInAltnames('a.com', 'DNS:*')],
    ['a.com', san('DNS:*.com', { CN: 'b.com' }), notInAltnames('a.com', 'DNS:*.com')],
    ['a.co.uk', san('DNS:*.co.uk', { CN: 'b.com' }), null],
    ['a.com', san('DNS:*.a.com', { CN: 'a.com' }), notInAltnames('a.com', 'DNS:*.a.com')],
    ['a.com', san('DNS:*.a.com', { CN: 'b.com' }), notInAltnames('a.com', 'DNS:*.a.com')],
    ['a.com', san('DNS:a.com', { CN: 'b.com' }), null],
    ['a.com', san('DNS:A.COM', { CN: 'b.com' }), null],
    ['localhost', san('DNS:a.com', { CN: 'localhost' }), notInAltnames('localhost', 'DNS:a.com')],
  ],
  'wildcards in DNS altnames': [
    ['a.com', san('DNS:*.a.com'), notInAltnames('a.com', 'DNS:*.a.com')],
    ['b.a.com', san('DNS:*.a.com'), null],
    ['c.b.a.com', san('DNS:*.a.com'), notInAltnames('c.b.a.com', 'DNS:*.a.com')],
    ['b.a.com', san('DNS:*b.a.com'), null],
    ['a-cb.a.com', san('DNS:*b.a.com'), null],
    ['a.b.a.com', san('DNS:*b.a.com'), notInAltnames('a.b.a.com', 'DNS:*b.a.com')],
    ['a.b.a.com', san('DNS:*b.a.com, DNS:a.b.a.com'), null],
  ],
  'URI and IP altnames for a DNS host': [
    ['a.b.a.com', san('URI:http://a.b.a.com/'), NO_DNS_NAME],
    ['a.b.a.com', san('URI:http://*.b.a.com/'), NO_DNS_NAME],
    ['a.b.a.com', san('IP Address:127.0.0.1'), NO_DNS_NAME],
  ],
  'IDNA (punycode) labels': [
    ['xn--bcher-kva.example.com', cn('*.example.com'), null],
    ['xn--bcher-kva.example.com', cn('xn--*.example.com'), notCn('xn--bcher-kva.example.com', 'xn--*.example.com')],
  ],
};

describe('node tls: checkServerIdentity', () => {
  // Ported from nodejs/node test/parallel/test-tls-check-server-identity.js
  for (const [group, rows] of Object.entries(groups)) {
    it(group, () => {
      const mismatches: string[] = [];
      for (const [host, cert, reason] of rows) {
        const error = tls.checkServerIdentity(host as string, cert as PeerCertificate);
        const got = error === undefined ? null : error.reason;
        if (got !== reason) mismatches.push(`${JSON.stringify(host)} vs ${JSON.stringify(cert)}: expected ${JSON.stringify(reason)}, got ${JSON.stringify(got)}`);
        if (error !== undefined) {
          expect(error.code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
          expect(error.message).to.equal(`Hostname/IP does not match certificate's altnames: ${reason}`);
          expect(error.cert).to.equal(cert);
        }
      }
      expect(mismatches).to.deep.equal([]);
    });
  }
});

describe('node tls: the checkServerIdentity option of connect', () => {
  // Ported from nodejs/node test/parallel/test-https-client-checkServerIdentity.js,
  // at the tls layer (the https half is in node-https.test.ts)
  let cleanups: Array<() => unknown> = [];
  let port: number;

  beforeEach(async () => {
    // alt.memtls.test's certificate, issued by the test CA: right CA, wrong name for 127.0.0.1.
    const server = tls.createServer({ key: readCert('alt.key'), cert: readCert('alt.pem') }, (socket) => socket.end());
    const sockets = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => sockets.add(socket));
    server.listen(0, HOST);
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
  });

  afterEach(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    for (const cleanup of pending) await cleanup();
  });

  function connect(options: tls.ConnectionOptions): tls.TLSSocket {
    const socket = tls.connect({ port, host: HOST, ca: readCert('ca.pem'), ...options });
    cleanups.push(() => {
      socket.on('error', () => undefined);
      socket.destroy();
    });
    return socket;
  }

  it('rejects a trusted certificate for another name with ERR_TLS_CERT_ALTNAME_INVALID', async () => {
    const socket = connect({});
    let secure = false;
    socket.on('secureConnect', () => (secure = true));
    const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error & { code?: string; host?: string }];
    expect(error.code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error.host).to.equal(HOST);
    expect(secure).to.equal(false);
  });

  it('uses the servername over the host, and connects when they match', async () => {
    const socket = connect({ servername: 'alt.memtls.test' });
    await once(socket, 'secureConnect');
    expect(socket.authorized).to.equal(true);
  });

  it('calls a custom checkServerIdentity with the host and the peer certificate; a falsy result accepts', async () => {
    const calls: Array<[string, string | string[] | undefined]> = [];
    const socket = connect({
      checkServerIdentity: (host, cert) => {
        calls.push([host, cert.subject?.CN]);
        return undefined;
      },
    });
    await once(socket, 'secureConnect');
    expect(calls).to.deep.equal([[HOST, 'alt.memtls.test']]);
    expect(socket.authorized).to.equal(true);
  });

  it('fails with the Error a custom checkServerIdentity returns', async () => {
    const mine = new Error('not the one');
    const socket = connect({ servername: 'alt.memtls.test', checkServerIdentity: () => mine });
    const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error];
    expect(error).to.equal(mine);
  });

  it('keeps the connection but records the error with rejectUnauthorized: false', async () => {
    const socket = connect({ rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    expect(socket.authorized).to.equal(false);
    expect(socket.authorizationError).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

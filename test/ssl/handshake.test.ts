/**
 * In-memory client/server pairs: handshakes, bulk data, ALPN, SNI, resumption,
 * client certificates, channel binding and exported keying material.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  CERT_OPTIONAL,
  CERT_REQUIRED,
  SSLCertVerificationError,
  SSLContext,
  SSLError,
  SSLSession,
  SSLWantReadError,
  type TLSVersion,
} from '../../lib';
import { native } from '../../lib/native';
import { certPath, readCert } from '../helpers/certs';
import { clientContext, handshake, makePair, readAll, send, serverContext, transfer, type KeyKind } from '../helpers/pair';

const MiB = 1024 * 1024;

describe('SSLObject pairs in memory', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as TLSVersion[]) {
    for (const kind of ['ec', 'rsa'] as KeyKind[]) {
      it(`handshakes ${version} with ${kind === 'ec' ? 'ECDSA P-256' : 'RSA-2048'} and moves 1 MiB each way`, () => {
        const client = clientContext((ctx) => {
          ctx.minimumVersion = version;
          ctx.maximumVersion = version;
        });
        const pair = makePair(client, serverContext(kind));
        handshake(pair);
        expect(pair.client.ssl.version()).to.equal(version);
        expect(pair.server.ssl.version()).to.equal(version);
        const [, protocol, bits] = pair.client.ssl.cipher()!;
        expect(protocol).to.equal(version);
        expect(bits).to.be.at.least(128);
        const cert = pair.client.ssl.getPeerCert()!;
        expect(cert.subject.CN).to.equal('localhost');
        expect(cert.subjectaltname).to.include('DNS:localhost');
        if (kind === 'ec') expect(cert.asn1Curve).to.equal('prime256v1');
        else expect(cert.bits).to.equal(2048);

        const up = randomBytes(MiB);
        const down = randomBytes(MiB);
        expect(send(pair.client, pair.server, up).equals(up)).to.equal(true);
        expect(send(pair.server, pair.client, down).equals(down)).to.equal(true);
      });
    }
  }

  it('reports the handshake state through version(), cipher() and getPeerCert()', () => {
    const pair = makePair(clientContext(), serverContext());
    expect(pair.client.ssl.version()).to.equal(null);
    expect(pair.client.ssl.cipher()).to.equal(null);
    expect(() => pair.client.ssl.getPeerCert()).to.throw(SSLError, /handshake not done/);
    expect(pair.client.ssl.getChannelBinding()).to.equal(null);
    handshake(pair);
    expect(pair.client.ssl.getPeerCert(true)).to.be.instanceOf(Buffer);
    expect(pair.server.ssl.getPeerCert()).to.equal(null);
    expect(pair.client.ssl.serverSide).to.equal(false);
    expect(pair.server.ssl.serverSide).to.equal(true);
    expect(pair.client.ssl.serverHostname).to.equal('localhost');
    expect(pair.server.ssl.sharedCiphers()!.length).to.be.greaterThan(0);
    expect(pair.client.ssl.sharedCiphers()).to.equal(null);
    expect(pair.client.ssl.compression()).to.equal(null);
  });

  describe('ALPN', () => {
    it('agrees on the server-preferred protocol both sides offer', () => {
      const pair = makePair(
        clientContext((ctx) => ctx.setAlpnProtocols(['http/1.1', 'h2'])),
        serverContext('ec', (ctx) => ctx.setAlpnProtocols(['h2', 'http/1.1'])),
      );
      handshake(pair);
      expect(pair.client.ssl.selectedAlpnProtocol()).to.equal('h2');
      expect(pair.server.ssl.selectedAlpnProtocol()).to.equal('h2');
    });

    it('completes without ALPN when nothing overlaps', () => {
      const pair = makePair(
        clientContext((ctx) => ctx.setAlpnProtocols(['spdy/1'])),
        serverContext('ec', (ctx) => ctx.setAlpnProtocols(['h2'])),
      );
      handshake(pair);
      expect(pair.client.ssl.selectedAlpnProtocol()).to.equal(null);
      expect(pair.server.ssl.selectedAlpnProtocol()).to.equal(null);
    });
  });

  describe('SNI', () => {
    it('lets the SNI callback swap the certificate', () => {
      const alt = new SSLContext(17);
      alt.loadCertChain(certPath('alt.pem'), certPath('alt.key'));
      const seen: Array<string | undefined> = [];
      const server = serverContext('ec', (ctx) => {
        ctx.sniCallback = (sslObject, name) => {
          seen.push(name);
          if (name === 'alt.memtls.test') sslObject.context = alt;
        };
      });
      const pair = makePair(clientContext(), server, { serverHostname: 'alt.memtls.test' });
      handshake(pair);
      expect(seen).to.deep.equal(['alt.memtls.test']);
      expect(pair.client.ssl.getPeerCert()!.subject.CN).to.equal('alt.memtls.test');
      expect(pair.server.ssl.context).to.equal(alt);

      const plain = makePair(clientContext(), server);
      handshake(plain);
      expect(seen).to.deep.equal(['alt.memtls.test', 'localhost']);
      expect(plain.client.ssl.getPeerCert()!.subject.CN).to.equal('localhost');
    });

    it('refuses the handshake when the callback returns an alert', () => {
      const server = serverContext('ec', (ctx) => {
        ctx.sniCallback = () => 112; // unrecognized_name
      });
      const pair = makePair(clientContext(), server);
      expect(() => handshake(pair)).to.throw(SSLError).with.property('side', 'server');
    });

    it('rethrows an error thrown by the callback after failing the handshake', () => {
      const boom = new Error('sni callback failed');
      const server = serverContext('ec', (ctx) => {
        ctx.sniCallback = () => {
          throw boom;
        };
      });
      const pair = makePair(clientContext(), server);
      expect(() => handshake(pair)).to.throw(boom);
    });

    it('sends no SNI for an IP address and checks the IP against the certificate', () => {
      let name: string | undefined = 'unset';
      const server = serverContext('ec', (ctx) => {
        ctx.sniCallback = (_ssl, serverName) => {
          name = serverName;
        };
      });
      const pair = makePair(clientContext(), server, { serverHostname: '127.0.0.1' });
      handshake(pair);
      expect(name).to.equal(undefined);
      const wrongIp = makePair(clientContext(), serverContext(), { serverHostname: '127.0.0.2' });
      expect(() => handshake(wrongIp)).to.throw(SSLCertVerificationError).with.property('verifyCode', 64);
    });
  });

  describe('session resumption', () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as TLSVersion[]) {
      it(`resumes a ${version} session and reports sessionReused`, () => {
        const client = clientContext((ctx) => {
          ctx.maximumVersion = version;
        });
        const server = serverContext();
        const first = makePair(client, server);
        handshake(first);
        // TLS 1.3 tickets arrive after the handshake, with the first data.
        send(first.server, first.client, Buffer.from('ticket please'));
        expect(first.client.ssl.sessionReused).to.equal(false);
        const session = first.client.ssl.session!;
        expect(session).to.be.instanceOf(SSLSession);
        expect(session.resumable).to.equal(true);
        expect(session.hasTicket).to.equal(true);

        const second = makePair(client, server, { serverHostname: 'localhost', session });
        handshake(second);
        expect(second.client.ssl.sessionReused).to.equal(true);
        expect(second.server.ssl.sessionReused).to.equal(true);
        expect(second.client.ssl.version()).to.equal(version);
        expect(send(second.client, second.server, Buffer.from('again')).toString()).to.equal('again');
      });
    }

    for (const version of ['TLSv1.2', 'TLSv1.3'] as TLSVersion[]) {
      it(`one ${version} SSLSession resumes many connections, even after one of them ended without close_notify`, () => {
        const client = clientContext((ctx) => {
          ctx.maximumVersion = version;
        });
        const server = serverContext();
        const first = makePair(client, server);
        handshake(first);
        send(first.server, first.client, Buffer.from('ticket please'));
        const session = first.client.ssl.session!;
        const der = Buffer.from(session.der);
        // The connection it came from ends without close_notify (OpenSSL then
        // marks that connection's own session not resumable): ours is a copy.
        first.client.ssl.close();
        first.server.ssl.close();
        const reused: boolean[] = [];
        for (let i = 0; i < 4; i++) {
          const pair = makePair(client, server, { serverHostname: 'localhost', session });
          handshake(pair);
          send(pair.server, pair.client, Buffer.from(`round ${i}`));
          reused.push(pair.client.ssl.sessionReused && pair.server.ssl.sessionReused);
          // Round 1 is dropped without close_notify (OpenSSL then marks the
          // session it resumed not resumable): that must not spoil the shared one.
          if (i !== 1) {
            try {
              pair.client.ssl.unwrap();
            } catch (error) {
              expect(error).to.be.instanceOf(SSLWantReadError);
            }
          }
          pair.client.ssl.close();
          pair.server.ssl.close();
        }
        expect(reused).to.deep.equal([true, true, true, true]);
        // The parsed session itself is untouched (read afresh, not memoized): same encoding, still resumable.
        expect(native.SSLObject.encodeSession(session.handle).equals(der)).to.equal(true);
        expect(native.SSLObject.describeSession(session.handle).resumable).to.equal(true);
        // A session rebuilt from its DER resumes too.
        const again = makePair(client, server, { serverHostname: 'localhost', session: new SSLSession(der, client) });
        handshake(again);
        expect(again.client.ssl.sessionReused).to.equal(true);
      });
    }

    it('new SSLSession: SSLError for bytes that are not a session, TypeError for anything but bytes', () => {
      expect(() => new SSLSession(Buffer.from('not a session'))).to.throw(SSLError);
      expect(() => new SSLSession('x' as unknown as Uint8Array)).to.throw(TypeError, /DER bytes/);
      expect(() => new SSLSession({} as unknown as Uint8Array)).to.throw(TypeError);
      expect(() => new SSLSession(null as unknown as Uint8Array)).to.throw(TypeError);
    });

    it('refuses sessions on the server, after the handshake, or from another context', () => {
      const client = clientContext();
      const server = serverContext();
      const first = makePair(client, server);
      handshake(first);
      send(first.server, first.client, Buffer.from('x'));
      const session = first.client.ssl.session!;
      expect(() => {
        first.server.ssl.session = session;
      }).to.throw(SSLError, /server-side/);
      expect(() => {
        first.client.ssl.session = session;
      }).to.throw(SSLError, /after handshake/);
      expect(() => makePair(clientContext(), server, { serverHostname: 'localhost', session })).to.throw(
        SSLError,
        /different SSLContext/,
      );
      expect(() => {
        makePair(client, server).client.ssl.session = 'nope' as unknown as SSLSession;
      }).to.throw(TypeError);
    });
  });

  describe('client certificates', () => {
    const requireClientCert = (ctx: SSLContext): void => {
      ctx.verifyMode = CERT_REQUIRED;
      ctx.loadVerifyLocations({ cafile: certPath('ca.pem') });
    };

    it('accepts a client certificate signed by a trusted CA', () => {
      const client = clientContext((ctx) => ctx.loadCertChain(readCert('client.pem'), readCert('client.key')));
      const pair = makePair(client, serverContext('ec', requireClientCert));
      handshake(pair);
      expect(pair.server.ssl.getPeerCert()!.subject.CN).to.equal('memtls client');
      expect(send(pair.client, pair.server, Buffer.from('hi')).toString()).to.equal('hi');
    });

    it('refuses a TLS 1.3 client without a certificate: the server in its handshake, the client on its next read', () => {
      const pair = makePair(clientContext(), serverContext('ec', requireClientCert));
      let serverError: unknown;
      try {
        handshake(pair);
      } catch (error) {
        serverError = error;
      }
      expect(serverError).to.be.instanceOf(SSLError);
      expect((serverError as SSLError).reason).to.equal('PEER_DID_NOT_RETURN_A_CERTIFICATE');
      transfer(pair.server, pair.client);
      expect(() => readAll(pair.client)).to.throw(SSLError).with.property('reason', 'TLSV13_ALERT_CERTIFICATE_REQUIRED');
    });

    it('refuses a client certificate from an unknown CA', () => {
      const client = clientContext((ctx) => ctx.loadCertChain(certPath('unknown-ca.pem'), certPath('unknown-ca.key')));
      const pair = makePair(client, serverContext('ec', requireClientCert));
      expect(() => handshake(pair)).to.throw(SSLCertVerificationError).with.property('side', 'server');
    });

    it('with CERT_OPTIONAL, accepts a client that sends no certificate', () => {
      const pair = makePair(
        clientContext(),
        serverContext('ec', (ctx) => {
          ctx.verifyMode = CERT_OPTIONAL;
          ctx.loadVerifyLocations({ cafile: certPath('ca.pem') });
        }),
      );
      handshake(pair);
      expect(pair.server.ssl.getPeerCert()).to.equal(null);
    });
  });

  it('derives the same channel binding and keying material on both sides', () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as TLSVersion[]) {
      const pair = makePair(
        clientContext((ctx) => {
          ctx.maximumVersion = version;
        }),
        serverContext(),
      );
      handshake(pair);
      const binding = pair.client.ssl.getChannelBinding('tls-unique')!;
      expect(binding.length).to.be.greaterThan(0);
      expect(binding.equals(pair.server.ssl.getChannelBinding()!)).to.equal(true);
      const context = Buffer.from('ctx');
      const a = pair.client.ssl.exportKeyingMaterial(48, 'EXPORTER-memtls-test', context);
      const b = pair.server.ssl.exportKeyingMaterial(48, 'EXPORTER-memtls-test', context);
      expect(a.length).to.equal(48);
      expect(a.equals(b)).to.equal(true);
      const other = pair.server.ssl.exportKeyingMaterial(48, 'EXPORTER-memtls-other');
      expect(other.equals(a)).to.equal(false);
      expect(() => pair.client.ssl.getChannelBinding('tls-server-end-point')).to.throw(TypeError, /not implemented/);
    }
  });

  it('calls the keylog callback with NSS key log lines on both sides', () => {
    const lines: string[] = [];
    const client = clientContext((ctx) => {
      ctx.keylogCallback = (line) => lines.push(line.toString());
    });
    const pair = makePair(client, serverContext());
    handshake(pair);
    const labels = lines.map((line) => line.split(' ')[0]);
    expect(labels).to.include.members([
      'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
      'SERVER_HANDSHAKE_TRAFFIC_SECRET',
      'CLIENT_TRAFFIC_SECRET_0',
      'SERVER_TRAFFIC_SECRET_0',
    ]);
    for (const line of lines) expect(line).to.match(/^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+\n$/);
  });

  it('loads an encrypted private key with its passphrase, and refuses a wrong one', () => {
    const ctx = new SSLContext(17);
    ctx.loadCertChain(certPath('server-ec.pem'), certPath('server-ec-encrypted.key'), 'memtls-secret');
    const pair = makePair(clientContext(), ctx);
    handshake(pair);
    const bad = new SSLContext(17);
    expect(() => bad.loadCertChain(certPath('server-ec.pem'), certPath('server-ec-encrypted.key'), 'wrong')).to.throw(
      SSLError,
    );
    expect(() =>
      bad.loadCertChain(certPath('server-ec.pem'), certPath('server-ec-encrypted.key'), () => Buffer.from('memtls-secret')),
    ).not.to.throw();
  });

  it('accepts CA data as PEM text or DER bytes', () => {
    const pem = readCert('ca.pem').toString();
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    for (const cadata of [pem, der]) {
      const client = new SSLContext(16);
      client.loadVerifyLocations({ cadata });
      handshake(makePair(client, serverContext()));
    }
  });
});

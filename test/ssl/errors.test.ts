/** Each SSLError class raised by a real failure, with its verifyCode and code. */
import { expect } from 'chai';
import {
  PROTOCOL_TLS_CLIENT,
  PROTOCOL_TLS_SERVER,
  SSLCertVerificationError,
  SSLContext,
  SSLError,
  SSLWantReadError,
  MemoryBIO,
} from '../../lib';
import { certPath } from '../helpers/certs';
import { clientContext, handshake, makePair, serverContext, type Endpoint } from '../helpers/pair';

function serverWith(cert: string): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  ctx.loadCertChain(certPath(`${cert}.pem`), certPath(`${cert}.key`));
  return ctx;
}

function clientFailure(serverCtx: SSLContext, hostname = 'localhost'): SSLCertVerificationError {
  const pair = makePair(clientContext(), serverCtx, { serverHostname: hostname });
  try {
    handshake(pair);
  } catch (error) {
    expect((error as { side?: string }).side).to.equal('client');
    return error as SSLCertVerificationError;
  }
  throw new Error('the handshake should have failed');
}

function feedServer(bytes: Buffer): SSLError {
  const server: Endpoint = (() => {
    const incoming = new MemoryBIO();
    const outgoing = new MemoryBIO();
    return { ssl: serverContext().wrapBio(incoming, outgoing, { serverSide: true }), incoming, outgoing };
  })();
  server.incoming.write(bytes);
  try {
    server.ssl.doHandshake();
  } catch (error) {
    return error as SSLError;
  }
  throw new Error('the handshake should have failed');
}

describe('SSLError classes raised for real', () => {
  it('wrong hostname: HOSTNAME_MISMATCH (62)', () => {
    const error = clientFailure(serverWith('server-ec'), 'wrong.memtls.test');
    expect(error).to.be.instanceOf(SSLCertVerificationError);
    expect(error).to.be.instanceOf(SSLError);
    expect(error.verifyCode).to.equal(62);
    expect(error.verifyCodeName).to.equal('HOSTNAME_MISMATCH');
    expect(error.verifyMessage).to.equal("Hostname mismatch, certificate is not valid for 'wrong.memtls.test'.");
    expect(error.code).to.equal('ERR_SSL_CERTIFICATE_VERIFY_FAILED');
    expect(error.library).to.equal('SSL');
    expect(error.message).to.match(/^\[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed: Hostname mismatch/);
  });

  it('expired certificate: CERT_HAS_EXPIRED (10)', () => {
    const error = clientFailure(serverWith('expired'));
    expect(error).to.be.instanceOf(SSLCertVerificationError);
    expect(error.verifyCode).to.equal(10);
    expect(error.verifyCodeName).to.equal('CERT_HAS_EXPIRED');
    expect(error.verifyMessage).to.equal('certificate has expired');
  });

  it('unknown CA: UNABLE_TO_GET_ISSUER_CERT_LOCALLY (20)', () => {
    const error = clientFailure(serverWith('unknown-ca'));
    expect(error.verifyCode).to.equal(20);
    expect(error.verifyCodeName).to.equal('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  });

  it('self-signed certificate: DEPTH_ZERO_SELF_SIGNED_CERT (18)', () => {
    const error = clientFailure(serverWith('self-signed'));
    expect(error.verifyCode).to.equal(18);
    expect(error.verifyCodeName).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(error.verifyMessage).to.equal('self-signed certificate');
  });

  it('garbage bytes: WRONG_VERSION_NUMBER', () => {
    const error = feedServer(Buffer.from('\x16\x09\x09garbage-garbage-garbage', 'latin1'));
    expect(error).to.be.instanceOf(SSLError);
    expect(error).not.to.be.instanceOf(SSLWantReadError);
    expect(error.reason).to.equal('WRONG_VERSION_NUMBER');
    expect(error.code).to.equal('ERR_SSL_WRONG_VERSION_NUMBER');
    expect(error.message).to.equal('[SSL: WRONG_VERSION_NUMBER] wrong version number');
  });

  it('plaintext HTTP sent to a server: HTTP_REQUEST', () => {
    const error = feedServer(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    expect(error.reason).to.equal('HTTP_REQUEST');
    expect(error.code).to.equal('ERR_SSL_HTTP_REQUEST');
  });

  it('leaves no stale OpenSSL error behind: a good handshake follows a failed one', () => {
    feedServer(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(() => clientContext().loadCertChain(Buffer.from('not pem'))).to.throw(SSLError);
    const pair = makePair(clientContext(), serverContext());
    handshake(pair);
    expect(pair.client.ssl.version()).to.equal('TLSv1.3');
  });

  it('refuses a handshake below the minimum version', () => {
    const client = clientContext((ctx) => {
      ctx.maximumVersion = 'TLSv1.2';
    });
    const server = serverContext('ec', (ctx) => {
      ctx.minimumVersion = 'TLSv1.3';
    });
    expect(() => handshake(makePair(client, server))).to.throw(SSLError).with.property('reason', 'UNSUPPORTED_PROTOCOL');
  });

  it('checks the context kinds and hostname rules of wrapBio (OBJ-2, OBJ-3, PIT-14)', () => {
    const client = new SSLContext(PROTOCOL_TLS_CLIENT);
    const server = serverContext();
    const bio = (): MemoryBIO => new MemoryBIO();
    expect(() => client.wrapBio(bio(), bio(), { serverSide: true })).to.throw(SSLError, /PROTOCOL_TLS_CLIENT context/);
    expect(() => server.wrapBio(bio(), bio(), { serverSide: false })).to.throw(SSLError, /PROTOCOL_TLS_SERVER context/);
    expect(() => client.wrapBio(bio(), bio())).to.throw(TypeError, /checkHostname requires serverHostname/);
    expect(() => client.wrapBio(bio(), bio(), { serverHostname: '' })).to.throw(TypeError, /empty string/);
    expect(() => client.wrapBio(bio(), bio(), { serverHostname: '.example' })).to.throw(TypeError, /leading dot/);
    const idn = client.wrapBio(bio(), bio(), { serverHostname: 'bücher.example' });
    expect(idn.serverHostname).to.equal('xn--bcher-kva.example');
    client.checkHostname = false;
    expect(() => client.wrapBio(bio(), bio())).not.to.throw();
  });

  it('keeps verifyMode and checkHostname consistent as Python does', () => {
    const ctx = new SSLContext(PROTOCOL_TLS_CLIENT);
    expect(ctx.verifyMode).to.equal(2);
    expect(ctx.checkHostname).to.equal(true);
    expect(() => {
      ctx.verifyMode = 0;
    }).to.throw(TypeError, /checkHostname/);
    ctx.checkHostname = false;
    ctx.verifyMode = 0;
    ctx.checkHostname = true;
    expect(ctx.verifyMode).to.equal(2);
    const server = new SSLContext(PROTOCOL_TLS_SERVER);
    expect(server.verifyMode).to.equal(0);
    expect(server.checkHostname).to.equal(false);
    expect(server.minimumVersion).to.equal('TLSv1.2');
  });
});

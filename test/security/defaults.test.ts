/**
 * Secure defaults, each asserted against a real peer: certificate checks on
 * the client side, the TLS 1.2 floor, no renegotiation, no NULL / export /
 * RC4 ciphers, and servers that require client certificates. Every context
 * here is built with the default settings unless a test says otherwise.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as net from 'node:net';
import * as nodeTls from 'node:tls';

import { CERT_REQUIRED, MemoryBIO, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER, SSLCertVerificationError, SSLContext, SSLError } from '../../lib';
import { createConnection, createServer, type Server as ProtocolServer } from '../../lib/protocol';
import * as tls from '../../lib/tls';
import { certPath, readCert, SERVER_NAME } from '../helpers/certs';
import { atCleanup, HOST, listen, track } from '../helpers/node-tls';
import { killOpensslChildren, runOpensslClient, startOpensslServer } from '../helpers/openssl-cli';
import { clientContext, handshake, makePair, serverContext } from '../helpers/pair';
import { RecordingProtocol } from '../helpers/protocol';
import { SocketPump } from '../helpers/socket-pump';

type CodedError = Error & { code?: string; side?: string };

const CA = readCert('ca.pem');

/** Server certificates a default client must refuse, with what OpenSSL says about each. */
const BAD_SERVERS = [
  { name: 'an untrusted chain (unknown CA)', cert: 'unknown-ca-chain.pem', key: 'unknown-ca.key', host: SERVER_NAME, reason: /unable to get local issuer certificate|self[- ]signed certificate in certificate chain/, code: /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN/ },
  { name: 'a self-signed certificate', cert: 'self-signed.pem', key: 'self-signed.key', host: SERVER_NAME, reason: /self[- ]signed certificate/, code: /DEPTH_ZERO_SELF_SIGNED_CERT/ },
  { name: 'an expired certificate', cert: 'expired.pem', key: 'expired.key', host: SERVER_NAME, reason: /certificate has expired/, code: /CERT_HAS_EXPIRED/ },
  { name: 'a wrong hostname', cert: 'server-ec.pem', key: 'server-ec.key', host: 'wrong.example.com', reason: /[Hh]ostname mismatch/, code: /ERR_TLS_CERT_ALTNAME_INVALID/ },
];

/** A node:tls server (a real, independent peer) presenting `cert`. */
async function nodeTlsServer(cert: string, key: string, options: nodeTls.TlsOptions = {}): Promise<number> {
  const server = nodeTls.createServer({ cert: readCert(cert), key: readCert(key), ...options }, (socket) => socket.end('hello'));
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, HOST, () => resolve(socket));
    socket.once('error', reject);
    track(socket);
  });
}

/** A net server whose next connection is served by a core SSLObject (via SocketPump). */
async function coreServer(ctx: SSLContext): Promise<{ port: number; accepted: Promise<SocketPump> }> {
  const server = net.createServer();
  let resolveAccepted!: (pump: SocketPump) => void;
  const accepted = new Promise<SocketPump>((resolve) => (resolveAccepted = resolve));
  server.on('connection', (socket) => {
    socket.on('error', () => undefined);
    resolveAccepted(new SocketPump(ctx, socket, { serverSide: true }));
  });
  const port = await listen(server);
  return { port, accepted };
}

/** Settles with the first 'secureConnect' (null) or 'error' (the error) of a memtls/tls client. */
function outcome(socket: tls.TLSSocket): Promise<CodedError | null> {
  return new Promise((resolve) => {
    socket.once('secureConnect', () => resolve(null));
    socket.once('error', (error: CodedError) => resolve(error));
  });
}


function serverWith(cert: string, key: string): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  ctx.loadCertChain(certPath(cert), certPath(key));
  return ctx;
}

/** A core client context exactly as constructed, plus the test CA. */
function defaultClient(): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_CLIENT);
  ctx.loadVerifyLocations({ cafile: certPath('ca.pem') });
  return ctx;
}

afterEach(killOpensslChildren);

describe('secure defaults', () => {
  describe('clients verify the server by default', () => {
    it('a new client SSLContext requires a certificate and checks the hostname', () => {
      const ctx = new SSLContext(PROTOCOL_TLS_CLIENT);
      expect(ctx.verifyMode).to.equal(CERT_REQUIRED);
      expect(ctx.checkHostname).to.equal(true);
      expect(() => ctx.wrapBio(new MemoryBIO(), new MemoryBIO())).to.throw(TypeError, /checkHostname requires serverHostname/);
    });

    for (const bad of BAD_SERVERS) {
      it(`core SSLContext client refuses ${bad.name}`, () => {
        const pair = makePair(defaultClient(), serverWith(bad.cert, bad.key), { serverHostname: bad.host });
        let error: CodedError | undefined;
        try {
          handshake(pair);
        } catch (caught) {
          error = caught as CodedError;
        }
        expect(error).to.be.instanceOf(SSLCertVerificationError);
        expect(error!.side).to.equal('client');
        expect(error!.message).to.match(bad.reason);
      });

      it(`memtls/tls connect refuses ${bad.name}`, async () => {
        const port = await nodeTlsServer(bad.cert, bad.key);
        const socket = track(tls.connect({ host: HOST, port, servername: bad.host, ca: CA }));
        const error = await outcome(socket);
        expect(error).to.be.instanceOf(Error);
        expect(error!.code).to.match(bad.code);
        expect(socket.authorized).to.equal(false);
      });

      it(`memtls/protocol createConnection refuses ${bad.name}`, async () => {
        const port = await nodeTlsServer(bad.cert, bad.key);
        let made = false;
        const attempt = createConnection(
          () => {
            const protocol = new RecordingProtocol();
            protocol.made.promise.then(() => (made = true), () => undefined);
            return protocol;
          },
          { host: HOST, port, ssl: defaultClient(), serverHostname: bad.host },
        );
        const error = await attempt.then(
          ([transport]) => {
            transport.abort();
            return null;
          },
          (caught: unknown) => caught as CodedError,
        );
        expect(error).to.be.instanceOf(SSLCertVerificationError);
        expect(error!.message).to.match(bad.reason);
        expect(made).to.equal(false);
      });
    }
  });

  describe('TLS 1.0 and 1.1 peers are refused by default', () => {
    /** The openssl CLI refuses these versions at its own default security level; lower it there only. */
    const LEGACY_CLI = ['-cipher', 'DEFAULT@SECLEVEL=0'];
    const OLD = [
      { version: 'TLSv1' as const, flag: '-tls1' },
      { version: 'TLSv1.1' as const, flag: '-tls1_1' },
    ];

    it('both core contexts start with minimumVersion TLSv1.2', () => {
      expect(new SSLContext(PROTOCOL_TLS_CLIENT).minimumVersion).to.equal('TLSv1.2');
      expect(new SSLContext(PROTOCOL_TLS_SERVER).minimumVersion).to.equal('TLSv1.2');
      expect(tls.DEFAULT_MIN_VERSION).to.equal('TLSv1.2');
    });

    for (const { version, flag } of OLD) {
      async function legacyServer(): Promise<number> {
        const server = await startOpensslServer(['-cert', certPath('server-rsa.pem'), '-key', certPath('server-rsa.key'), flag, ...LEGACY_CLI]);
        return server.port;
      }

      it(`core client refuses an openssl s_server ${flag} (and connects once told to allow ${version})`, async () => {
        const port = await legacyServer();
        const refused = new SocketPump(clientContext(), await connectTcp(port), { serverHostname: SERVER_NAME });
        const error = await refused.handshake().then(() => null, (caught: unknown) => caught as Error);
        expect(error).to.be.instanceOf(SSLError);
        expect(error!.message).to.match(/unsupported protocol|wrong version|protocol version/i);
        expect(refused.ssl.version()).to.equal(null);

        // Control: the same server is reachable when the client opts in, so the refusal above was memtls's.
        const allowed = new SocketPump(
          clientContext((ctx) => {
            ctx.minimumVersion = version;
            ctx.setCiphers('DEFAULT@SECLEVEL=0');
          }),
          await connectTcp(port),
          { serverHostname: SERVER_NAME },
        );
        await allowed.handshake();
        expect(allowed.ssl.version()).to.equal(version);
      });

      it(`core server refuses an openssl s_client ${flag}`, async () => {
        const { port, accepted } = await coreServer(serverContext('rsa'));
        const client = runOpensslClient(['-connect', `${HOST}:${port}`, '-servername', SERVER_NAME, flag, ...LEGACY_CLI]);
        const pump = await accepted;
        const error = await pump.handshake().then(() => null, (caught: unknown) => caught as Error);
        expect(error).to.be.instanceOf(SSLError);
        expect(error!.message).to.match(/unsupported protocol|wrong version|protocol version/i);
        pump.socket.destroy();
        const result = await client;
        expect(result.output).to.match(/alert protocol version/);
        // s_client's summary of a session that never got a cipher.
        expect(result.output).to.match(/New, \(NONE\), Cipher is \(NONE\)/);
      });

      it(`memtls/tls connect refuses an openssl s_server ${flag}`, async () => {
        const port = await legacyServer();
        const socket = track(tls.connect({ host: HOST, port, servername: SERVER_NAME, ca: CA }));
        const error = await outcome(socket);
        expect(error).to.be.instanceOf(Error);
        expect(error!.code).to.match(/UNSUPPORTED_PROTOCOL|WRONG_VERSION|PROTOCOL_VERSION/);
        expect(socket.getProtocol()).to.equal(null);
      });

      it(`memtls/tls createServer refuses an openssl s_client ${flag}`, async () => {
        const server = tls.createServer({ key: readCert('server-rsa.key'), cert: readCert('server-rsa.pem') }, () => {
          throw new Error('no connection should be established');
        });
        const clientErrors: CodedError[] = [];
        server.on('tlsClientError', (error: CodedError) => clientErrors.push(error));
        const port = await listen(server);
        const result = await runOpensslClient(['-connect', `${HOST}:${port}`, '-servername', SERVER_NAME, flag, ...LEGACY_CLI]);
        expect(result.output).to.match(/alert protocol version/);
        // s_client's summary of a session that never got a cipher.
        expect(result.output).to.match(/New, \(NONE\), Cipher is \(NONE\)/);
        while (clientErrors.length === 0) await once(server, 'tlsClientError');
        expect(clientErrors[0]!.code).to.match(/UNSUPPORTED_PROTOCOL|WRONG_VERSION|PROTOCOL_VERSION/);
      });
    }
  });

  describe('renegotiation is refused', () => {
    it('core server: an openssl s_client -tls1_2 that sends R gets no renegotiated handshake', async () => {
      const { port, accepted } = await coreServer(serverContext());
      const client = runOpensslClient(['-connect', `${HOST}:${port}`, '-servername', SERVER_NAME, '-tls1_2'], 'R\n');
      const pump = await accepted;
      await pump.handshake();
      expect(pump.ssl.version()).to.equal('TLSv1.2');
      const after = await pump.receiveUntilEnd().then((data) => ({ data, error: null }), (error: Error) => ({ data: null, error }));
      const result = await client;
      // s_client asked for a new handshake; we answered with a no_renegotiation alert, which it treats as fatal.
      expect(result.output).to.match(/RENEGOTIATING[\s\S]*no renegotiation/);
      expect(after.error).to.be.instanceOf(SSLError);
      expect(after.error!.message).to.match(/handshake failure/);
    });

    it('core client: openssl s_server -tls1_2 sending a HelloRequest (R) does not renegotiate', async () => {
      const server = await startOpensslServer(['-cert', certPath('server-ec.pem'), '-key', certPath('server-ec.key'), '-tls1_2']);
      const pump = new SocketPump(clientContext(), await connectTcp(server.port), { serverHostname: SERVER_NAME });
      await pump.handshake();
      expect(pump.ssl.version()).to.equal('TLSv1.2');
      server.process.stdin!.write('R\n');
      const after = await pump.receiveUntilEnd().then((data) => ({ data, error: null }), (error: Error) => ({ data: null, error }));
      // We ignored the HelloRequest and said no_renegotiation; s_server gives up on the connection.
      expect(after.error).to.be.instanceOf(SSLError);
      expect(after.error!.message).to.match(/handshake failure/);
      const output = await server.waitForOutput(/SSL_do_handshake -> 1\r?\nERROR/);
      expect(output.match(/CIPHER is /g)).to.have.length(1);
    });
  });

  describe('NULL, export and RC4 ciphers cannot be negotiated', () => {
    /** A TLS 1.2 s_client offering nothing but a NULL (unencrypted) cipher. */
    const NULL_ONLY = ['-tls1_2', '-cipher', 'NULL-SHA256@SECLEVEL=0'];

    for (const list of ['EXPORT', 'RC4']) {
      it(`setCiphers('${list}') and createSecureContext({ ciphers: '${list}' }) throw`, () => {
        expect(() => new SSLContext(PROTOCOL_TLS_SERVER).setCiphers(list)).to.throw(SSLError, /no cipher match/);
        expect(() => new SSLContext(PROTOCOL_TLS_CLIENT).setCiphers(list)).to.throw(SSLError, /no cipher match/);
        expect(() => tls.createSecureContext({ ciphers: list })).to.throw(SSLError, /no cipher match/);
      });
    }

    for (const list of [null, 'NULL', 'eNULL']) {
      const label = list === null ? 'the default list' : `setCiphers('${list}')`;
      it(`core server with ${label} fails the handshake with a NULL-only TLS 1.2 s_client`, async () => {
        const { port, accepted } = await coreServer(
          serverContext('ec', (ctx) => {
            if (list !== null) ctx.setCiphers(list);
          }),
        );
        const client = runOpensslClient(['-connect', `${HOST}:${port}`, '-servername', SERVER_NAME, ...NULL_ONLY]);
        const pump = await accepted;
        const error = await pump.handshake().then(() => null, (caught: unknown) => caught as Error);
        expect(error).to.be.instanceOf(SSLError);
        expect(error!.message).to.match(/no shared cipher/);
        pump.socket.destroy();
        const result = await client;
        expect(result.output).to.match(/New, \(NONE\), Cipher is \(NONE\)/);
      });

      const label2 = list === null ? 'default ciphers' : `ciphers: '${list}'`;
      it(`memtls/tls createServer with ${label2} fails the handshake with a NULL-only TLS 1.2 s_client`, async () => {
        const server = tls.createServer(
          { key: readCert('server-ec.key'), cert: readCert('server-ec.pem'), ...(list === null ? {} : { ciphers: list }) },
          () => {
            throw new Error('no connection should be established');
          },
        );
        const clientErrors: CodedError[] = [];
        server.on('tlsClientError', (error: CodedError) => clientErrors.push(error));
        const port = await listen(server);
        const result = await runOpensslClient(['-connect', `${HOST}:${port}`, '-servername', SERVER_NAME, ...NULL_ONLY]);
        expect(result.output).to.match(/New, \(NONE\), Cipher is \(NONE\)/);
        while (clientErrors.length === 0) await once(server, 'tlsClientError');
        expect(clientErrors[0]!.code).to.match(/NO_SHARED_CIPHER/);
      });
    }
  });

  describe('servers that require a client certificate refuse a client without one', () => {
    function requiringContext(): SSLContext {
      return serverContext('ec', (ctx) => {
        ctx.verifyMode = CERT_REQUIRED;
        ctx.loadVerifyLocations({ cafile: certPath('ca.pem') });
      });
    }

    it('core server with CERT_REQUIRED', () => {
      const pair = makePair(clientContext(), requiringContext());
      let error: CodedError | undefined;
      try {
        handshake(pair);
      } catch (caught) {
        error = caught as CodedError;
      }
      expect(error).to.be.instanceOf(SSLError);
      expect(error!.side).to.equal('server');
      expect(error!.message).to.match(/peer did not return a certificate/);
    });

    /** A node:tls client without a certificate; resolves with the error it sees before closing. */
    async function certlessClient(port: number): Promise<CodedError | undefined> {
      const socket = nodeTls.connect({ host: HOST, port, servername: SERVER_NAME, ca: CA });
      track(socket);
      let error: CodedError | undefined;
      socket.on('error', (caught: CodedError) => (error = caught));
      socket.resume();
      // Not events.once: it would reject on the 'error' this test expects.
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      return error;
    }

    it('memtls/tls createServer with requestCert and rejectUnauthorized', async () => {
      const server = tls.createServer({ key: readCert('server-ec.key'), cert: readCert('server-ec.pem'), ca: CA, requestCert: true, rejectUnauthorized: true }, () => {
        throw new Error('no connection should be established');
      });
      const serverErrors: CodedError[] = [];
      server.on('tlsClientError', (error: CodedError) => serverErrors.push(error));
      const port = await listen(server);
      const clientError = await certlessClient(port);
      expect(clientError?.code).to.match(/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/);
      while (serverErrors.length === 0) await once(server, 'tlsClientError');
      expect(serverErrors[0]!.message).to.match(/peer did not return a certificate/);
    });

    it('memtls/protocol createServer with a CERT_REQUIRED context', async () => {
      let made = 0;
      const server: ProtocolServer = await createServer(
        () => {
          const protocol = new RecordingProtocol();
          protocol.made.promise.then(() => made++, () => undefined);
          return protocol;
        },
        { host: HOST, port: 0, ssl: requiringContext() },
      );
      atCleanup(async () => {
        server.closeClients();
        await server.waitClosed();
      });
      const clientError = await certlessClient(server.address().port);
      expect(clientError?.code).to.match(/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/);
      expect(made).to.equal(0);
    });
  });
});

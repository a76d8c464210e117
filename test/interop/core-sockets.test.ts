/**
 * The core SSLObject over real loopback TCP sockets, against OpenSSL's own
 * s_server/s_client and node:tls, in both roles.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { SSLError, SSLZeroReturnError } from '../../lib';
import { certPath, readCert, SERVER_NAME } from '../helpers/certs';
import { killOpensslChildren, runOpensslClient, startOpensslServer } from '../helpers/openssl-cli';
import { clientContext, serverContext } from '../helpers/pair';
import { SocketPump } from '../helpers/socket-pump';

const HOST = '127.0.0.1';

/** Undone in reverse order after each test: servers, sockets. */
let cleanups: Array<() => void | Promise<void>> = [];

async function cleanUp(): Promise<void> {
  const pending = cleanups.reverse();
  cleanups = [];
  for (const cleanup of pending) await cleanup();
  await killOpensslChildren();
}

/** Listens on 127.0.0.1, port 0; the server and its connections go at cleanup. */
async function listen(server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  server.listen(0, HOST);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/**
 * A TCP connection to 127.0.0.1:port, destroyed at cleanup. Half-open is
 * allowed so that our close_notify can still be sent after the peer's FIN.
 */
async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: HOST, allowHalfOpen: true });
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  return socket;
}

/** An SSLObject client (trusting the test CA, checking 'localhost') on a fresh connection. */
async function memtlsClient(port: number, configure?: Parameters<typeof clientContext>[0]): Promise<SocketPump> {
  return new SocketPump(clientContext(configure), await connect(port), { serverHostname: SERVER_NAME });
}

/** Waits for the next accepted TCP connection and wraps it in an SSLObject server. */
function acceptMemtls(server: net.Server, kind: 'ec' | 'rsa' = 'ec'): Promise<SocketPump> {
  return new Promise((resolve) => {
    server.once('connection', (socket: net.Socket) => resolve(new SocketPump(serverContext(kind), socket, { serverSide: true })));
  });
}

function nodeServerOptions(extra: tls.TlsOptions = {}): tls.TlsOptions {
  return { cert: readCert('server-ec.pem'), key: readCert('server-ec.key'), ...extra };
}

/** Resolves with the next secure connection of a node:tls server (later socket errors are ignored). */
function nextSecureConnection(server: tls.Server): Promise<tls.TLSSocket> {
  return new Promise((resolve) => {
    server.once('secureConnection', (socket: tls.TLSSocket) => {
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

describe('interop: core SSLObject over TCP sockets', () => {
  afterEach(cleanUp);

  describe('client against openssl s_server', () => {
    const variants = [
      { version: 'TLSv1.3', flag: '-tls1_3', kind: 'ec' },
      { version: 'TLSv1.2', flag: '-tls1_2', kind: 'rsa' },
    ] as const;
    for (const { version, flag, kind } of variants) {
      it(`negotiates ${version}, verifies the server and exchanges data (s_server -rev, server-${kind})`, async () => {
        const server = await startOpensslServer([
          '-cert', certPath(`server-${kind}.pem`),
          '-key', certPath(`server-${kind}.key`),
          flag,
          '-rev',
        ]);
        const client = await memtlsClient(server.port);
        await client.handshake();

        expect(client.ssl.version()).to.equal(version);
        expect(client.ssl.getPeerCert()!.subject.CN).to.equal('localhost');
        expect(client.ssl.cipher()![1]).to.equal(version);

        // -rev answers each line with the line reversed.
        await client.send(Buffer.from('hello memtls\n'));
        expect((await client.receiveExactly(13)).toString()).to.equal('sltmem olleh\n');
        await client.send(Buffer.from('0123456789\n'));
        expect((await client.receiveExactly(11)).toString()).to.equal('9876543210\n');
        await client.close();
        // s_server's own view of the connection (its stdout may lag behind the socket).
        expect(await server.waitForOutput(/Protocol version: /)).to.include(`Protocol version: ${version}`);
      });
    }
  });

  describe('client against a node:tls server', () => {
    it('echoes 256 KiB of random data intact and agrees on ALPN', async () => {
      const server = tls.createServer(nodeServerOptions({ ALPNProtocols: ['h2', 'http/1.1'] }));
      const accepted = nextSecureConnection(server);
      server.on('secureConnection', (socket: tls.TLSSocket) => socket.pipe(socket));
      const port = await listen(server);

      const client = await memtlsClient(port, (ctx) => ctx.setAlpnProtocols(['h2', 'http/1.1']));
      await client.handshake();
      const serverSocket = await accepted;
      expect(client.ssl.selectedAlpnProtocol()).to.equal('h2');
      expect(serverSocket.alpnProtocol).to.equal('h2');

      const payload = crypto.randomBytes(256 * 1024);
      await client.send(payload);
      const echoed = await client.receiveExactly(payload.length);
      expect(echoed.length).to.equal(payload.length);
      expect(echoed.equals(payload)).to.equal(true);
      await client.close();
    });
  });

  describe('server accepting a node:tls client', () => {
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      it(`echoes data to a verifying node:tls client (${maxVersion})`, async () => {
        const server = net.createServer({ allowHalfOpen: true });
        const accepted = acceptMemtls(server);
        const port = await listen(server);
        const message = Buffer.from(`ping over ${maxVersion}`);

        const serverDone = (async () => {
          const pump = await accepted;
          await pump.handshake();
          const received = await pump.receiveExactly(message.length);
          await pump.send(received);
          await pump.close();
          return { pump, received };
        })();
        serverDone.catch(() => {}); // awaited below; no unhandled rejection meanwhile

        const client = tls.connect({ host: HOST, port, ca: readCert('ca.pem'), servername: SERVER_NAME, maxVersion });
        cleanups.push(() => {
          client.destroy();
        });
        const echoed = collect(client);
        await once(client, 'secureConnect');
        expect(client.authorized).to.equal(true);
        expect(client.getProtocol()).to.equal(maxVersion);
        client.write(message);

        const { pump, received } = await serverDone;
        expect(received.equals(message)).to.equal(true);
        expect(pump.ssl.version()).to.equal(maxVersion);
        expect((await echoed).equals(message)).to.equal(true);
      });
    }
  });

  describe('server accepting openssl s_client', () => {
    it('receives s_client stdin and s_client verifies the chain and hostname', async () => {
      const server = net.createServer({ allowHalfOpen: true });
      const accepted = acceptMemtls(server);
      const port = await listen(server);
      const stdin = 'hello from s_client\n';

      const serverDone = (async () => {
        const pump = await accepted;
        await pump.handshake();
        const received = await pump.receiveExactly(Buffer.byteLength(stdin));
        await pump.close();
        return { pump, received };
      })();
      serverDone.catch(() => {}); // awaited below; no unhandled rejection meanwhile

      const result = await runOpensslClient(
        [
          '-connect', `${HOST}:${port}`,
          '-CAfile', certPath('ca.pem'),
          '-servername', SERVER_NAME,
          '-verify_hostname', SERVER_NAME,
          '-verify_return_error',
          '-ign_eof',
        ],
        stdin,
      );
      const { pump, received } = await serverDone;

      expect(received.toString()).to.equal(stdin);
      expect(pump.ssl.version()).to.equal('TLSv1.3');
      expect(result.code).to.equal(0);
      expect(result.output).to.include('Verify return code: 0 (ok)');
      expect(result.output).to.match(/^subject=.*CN ?= ?localhost/m);
    });
  });

  describe('mutual TLS with a node:tls server', () => {
    function mtlsServer(extra: tls.TlsOptions = {}): tls.Server {
      return tls.createServer(nodeServerOptions({ requestCert: true, rejectUnauthorized: true, ca: readCert('ca.pem'), ...extra }));
    }

    it('succeeds with a client certificate signed by the trusted CA', async () => {
      const server = mtlsServer();
      const accepted = nextSecureConnection(server);
      const port = await listen(server);

      const client = await memtlsClient(port, (ctx) => ctx.loadCertChain(certPath('client.pem'), certPath('client.key')));
      await client.handshake();
      const serverSocket = await accepted;
      expect(serverSocket.authorized).to.equal(true);
      expect(serverSocket.getPeerCertificate().subject.CN).to.equal('memtls client');

      serverSocket.write('welcome');
      expect((await client.receiveExactly(7)).toString()).to.equal('welcome');
      await client.close();
    });

    it('without a client certificate, the TLS 1.3 client sees an SSLError on read after its handshake', async () => {
      const server = mtlsServer();
      const rejected = once(server, 'tlsClientError');
      let secured = false;
      server.on('secureConnection', () => (secured = true));
      const port = await listen(server);

      const client = await memtlsClient(port);
      await client.handshake(); // a TLS 1.3 client finishes before the server has judged it
      expect(client.ssl.version()).to.equal('TLSv1.3');

      const error = await client.receiveExactly(1).then(
        () => expect.fail('read succeeded without a client certificate'),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(SSLError);
      expect((error as SSLError).reason).to.equal('TLSV13_ALERT_CERTIFICATE_REQUIRED');
      expect((error as SSLError).code).to.equal('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
      const [serverError] = (await rejected) as [Error & { code?: string }];
      expect(serverError.code).to.equal('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
      expect(secured).to.equal(false);
    });

    it('without a client certificate, a TLS 1.2 handshake fails', async () => {
      const server = mtlsServer({ maxVersion: 'TLSv1.2' });
      const rejected = once(server, 'tlsClientError');
      const port = await listen(server);

      const client = await memtlsClient(port);
      const error = await client.handshake().then(
        () => expect.fail('handshake succeeded without a client certificate'),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(SSLError);
      expect((error as SSLError).reason).to.equal('SSLV3_ALERT_HANDSHAKE_FAILURE');
      const [serverError] = (await rejected) as [Error & { code?: string }];
      expect(serverError.code).to.equal('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    });
  });

  describe('close_notify with a node:tls server', () => {
    it('completes unwrap() after the server calls end(), and the server sees end', async () => {
      const server = tls.createServer(nodeServerOptions());
      const accepted = nextSecureConnection(server);
      const port = await listen(server);

      const client = await memtlsClient(port);
      await client.handshake();
      const serverSocket = await accepted;
      const serverEnded = once(serverSocket, 'end');
      // The server ends once it hears from us. (Calling end() in the same tick
      // as 'secureConnection' makes node 20 skip close_notify under TLS 1.3.)
      serverSocket.once('data', () => serverSocket.end('last words'));
      await client.send(Buffer.from('bye'));

      // The server's close_notify ends the data stream cleanly.
      expect((await client.receiveUntilEnd()).toString()).to.equal('last words');
      await client.close(); // unwrap() completes: both close_notify alerts exchanged
      await serverEnded;
      expect(() => client.ssl.read()).to.throw(SSLZeroReturnError);
    });

    it('completes unwrap() started by the client; the server sees end and answers with end()', async () => {
      const server = tls.createServer(nodeServerOptions());
      const accepted = nextSecureConnection(server);
      const port = await listen(server);

      const client = await memtlsClient(port);
      await client.handshake();
      const serverSocket = await accepted;
      const received = collect(serverSocket);
      serverSocket.on('end', () => serverSocket.end());

      await client.send(Buffer.from('goodbye'));
      await client.close(); // resolves only once node's close_notify has been read
      expect((await received).toString()).to.equal('goodbye');
      expect(() => client.ssl.read()).to.throw(SSLZeroReturnError);
    });
  });
});

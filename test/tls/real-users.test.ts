/**
 * memtls/tls used the way real programs use node:tls: https with a custom
 * Agent, an http server fed by our TLS server (queried by curl and node),
 * ws on both sides, undici with a custom connector, STARTTLS on a plain line
 * protocol, TLS over an in-memory Duplex pair, TLS inside TLS, and the
 * openssl s_client / s_server command-line tools as peers. Every connection
 * runs over 127.0.0.1 with a kernel-chosen port.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as nodeTls from 'node:tls';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import * as undici from 'undici';
import WebSocket, { WebSocketServer } from 'ws';

import { SSLWantReadError, SSLZeroReturnError } from '../../lib';
import * as tls from '../../lib/tls';
import { certPath, readCert, SERVER_NAME } from '../helpers/certs';
import { killOpensslChildren, runOpensslClient, startOpensslServer } from '../helpers/openssl-cli';
import { clientContext } from '../helpers/pair';
import { SocketPump } from '../helpers/socket-pump';
import {
  bytesBuffered,
  duplexPair,
  HOST,
  listen,
  readBytes,
  readLine,
  readToEnd,
  run,
  sha256,
  Teardown,
} from '../helpers/tls-peers';

const MiB = 1024 * 1024;
const ca = readCert('ca.pem');
const key = readCert('server-ec.key');
const cert = readCert('server-ec.pem');

const teardown = new Teardown();

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: net.Socket;
}

/** One node:https request; resolves with status, headers, body and the socket it went over. */
function httpsRequest(options: https.RequestOptions, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let socket: net.Socket | undefined;
    const request = https.request(options, (response) => {
      readToEnd(response).then(
        (data) => resolve({ status: response.statusCode!, headers: response.headers, body: data, socket: socket! }),
        reject,
      );
    });
    request.once('socket', (s: net.Socket) => (socket = s));
    request.once('error', reject);
    request.end(body);
  });
}

/** A node:https server (server-ec certificate) on a fresh port, closed at teardown. */
async function nodeHttpsServer(handler: http.RequestListener): Promise<{ server: https.Server; port: number }> {
  const server = teardown.server(https.createServer({ key, cert }, handler));
  const port = await listen(server);
  return { server, port };
}

/**
 * An http.Server that never listens: our tls.createServer accepts the
 * connections and hands each secure socket to it, as https.Server would.
 */
async function httpOverOurTls(handler: http.RequestListener): Promise<{ httpServer: http.Server; port: number }> {
  const httpServer = http.createServer(handler);
  const tlsServer = teardown.server(
    tls.createServer({ key, cert, ALPNProtocols: ['http/1.1'] }, (socket) => httpServer.emit('connection', socket)),
  );
  const port = await listen(tlsServer);
  return { httpServer, port };
}

/** A temporary directory removed at teardown. */
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memtls-real-users-'));
  teardown.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves with the next message a WebSocket receives. */
function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      ws.off('error', onError);
      resolve({ data: Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer), isBinary });
    };
    const onError = (error: Error): void => {
      ws.off('message', onMessage);
      reject(error);
    };
    ws.once('message', onMessage);
    ws.once('error', onError);
  });
}

/** Resolves with [code, reason] of a WebSocket's 'close' event. */
function closed(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
}

/** Echoes every message back, text as text and binary as binary. */
function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

/**
 * Sends a short text and a 1 MiB binary message over `client`, checks both
 * echoes, then closes with 1000 and checks that both sides saw 1000.
 */
async function echoAndClose(client: WebSocket, serverSide: Promise<WebSocket>): Promise<void> {
  if (client.readyState !== WebSocket.OPEN) await once(client, 'open');
  const server = await serverSide;
  const serverClosed = closed(server);

  const text = nextMessage(client);
  client.send('hello over memtls');
  const textEcho = await text;
  expect(textEcho.isBinary).to.equal(false);
  expect(textEcho.data.toString()).to.equal('hello over memtls');

  const big = randomBytes(MiB);
  const binary = nextMessage(client);
  client.send(big);
  const binaryEcho = await binary;
  expect(binaryEcho.isBinary).to.equal(true);
  expect(binaryEcho.data.length).to.equal(MiB);
  expect(sha256(binaryEcho.data)).to.equal(sha256(big));

  const clientClosed = closed(client);
  client.close(1000, 'done');
  expect(await clientClosed).to.deep.equal([1000, 'done']);
  expect(await serverClosed).to.deep.equal([1000, 'done']);
}

describe('memtls/tls with real users', function () {
  this.timeout(10000);

  afterEach(async () => {
    await teardown.release();
    await killOpensslChildren();
  });

  describe('node:https client through an https.Agent using our connect', () => {
    it('gets status and body, and keep-alive sends two requests over one socket', async () => {
      const { server, port } = await nodeHttpsServer((req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(`hello ${req.method} ${req.url}`);
      });
      let tlsConnections = 0;
      server.on('secureConnection', () => tlsConnections++);

      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      teardown.add(() => agent.destroy());
      const made: tls.TLSSocket[] = [];
      agent.createConnection = (options) => {
        const socket = tls.connect(options as tls.ConnectionOptions);
        made.push(socket);
        return socket;
      };

      const first = await httpsRequest({ host: HOST, port, path: '/one', ca, servername: SERVER_NAME, agent });
      expect(first.status).to.equal(200);
      expect(first.headers['content-type']).to.equal('text/plain');
      expect(first.body.toString()).to.equal('hello GET /one');
      expect(first.socket).to.be.instanceOf(tls.TLSSocket);
      expect((first.socket as tls.TLSSocket).authorized).to.equal(true);

      // Let the agent put the socket back in its free pool.
      await new Promise((resolve) => setImmediate(resolve));

      const second = await new Promise<Reply>((resolve, reject) => {
        let socket: net.Socket | undefined;
        const request = https.get({ host: HOST, port, path: '/two?x=1', ca, servername: SERVER_NAME, agent }, (response) => {
          readToEnd(response).then(
            (body) => resolve({ status: response.statusCode!, headers: response.headers, body, socket: socket! }),
            reject,
          );
        });
        request.once('socket', (s: net.Socket) => (socket = s));
        request.once('error', reject);
      });
      expect(second.status).to.equal(200);
      expect(second.body.toString()).to.equal('hello GET /two?x=1');
      expect(second.socket).to.equal(first.socket);
      expect(made).to.have.length(1);
      expect(tlsConnections).to.equal(1);
    });

    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      it(`resumes a ${version} session taken from the 'session' event`, async () => {
        const { server, port } = await nodeHttpsServer((_req, res) => res.end('resumable'));
        let tlsConnections = 0;
        server.on('secureConnection', () => tlsConnections++);
        const options: tls.ConnectionOptions = { host: HOST, port, ca, servername: SERVER_NAME, minVersion: version, maxVersion: version };
        const get = `GET / HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nConnection: close\r\n\r\n`;

        const first = teardown.stream(tls.connect(options));
        const sessions: Buffer[] = [];
        first.on('session', (session: Buffer) => sessions.push(session));
        await once(first, 'secureConnect');
        expect(first.getProtocol()).to.equal(version);
        expect(first.isSessionReused()).to.equal(false);
        // TLS 1.3 tickets come after the handshake: read a whole response first.
        first.write(get);
        const firstResponse = (await readToEnd(first)).toString();
        expect(firstResponse).to.match(/^HTTP\/1\.1 200 OK\r\n/);
        expect(firstResponse).to.match(/\r\n\r\nresumable$/);
        expect(sessions.length).to.be.greaterThan(0);
        for (const session of sessions) expect(Buffer.isBuffer(session)).to.equal(true);

        const second = teardown.stream(tls.connect({ ...options, session: sessions[sessions.length - 1] }));
        await once(second, 'secureConnect');
        expect(second.isSessionReused()).to.equal(true);
        expect(second.authorized).to.equal(true);
        expect(second.getProtocol()).to.equal(version);
        second.write(get);
        const secondResponse = (await readToEnd(second)).toString();
        expect(secondResponse).to.match(/^HTTP\/1\.1 200 OK\r\n/);
        expect(secondResponse).to.match(/\r\n\r\nresumable$/);
        expect(tlsConnections).to.equal(2);
      });
    }
  });

  describe('http.Server over our tls.createServer', () => {
    const handler: http.RequestListener = (req, res) => {
      const socket = req.socket as tls.TLSSocket;
      if (req.method === 'POST') {
        readToEnd(req).then((body) => {
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'x-received-length': String(body.length),
            'x-received-sha256': sha256(body),
          });
          res.end(body);
        });
        return;
      }
      res.setHeader('content-type', 'text/plain');
      res.end(`${req.method} ${req.url} encrypted=${socket.encrypted} alpn=${socket.alpnProtocol}`);
    };

    it('answers curl GET and a 1 MiB curl POST echoed back intact', async () => {
      const { port } = await httpOverOurTls(handler);
      const common = ['-sS', '--fail', '--http1.1', '--cacert', certPath('ca.pem'), '--resolve', `${SERVER_NAME}:${port}:${HOST}`];
      const url = `https://${SERVER_NAME}:${port}`;

      const get = await run(teardown, '/usr/bin/curl', [...common, '-w', '\n%{http_code} %{ssl_verify_result}', `${url}/from-curl?q=1`]);
      expect(get.stdout).to.equal('GET /from-curl?q=1 encrypted=true alpn=http/1.1\n200 0');

      const dir = tempDir();
      const input = path.join(dir, 'upload.bin');
      const output = path.join(dir, 'download.bin');
      const upload = randomBytes(MiB);
      fs.writeFileSync(input, upload);
      const post = await run(teardown, '/usr/bin/curl', [
        ...common,
        '--data-binary',
        `@${input}`,
        '-H',
        'content-type: application/octet-stream',
        '-o',
        output,
        '-D',
        '-',
        `${url}/echo`,
      ]);
      expect(post.stdout).to.match(/^HTTP\/1\.1 200 OK\r\n/m);
      expect(post.stdout.toLowerCase()).to.include(`x-received-length: ${MiB}\r\n`);
      expect(post.stdout.toLowerCase()).to.include(`x-received-sha256: ${sha256(upload)}\r\n`);
      const echoed = fs.readFileSync(output);
      expect(echoed.length).to.equal(MiB);
      expect(sha256(echoed)).to.equal(sha256(upload));
    });

    it('answers node:https GET and a 1 MiB POST', async () => {
      const { port } = await httpOverOurTls(handler);
      const get = await httpsRequest({ host: HOST, port, path: '/from-node', ca, servername: SERVER_NAME, agent: false });
      expect(get.status).to.equal(200);
      // node:https offers no ALPN unless asked, so none is selected.
      expect(get.body.toString()).to.equal('GET /from-node encrypted=true alpn=false');
      expect((get.socket as import('node:tls').TLSSocket).authorized).to.equal(true);

      const upload = randomBytes(MiB);
      const post = await httpsRequest(
        { host: HOST, port, path: '/echo', method: 'POST', ca, servername: SERVER_NAME, agent: false },
        upload,
      );
      expect(post.status).to.equal(200);
      expect(post.headers['x-received-length']).to.equal(String(MiB));
      expect(post.headers['x-received-sha256']).to.equal(sha256(upload));
      expect(sha256(post.body)).to.equal(sha256(upload));
    });
  });

  describe('ws', () => {
    it('a ws client over our connect talks to a ws server on node:https', async () => {
      const server = teardown.server(https.createServer({ key, cert }));
      const wss = new WebSocketServer({ server });
      teardown.add(() => new Promise<void>((resolve) => wss.close(() => resolve())));
      const serverSide = new Promise<WebSocket>((resolve) =>
        wss.once('connection', (ws) => {
          echo(ws);
          resolve(ws);
        }),
      );
      const port = await listen(server);

      const made: tls.TLSSocket[] = [];
      const createConnection = (options: tls.ConnectionOptions): tls.TLSSocket => {
        // As ws's own tlsConnect: `path` is the request path, not a socket path.
        const socket = tls.connect({ ...options, path: undefined, servername: SERVER_NAME, ca });
        made.push(socket);
        return socket;
      };
      const client = new WebSocket(`wss://${SERVER_NAME}:${port}/echo`, {
        createConnection: createConnection as unknown as typeof net.createConnection,
      });
      teardown.add(() => client.terminate());
      await echoAndClose(client, serverSide);
      expect(made).to.have.length(1);
      expect(made[0].authorized).to.equal(true);
    });

    it('a node ws client talks to a ws server fed by our tls.createServer', async () => {
      const httpServer = http.createServer((_req, res) => {
        res.statusCode = 426;
        res.end();
      });
      const wss = new WebSocketServer({ noServer: true });
      teardown.add(() => new Promise<void>((resolve) => wss.close(() => resolve())));
      const serverSide = new Promise<WebSocket>((resolve) => {
        httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
          expect(socket).to.be.instanceOf(tls.TLSSocket);
          wss.handleUpgrade(req, socket, head, (ws) => {
            echo(ws);
            resolve(ws);
          });
        });
      });
      const tlsServer = teardown.server(tls.createServer({ key, cert }, (socket) => httpServer.emit('connection', socket)));
      const port = await listen(tlsServer);

      const client = new WebSocket(`wss://${SERVER_NAME}:${port}/`, { ca });
      teardown.add(() => client.terminate());
      await echoAndClose(client, serverSide);
    });
  });

  describe('undici', () => {
    it('a Client whose connector is our connect makes sequential and pipelined requests', async () => {
      const { port } = await nodeHttpsServer((req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(`undici ${req.method} ${req.url}`);
      });
      const made: tls.TLSSocket[] = [];
      const hostnames: string[] = [];
      const client = new undici.Client(`https://${SERVER_NAME}:${port}`, {
        pipelining: 2,
        connect: (options, callback) => {
          hostnames.push(options.hostname);
          // undici hands a custom connector no servername of its own (null):
          // derive it from the hostname, as its built-in connector does.
          const socket = tls.connect({
            host: HOST,
            port: Number(options.port),
            servername: options.servername || (net.isIP(options.hostname) === 0 ? options.hostname : undefined),
            ca,
            ALPNProtocols: ['http/1.1'],
          });
          made.push(socket);
          const onError = (error: Error): void => callback(error, null);
          socket.once('error', onError);
          socket.once('secureConnect', () => {
            socket.off('error', onError);
            callback(null, socket);
          });
        },
      });
      teardown.add(() => client.destroy());

      for (const n of [1, 2, 3]) {
        const { statusCode, headers, body } = await client.request({ path: `/seq/${n}`, method: 'GET' });
        expect(statusCode).to.equal(200);
        expect(headers['content-type']).to.equal('text/plain');
        expect(await body.text()).to.equal(`undici GET /seq/${n}`);
      }

      const [a, b] = await Promise.all([
        client.request({ path: '/pair/a', method: 'GET' }),
        client.request({ path: '/pair/b', method: 'POST', body: 'payload' }),
      ]);
      expect([a.statusCode, b.statusCode]).to.deep.equal([200, 200]);
      expect(await a.body.text()).to.equal('undici GET /pair/a');
      expect(await b.body.text()).to.equal('undici POST /pair/b');

      expect(made).to.have.length(1);
      expect(hostnames).to.deep.equal([SERVER_NAME]);
      expect(made[0].authorized).to.equal(true);
      expect(made[0].alpnProtocol).to.equal('http/1.1');
      await client.close();
    });
  });

  describe('STARTTLS on a plain line protocol', () => {
    type Variant = 'reply GO, then upgrade' | 'ClientHello sent with STARTTLS' | 'server pauses the plain socket';

    /**
     * A plain TCP server: reads "STARTTLS\r\n", answers "GO\r\n" (except in
     * the pipelined variant), waits until the client's first TLS bytes sit in
     * the plain socket's buffer, then upgrades with new tls.TLSSocket. Over
     * TLS it reads `expect` bytes, answers with their digest and its own
     * payload, and ends once the client has ended.
     */
    async function starttlsServer(
      variant: Variant,
      expectBytes: number,
      serverPayload: Buffer,
    ): Promise<{ port: number; received: Promise<Buffer>; ended: Promise<void> }> {
      let deliver!: (data: Buffer) => void;
      let fail!: (error: Error) => void;
      let endSeen!: () => void;
      const received = new Promise<Buffer>((resolve, reject) => {
        deliver = resolve;
        fail = reject;
      });
      const ended = new Promise<void>((resolve) => (endSeen = resolve));
      const server = teardown.server(
        net.createServer((plain) => {
          (async () => {
            const line = await readLine(plain);
            expect(line).to.equal('STARTTLS');
            if (variant !== 'ClientHello sent with STARTTLS') plain.write('GO\r\n');
            // The ClientHello is already waiting, unread, in the plain socket.
            await bytesBuffered(plain);
            if (variant === 'server pauses the plain socket') plain.pause();
            const secure = teardown.stream(
              new tls.TLSSocket(plain, { isServer: true, secureContext: tls.createSecureContext({ key, cert }) }),
            );
            secure.once('error', fail);
            await once(secure, 'secure');
            secure.once('end', () => {
              endSeen();
              secure.end();
            });
            const data = await readBytes(secure, expectBytes);
            deliver(data);
            secure.write(Buffer.concat([Buffer.from(`${sha256(data)}\r\n`), serverPayload]));
          })().catch(fail);
        }),
      );
      return { port: await listen(server), received, ended };
    }

    for (const variant of ['reply GO, then upgrade', 'ClientHello sent with STARTTLS', 'server pauses the plain socket'] as Variant[]) {
      it(`upgrades both sides: ${variant}`, async () => {
        const serverPayload = randomBytes(64 * 1024);
        const clientPayload = randomBytes(200 * 1024);
        const { port, received, ended } = await starttlsServer(variant, clientPayload.length, serverPayload);

        const plain = teardown.stream(net.connect(port, HOST));
        await once(plain, 'connect');
        let secure: tls.TLSSocket;
        if (variant === 'ClientHello sent with STARTTLS') {
          // The command and the ClientHello leave in one write.
          plain.cork();
          plain.write('STARTTLS\r\n');
          secure = tls.connect({ socket: plain, servername: SERVER_NAME, ca });
          setImmediate(() => plain.uncork());
        } else {
          plain.write('STARTTLS\r\n');
          expect(await readLine(plain)).to.equal('GO');
          secure = tls.connect({ socket: plain, servername: SERVER_NAME, ca });
        }
        teardown.stream(secure);
        await once(secure, 'secureConnect');
        expect(secure.authorized).to.equal(true);
        expect(secure.getPeerCertificate()!.subject.CN).to.equal(SERVER_NAME);

        const digestLine = `${sha256(clientPayload)}\r\n`;
        const answer = readBytes(secure, digestLine.length + serverPayload.length);
        secure.write(clientPayload);
        const serverGot = await received;
        expect(serverGot.length).to.equal(clientPayload.length);
        expect(sha256(serverGot)).to.equal(sha256(clientPayload));
        const reply = await answer;
        expect(reply.subarray(0, digestLine.length).toString()).to.equal(digestLine);
        expect(sha256(reply.subarray(digestLine.length))).to.equal(sha256(serverPayload));

        const clientClosed = once(secure, 'close');
        secure.end();
        await ended;
        await clientClosed;
        expect(plain.destroyed).to.equal(true);
      });
    }
  });

  describe('TLS half-close', () => {
    it('the client ends first and still reads the answer the server writes after its end', async () => {
      // The request/response shape of HTTP/1.0 or an SMTP QUIT: the server
      // answers once it has seen the client's end.
      const server = teardown.server(
        tls.createServer({ key, cert, allowHalfOpen: true }, (socket) => {
          readToEnd(socket).then((request) => socket.end(`answer to ${request.toString()}`));
        }),
      );
      const port = await listen(server);
      const client = teardown.stream(tls.connect({ host: HOST, port, servername: SERVER_NAME, ca }));
      await once(client, 'secureConnect');
      const answer = readToEnd(client);
      client.end('question');
      expect((await answer).toString()).to.equal('answer to question');
    });

    /** A half-open server that answers the whole request only once the client's TCP FIN has arrived too. */
    async function lateAnswerServer(): Promise<number> {
      const server = teardown.server(
        tls.createServer({ key, cert, allowHalfOpen: true }, (socket) => {
          const finSeen = once(socket._parent as net.Socket, 'end');
          readToEnd(socket)
            .then(async (request) => {
              await finSeen;
              socket.end(`late answer to ${request.toString()}`);
            })
            .catch(() => undefined);
        }),
      );
      return listen(server);
    }

    it("answers a node:tls client after its close_notify and its TCP FIN have both arrived", async () => {
      // node:tls sends close_notify and FIN together on end(); the FIN alone
      // must not close a server that keeps writing (allowHalfOpen).
      const port = await lateAnswerServer();
      const client = teardown.stream(nodeTls.connect({ host: HOST, port, servername: SERVER_NAME, ca }));
      await once(client, 'secureConnect');
      const answer = readToEnd(client);
      client.end('question');
      expect((await answer).toString()).to.equal('late answer to question');
    });

    it('after answering such a peer, ends with its own close_notify, not just a TCP FIN', async () => {
      // A raw engine as the client: it fails with SSLEOFError if the server
      // closes without close_notify (node:tls would tolerate that).
      const port = await lateAnswerServer();
      const raw = teardown.stream(net.connect({ host: HOST, port }));
      await once(raw, 'connect');
      const pump = new SocketPump(clientContext(), raw, { serverHostname: SERVER_NAME });
      await pump.handshake();
      await pump.send(Buffer.from('question'));
      try {
        pump.ssl.unwrap(); // our close_notify; the server's comes later
      } catch (error) {
        expect(error).to.be.instanceOf(SSLWantReadError);
      }
      raw.end(pump.outgoing.read()); // close_notify, then FIN
      const answer = 'late answer to question';
      expect((await pump.receiveExactly(answer.length)).toString()).to.equal(answer);
      // Both close_notify sent: the server's shows as SSLZeroReturnError; a
      // bare FIN would be SSLEOFError.
      const end = await pump.receiveUntilEnd().then(
        () => null,
        (error: unknown) => error,
      );
      expect(end).to.be.instanceOf(SSLZeroReturnError);
    });

    it("answers when the peer's close_notify and FIN arrived while the server was not reading", async () => {
      // 200 KiB fill the TLSSocket's buffer, so the protocol layer stops
      // reading with the close_notify still undecrypted when the FIN comes.
      const request = randomBytes(200 * 1024);
      const server = teardown.server(
        tls.createServer({ key, cert, allowHalfOpen: true }, (socket) => {
          socket.pause();
          once(socket._parent as net.Socket, 'end')
            .then(() => {
              const all = readToEnd(socket);
              socket.resume();
              return all;
            })
            .then((received) => socket.end(`answer to ${sha256(received)}`))
            .catch(() => undefined);
        }),
      );
      const port = await listen(server);
      const client = teardown.stream(nodeTls.connect({ host: HOST, port, servername: SERVER_NAME, ca }));
      await once(client, 'secureConnect');
      const answer = readToEnd(client);
      client.end(request);
      expect((await answer).toString()).to.equal(`answer to ${sha256(request)}`);
    });
  });

  describe('TLS over other streams', () => {
    it('runs over an in-memory Duplex pair and moves 1 MiB each way', async () => {
      const [serverEnd, clientEnd] = duplexPair();
      teardown.stream(serverEnd);
      teardown.stream(clientEnd);
      const server = teardown.stream(
        new tls.TLSSocket(serverEnd, { isServer: true, secureContext: tls.createSecureContext({ key, cert }) }),
      );
      const client = teardown.stream(tls.connect({ socket: clientEnd, servername: SERVER_NAME, ca }));
      await Promise.all([once(server, 'secure'), once(client, 'secureConnect')]);
      expect(client.authorized).to.equal(true);
      expect(server.servername).to.equal(SERVER_NAME);

      const up = randomBytes(MiB);
      const down = randomBytes(MiB);
      const serverGot = readBytes(server, MiB);
      const clientGot = readBytes(client, MiB);
      client.write(up);
      server.write(down);
      const [atServer, atClient] = await Promise.all([serverGot, clientGot]);
      expect(atServer.length).to.equal(MiB);
      expect(sha256(atServer)).to.equal(sha256(up));
      expect(atClient.length).to.equal(MiB);
      expect(sha256(atClient)).to.equal(sha256(down));

      const serverEnded = once(server, 'end');
      const bothClosed = Promise.all([once(server, 'close'), once(client, 'close')]);
      client.end();
      await serverEnded;
      server.end();
      await bothClosed;
    });

    it('runs TLS inside a TLS connection made by our connect and createServer', async () => {
      const innerContext = tls.createSecureContext({ key: readCert('alt.key'), cert: readCert('alt.pem') });
      let innerSecure!: (socket: tls.TLSSocket) => void;
      let innerFailed!: (error: Error) => void;
      const innerServerSecure = new Promise<tls.TLSSocket>((resolve, reject) => {
        innerSecure = resolve;
        innerFailed = reject;
      });
      const outerServer = teardown.server(
        tls.createServer({ key, cert }, (outer) => {
          const inner = teardown.stream(new tls.TLSSocket(outer, { isServer: true, secureContext: innerContext }));
          inner.once('error', innerFailed);
          inner.once('secure', () => innerSecure(inner));
          inner.pipe(inner); // echo
        }),
      );
      const port = await listen(outerServer);

      const outer = teardown.stream(tls.connect({ host: HOST, port, servername: SERVER_NAME, ca }));
      await once(outer, 'secureConnect');
      expect(outer.getPeerCertificate()!.subject.CN).to.equal(SERVER_NAME);

      const inner = teardown.stream(tls.connect({ socket: outer, servername: 'alt.memtls.test', ca }));
      await once(inner, 'secureConnect');
      expect(inner.authorized).to.equal(true);
      expect(inner.getPeerCertificate()!.subject.CN).to.equal('alt.memtls.test');
      const innerServer = await innerServerSecure;
      expect(innerServer.servername).to.equal('alt.memtls.test');

      const payload = randomBytes(256 * 1024);
      const echoed = readBytes(inner, payload.length);
      inner.write(payload);
      expect(sha256(await echoed)).to.equal(sha256(payload));

      const closedAll = Promise.all([once(inner, 'close'), once(outer, 'close')]);
      inner.end();
      await closedAll;
    });
  });

  describe('openssl command-line peers', () => {
    it('openssl s_client verifies our server and exchanges data with it', async () => {
      let deliver!: (text: string) => void;
      const received = new Promise<string>((resolve) => (deliver = resolve));
      const server = teardown.server(
        tls.createServer({ key, cert }, (socket) => {
          let text = '';
          socket.setEncoding('latin1');
          socket.on('data', (chunk: string) => {
            text += chunk;
            if (text.endsWith('\n')) {
              deliver(text);
              socket.end('goodbye from memtls\n');
            }
          });
        }),
      );
      const port = await listen(server);
      const result = await runOpensslClient(
        [
          '-connect',
          `${HOST}:${port}`,
          '-CAfile',
          certPath('ca.pem'),
          '-servername',
          SERVER_NAME,
          '-verify_hostname',
          SERVER_NAME,
          '-verify_return_error',
          '-ign_eof',
        ],
        'hello from s_client\n',
      );
      expect(await received).to.equal('hello from s_client\n');
      expect(result.output).to.include('Verify return code: 0 (ok)');
      expect(result.output).to.include('goodbye from memtls\n');
      expect(result.code).to.equal(0);
    });

    for (const [flag, version] of [
      ['-tls1_2', 'TLSv1.2'],
      ['-tls1_3', 'TLSv1.3'],
    ] as const) {
      it(`our connect talks to openssl s_server -rev (${version})`, async () => {
        const server = await startOpensslServer([
          '-cert',
          certPath('server-rsa.pem'),
          '-key',
          certPath('server-rsa.key'),
          flag,
          '-rev',
          '-naccept',
          '1',
        ]);
        const client = teardown.stream(tls.connect({ host: HOST, port: server.port, servername: SERVER_NAME, ca }));
        await once(client, 'secureConnect');
        expect(client.authorized).to.equal(true);
        expect(client.authorizationError).to.equal(null);
        expect(client.getProtocol()).to.equal(version);

        const line = 'hello openssl\n';
        const reply = readBytes(client, line.length);
        client.write(line);
        expect((await reply).toString()).to.equal('lssnepo olleh\n');

        const clientClosed = once(client, 'close');
        client.end();
        await clientClosed;
        expect(await server.waitForOutput(/CONNECTION CLOSED/)).to.include('CONNECTION CLOSED');
      });
    }
  });
});

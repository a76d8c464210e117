/**
 * Node's own https tests, re-expressed with node:https clients whose Agent
 * makes its connections with memtls's tls.connect (and keeps node's session
 * cache), against node:https servers, and against node:http fed by a
 * memtls/tls server.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import { readCert } from '../helpers/certs';
import { HOST, listen, atCleanup } from '../helpers/node-tls';

const ca = readCert('ca.pem');
const ec = { key: readCert('server-ec.key'), cert: readCert('server-ec.pem') };

/** The parts of https.Agent's session cache that its createConnection uses. */
interface SessionCache {
  _getSession(key: string): Buffer | undefined;
  _cacheSession(key: string, session: Buffer): void;
  _evictSession(key: string): void;
}

/**
 * An https.Agent whose connections are memtls TLSSockets. Like node's own
 * Agent it offers a cached session for the connection's agent key, caches
 * the sessions the socket reports and forgets them when it closes on error.
 */
class MemtlsAgent extends https.Agent {
  override createConnection(requestOptions: http.RequestOptions): net.Socket {
    const options = requestOptions as tls.ConnectionOptions & { _agentKey?: string };
    const cache = this as unknown as SessionCache;
    const agentKey = options._agentKey;
    const session = agentKey ? cache._getSession(agentKey) : undefined;
    const socket = tls.connect(session ? { session, ...options } : options);
    if (agentKey) {
      socket.on('session', (fresh: Buffer) => cache._cacheSession(agentKey, fresh));
      socket.once('close', (hadError: boolean) => {
        if (hadError) cache._evictSession(agentKey);
      });
    }
    return socket;
  }
}

function agent(options: https.AgentOptions = {}): MemtlsAgent {
  const made = new MemtlsAgent(options);
  atCleanup(() => made.destroy());
  return made;
}

interface Response {
  res: http.IncomingMessage;
  body: string;
  /** The TLS socket's isSessionReused() and getSession(), read when the response arrived. */
  reused: boolean;
  session: Buffer | undefined;
}

/** Sends a request; resolves with the response and its whole body. */
function request(options: https.RequestOptions, body?: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const reused = socket.isSessionReused();
      const session = socket.getSession();
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve({ res, body: text, reused, session }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('node https: a simple request', () => {
  // Ported from nodejs/node test/parallel/test-https-simple.js
  const body = 'hello world\n';
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  };

  for (const [name, makeServer] of [
    ['node:https server', () => https.createServer(ec, handler)],
    ['node:http over a memtls/tls server', () => {
      const httpServer = http.createServer(handler);
      return tls.createServer(ec, (socket) => httpServer.emit('connection', socket));
    }],
  ] as Array<[string, () => net.Server]>) {
    it(`${name}: GET succeeds without verification, and fails with UNABLE_TO_VERIFY_LEAF_SIGNATURE with it`, async () => {
      const port = await listen(makeServer());
      let served = 0;
      const ok = await request({ hostname: HOST, port, path: '/', method: 'GET', rejectUnauthorized: false, agent: agent() });
      served++;
      expect(ok.res.statusCode).to.equal(200);
      expect(ok.body).to.equal(body);
      expect((ok.res.socket as tls.TLSSocket).encrypted).to.equal(true);

      const failure = await request({ hostname: HOST, port, path: '/', method: 'GET', agent: agent() }).then(
        () => undefined,
        (error: Error & { code?: string }) => error,
      );
      expect(failure?.code).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(served).to.equal(1);
    });
  }
});

describe('node https: the checkServerIdentity option', () => {
  // Ported from nodejs/node test/parallel/test-https-client-checkServerIdentity.js
  it('fails a name mismatch, and succeeds when checkServerIdentity accepts', async () => {
    const server = https.createServer({ key: readCert('alt.key'), cert: readCert('alt.pem') }, (req, res) => {
      res.writeHead(200);
      res.end();
      req.resume();
    });
    const port = await listen(server);
    const failure = await request({ host: HOST, port, ca: [ca], rejectUnauthorized: true, agent: agent() }).then(
      () => undefined,
      (error: Error & { code?: string }) => error,
    );
    expect(failure?.code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');

    const options = { host: HOST, port, ca: [ca], rejectUnauthorized: true, checkServerIdentity: () => undefined };
    const ok = await request({ ...options, agent: agent(options) });
    expect(ok.res.statusCode).to.equal(200);
    expect((ok.res.socket as tls.TLSSocket).authorized).to.equal(true);
  });
});

describe('node https: Agent session reuse', () => {
  // Ported from nodejs/node test/parallel/test-https-agent-session-reuse.js
  it('resumes per agent key, and starts over once the server drops its ticket keys', async () => {
    let serverRequests = 0;
    const server = https.createServer(ec, (req, res) => {
      if (req.url === '/drop-key') server.setTicketKeys(randomBytes(48));
      serverRequests++;
      res.end('ok');
    });
    const port = await listen(server);
    const shared = agent({ maxCachedSessions: 1 });
    const base = { host: HOST, port, servername: 'localhost', ca, agent: shared, method: 'GET' };
    const steps: Array<[string, https.RequestOptions]> = [
      ['first', { path: '/' }],
      ['first-reuse', { path: '/' }],
      // Another cipher list is another agent key: another cache entry, which
      // pushes the first one out (maxCachedSessions: 1).
      ['cipher-change', { path: '/', ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256' }],
      ['before-drop', { path: '/drop-key' }],
      ['after-drop', { path: '/' }],
      ['after-drop-reuse', { path: '/' }],
    ];
    const reused: Record<string, boolean> = {};
    const sessions: Record<string, string> = {};
    for (const [name, extra] of steps) {
      const response = await request({ ...base, ...extra });
      expect(response.body).to.equal('ok');
      reused[name] = response.reused;
      sessions[name] = response.session?.toString('hex') ?? '';
    }
    expect(serverRequests).to.equal(6);
    expect(reused).to.deep.equal({
      first: false,
      'first-reuse': true,
      'cipher-change': false,
      'before-drop': false,
      'after-drop': false,
      'after-drop-reuse': true,
    });
    expect(sessions['cipher-change']).to.not.equal(sessions.first);
    expect(sessions['before-drop']).to.not.equal(sessions.first);
    expect(sessions['before-drop']).to.not.equal(sessions['cipher-change']);
    expect(sessions['after-drop']).to.not.equal(sessions['before-drop']);
  });
});

describe('node https: a response read in small steps', () => {
  // Ported from nodejs/node test/parallel/test-https-truncate.js
  it('delivers every byte of a 32 KiB + 1 body when the reader pauses after each chunk', async () => {
    const data = Buffer.alloc(32 * 1024 + 1, 0x5a);
    const server = https.createServer(ec, (_req, res) => {
      res.setHeader('content-length', data.length);
      res.end(data);
    });
    const port = await listen(server);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      https.get({ host: HOST, port, rejectUnauthorized: false, agent: agent() }, resolve).once('error', reject);
    });
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Pause and resume on each chunk, so that a lone last byte may be left behind.
      res.pause();
      setTimeout(() => res.resume(), 1);
    });
    await once(res, 'end');
    expect(res.readableLength).to.equal(0);
    expect(bytes).to.equal(data.length);
  });
});

describe('node https: request body back-pressure', () => {
  // Ported from nodejs/node test/parallel/test-https-drain.js
  it('keeps an echoed POST intact while the response is paused and the request fills up', async () => {
    const server = https.createServer(ec, (req, res) => {
      res.writeHead(200);
      req.pipe(res);
    });
    const port = await listen(server);
    const blockSize = 1024 * 1024;
    let sent = 0;
    let received = 0;
    let resumed = false;
    let dataBeforeResume = false;
    await new Promise<void>((resolve, reject) => {
      const req = https.request({ method: 'POST', host: HOST, port, rejectUnauthorized: false, agent: agent() }, (res) => {
        res.pause();
        res.on('data', (chunk: Buffer) => {
          if (!resumed) dataBeforeResume = true;
          received += chunk.length;
          if (received >= sent) {
            req.end();
            resolve();
          }
        });
        const send = (): void => {
          const more = req.write(Buffer.alloc(blockSize, 0x62));
          sent += blockSize;
          if (more) {
            if (sent >= 100 * blockSize) reject(new Error('req.write() never returned false'));
            else process.nextTick(send);
            return;
          }
          resumed = true;
          res.resume();
        };
        send();
      });
      req.once('error', reject);
      req.write('a');
      sent++;
    });
    expect(dataBeforeResume).to.equal(false);
    expect(received).to.equal(sent);
  });
});

/**
 * Node's own session resumption tests, re-expressed against memtls/tls: a
 * client resuming with the session it was given, ticket keys shared and
 * rotated across server instances, and openssl s_client reconnecting to a
 * server that asks for client certificates.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';

import * as tls from '../../lib/tls';
import { certPath, readCert } from '../helpers/certs';
import { HOST, listen, track } from '../helpers/node-tls';
import { killOpensslChildren, runOpensslClient } from '../helpers/openssl-cli';

const key = readCert('server-ec.key');
const cert = readCert('server-ec.pem');
const ca = readCert('ca.pem');

afterEach(killOpensslChildren);

describe('node tls: a client resuming its session', () => {
  // Ported from nodejs/node test/parallel/test-tls-client-resume.js
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: the 'session' event gives a session that resumes on the next connection`, async () => {
      const reusedOnServer: boolean[] = [];
      const server = tls.createServer({ key, cert, maxVersion: version }, (socket) => {
        reusedOnServer.push(socket.isSessionReused());
        socket.end('Goodbye');
      });
      const port = await listen(server);

      const first = track(tls.connect({ port, host: HOST, ca }));
      let sessions = 0;
      const firstSession = new Promise<Buffer>((resolve) => first.once('session', resolve));
      first.on('session', () => sessions++);
      await once(first, 'secureConnect');
      expect(first.getProtocol()).to.equal(version);
      expect(first.isSessionReused()).to.equal(false);
      const rightAfterHandshake = first.getSession();
      expect(rightAfterHandshake).to.be.instanceOf(Buffer);
      const session = await firstSession;
      if (version === 'TLSv1.3') {
        // Before the tickets arrive TLS 1.3 has only a session that cannot resume.
        expect(rightAfterHandshake!.equals(session)).to.equal(false);
      } else {
        expect(rightAfterHandshake!.equals(session)).to.equal(true);
      }
      first.resume();
      if (!first.closed) await once(first, 'close');
      expect(sessions).to.equal(version === 'TLSv1.3' ? 2 : 1);

      const second = track(tls.connect({ port, host: HOST, ca, session }));
      await once(second, 'secureConnect');
      expect(second.isSessionReused()).to.equal(true);
      expect(second.authorized).to.equal(true);
      second.resume();
      if (!second.closed) await once(second, 'close');
      expect(reusedOnServer).to.deep.equal([false, true]);
    });
  }
});

describe('memtls/tls: session Buffers handed back to connect()', () => {
  /** Resolves with the first resumable session a client of `port` is given. */
  async function sessionFrom(port: number): Promise<Buffer> {
    const socket = track(tls.connect({ port, host: HOST, ca }));
    const session = await new Promise<Buffer>((resolve) => socket.once('session', resolve));
    socket.end();
    return session;
  }

  async function resumes(port: number, session: Buffer): Promise<boolean> {
    const socket = track(tls.connect({ port, host: HOST, ca, session }));
    await once(socket, 'secureConnect');
    const reused = socket.isSessionReused();
    socket.end();
    return reused;
  }

  it('a session resumes after the connection it came from was destroyed without close_notify', async () => {
    const server = tls.createServer({ key, cert }, (socket) => socket.on('error', () => undefined));
    const port = await listen(server);
    const first = track(tls.connect({ port, host: HOST, ca }));
    const session = await new Promise<Buffer>((resolve) => first.once('session', resolve));
    first.destroy();
    await once(first, 'close');
    expect(await resumes(port, session)).to.equal(true);
    // The same Buffer, zeroed after it was parsed: no longer a session, so a full handshake.
    session.fill(0);
    expect(await resumes(port, session)).to.equal(false);
  });

  it('one session Buffer resumes many connections; the same Buffer rewritten with another session is parsed again', async () => {
    // Two servers with different ticket keys: each accepts only its own tickets.
    const servers = [1, 2].map(() => tls.createServer({ key, cert, ticketKeys: randomBytes(48) }, (socket) => socket.end()));
    const [portA, portB] = await Promise.all(servers.map((server) => listen(server)));
    const sessionA = await sessionFrom(portA);
    const sessionB = await sessionFrom(portB);
    const reusedA: boolean[] = [];
    for (let i = 0; i < 3; i++) reusedA.push(await resumes(portA, sessionA));
    expect(reusedA).to.deep.equal([true, true, true]);

    // One Buffer, first holding A's session, then B's (trailing bytes are ignored by the parser).
    const holder = Buffer.alloc(sessionA.length + sessionB.length);
    sessionA.copy(holder);
    expect(await resumes(portA, holder)).to.equal(true);
    holder.fill(0);
    sessionB.copy(holder);
    expect(await resumes(portB, holder)).to.equal(true);
    expect(await resumes(portA, holder)).to.equal(false);
  });
});

describe('node tls: ticket keys shared and rotated across servers', () => {
  // Ported from nodejs/node test/parallel/test-tls-ticket.js
  it('resumes on every server holding the keys the ticket was sealed with, and only there', async () => {
    const keys = randomBytes(48);
    const acceptedBy: number[] = [];
    let current: tls.TLSSocket | undefined;
    const makeServer = (id: number): tls.Server => {
      let count = 0;
      let original: Buffer | undefined;
      const server = tls.createServer({ key, cert, ticketKeys: keys }, (socket) => {
        acceptedBy.push(id);
        socket.end('x');
        count++;
        // Rotate only once this connection's ticket was sealed: right away
        // when it resumed, else once the client has its new session.
        const rotate = (next: Buffer): void => {
          if (socket.isSessionReused()) server.setTicketKeys(next);
          else current!.once('session', () => server.setTicketKeys(next));
        };
        if (count === 1) {
          original = server.getTicketKeys();
          expect(original.equals(keys)).to.equal(true);
          rotate(randomBytes(48));
        } else if (count === 2) {
          rotate(original!);
        }
      });
      return server;
    };
    const instances = [makeServer(0), makeServer(1), makeServer(2)];
    const order = [...instances, ...instances, ...instances];
    const port = await listen(net.createServer((raw) => order.shift()!.emit('connection', raw)));

    let session: Buffer | undefined;
    const reused: boolean[] = [];
    for (let i = 0; i < 9; i++) {
      const socket = track(tls.connect({ port, host: HOST, ca, session }));
      current = socket;
      socket.once('session', (fresh: Buffer) => (session ??= fresh));
      await once(socket, 'secureConnect');
      reused.push(socket.isSessionReused());
      socket.on('data', () => socket.end());
      if (!socket.closed) await once(socket, 'close');
    }
    expect(acceptedBy).to.deep.equal([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    // Fresh first; resumed on the other two; then each server holds random
    // keys for one connection; then the original keys are back everywhere.
    expect(reused).to.deep.equal([false, true, true, false, false, false, true, true, true]);
  });

  it('getTLSTicket() returns the ticket inside the session, the same one while it resumes', async () => {
    const server = tls.createServer({ key, cert, maxVersion: 'TLSv1.2' }, (socket) => socket.end('x'));
    const port = await listen(server);
    let session: Buffer | undefined;
    const tickets: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = track(tls.connect({ port, host: HOST, ca, session }));
      socket.once('session', (fresh: Buffer) => (session ??= fresh));
      await once(socket, 'secureConnect');
      expect(socket.isSessionReused()).to.equal(i > 0);
      tickets.push(socket.getTLSTicket()!);
      socket.resume();
      if (!socket.closed) await once(socket, 'close');
    }
    expect(tickets[0]).to.be.instanceOf(Buffer);
    // A ticket is sealed server state, carried inside the client's session.
    expect(tickets[0].length).to.be.below(session!.length);
    expect(session!.includes(tickets[0])).to.equal(true);
    expect(tickets[1].equals(tickets[0])).to.equal(true);
    expect(tickets[2].equals(tickets[0])).to.equal(true);
  });
});

describe('node tls: resumption for a server that requests client certificates', () => {
  // Ported from nodejs/node test/parallel/test-tls-session-cache.js (the
  // external cache events 'newSession'/'resumeSession' are not in memtls)
  for (const tickets of [true, false]) {
    it(tickets ? 'openssl s_client -reconnect resumes 5 times out of 6 with tickets' : 'openssl s_client -reconnect without tickets: all 6 handshakes succeed', async () => {
      let requests = 0;
      const reusedOnServer: boolean[] = [];
      const server = tls.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: false }, (socket) => {
        requests++;
        reusedOnServer.push(socket.isSessionReused());
        socket.on('error', () => undefined);
        socket.end('');
      });
      const port = await listen(server);
      const args = ['-connect', `${HOST}:${port}`, '-tls1_2', '-servername', 'localhost', '-cert', certPath('client.pem'), '-key', certPath('client.key'), '-reconnect'];
      if (!tickets) args.push('-no_ticket');
      const result = await runOpensslClient(args);
      expect(result.code, result.output).to.equal(0);
      expect(requests).to.equal(6);
      if (tickets) {
        expect(reusedOnServer).to.deep.equal([false, true, true, true, true, true]);
        expect(result.output.match(/^Reused, /gm) ?? [], result.output).to.have.length(5);
      }
      // Without tickets node:tls resumes only through 'newSession'/'resumeSession'
      // listeners (its internal cache is off), so whether these reconnections
      // resume is not part of the contract: only that all six succeed.
    });
  }

  it('a memtls client resumes with a client certificate', async () => {
    const reusedOnServer: boolean[] = [];
    const server = tls.createServer({ key, cert, ca, requestCert: true }, (socket) => {
      reusedOnServer.push(socket.isSessionReused());
      socket.end('x');
    });
    const port = await listen(server);
    const credentials = { key: readCert('client.key'), cert: readCert('client.pem'), ca };
    const first = track(tls.connect({ port, host: HOST, ...credentials }));
    const session = await new Promise<Buffer>((resolve) => first.once('session', resolve));
    first.resume();
    if (!first.closed) await once(first, 'close');
    const second = track(tls.connect({ port, host: HOST, ...credentials, session }));
    await once(second, 'secureConnect');
    expect(second.isSessionReused()).to.equal(true);
    second.resume();
    if (!second.closed) await once(second, 'close');
    expect(reusedOnServer).to.deep.equal([false, true]);
  });
});

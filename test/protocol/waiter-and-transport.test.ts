/**
 * The waiter (lazy promise, settled once, a listener told in a microtask) and
 * the socket transport's one-transport-per-stream rule and its letting go of
 * the stream once the connection is lost, over real loopback sockets.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { SocketTransport, Waiter } from '../../lib/protocol';
import type { WaiterListener } from '../../lib/protocol/waiter';
import { listenRaw, RecordingProtocol, tick } from '../helpers/protocol';

const HOST = '127.0.0.1';

type Outcome = 'pending' | 'resolved' | { rejected: unknown };

/** Follows a promise without awaiting it: read `.now` after letting the loop turn. */
function watch(promise: Promise<unknown>): { readonly now: Outcome } {
  const state: { now: Outcome } = { now: 'pending' };
  promise.then(
    () => {
      state.now = 'resolved';
    },
    (error: unknown) => {
      state.now = { rejected: error };
    },
  );
  return state;
}

/** A WaiterListener that records its calls in order. */
class RecordingListener implements WaiterListener {
  readonly calls: Array<['resolved'] | ['rejected', unknown]> = [];
  waiterResolved(): void {
    this.calls.push(['resolved']);
  }
  waiterRejected(error: unknown): void {
    this.calls.push(['rejected', error]);
  }
}

/** Collects process 'unhandledRejection' reports while `body` runs and a few turns after. */
async function unhandledRejectionsDuring(body: () => void): Promise<unknown[]> {
  const reported: unknown[] = [];
  const record = (reason: unknown): void => {
    reported.push(reason);
  };
  process.on('unhandledRejection', record);
  try {
    body();
    for (let i = 0; i < 3; i++) await tick();
  } finally {
    process.off('unhandledRejection', record);
  }
  return reported;
}

describe('Waiter', () => {
  describe('its promise is made only when asked for', () => {
    it('gives a promise that resolves when resolved before anyone read .promise', async () => {
      const waiter = new Waiter();
      waiter.resolve();
      expect(waiter.settled).to.equal(true);
      const outcome = watch(waiter.promise);
      await tick();
      expect(outcome.now).to.equal('resolved');
    });

    it('gives a promise that rejects with the same error when rejected before anyone read .promise', async () => {
      const waiter = new Waiter();
      const error = new Error('refused');
      waiter.reject(error);
      expect(waiter.settled).to.equal(true);
      const outcome = watch(waiter.promise);
      await tick();
      expect(outcome.now).to.be.an('object');
      expect((outcome.now as { rejected: unknown }).rejected).to.equal(error);
    });

    it('returns the same promise every time it is asked, before and after settling', async () => {
      const early = new Waiter();
      const first = early.promise;
      expect(early.promise).to.equal(first);
      early.resolve();
      expect(early.promise).to.equal(first);

      const late = new Waiter();
      late.reject(new Error('late'));
      const made = late.promise;
      expect(late.promise).to.equal(made);
      await made.catch(() => undefined);
    });

    it('resolves a promise read before resolve() once resolve() is called, not earlier', async () => {
      const waiter = new Waiter();
      const outcome = watch(waiter.promise);
      await tick();
      expect(outcome.now).to.equal('pending');
      expect(waiter.settled).to.equal(false);
      waiter.resolve();
      await tick();
      expect(outcome.now).to.equal('resolved');
    });

    it('reports no unhandledRejection when rejected and nobody ever asked for its promise', async () => {
      const listener = new RecordingListener();
      const error = new Error('nobody listens');
      const reported = await unhandledRejectionsDuring(() => {
        new Waiter().reject(new Error('no listener either'));
        new Waiter(listener).reject(error);
      });
      expect(reported).to.deep.equal([]);
      // The listener was told, even though no promise exists.
      expect(listener.calls).to.deep.equal([['rejected', error]]);
    });

    it('reports no unhandledRejection when its promise was read but never awaited, then rejected', async () => {
      const reported = await unhandledRejectionsDuring(() => {
        const waiter = new Waiter();
        void waiter.promise;
        waiter.reject(new Error('read, never awaited'));
      });
      expect(reported).to.deep.equal([]);
    });
  });

  describe('settling twice', () => {
    it('ignores reject() after resolve(), with the promise read before', async () => {
      const listener = new RecordingListener();
      const waiter = new Waiter(listener);
      const outcome = watch(waiter.promise);
      waiter.resolve();
      waiter.reject(new Error('too late'));
      waiter.resolve();
      await tick();
      expect(outcome.now).to.equal('resolved');
      expect(listener.calls).to.deep.equal([['resolved']]);
    });

    it('ignores resolve() and a second reject() after reject(), with the promise read after', async () => {
      const listener = new RecordingListener();
      const waiter = new Waiter(listener);
      const first = new Error('first');
      waiter.reject(first);
      waiter.resolve();
      waiter.reject(new Error('second'));
      const outcome = watch(waiter.promise);
      await tick();
      expect(outcome.now).to.be.an('object');
      expect((outcome.now as { rejected: unknown }).rejected).to.equal(first);
      expect(listener.calls).to.have.length(1);
      expect(listener.calls[0][0]).to.equal('rejected');
      expect(listener.calls[0][1]).to.equal(first);
    });

    it('ignores a second reject() with another error, with the promise read before', async () => {
      const listener = new RecordingListener();
      const waiter = new Waiter(listener);
      const outcome = watch(waiter.promise);
      const first = new Error('first');
      waiter.reject(first);
      waiter.reject(new Error('second'));
      await tick();
      expect((outcome.now as { rejected: unknown }).rejected).to.equal(first);
      expect(listener.calls).to.have.length(1);
      expect(listener.calls[0][1]).to.equal(first);
    });
  });

  describe('its listener', () => {
    it('is told waiterResolved() once, in a later microtask, not inside resolve()', async () => {
      const listener = new RecordingListener();
      const waiter = new Waiter(listener);
      expect(waiter.settled).to.equal(false);
      waiter.resolve();
      expect(waiter.settled).to.equal(true);
      expect(listener.calls).to.deep.equal([]);
      await Promise.resolve();
      expect(listener.calls).to.deep.equal([['resolved']]);
      await tick();
      expect(listener.calls).to.deep.equal([['resolved']]);
    });

    it('is told waiterRejected(error) once, in a later microtask, not inside reject()', async () => {
      const listener = new RecordingListener();
      const waiter = new Waiter(listener);
      const error = new Error('handshake failed');
      waiter.reject(error);
      expect(waiter.settled).to.equal(true);
      expect(listener.calls).to.deep.equal([]);
      await Promise.resolve();
      expect(listener.calls).to.have.length(1);
      expect(listener.calls[0][0]).to.equal('rejected');
      expect(listener.calls[0][1]).to.equal(error);
      await tick();
      expect(listener.calls).to.have.length(1);
    });

    it('is told as well as the promise, when someone also asked for the promise', async () => {
      const listener = new RecordingListener();
      const waiter = new Waiter(listener);
      const outcome = watch(waiter.promise);
      waiter.resolve();
      expect(listener.calls).to.deep.equal([]);
      await tick();
      expect(outcome.now).to.equal('resolved');
      expect(listener.calls).to.deep.equal([['resolved']]);
    });
  });
});

describe('SocketTransport on a loopback socket', () => {
  let server: Awaited<ReturnType<typeof listenRaw>> | undefined;
  let clients: net.Socket[] = [];
  /** The server side of each accepted connection, in order. */
  let accepted: net.Socket[] = [];
  let onAccept: ((socket: net.Socket) => void) | null = null;

  beforeEach(async () => {
    accepted = [];
    server = await listenRaw((socket) => {
      accepted.push(socket);
      const notify = onAccept;
      onAccept = null;
      notify?.(socket);
    });
  });

  afterEach(async () => {
    for (const socket of clients) socket.destroy();
    clients = [];
    onAccept = null;
    if (server !== undefined) {
      await server.close();
      server = undefined;
    }
  });

  /** A connected client socket and its server side. */
  async function connectedPair(): Promise<{ client: net.Socket; peer: net.Socket }> {
    const peerAccepted = new Promise<net.Socket>((resolve) => {
      onAccept = resolve;
    });
    const client = net.connect({ host: HOST, port: server!.port });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.once('connect', () => {
        // Leave the socket with no listener of ours: the transport's are the ones under test.
        client.off('error', reject);
        resolve();
      });
    });
    const peer = await peerAccepted;
    return { client, peer };
  }

  function closed(socket: net.Socket): Promise<void> {
    return new Promise((resolve) => {
      if (socket.closed) resolve();
      else socket.once('close', () => resolve());
    });
  }

  it('calls connectionMade once, on a later turn, and delivers what the peer writes to dataReceived', async () => {
    const { client, peer } = await connectedPair();
    const protocol = new RecordingProtocol();
    const transport = new SocketTransport(client, protocol);
    expect(protocol.names).to.deep.equal([]);
    await transport.connectionMadePromise;
    expect(protocol.names).to.deep.equal(['cm']);
    expect(protocol.transport).to.equal(transport);

    peer.write('hello over loopback');
    expect((await protocol.receivedAtLeast(19)).toString()).to.equal('hello over loopback');
    expect(protocol.names).to.deep.equal(['cm', 'dr']);

    // And the other way, through the transport.
    const echoed = new Promise<string>((resolve) => peer.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    transport.write(Buffer.from('pong'));
    expect(await echoed).to.equal('pong');
    transport.abort();
    await protocol.lost.promise;
  });

  it('refuses a second transport on a stream that has a live one, and the first keeps the stream', async () => {
    const { client, peer } = await connectedPair();
    const first = new RecordingProtocol();
    const transport = new SocketTransport(client, first, { callConnectionMade: false });
    const dataListeners = client.listenerCount('data');
    const closeListeners = client.listenerCount('close');

    const second = new RecordingProtocol();
    expect(() => new SocketTransport(client, second)).to.throw(Error, /already has a transport/);
    expect(() => new SocketTransport(client, second, { callConnectionMade: false })).to.throw(Error, /already has a transport/);
    // The refused constructor left nothing behind on the stream.
    expect(client.listenerCount('data')).to.equal(dataListeners);
    expect(client.listenerCount('close')).to.equal(closeListeners);

    peer.write('still mine');
    expect((await first.receivedAtLeast(10)).toString()).to.equal('still mine');
    await tick();
    expect(second.events).to.deep.equal([]);
    expect(transport.getProtocol()).to.equal(first);

    transport.abort();
    await first.lost.promise;
    await tick();
    expect(second.events).to.deep.equal([]);
  });

  it('after abort(), calls connectionLost(null) exactly once and dispatches nothing more from the stream', async () => {
    const { client, peer } = await connectedPair();
    const protocol = new RecordingProtocol();
    const transport = new SocketTransport(client, protocol, { callConnectionMade: false });
    peer.write('before');
    await protocol.receivedAtLeast(6);

    // The server side is half-open (listenRaw): it sees our FIN as 'end' and stays open.
    const peerEnded = new Promise<void>((resolve) => peer.once('end', () => resolve()));
    peer.resume();
    transport.abort();
    expect(transport.isClosing()).to.equal(true);
    expect(await protocol.lost.promise).to.equal(null);
    await closed(client);
    await peerEnded;
    expect(protocol.names).to.deep.equal(['dr', 'cl']);

    // The transport let go of the stream: whatever it emits now reaches no protocol.
    client.emit('data', Buffer.from('after'));
    client.emit('end');
    client.emit('close');
    expect(() => client.emit('error', new Error('late error on a dead socket'))).not.to.throw();
    transport.abort();
    transport.close();
    transport.write(Buffer.from('dropped'));
    await tick();
    await tick();
    expect(protocol.names).to.deep.equal(['dr', 'cl']);
    expect(protocol.events.filter(([name]) => name === 'cl')).to.have.length(1);
    expect(protocol.received.toString()).to.equal('before');
    expect(transport.getExtraInfo('socket', 'gone')).to.equal('gone');
  });

  it('after forceClose(error), calls connectionLost(error) exactly once', async () => {
    const { client } = await connectedPair();
    const protocol = new RecordingProtocol();
    const transport = new SocketTransport(client, protocol);
    await transport.connectionMadePromise;
    const error = new Error('forced');
    transport.forceClose(error);
    transport.forceClose(new Error('second, ignored'));
    expect(await protocol.lost.promise).to.equal(error);
    await closed(client);
    client.emit('close');
    client.emit('data', Buffer.from('after'));
    await tick();
    expect(protocol.names).to.deep.equal(['cm', 'cl']);
    expect(protocol.events[1][1]).to.equal(error);
  });

  it('when the peer closes: eofReceived, then connectionLost once, then no more events', async () => {
    const { client, peer } = await connectedPair();
    const protocol = new RecordingProtocol();
    const transport = new SocketTransport(client, protocol);
    await transport.connectionMadePromise;
    peer.end('last words');
    // RecordingProtocol.eofReceived() returns nothing: the transport closes its side.
    expect(await protocol.lost.promise).to.equal(null);
    await closed(client);
    expect(protocol.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
    expect(protocol.received.toString()).to.equal('last words');

    client.emit('data', Buffer.from('after'));
    client.emit('end');
    client.emit('close');
    await tick();
    expect(protocol.names).to.deep.equal(['cm', 'dr', 'eof', 'cl']);
  });

  it('calls connectionMade before connectionLost when the stream dies before the scheduled call ran', async () => {
    // A plain Duplex emits 'close' on the next tick after destroy(), before
    // the loop's turn that runs the scheduled connectionMade (a net.Socket
    // closes its handle later than that).
    const stream = new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
    const protocol = new RecordingProtocol();
    const transport = new SocketTransport(stream, protocol);
    const made = watch(transport.connectionMadePromise);
    stream.destroy();
    await protocol.lost.promise;
    expect(protocol.names).to.deep.equal(['cm', 'cl']);
    await tick();
    expect(made.now).to.equal('resolved');
    // The call scheduled earlier finds nothing left to do.
    await tick();
    expect(protocol.names).to.deep.equal(['cm', 'cl']);
  });

  it('refuses a new transport on a stream whose transport lost its connection', async () => {
    const { client } = await connectedPair();
    const protocol = new RecordingProtocol();
    const transport = new SocketTransport(client, protocol, { callConnectionMade: false });
    transport.abort();
    await protocol.lost.promise;
    expect(() => new SocketTransport(client, new RecordingProtocol())).to.throw(Error, /already has a transport/);
  });

  describe('which chunks it hands over as the protocol\'s own (ownedDataReceived)', () => {
    /** Records which entry point each chunk came through. */
    class OwnershipProtocol extends RecordingProtocol {
      readonly routes: Array<'owned' | 'shared'> = [];
      ownedDataReceived(data: Buffer): void {
        this.routes.push('owned');
        super.dataReceived(data);
      }
      override dataReceived(data: Buffer): void {
        this.routes.push('shared');
        super.dataReceived(data);
      }
    }

    /**
     * Builds a transport on a fresh connected socket (after `beforeAttach`),
     * runs `afterAttach`, sends 40,000 bytes of `fill` from the peer, runs
     * `received` once they all arrived, and returns the routes the chunks took.
     */
    async function routesOf(
      fill: number,
      hooks: { beforeAttach?: (client: net.Socket) => void; afterAttach?: (client: net.Socket) => void; received?: (client: net.Socket) => void } = {},
    ): Promise<Set<string>> {
      const { client, peer } = await connectedPair();
      hooks.beforeAttach?.(client);
      const protocol = new OwnershipProtocol();
      const transport = new SocketTransport(client, protocol);
      hooks.afterAttach?.(client);
      peer.write(Buffer.alloc(40000, fill));
      expect((await protocol.receivedAtLeast(40000)).length).to.equal(40000);
      hooks.received?.(client);
      transport.abort();
      await protocol.lost.promise;
      return new Set(protocol.routes);
    }

    it('hands a net.Socket read to ownedDataReceived when its listener is the only one', async () => {
      expect(await routesOf(1)).to.deep.equal(new Set(['owned']));
    });

    it('hands chunks to dataReceived while another listener also gets them', async () => {
      const seen: Buffer[] = [];
      const routes = await routesOf(2, { afterAttach: (client) => client.on('data', (chunk: Buffer) => seen.push(chunk)) });
      expect(Buffer.concat(seen).length).to.equal(40000);
      expect(routes).to.deep.equal(new Set(['shared']));
    });

    it('hands a slice (an unshift()ed remainder) to dataReceived', async () => {
      const { client } = await connectedPair();
      const protocol = new OwnershipProtocol();
      // Large enough to have an ArrayBuffer of its own (not Buffer's shared pool).
      const kept = Buffer.alloc(20000, 3);
      expect(kept.byteLength).to.equal(kept.buffer.byteLength);
      client.pause();
      client.unshift(kept.subarray(5));
      const transport = new SocketTransport(client, protocol);
      expect((await protocol.receivedAtLeast(19995)).length).to.equal(19995);
      expect(protocol.routes).to.deep.equal(['shared']);
      transport.abort();
      await protocol.lost.promise;
    });

    it('hands chunks to dataReceived once another listener has been on the stream, even a once() one', async () => {
      // A once() listener is removed before it runs: it holds the chunk while
      // the transport's listener, then the only one, gets it.
      let held: Buffer | null = null;
      const routes = await routesOf(4, {
        afterAttach: (client) => client.once('data', (chunk: Buffer) => (held = chunk)),
        received: (client) => expect(client.listenerCount('data')).to.equal(1),
      });
      expect(held).to.not.equal(null);
      expect(routes).to.deep.equal(new Set(['shared']));
    });

    it('hands chunks to dataReceived when the stream has another reader as the transport attaches', async () => {
      const routes = await routesOf(6, { beforeAttach: (client) => client.on('data', () => undefined) });
      expect(routes).to.deep.equal(new Set(['shared']));
    });

    it('still hands chunks over as owned when earlier readers left before the transport attached', async () => {
      const before = (): void => undefined;
      const routes = await routesOf(5, {
        beforeAttach: (client) => {
          client.on('data', before);
          client.off('data', before);
          client.on('readable', before);
          client.off('readable', before);
        },
      });
      expect(routes).to.deep.equal(new Set(['owned']));
    });

    it('hands chunks of a stream that is not a net.Socket to dataReceived', async () => {
      const stream = new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
      const protocol = new OwnershipProtocol();
      const transport = new SocketTransport(stream, protocol);
      stream.push(Buffer.from('a whole buffer of its own'));
      await protocol.receivedAtLeast(25);
      expect(protocol.routes).to.deep.equal(['shared']);
      transport.abort();
      await protocol.lost.promise;
    });
  });

  describe('connectionMadePromise', () => {
    it('resolves once connectionMade has run when read before it ran', async () => {
      const { client } = await connectedPair();
      const protocol = new RecordingProtocol();
      const transport = new SocketTransport(client, protocol);
      const promise = transport.connectionMadePromise;
      const outcome = watch(promise);
      // connectionMade waits for a later turn of the loop; microtasks alone do not get there.
      for (let i = 0; i < 5; i++) await Promise.resolve();
      expect(outcome.now).to.equal('pending');
      expect(protocol.names).to.deep.equal([]);
      await tick();
      await tick();
      expect(outcome.now).to.equal('resolved');
      expect(protocol.names).to.deep.equal(['cm']);
      expect(transport.connectionMadePromise).to.equal(promise);
      transport.abort();
      await protocol.lost.promise;
    });

    it('resolves when read only after connectionMade ran', async () => {
      const { client } = await connectedPair();
      const protocol = new RecordingProtocol();
      const transport = new SocketTransport(client, protocol);
      await protocol.made.promise;
      await tick();
      const outcome = watch(transport.connectionMadePromise);
      await tick();
      expect(outcome.now).to.equal('resolved');
      expect(protocol.names).to.deep.equal(['cm']);
      transport.abort();
      await protocol.lost.promise;
    });

    it('resolves without calling connectionMade when built with callConnectionMade: false', async () => {
      const { client } = await connectedPair();
      const protocol = new RecordingProtocol();
      const transport = new SocketTransport(client, protocol, { callConnectionMade: false });
      const outcome = watch(transport.connectionMadePromise);
      await tick();
      await tick();
      expect(outcome.now).to.equal('resolved');
      expect(protocol.names).to.deep.equal([]);
      transport.abort();
      await protocol.lost.promise;
    });
  });
});

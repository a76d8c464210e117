/** close_notify and EOF semantics (sslproto-spec OBJ-EOF), with both orders. */
import { expect } from 'chai';
import { SSLEOFError, SSLError, SSLWantReadError, SSLZeroReturnError } from '../../lib';
import { clientContext, handshake, makePair, send, serverContext, transfer, type Endpoint, type Pair } from '../helpers/pair';

function established(): Pair {
  const pair = makePair(clientContext(), serverContext());
  handshake(pair);
  // Let the client consume the TLS 1.3 tickets so they do not mix with the test's bytes.
  send(pair.server, pair.client, Buffer.from('ready'));
  return pair;
}

function unwrapOnce(side: Endpoint): 'done' | 'want-read' {
  try {
    side.ssl.unwrap();
    return 'done';
  } catch (error) {
    if (error instanceof SSLWantReadError) return 'want-read';
    throw error;
  }
}

describe('SSLObject close semantics', () => {
  for (const first of ['client', 'server'] as const) {
    const second = first === 'client' ? 'server' : 'client';
    it(`completes a bidirectional shutdown started by the ${first}`, () => {
      const pair = established();
      const a = pair[first];
      const b = pair[second];
      expect(unwrapOnce(a)).to.equal('want-read');
      transfer(a, b);
      // The peer's close_notify reads as EOF (empty data) until we answer.
      expect((b.ssl.read() as Buffer).length).to.equal(0);
      expect(b.ssl.read(Buffer.alloc(10).length, Buffer.alloc(10))).to.equal(0);
      expect(unwrapOnce(b)).to.equal('done');
      transfer(b, a);
      expect(unwrapOnce(a)).to.equal('done');
      // Once both close_notify messages are exchanged, reads raise SSLZeroReturnError.
      expect(() => a.ssl.read()).to.throw(SSLZeroReturnError);
      expect(() => b.ssl.read()).to.throw(SSLZeroReturnError);
    });
  }

  it('still delivers data the peer sent after our close_notify', () => {
    const pair = established();
    expect(unwrapOnce(pair.client)).to.equal('want-read');
    pair.server.ssl.write(Buffer.from('late data'));
    transfer(pair.server, pair.client);
    expect((pair.client.ssl.read() as Buffer).toString()).to.equal('late data');
  });

  it('reports transport EOF without close_notify as SSLEOFError, after buffered data', () => {
    const pair = established();
    pair.server.ssl.write(Buffer.from('tail'));
    transfer(pair.server, pair.client);
    pair.client.incoming.writeEof();
    expect((pair.client.ssl.read() as Buffer).toString()).to.equal('tail');
    const error = (() => {
      try {
        pair.client.ssl.read();
      } catch (e) {
        return e as SSLEOFError;
      }
      return undefined;
    })();
    expect(error).to.be.instanceOf(SSLEOFError);
    expect(error!.reason).to.equal('UNEXPECTED_EOF_WHILE_READING');
    expect(error!.code).to.equal('ERR_SSL_UNEXPECTED_EOF_WHILE_READING');
    expect(error!.errno).to.equal(8);
  });

  it('reports EOF during the handshake as SSLEOFError', () => {
    const pair = makePair(clientContext(), serverContext());
    expect(() => pair.client.ssl.doHandshake()).to.throw(SSLWantReadError);
    pair.client.incoming.writeEof();
    expect(() => pair.client.ssl.doHandshake()).to.throw(SSLEOFError);
  });

  it('fails writes after unwrap with PROTOCOL_IS_SHUTDOWN', () => {
    const pair = established();
    unwrapOnce(pair.client);
    expect(() => pair.client.ssl.write(Buffer.from('too late'))).to.throw(SSLError).with.property('reason', 'PROTOCOL_IS_SHUTDOWN');
  });

  it('refuses unwrap before the handshake with SHUTDOWN_WHILE_IN_INIT', () => {
    const pair = makePair(clientContext(), serverContext());
    expect(() => pair.client.ssl.unwrap()).to.throw(SSLError).with.property('reason', 'SHUTDOWN_WHILE_IN_INIT');
  });

  it('raises APPLICATION_DATA_AFTER_CLOSE_NOTIFY when unwrap meets unread application data (PIT-3)', () => {
    const pair = established();
    expect(unwrapOnce(pair.client)).to.equal('want-read');
    pair.server.ssl.write(Buffer.from('unread'));
    transfer(pair.server, pair.client);
    expect(() => pair.client.ssl.unwrap()).to.throw(SSLError).with.property('reason', 'APPLICATION_DATA_AFTER_CLOSE_NOTIFY');
  });
});

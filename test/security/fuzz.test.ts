/**
 * Hostile input: a seeded, bounded fuzz of the TLS engine. A real handshake
 * is recorded once in memory; cases are random bytes, mutated records of that
 * transcript (bit flips, truncation, wrong lengths, oversized records, wrong
 * content types...), a ClientHello fed one byte at a time, garbage after
 * close_notify, fatal alerts in the middle of the handshake and a flood of
 * forged TLS 1.3 KeyUpdates (cut off after 32 in a row). Every case must end
 * in a typed SSLError, a clean want-read (incomplete input) or a clean close;
 * never a crash or an untyped exception. A few hundred cases then go over
 * loopback sockets to a memtls/protocol server and a memtls/tls server while a
 * well-behaved client echoes 1 MiB through each, followed by post-handshake
 * attacks from real clients: KeyUpdate floods and TLS 1.2 renegotiation
 * requests (node:tls's renegotiate()).
 *
 * MEMTLS_FUZZ_SEED=<n> replays a run; the seed is in every failure message.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as nodeTls from 'node:tls';

import { SSLEOFError, SSLError, SSLWantReadError, SSLZeroReturnError, type SSLContext } from '../../lib';
import { native, Slot, Status, StatusFlag } from '../../lib/native';
import { NodeEventLoop, createServer as createProtocolServer, type ExceptionContext, type Server as ProtocolServer, type Transport } from '../../lib/protocol';
import * as tls from '../../lib/tls';
import { readCert, SERVER_NAME } from '../helpers/certs';
import { clientContext, endpoint, handshake, makePair, serverContext, type Endpoint } from '../helpers/pair';
import { keylogSecret, mutate, Rng, Tls13Sealer, type Mutation } from '../helpers/tls-mutator';
import { SocketPump } from '../helpers/socket-pump';
import { until } from '../helpers/protocol';

const SEED = process.env.MEMTLS_FUZZ_SEED !== undefined ? Number(process.env.MEMTLS_FUZZ_SEED) : 0x5eed1e55;
const HOST = '127.0.0.1';
const shared = native.sharedState;

type Outcome = 'error' | 'wantRead' | 'closed' | 'data';

/** Thrown (and never caught) when the engine does something it must not. */
function failure(caseId: string, what: string, cause?: unknown): Error {
  return new Error(`fuzz seed=${SEED} case=${caseId}: ${what}${cause === undefined ? '' : `: ${String((cause as Error)?.stack ?? cause)}`}`);
}

// --- the recorded transcript -----------------------------------------------------

interface Transcript {
  clientHello: Buffer;
  serverFlight: Buffer;
  clientFinished: Buffer;
  appRecord: Buffer;
}

/** One in-memory TLS 1.3 handshake, its flights captured as they cross. */
function recordTranscript(clientCtx: SSLContext, serverCtx: SSLContext): Transcript {
  const pair = makePair(clientCtx, serverCtx);
  expect(() => pair.client.ssl.doHandshake()).to.throw(SSLWantReadError);
  const clientHello = pair.client.outgoing.read();
  pair.server.incoming.write(clientHello);
  expect(() => pair.server.ssl.doHandshake()).to.throw(SSLWantReadError);
  const serverFlight = pair.server.outgoing.read();
  pair.client.incoming.write(serverFlight);
  pair.client.ssl.doHandshake();
  const clientFinished = pair.client.outgoing.read();
  pair.client.ssl.write(Buffer.from('application data'));
  const appRecord = pair.client.outgoing.read();
  return { clientHello, serverFlight, clientFinished, appRecord };
}

// --- feeding one case ------------------------------------------------------------

const plain = Buffer.alloc(64 * 1024);
const wire = Buffer.alloc(256 * 1024);

interface Result {
  outcome: Outcome;
  error?: SSLError;
  data: Buffer;
  handshakeDone: boolean;
  sawClose: boolean;
}

/**
 * Feeds `chunks` through the fast path (engine.receive), as the protocol
 * layer does. Only typed SSLErrors may come out.
 */
function feedFast(side: Endpoint, chunks: Buffer[], caseId: string): Result {
  const data: Buffer[] = [];
  let handshakeDone = side.ssl.isHandshakeDone();
  let sawClose = false;
  const finish = (outcome: Outcome, error?: SSLError): Result => ({ outcome, error, data: Buffer.concat(data), handshakeDone, sawClose });
  for (const chunk of chunks) {
    let input: Buffer | null = chunk;
    for (let spins = 0; ; spins++) {
      if (spins > 10000) throw failure(caseId, 'receive() never settled');
      let status: number;
      try {
        status = side.ssl.engine.receive(input, plain, 0, plain.length);
      } catch (error) {
        throw failure(caseId, 'receive() threw instead of returning a status', error);
      }
      input = null;
      if (status & StatusFlag.HandshakeDone) handshakeDone = true;
      const got = shared[Slot.Bytes];
      if (got > 0) data.push(Buffer.from(plain.subarray(0, got)));
      side.ssl.engine.drain(wire, 0, wire.length); // discard what it would send back
      const outcome = status & StatusFlag.Mask;
      if (outcome === Status.Ok) {
        if (got === 0 && side.ssl.engine.pending() === 0) break;
        continue;
      }
      if (outcome === Status.WantRead) break;
      if (outcome === Status.CloseNotify || outcome === Status.ZeroReturn) {
        sawClose = true;
        break;
      }
      if (outcome === Status.Error) {
        const error = side.ssl.engine.takeError();
        if (!(error instanceof SSLError)) throw failure(caseId, 'takeError() gave a non-SSLError', error);
        return finish('error', error);
      }
      throw failure(caseId, `unexpected status ${outcome}`);
    }
  }
  if (sawClose) return finish('closed');
  return finish(data.length > 0 ? 'data' : 'wantRead');
}

/** The same through the Python-style API: MemoryBIO.write, doHandshake(), read(). */
function feedPython(side: Endpoint, chunks: Buffer[], caseId: string): Result {
  const data: Buffer[] = [];
  let sawClose = false;
  const finish = (outcome: Outcome, error?: SSLError): Result => ({ outcome, error, data: Buffer.concat(data), handshakeDone: side.ssl.isHandshakeDone(), sawClose });
  for (const chunk of chunks) {
    side.incoming.write(chunk);
    try {
      if (!side.ssl.isHandshakeDone()) side.ssl.doHandshake();
      if (side.ssl.isHandshakeDone()) {
        for (let reads = 0; reads < 10000; reads++) {
          const got = side.ssl.read(plain.length) as Buffer;
          if (got.length === 0) {
            sawClose = true;
            break;
          }
          data.push(got);
        }
      }
    } catch (error) {
      side.outgoing.read();
      if (error instanceof SSLWantReadError) continue;
      if (error instanceof SSLZeroReturnError) return finish('closed');
      if (error instanceof SSLError) return finish('error', error);
      throw failure(caseId, 'a non-SSLError came out of the Python-style API', error);
    }
    side.outgoing.read();
    if (sawClose) return finish('closed');
  }
  return finish(data.length > 0 ? 'data' : 'wantRead');
}

/**
 * After input that ends without an error, the end of the stream must turn a
 * want-read into a typed error (EOF in violation of protocol).
 */
function checkEof(side: Endpoint, result: Result, caseId: string): void {
  if (result.outcome !== 'wantRead') return;
  side.incoming.writeEof();
  try {
    if (!side.ssl.isHandshakeDone()) side.ssl.doHandshake();
    else side.ssl.read(1024);
  } catch (error) {
    if (error instanceof SSLEOFError || error instanceof SSLZeroReturnError) return;
    if (error instanceof SSLError) return;
    throw failure(caseId, 'EOF after incomplete input raised a non-SSLError', error);
  }
  throw failure(caseId, 'EOF after incomplete input raised nothing');
}

// --- bookkeeping -----------------------------------------------------------------

class Tally {
  readonly byCategory = new Map<string, Record<Outcome, number>>();
  total = 0;

  add(category: string, outcome: Outcome): void {
    let row = this.byCategory.get(category);
    if (row === undefined) {
      row = { error: 0, wantRead: 0, closed: 0, data: 0 };
      this.byCategory.set(category, row);
    }
    row[outcome]++;
    this.total++;
  }

  count(category: string): number {
    const row = this.byCategory.get(category);
    return row === undefined ? 0 : row.error + row.wantRead + row.closed + row.data;
  }
}

function chunked(bytes: Buffer, rng: Rng): Buffer[] {
  // Whole, or in random slices, so records straddle receive() calls.
  if (rng.int(3) !== 0) return [bytes];
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + rng.int(512);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

/** Echoes what it receives (the protocol server's application); reports how each connection ended. */
class EchoProtocol {
  transport: Transport | null = null;
  constructor(private readonly onLost: (exc: Error | null) => void) {}
  connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  dataReceived(data: Buffer): void {
    this.transport?.write(data);
  }
  connectionLost(exc: Error | null): void {
    this.transport = null;
    this.onLost(exc);
  }
}

// =================================================================================

describe('security: hostile input (seeded fuzz)', function () {
  this.timeout(120000);

  const tally = new Tally();
  const socketTally = new Tally();
  let clientCtx: SSLContext;
  let serverCtx: SSLContext;
  let transcript: Transcript;
  /** Server-bound cases kept for the socket stage (bytes only). */
  const socketCorpus: Array<{ id: string; bytes: Buffer }> = [];

  before(() => {
    clientCtx = clientContext((ctx) => ctx.setCiphersuites('TLS_AES_128_GCM_SHA256'));
    serverCtx = serverContext();
    transcript = recordTranscript(clientCtx, serverCtx);
  });

  /** A fresh server fed `chunks` through fast path (even cases) or Python-style API (odd). */
  function runServerCase(category: string, caseNo: number, chunks: Buffer[], extra = ''): Result {
    const caseId = `${category}#${caseNo}${extra}`;
    const server = endpoint(serverCtx, { serverSide: true });
    try {
      const result = caseNo % 2 === 0 ? feedFast(server, chunks, caseId) : feedPython(server, chunks, caseId);
      checkEof(server, result, caseId);
      return result;
    } finally {
      server.ssl.close();
    }
  }

  it('records a real handshake transcript', () => {
    expect(transcript.clientHello[0]).to.equal(22);
    expect(transcript.serverFlight[0]).to.equal(22);
    expect(transcript.clientFinished.length).to.be.greaterThan(0);
    expect(transcript.appRecord[0]).to.equal(23);
  });

  it('random bytes: 2,000 to a server, 500 to a client waiting for the ServerHello', () => {
    const rng = new Rng(SEED ^ 0x1);
    for (let i = 0; i < 2000; i++) {
      const length = rng.pick([1, 2, 5, 6, 64, 300, 2000, 20000]);
      const bytes = rng.bytes(1 + rng.int(length));
      // Half start like a handshake record, so the parser goes deeper.
      if (i % 2 === 0 && bytes.length >= 3) bytes.set([22, 3, rng.int(5)], 0);
      const result = runServerCase('random-server', i, chunked(bytes, rng));
      expect(result.outcome, `seed=${SEED} random-server#${i}`).to.be.oneOf(['error', 'wantRead']);
      tally.add('random-server', result.outcome);
      if (i % 10 === 0) socketCorpus.push({ id: `random-server#${i}`, bytes });
    }
    for (let i = 0; i < 500; i++) {
      const caseId = `random-client#${i}`;
      const client = endpoint(clientCtx, { serverHostname: SERVER_NAME });
      expect(() => client.ssl.doHandshake()).to.throw(SSLWantReadError);
      client.outgoing.read();
      const bytes = rng.bytes(1 + rng.int(3000));
      if (i % 2 === 0 && bytes.length >= 3) bytes.set([22, 3, 3], 0);
      const result = i % 4 < 2 ? feedFast(client, chunked(bytes, rng), caseId) : feedPython(client, chunked(bytes, rng), caseId);
      checkEof(client, result, caseId);
      client.ssl.close();
      expect(result.outcome, `seed=${SEED} ${caseId}`).to.be.oneOf(['error', 'wantRead']);
      tally.add('random-client', result.outcome);
    }
  });

  it('mutated ClientHello records: 4,000 to a fresh server', () => {
    const rng = new Rng(SEED ^ 0x2);
    const kinds = new Map<Mutation, number>();
    for (let i = 0; i < 4000; i++) {
      const { kind, bytes } = mutate(rng, transcript.clientHello);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      const result = runServerCase('mutated-hello', i, chunked(bytes, rng), `(${kind})`);
      // A harmless mutation (a flipped bit in the random) leaves a handshake in progress.
      expect(result.outcome, `seed=${SEED} mutated-hello#${i} (${kind})`).to.be.oneOf(['error', 'wantRead']);
      if (kind === 'oversized') {
        expect(result.outcome, `seed=${SEED} mutated-hello#${i} oversized`).to.equal('error');
      }
      tally.add('mutated-hello', result.outcome);
      if (i % 20 === 0) socketCorpus.push({ id: `mutated-hello#${i}(${kind})`, bytes });
    }
    expect(kinds.size, 'every mutation kind was exercised').to.equal(10);
  });

  it('the ClientHello one byte at a time (valid: 100, mutated: 100)', () => {
    const rng = new Rng(SEED ^ 0x3);
    for (let i = 0; i < 200; i++) {
      const bytes = i < 100 ? transcript.clientHello : mutate(rng, transcript.clientHello).bytes;
      const chunks = Array.from(bytes, (byte) => Buffer.from([byte]));
      const caseId = `hello-bytes#${i}`;
      const server = endpoint(serverCtx, { serverSide: true });
      const result = i % 2 === 0 ? feedFast(server, chunks, caseId) : feedPython(server, chunks, caseId);
      if (i < 100) {
        // Byte by byte is still a valid ClientHello: the handshake waits for the client's Finished.
        expect(result.outcome, `seed=${SEED} ${caseId}`).to.equal('wantRead');
        expect(server.ssl.isHandshakeDone()).to.equal(false);
      } else {
        expect(result.outcome, `seed=${SEED} ${caseId}`).to.be.oneOf(['error', 'wantRead']);
      }
      checkEof(server, result, caseId);
      server.ssl.close();
      tally.add(i < 100 ? 'hello-bytes-valid' : 'hello-bytes-mutated', result.outcome);
    }
  });

  it('mutated server flights to a live client: 1,200', () => {
    const rng = new Rng(SEED ^ 0x4);
    for (let i = 0; i < 1200; i++) {
      const pair = makePair(clientCtx, serverCtx);
      expect(() => pair.client.ssl.doHandshake()).to.throw(SSLWantReadError);
      pair.server.incoming.write(pair.client.outgoing.read());
      expect(() => pair.server.ssl.doHandshake()).to.throw(SSLWantReadError);
      const { kind, bytes } = mutate(rng, pair.server.outgoing.read());
      const caseId = `server-flight#${i}(${kind})`;
      const result = i % 2 === 0 ? feedFast(pair.client, chunked(bytes, rng), caseId) : feedPython(pair.client, chunked(bytes, rng), caseId);
      checkEof(pair.client, result, caseId);
      // A mutation the AEAD cannot see (record header version) may leave the handshake intact.
      expect(result.outcome, `seed=${SEED} ${caseId}`).to.be.oneOf(['error', 'wantRead']);
      pair.client.ssl.close();
      pair.server.ssl.close();
      tally.add('server-flight', result.outcome);
    }
  });

  it("mutated client Finished flights (800) and application records (800) to a live server", () => {
    const rng = new Rng(SEED ^ 0x5);
    for (let i = 0; i < 1600; i++) {
      const pair = makePair(clientCtx, serverCtx);
      expect(() => pair.client.ssl.doHandshake()).to.throw(SSLWantReadError);
      pair.server.incoming.write(pair.client.outgoing.read());
      expect(() => pair.server.ssl.doHandshake()).to.throw(SSLWantReadError);
      pair.client.incoming.write(pair.server.outgoing.read());
      pair.client.ssl.doHandshake();
      const finished = pair.client.outgoing.read();
      const appData = i < 800 ? undefined : randomBytes(1 + rng.int(4000));
      let target = finished;
      if (appData !== undefined) {
        pair.server.incoming.write(finished);
        pair.server.ssl.doHandshake();
        pair.server.outgoing.read();
        pair.client.ssl.write(appData);
        target = pair.client.outgoing.read();
      }
      const { kind, bytes } = mutate(rng, target);
      const category = appData === undefined ? 'client-finished' : 'app-record';
      const caseId = `${category}#${i}(${kind})`;
      const result = i % 2 === 0 ? feedFast(pair.server, chunked(bytes, rng), caseId) : feedPython(pair.server, chunked(bytes, rng), caseId);
      checkEof(pair.server, result, caseId);
      expect(result.outcome, `seed=${SEED} ${caseId}`).to.be.oneOf(['error', 'wantRead', 'data']);
      // Whatever was accepted is authentic: never altered plaintext.
      if (result.data.length > 0) {
        expect(appData, `seed=${SEED} ${caseId}`).to.not.equal(undefined);
        expect(appData!.subarray(0, result.data.length).equals(result.data), `seed=${SEED} ${caseId}: altered plaintext`).to.equal(true);
      }
      pair.client.ssl.close();
      pair.server.ssl.close();
      tally.add(category, result.outcome);
    }
  });

  it('garbage after close_notify: 400', () => {
    const rng = new Rng(SEED ^ 0x6);
    for (let i = 0; i < 400; i++) {
      const pair = makePair(clientCtx, serverCtx);
      handshake(pair);
      pair.client.ssl.write(Buffer.from('last words'));
      expect(() => pair.client.ssl.unwrap()).to.throw(SSLWantReadError);
      const closing = pair.client.outgoing.read();
      const garbage = i % 2 === 0 ? rng.bytes(1 + rng.int(2000)) : mutate(rng, transcript.appRecord).bytes;
      const caseId = `after-close#${i}`;
      const result = i % 4 < 2 ? feedFast(pair.server, [closing, garbage], caseId) : feedPython(pair.server, [Buffer.concat([closing, garbage])], caseId);
      expect(result.sawClose || result.outcome === 'closed', `seed=${SEED} ${caseId}: close_notify seen`).to.equal(true);
      expect(result.data.toString(), `seed=${SEED} ${caseId}`).to.equal('last words');
      pair.client.ssl.close();
      pair.server.ssl.close();
      tally.add('after-close', 'closed');
    }
  });

  it('a fatal alert in the middle of the handshake: 300 (to the server after the ClientHello, to the client after the ServerHello)', () => {
    const rng = new Rng(SEED ^ 0x7);
    for (let i = 0; i < 300; i++) {
      const description = rng.pick([10, 20, 40, 42, 43, 46, 47, 50, 51, 70, 80, 86, 109, 112, 116, rng.int(256)]);
      const alert = Buffer.from([21, 3, 3, 0, 2, 2, description]);
      const caseId = `alert#${i}(${description})`;
      const pair = makePair(clientCtx, serverCtx);
      expect(() => pair.client.ssl.doHandshake()).to.throw(SSLWantReadError);
      const hello = pair.client.outgoing.read();
      let result: Result;
      if (i % 2 === 0) {
        result = (i % 4 === 0 ? feedFast : feedPython)(pair.server, [hello, alert], caseId);
        if (i % 20 === 0) socketCorpus.push({ id: caseId, bytes: Buffer.concat([hello, alert]) });
      } else {
        pair.server.incoming.write(hello);
        expect(() => pair.server.ssl.doHandshake()).to.throw(SSLWantReadError);
        const serverHello = pair.server.outgoing.read().subarray(0, 5 + transcript.serverFlight.readUInt16BE(3));
        result = (i % 4 === 1 ? feedFast : feedPython)(pair.client, [serverHello, alert], caseId);
      }
      expect(result.outcome, `seed=${SEED} ${caseId}`).to.equal('error');
      expect(result.error!.code, `seed=${SEED} ${caseId}`).to.match(/^ERR_SSL_/);
      pair.client.ssl.close();
      pair.server.ssl.close();
      tally.add('alert', result.outcome);
    }
  });

  /** A fresh in-memory connection whose client traffic secret we hold, to forge records with. */
  /** A client context whose keys are logged, and the sealer for its traffic once the handshake is done. */
  function forgingClient(): { ctx: SSLContext; sealer: () => Tls13Sealer } {
    const keylog: string[] = [];
    const ctx = clientContext((c) => {
      c.setCiphersuites('TLS_AES_128_GCM_SHA256');
      c.keylogCallback = (line) => keylog.push(line.toString());
    });
    return { ctx, sealer: () => new Tls13Sealer(keylogSecret(keylog, 'CLIENT_TRAFFIC_SECRET_0')) };
  }

  function forgingPair(): { pair: ReturnType<typeof makePair>; sealer: Tls13Sealer } {
    const client = forgingClient();
    const pair = makePair(client.ctx, serverCtx);
    handshake(pair);
    return { pair, sealer: client.sealer() };
  }

  it('a flood of forged TLS 1.3 KeyUpdates: 20 connections x 500 KeyUpdates (some between empty records) fail with TOO_MANY_KEY_UPDATES', () => {
    const rng = new Rng(SEED ^ 0x8);
    for (let i = 0; i < 20; i++) {
      const { pair, sealer } = forgingPair();
      const records: Buffer[] = [];
      // Every fourth connection slips an empty application record after each
      // KeyUpdate: no plaintext, so it must not reset the count.
      const withEmptyRecords = i % 4 === 3;
      for (let k = 0; k < 500; k++) {
        records.push(sealer.keyUpdate(rng.int(8) === 0));
        if (withEmptyRecords) records.push(sealer.seal(23, Buffer.alloc(0)));
      }
      records.push(sealer.seal(23, Buffer.from('after the flood')));
      const caseId = `keyupdate-flood#${i}`;
      const result = i % 2 === 0 ? feedFast(pair.server, [Buffer.concat(records)], caseId) : feedPython(pair.server, records, caseId);
      expect(result.outcome, `seed=${SEED} ${caseId}`).to.equal('error');
      expect(result.error!.reason).to.equal('TOO_MANY_KEY_UPDATES');
      expect(result.error!.code).to.equal('ERR_SSL_TOO_MANY_KEY_UPDATES');
      expect(result.data.length, 'nothing decrypted after the flood is delivered').to.equal(0);
      // The failure is final: later input gets the same error, never data.
      const again = feedFast(pair.server, [sealer.seal(23, Buffer.from('later'))], caseId);
      expect(again.outcome).to.equal('error');
      expect(again.error!.reason).to.equal('TOO_MANY_KEY_UPDATES');
      pair.client.ssl.close();
      pair.server.ssl.close();
      tally.add('keyupdate-flood', result.outcome);
    }
  });

  it('KeyUpdates paced by application data (20 x 200), or 32 in a row, are honoured', () => {
    const rng = new Rng(SEED ^ 0x9);
    for (let i = 0; i < 20; i++) {
      const { pair, sealer } = forgingPair();
      const records: Buffer[] = [];
      const expected: string[] = [];
      const burst = i === 0 ? 32 : 1;
      for (let k = 0; k < (i === 0 ? 1 : 200); k++) {
        for (let b = 0; b < burst; b++) records.push(sealer.keyUpdate(rng.int(8) === 0));
        expected.push(`#${k};`);
        records.push(sealer.seal(23, Buffer.from(`#${k};`)));
      }
      const caseId = `keyupdate-paced#${i}`;
      const result = i % 2 === 0 ? feedFast(pair.server, [Buffer.concat(records)], caseId) : feedPython(pair.server, records, caseId);
      expect(result.outcome, `seed=${SEED} ${caseId}: ${String(result.error)}`).to.equal('data');
      expect(result.data.toString()).to.equal(expected.join(''));
      pair.client.ssl.close();
      pair.server.ssl.close();
      tally.add('keyupdate-paced', result.outcome);
    }
  });

  describe('over loopback sockets, while a good client echoes 1 MiB', () => {
    let protocolServer: ProtocolServer;
    let tlsServer: tls.Server;
    const rawSockets = new Set<net.Socket>();
    const goodSockets = new Set<tls.TLSSocket>();
    const exceptions: ExceptionContext[] = [];
    const tlsClientErrors: Array<Error & { code?: string }> = [];
    /** How established connections ended: connectionLost(exc) on the protocol server, 'error' on the tls server. */
    const protocolLosses: Array<Error | null> = [];
    const tlsSocketErrors: Array<Error & { code?: string }> = [];
    const originalEmitWarning = process.emitWarning;

    before(async () => {
      // Debug mode makes createServer report why each incoming connection failed.
      const loop = new NodeEventLoop();
      loop.setDebug(true);
      loop.setExceptionHandler((_loop, context) => exceptions.push(context));
      // ...and warns about OS-level closes and handshake times: not printed here.
      process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
        const options = rest[0] as { code?: string } | undefined;
        if (typeof options === 'object' && options?.code === 'MEMTLS_DEBUG') {
          return;
        }
        (originalEmitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
      }) as typeof process.emitWarning;
      protocolServer = await createProtocolServer(
        () => new EchoProtocol((exc) => protocolLosses.push(exc)),
        { host: HOST, port: 0, ssl: serverCtx, loop },
      );
      tlsServer = tls.createServer({ cert: readCert('server-ec.pem'), key: readCert('server-ec.key') }, (socket) => {
        socket.on('error', (error: Error) => tlsSocketErrors.push(error));
        socket.pipe(socket);
      });
      tlsServer.on('tlsClientError', (error: Error) => tlsClientErrors.push(error));
      await new Promise<void>((resolve) => tlsServer.listen(0, HOST, resolve));
    });

    after(async () => {
      for (const socket of rawSockets) socket.destroy();
      for (const socket of goodSockets) socket.destroy();
      protocolServer?.closeClients();
      protocolServer?.close();
      await protocolServer?.waitClosed();
      await new Promise<void>((resolve) => (tlsServer ? tlsServer.close(() => resolve()) : resolve()));
      process.emitWarning = originalEmitWarning;
    });

    /** A raw client writes the case bytes, ends, and waits for the server to close. */
    function rawCase(port: number, bytes: Buffer): Promise<void> {
      return new Promise<void>((resolve) => {
        const socket = net.connect({ host: HOST, port });
        rawSockets.add(socket);
        socket.on('error', () => undefined);
        socket.resume();
        socket.once('connect', () => socket.end(bytes));
        socket.once('close', () => {
          rawSockets.delete(socket);
          resolve();
        });
      });
    }

    /** Sends 1 MiB through a memtls/tls client and resolves with what came back. */
    function echoMiB(port: number, payload: Buffer): Promise<Buffer> {
      return new Promise<Buffer>((resolve, reject) => {
        const socket = tls.connect({ host: HOST, port, servername: SERVER_NAME, ca: readCert('ca.pem') });
        goodSockets.add(socket);
        const chunks: Buffer[] = [];
        let total = 0;
        socket.once('error', reject);
        socket.once('secureConnect', () => {
          for (let at = 0; at < payload.length; at += 64 * 1024) socket.write(payload.subarray(at, at + 64 * 1024));
        });
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          total += chunk.length;
          if (total >= payload.length) {
            socket.end();
            resolve(Buffer.concat(chunks));
          }
        });
      });
    }

    async function runAll(port: number, cases: Array<{ id: string; bytes: Buffer }>, concurrency: number): Promise<void> {
      let next = 0;
      const workers = Array.from({ length: concurrency }, async () => {
        while (next < cases.length) {
          const { bytes } = cases[next++];
          await rawCase(port, bytes);
        }
      });
      await Promise.all(workers);
    }

    it('every hostile connection ends in a typed error on both servers; the good clients get 1 MiB back intact', async () => {
      expect(socketCorpus.length).to.be.at.least(150);
      const cases = socketCorpus.slice(0, 150);
      const payloadA = randomBytes(1024 * 1024);
      const payloadB = randomBytes(1024 * 1024);
      const protocolPort = protocolServer.address().port;
      const tlsPort = (tlsServer.address() as net.AddressInfo).port;

      const [echoA, echoB] = await Promise.all([
        echoMiB(protocolPort, payloadA),
        echoMiB(tlsPort, payloadB),
        runAll(protocolPort, cases, 8),
        runAll(tlsPort, cases, 8),
      ]);
      expect(echoA.equals(payloadA), 'protocol server echo intact').to.equal(true);
      expect(echoB.equals(payloadB), 'tls server echo intact').to.equal(true);

      // Wait for the servers to have seen every hostile connection end.
      for (let spins = 0; spins < 200 && (exceptions.length < cases.length || tlsClientErrors.length < cases.length); spins++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // memtls/protocol: each failed connection reported its error (typed: an SSLError, or ECONNRESET for input that just stopped).
      const transportErrors = exceptions.filter((c) => c.message === 'Error on transport creation for incoming connection');
      expect(exceptions.length - transportErrors.length, `seed=${SEED}: unexpected exception handler calls: ${exceptions.map((c) => c.message).join('; ')}`).to.equal(0);
      expect(transportErrors.length).to.equal(cases.length);
      for (const context of transportErrors) {
        const error = context.exception as Error & { code?: string };
        expect(error instanceof SSLError || error.code === 'ECONNRESET', `seed=${SEED}: ${String(error)}`).to.equal(true);
        socketTally.add('protocol-server', error instanceof SSLError ? 'error' : 'wantRead');
      }
      // memtls/tls: one tlsClientError each, with a Node-style code.
      expect(tlsClientErrors.length).to.equal(cases.length);
      for (const error of tlsClientErrors) {
        expect(error.code, `seed=${SEED}: ${String(error)}`).to.match(/^(ERR_SSL_|ECONNRESET$)/);
        socketTally.add('tls-server', error.code === 'ECONNRESET' ? 'wantRead' : 'error');
      }
      // Both servers are still up and serving.
      expect(protocolServer.isServing()).to.equal(true);
      expect(tlsServer.listening).to.equal(true);
    });

    /** A core SSLObject client over a raw socket completes the handshake, then forges `count` KeyUpdates. */
    async function keyUpdateFlood(port: number, count: number): Promise<void> {
      const client = forgingClient();
      const socket = net.connect({ host: HOST, port });
      rawSockets.add(socket);
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const pump = new SocketPump(client.ctx, socket, { serverHostname: SERVER_NAME });
      await pump.handshake();
      const sealer = client.sealer();
      const records: Buffer[] = [];
      for (let k = 0; k < count; k++) records.push(sealer.keyUpdate(k % 3 === 0));
      records.push(sealer.seal(23, Buffer.from('never echoed')));
      socket.write(Buffer.concat(records));
      await closed; // the server hangs up
      rawSockets.delete(socket);
    }

    /** A node:tls TLS 1.2 client that asks for a renegotiation once connected; resolves with its error once closed. */
    function renegotiationAttempt(port: number): Promise<(Error & { code?: string }) | null> {
      return new Promise((resolve) => {
        const socket = nodeTls.connect({ host: HOST, port, servername: SERVER_NAME, ca: readCert('ca.pem'), maxVersion: 'TLSv1.2' });
        let told: (Error & { code?: string }) | null = null;
        socket.on('error', (error) => (told = error));
        socket.once('secureConnect', () => socket.renegotiate({}, () => undefined));
        socket.once('close', () => resolve(told));
      });
    }

    it('post-handshake attacks (KeyUpdate floods, renegotiation requests) end in typed errors on both servers; good clients unharmed', async () => {
      const ATTACKS = 10;
      const payloadA = randomBytes(1024 * 1024);
      const payloadB = randomBytes(1024 * 1024);
      const protocolPort = protocolServer.address().port;
      const tlsPort = (tlsServer.address() as net.AddressInfo).port;
      protocolLosses.length = 0;
      tlsSocketErrors.length = 0;
      const attacks = async (port: number): Promise<Array<Error | null>> => {
        const told: Array<Error | null> = [];
        for (let i = 0; i < ATTACKS; i++) {
          await keyUpdateFlood(port, 100);
          told.push(await renegotiationAttempt(port));
        }
        return told;
      };
      const [echoA, echoB, toldByProtocol, toldByTls] = await Promise.all([
        echoMiB(protocolPort, payloadA),
        echoMiB(tlsPort, payloadB),
        attacks(protocolPort),
        attacks(tlsPort),
      ]);
      expect(echoA.equals(payloadA), 'protocol server echo intact').to.equal(true);
      expect(echoB.equals(payloadB), 'tls server echo intact').to.equal(true);
      // Our refusal is the no_renegotiation alert, which OpenSSL clients treat as fatal.
      for (const told of [...toldByProtocol, ...toldByTls]) expect((told as { code?: string } | null)?.code, String(told)).to.equal('ERR_SSL_NO_RENEGOTIATION');
      await until(() => protocolLosses.length >= 2 * ATTACKS && tlsSocketErrors.length >= 2 * ATTACKS, 'both servers saw every attack end');
      const reasons = (errors: Array<Error | null>): string[] =>
        errors.filter((e): e is SSLError => e instanceof SSLError).map((e) => String(e.reason)).sort();
      const expected = [...Array(ATTACKS).fill('SSLV3_ALERT_HANDSHAKE_FAILURE'), ...Array(ATTACKS).fill('TOO_MANY_KEY_UPDATES')];
      // memtls/protocol: connectionLost(SSLError) for each attack; only the good client ended without an error.
      expect(reasons(protocolLosses), protocolLosses.map(String).join('; ')).to.deep.equal(expected);
      expect(protocolLosses.filter((e) => !(e instanceof SSLError)).every((e) => e === null)).to.equal(true);
      // memtls/tls: one 'error' per attack, with node:tls's code.
      expect(tlsSocketErrors.map((e) => e.code).sort()).to.deep.equal(expected.map((reason) => `ERR_SSL_${reason}`));
      for (let n = 0; n < 4 * ATTACKS; n++) socketTally.add('post-handshake', 'error');
      expect(protocolServer.isServing()).to.equal(true);
      expect(tlsServer.listening).to.equal(true);
    });
  });

  after(function () {
    if (this.currentTest?.state === 'failed') return;
    const rows = [...tally.byCategory, ...socketTally.byCategory].map(([name, row]) => `${name}: ${JSON.stringify(row)}`);
    // eslint-disable-next-line no-console
    console.log(`      fuzz seed=${SEED}: ${tally.total} in-memory cases, ${socketTally.total} socket cases\n        ${rows.join('\n        ')}`);
  });

  describe('accounting', () => {
  it('accounts for every case', () => {
    const expected: Record<string, number> = {
      'random-server': 2000,
      'random-client': 500,
      'mutated-hello': 4000,
      'hello-bytes-valid': 100,
      'hello-bytes-mutated': 100,
      'server-flight': 1200,
      'client-finished': 800,
      'app-record': 800,
      'after-close': 400,
      alert: 300,
      'keyupdate-flood': 20,
      'keyupdate-paced': 20,
    };
    for (const [category, count] of Object.entries(expected)) expect(tally.count(category), category).to.equal(count);
    expect(tally.total).to.equal(Object.values(expected).reduce((a, b) => a + b, 0));
    expect(tally.total + socketTally.total).to.be.at.least(10000);
    expect(socketTally.count('post-handshake')).to.equal(40);
    expect(socketTally.total).to.equal(340);
  });
  });
});


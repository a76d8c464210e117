/**
 * Stalled readers: memory stays bounded by flow control while gigabytes flow.
 *
 *   node --expose-gc dist/bench/stalled-reader.js [--gib N] [--stall-ms S] [--read-ms R]
 *
 * For each of memtls/tls and memtls/protocol, a server writes N GiB (default 2)
 * of a deterministic stream to one client in 256 KiB writes, obeying
 * backpressure ('drain' / pauseWriting-resumeWriting). The client alternates:
 * it reads for R ms (default 150), then stops reading for S ms (default 250),
 * so the writer hits the flow-control limits again and again. Server and
 * client share this process, so RSS covers both ends.
 *
 * RSS is sampled every 25 ms from the first byte to the last. Pass criteria
 * (exit code 1 otherwise):
 *  - every byte arrives, in order (each 256 KiB chunk carries its index);
 *  - RSS never rises more than RSS_LIMIT (64 MiB) above the level measured once
 *    the stream is running, after a collection: the flow-control limits
 *    (socket buffers, 512 KiB write high-water mark, 256 KiB read high-water
 *    mark) keep what can pile up to a few MiB per connection, so growth that
 *    tracks the gigabytes sent would be a leak or a missing pause;
 *  - the writer's buffered bytes (bufferSize / getWriteBufferSize()) never
 *    exceed BUFFERED_LIMIT (4 MiB).
 *
 * The last line printed is a JSON object with every figure.
 */
import { once } from 'node:events';
import type * as net from 'node:net';

import type { SSLContext } from '../lib';
import { createConnection, createServer as createProtocolServer, type Transport } from '../lib/protocol';
import * as tls from '../lib/tls';
import { clientContext, serverContext } from '../test/helpers/pair';
import { readCert, SERVER_NAME } from '../test/helpers/certs';
import { MiB } from './common';

const CHUNK = 256 * 1024;
const RSS_LIMIT = 64 * MiB;
const BUFFERED_LIMIT = 4 * MiB;
const SAMPLE_MS = 25;
const HOST = '127.0.0.1';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
}

const TOTAL = Math.round(option('--gib', 2) * 1024) * MiB;
const STALL_MS = option('--stall-ms', 250);
const READ_MS = option('--read-ms', 150);
const CHUNKS = TOTAL / CHUNK;

/** Chunk i of the stream: its index in the first four bytes, then a fill byte. */
const chunkTemplate = Buffer.alloc(CHUNK, 0x5a);
function chunkAt(index: number): Buffer {
  const chunk = Buffer.from(chunkTemplate);
  chunk.writeUInt32BE(index, 0);
  return chunk;
}

/**
 * Checks the received stream as it arrives: chunk boundaries do not line up
 * with reads, so it tracks the offset and checks each chunk's index word.
 */
class StreamChecker {
  received = 0;
  #indexBytes = Buffer.alloc(4);
  add(data: Buffer): void {
    for (let at = 0; at < data.length; ) {
      const within = this.received % CHUNK;
      if (within < 4) {
        const take = Math.min(4 - within, data.length - at);
        data.copy(this.#indexBytes, within, at, at + take);
        at += take;
        this.received += take;
        if (within + take === 4) {
          const index = this.#indexBytes.readUInt32BE(0);
          const expected = Math.floor((this.received - 1) / CHUNK);
          if (index !== expected) throw new Error(`chunk ${expected} arrived as ${index}: data lost or reordered`);
        }
      } else {
        const take = Math.min(CHUNK - within, data.length - at);
        if (data[at] !== 0x5a || data[at + take - 1] !== 0x5a) throw new Error(`corrupt byte near offset ${this.received}`);
        at += take;
        this.received += take;
      }
    }
  }
}

/** Calls `read(true)` / `read(false)` in turns: read for READ_MS, stall for STALL_MS. */
function alternate(setReading: (reading: boolean) => void): () => void {
  let reading = true;
  let timer: NodeJS.Timeout;
  const flip = (): void => {
    reading = !reading;
    setReading(reading);
    timer = setTimeout(flip, reading ? READ_MS : STALL_MS);
  };
  timer = setTimeout(flip, READ_MS);
  return () => clearTimeout(timer);
}

interface Run {
  api: string;
  seconds: number;
  stalls: number;
  baselineRss: number;
  maxRss: number;
  maxBuffered: number;
  writerPauses: number;
}

async function sampleWhile(done: Promise<void>, buffered: () => number): Promise<{ baselineRss: number; maxRss: number; maxBuffered: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const baselineRss = process.memoryUsage().rss;
  let maxRss = baselineRss;
  let maxBuffered = 0;
  let finished = false;
  void done.then(() => (finished = true), () => (finished = true));
  while (!finished) {
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    maxBuffered = Math.max(maxBuffered, buffered());
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  }
  return { baselineRss, maxRss, maxBuffered };
}

// ---- memtls/tls ------------------------------------------------------------

async function runTls(): Promise<Run> {
  let writer: tls.TLSSocket | null = null;
  let writerPauses = 0;
  const server = tls.createServer({ cert: readCert('server-ec.pem'), key: readCert('server-ec.key') }, (socket) => {
    writer = socket;
    socket.on('error', () => undefined);
    let next = 0;
    const pump = (): void => {
      while (next < CHUNKS) {
        if (!socket.write(chunkAt(next++))) {
          writerPauses++;
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;

  const started = process.hrtime.bigint();
  const checker = new StreamChecker();
  let stalls = 0;
  const client = tls.connect({ host: HOST, port, servername: SERVER_NAME, ca: readCert('ca.pem') });
  const done = new Promise<void>((resolve, reject) => {
    client.on('data', (data: Buffer) => {
      try {
        checker.add(data);
      } catch (error) {
        client.destroy(error as Error);
      }
    });
    client.on('error', reject);
    client.on('end', () => (checker.received === TOTAL ? resolve() : reject(new Error(`ended after ${checker.received} bytes`))));
  });
  const stop = alternate((reading) => {
    if (reading) client.resume();
    else {
      stalls++;
      client.pause();
    }
  });
  const figures = await sampleWhile(done, () => (writer === null ? 0 : writer.bufferSize));
  await done;
  stop();
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { api: 'memtls/tls', seconds: Number(process.hrtime.bigint() - started) / 1e9, stalls, writerPauses, ...figures };
}

// ---- memtls/protocol ---------------------------------------------------------

class StreamWriter {
  static last: StreamWriter | null = null;
  transport: Transport | null = null;
  pauses = 0;
  #next = 0;
  #paused = false;
  connectionMade(transport: Transport): void {
    StreamWriter.last = this;
    this.transport = transport;
    this.#pump();
  }
  pauseWriting(): void {
    this.#paused = true;
    this.pauses++;
  }
  resumeWriting(): void {
    this.#paused = false;
    this.#pump();
  }
  dataReceived(): void {}
  eofReceived(): void {}
  connectionLost(): void {
    this.transport = null;
  }
  #pump(): void {
    while (!this.#paused && this.transport !== null && this.#next < CHUNKS) this.transport.write(chunkAt(this.#next++));
    if (this.#next === CHUNKS && this.transport !== null) {
      this.transport.close();
      this.transport = null;
    }
  }
}

class StreamReader {
  transport: Transport | null = null;
  readonly checker = new StreamChecker();
  readonly done: Promise<void>;
  #settle!: (error: Error | null) => void;
  constructor() {
    this.done = new Promise((resolve, reject) => (this.#settle = (error) => (error ? reject(error) : resolve())));
  }
  connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  dataReceived(data: Buffer): void {
    try {
      this.checker.add(data);
    } catch (error) {
      this.#settle(error as Error);
      this.transport?.abort();
    }
  }
  eofReceived(): void {}
  connectionLost(error: Error | null): void {
    if (error === null && this.checker.received !== TOTAL) error = new Error(`closed after ${this.checker.received} bytes`);
    this.#settle(error);
  }
}

async function runProtocol(serverCtx: SSLContext, clientCtx: SSLContext): Promise<Run> {
  const server = await createProtocolServer(() => new StreamWriter(), { host: HOST, port: 0, ssl: serverCtx });
  const started = process.hrtime.bigint();
  let stalls = 0;
  const [transport, reader] = await createConnection(() => new StreamReader(), {
    host: HOST,
    port: server.address().port,
    ssl: clientCtx,
    serverHostname: SERVER_NAME,
  });
  const stop = alternate((reading) => {
    if (reading) transport.resumeReading();
    else {
      stalls++;
      transport.pauseReading();
    }
  });
  const figures = await sampleWhile(reader.done, () => StreamWriter.last?.transport?.getWriteBufferSize() ?? 0);
  await reader.done;
  stop();
  const writerPauses = StreamWriter.last?.pauses ?? 0;
  server.close();
  await server.waitClosed();
  return { api: 'memtls/protocol', seconds: Number(process.hrtime.bigint() - started) / 1e9, stalls, writerPauses, ...figures };
}

// ---- main --------------------------------------------------------------------

async function main(): Promise<void> {
  const runs = [await runTls(), await runProtocol(serverContext(), clientContext())];
  let ok = true;
  console.log(`memtls stalled reader: ${TOTAL / 1024 / MiB} GiB per API, read ${READ_MS} ms / stall ${STALL_MS} ms`);
  for (const run of runs) {
    const growth = run.maxRss - run.baselineRss;
    const pass = growth <= RSS_LIMIT && run.maxBuffered <= BUFFERED_LIMIT && run.writerPauses > 0;
    ok &&= pass;
    console.log(
      `  ${run.api.padEnd(16)} ${run.seconds.toFixed(1)} s, ${run.stalls} stalls, writer paused ${run.writerPauses} times; ` +
        `RSS ${(run.baselineRss / MiB).toFixed(0)} MiB -> max ${(run.maxRss / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(1)} MiB, limit ${RSS_LIMIT / MiB}); ` +
        `writer buffered max ${(run.maxBuffered / MiB).toFixed(2)} MiB (limit ${BUFFERED_LIMIT / MiB}) ${pass ? 'ok' : 'FAIL'}`,
    );
  }
  console.log(JSON.stringify({ totalBytes: TOTAL, readMs: READ_MS, stallMs: STALL_MS, ok, runs }));
  if (!ok) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

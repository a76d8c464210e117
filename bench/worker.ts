/**
 * One side (server or client) of one benchmark trial, run in a process of its
 * own by bench/run.ts. The orchestrator sends 'init' with the configuration,
 * then 'mark' and 'stop' around the measured window (or 'measure' for the
 * memory workload); this process answers over the IPC channel and exits.
 *
 * Each contender is driven the way its documentation suggests is fastest:
 *  - node:tls and memtls/tls: the same code (memtls/tls is a drop-in), one
 *    secure context per process (the server builds one; the client makes one
 *    with createSecureContext() and passes it to every connect()), noDelay;
 *  - memtls/protocol: createServer/createConnection with one SSLContext per
 *    process, a BufferedProtocol on the receiving side of bulk transfers and a
 *    Protocol elsewhere;
 *  - net: the same stream code as the TLS contenders, without TLS.
 *
 * Not meant to be started by hand.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as nodeTls from 'node:tls';
import * as v8 from 'node:v8';

import type {
  BulkParams,
  Contender,
  FromWorker,
  HandshakeParams,
  MemoryFigures,
  MemoryParams,
  ReadyInfo,
  ReqresParams,
  ToWorker,
  WindowResult,
  WorkerConfig,
} from './common';

// The memtls modules are loaded only by the processes that run them, so the
// node:tls and net processes carry no addon.
type TlsModule = typeof nodeTls;
type ProtocolModule = typeof import('../lib/protocol');
type CoreModule = typeof import('../lib');
type SSLContext = import('../lib').SSLContext;
type SSLSession = import('../lib').SSLSession;
type SSLObject = import('../lib').SSLObject;
type Transport = import('../lib/protocol').Transport;

const HOST = '127.0.0.1';
const SERVER_NAME = 'localhost';
const ONE_BYTE = Buffer.from([0x2a]);

function tlsModule(contender: Contender): TlsModule {
  if (contender === 'node:tls') return nodeTls;
  if (contender === 'memtls/tls') return require('../lib/tls') as TlsModule;
  throw new Error(`${contender} is not a tls module`);
}

function protocolModule(): ProtocolModule {
  return require('../lib/protocol') as ProtocolModule;
}

function coreModule(): CoreModule {
  return require('../lib') as CoreModule;
}

// ---------------------------------------------------------------------------
// Counters and the measured window

const counters = { units: 0, reused: 0, errors: 0 };
let firstError: string | undefined;

function noteError(error: unknown): void {
  counters.errors++;
  firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const LATENCY_CAPACITY = 1 << 21;
const latencies = new Float64Array(LATENCY_CAPACITY);
let latencyCount = 0;
let recording = false;

function recordLatency(micros: number): void {
  if (recording && latencyCount < LATENCY_CAPACITY) latencies[latencyCount++] = micros;
}

let markState:
  | { cpu: NodeJS.CpuUsage; usage: NodeJS.ResourceUsage; time: number; units: number; reused: number; errors: number }
  | undefined;

function mark(): void {
  latencyCount = 0;
  recording = true;
  markState = {
    cpu: process.cpuUsage(),
    usage: process.resourceUsage(),
    time: performance.now(),
    units: counters.units,
    reused: counters.reused,
    errors: counters.errors,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

function stopWindow(): WindowResult {
  const wallSeconds = (performance.now() - markState!.time) / 1000;
  const cpu = process.cpuUsage(markState!.cpu);
  const usage = process.resourceUsage();
  recording = false;
  const result: WindowResult = {
    cpuUser: cpu.user / 1e6,
    cpuSystem: cpu.system / 1e6,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds,
    units: counters.units - markState!.units,
    reused: counters.reused - markState!.reused,
    errors: counters.errors - markState!.errors,
    minorFaults: usage.minorPageFault - markState!.usage.minorPageFault,
    voluntarySwitches: usage.voluntaryContextSwitches - markState!.usage.voluntaryContextSwitches,
    involuntarySwitches: usage.involuntaryContextSwitches - markState!.usage.involuntaryContextSwitches,
  };
  if (latencyCount > 0) {
    const sorted = latencies.slice(0, latencyCount).sort();
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) sum += sorted[i];
    result.latency = { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: sum / sorted.length };
  }
  return result;
}

// ---------------------------------------------------------------------------
// A link: one established connection, the same surface for every contender

interface Link {
  /** Queues `data`; false when the writer should wait for onWritable. */
  write(data: Buffer): boolean;
  /** Graceful close. */
  close(): void;
  onWritable: (() => void) | null;
  onBytes: ((count: number) => void) | null;
  info(): { protocol?: string; cipher?: string; reused: boolean };
}

/** node:tls, memtls/tls and net sockets. */
class StreamLink implements Link {
  onWritable: (() => void) | null = null;
  onBytes: ((count: number) => void) | null = null;

  constructor(readonly socket: net.Socket) {
    socket.on('drain', () => this.onWritable?.());
    // Always read, so that the peer's close is seen and the socket goes away.
    socket.on('data', (data: Buffer) => this.onBytes?.(data.length));
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  close(): void {
    this.socket.end();
  }

  info(): { protocol?: string; cipher?: string; reused: boolean } {
    const socket = this.socket as nodeTls.TLSSocket;
    if (typeof socket.getProtocol !== 'function') return { protocol: 'tcp', reused: false };
    return { protocol: socket.getProtocol() ?? undefined, cipher: socket.getCipher()?.name, reused: socket.isSessionReused() };
  }
}

/** memtls/protocol: asyncio's Protocol, plaintext as Buffers. */
class ProtocolLink implements Link {
  transport!: Transport;
  paused = false;
  onWritable: (() => void) | null = null;
  onBytes: ((count: number) => void) | null = null;

  constructor(readonly made?: (link: Link) => void) {}

  connectionMade(transport: Transport): void {
    this.transport = transport;
    this.made?.(this);
  }

  dataReceived(data: Buffer): void {
    this.onBytes?.(data.length);
  }

  connectionLost(error: Error | null): void {
    if (error) noteError(error);
  }

  pauseWriting(): void {
    this.paused = true;
  }

  resumeWriting(): void {
    this.paused = false;
    this.onWritable?.();
  }

  write(data: Buffer): boolean {
    this.transport.write(data);
    return !this.paused;
  }

  close(): void {
    this.transport.close();
  }

  info(): { protocol?: string; cipher?: string; reused: boolean } {
    const cipher = this.transport.getExtraInfo('cipher') as [string, string, number] | null;
    const sslObject = this.transport.getExtraInfo('sslObject') as SSLObject | undefined;
    return { protocol: cipher?.[1], cipher: cipher?.[0], reused: sslObject?.sessionReused ?? false };
  }
}

/** One read buffer for every BufferedLink of the process: the bytes are only counted. */
const readBuffer = Buffer.allocUnsafe(256 * 1024);

/** memtls/protocol: asyncio's BufferedProtocol, decrypting straight into readBuffer. */
class BufferedLink extends ProtocolLink {
  getBuffer(_sizeHint: number): Uint8Array {
    return readBuffer;
  }

  bufferUpdated(count: number): void {
    this.onBytes?.(count);
  }
}

// ---------------------------------------------------------------------------
// TLS settings per workload

interface TlsSettings {
  version: 'TLSv1.2' | 'TLSv1.3';
  /**
   * The only cipher offered: a TLS 1.3 ciphersuite, or a TLS 1.2 cipher
   * list. Every contender gets the same, so that none negotiates a costlier one.
   */
  ciphers: string;
  cert: 'ec' | 'rsa';
}

/** AES-128-GCM for everything but the AES-256-GCM bulk cells. */
const TLS12_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256';

function tlsSettings(config: WorkerConfig): TlsSettings {
  const p = config.params;
  if (p.kind === 'bulk') return { version: 'TLSv1.3', ciphers: p.suite, cert: 'ec' };
  if (p.kind === 'handshake') {
    return { version: p.version, ciphers: p.version === 'TLSv1.3' ? 'TLS_AES_128_GCM_SHA256' : TLS12_CIPHERS, cert: p.cert };
  }
  // reqres and memory: TLS 1.3, AES-128-GCM, ECDSA.
  return { version: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', cert: 'ec' };
}

/** memtls/protocol: the same choice on an SSLContext. */
function applySettings(ctx: SSLContext, settings: TlsSettings): void {
  ctx.minimumVersion = settings.version;
  ctx.maximumVersion = settings.version;
  if (settings.version === 'TLSv1.3') ctx.setCiphersuites(settings.ciphers);
  else ctx.setCiphers(settings.ciphers);
}

function certFiles(config: WorkerConfig, settings: TlsSettings): { key: string; cert: string; ca: string } {
  const name = settings.cert === 'rsa' ? 'server-rsa' : 'server-ec';
  return {
    key: path.join(config.certDir, `${name}.key`),
    cert: path.join(config.certDir, `${name}.pem`),
    ca: path.join(config.certDir, 'ca.pem'),
  };
}

// ---------------------------------------------------------------------------
// Servers

/** Listens on 127.0.0.1, port 0; calls onLink for each established connection. */
async function listen(config: WorkerConfig, onLink: (link: Link) => void, buffered: boolean): Promise<number> {
  const contender = config.contender;
  if (contender === 'memtls/protocol') {
    const settings = tlsSettings(config);
    const files = certFiles(config, settings);
    const core = coreModule();
    const ctx = new core.SSLContext(core.PROTOCOL_TLS_SERVER);
    ctx.loadCertChain(files.cert, files.key);
    applySettings(ctx, settings);
    const { createServer } = protocolModule();
    const server = await createServer(() => (buffered ? new BufferedLink(onLink) : new ProtocolLink(onLink)), {
      host: HOST,
      port: 0,
      ssl: ctx,
      noDelay: true,
    });
    return server.address().port;
  }

  const onSocket = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    socket.on('error', noteError);
    onLink(new StreamLink(socket));
  };
  let server: net.Server;
  if (contender === 'net') {
    server = net.createServer({ noDelay: true }, onSocket);
  } else {
    const settings = tlsSettings(config);
    const files = certFiles(config, settings);
    const options: nodeTls.TlsOptions & { noDelay: boolean } = {
      key: fs.readFileSync(files.key),
      cert: fs.readFileSync(files.cert),
      minVersion: settings.version,
      maxVersion: settings.version,
      ciphers: settings.ciphers,
      noDelay: true,
    };
    // One server, one secure context for all its connections.
    const tlsServer = tlsModule(contender).createServer(options, onSocket);
    tlsServer.on('tlsClientError', noteError);
    server = tlsServer;
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as net.AddressInfo).port));
  });
}

// ---------------------------------------------------------------------------
// Clients

interface Connector {
  /** Opens one connection; `session` resumes (TLS contenders). */
  connect(buffered: boolean, session?: unknown): Promise<Link>;
  /** Opens one connection and returns the first session it receives. */
  primeSession(): Promise<unknown>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function streamConnector(config: WorkerConfig): Connector {
  const port = config.port!;
  if (config.contender === 'net') {
    return {
      connect: () =>
        new Promise((resolve, reject) => {
          const socket = net.connect({ host: HOST, port, noDelay: true });
          const onError = (error: Error): void => reject(error);
          socket.once('error', onError);
          socket.once('connect', () => {
            socket.off('error', onError);
            socket.on('error', noteError);
            resolve(new StreamLink(socket));
          });
        }),
      primeSession: () => Promise.resolve(undefined),
    };
  }
  const tls = tlsModule(config.contender);
  const settings = tlsSettings(config);
  const files = certFiles(config, settings);
  const contextOptions: nodeTls.SecureContextOptions = {
    ca: fs.readFileSync(files.ca),
    minVersion: settings.version,
    maxVersion: settings.version,
    ciphers: settings.ciphers,
  };
  // One secure context per process, passed to every connect().
  const secureContext = tls.createSecureContext(contextOptions);
  const open = (session: Buffer | undefined): nodeTls.TLSSocket =>
    tls.connect({ host: HOST, port, servername: SERVER_NAME, secureContext, session, noDelay: true } as nodeTls.ConnectionOptions);
  return {
    connect: (_buffered, session) =>
      new Promise((resolve, reject) => {
        const socket = open(session as Buffer | undefined);
        const onError = (error: Error): void => {
          socket.destroy();
          reject(error);
        };
        socket.once('error', onError);
        socket.once('secureConnect', () => {
          socket.off('error', onError);
          socket.on('error', noteError);
          socket.setNoDelay(true);
          resolve(new StreamLink(socket));
        });
      }),
    primeSession: () =>
      withTimeout(
        new Promise((resolve, reject) => {
          const socket = open(undefined);
          socket.once('error', reject);
          socket.once('session', (session: Buffer) => {
            resolve(session);
            socket.end();
          });
          socket.resume();
        }),
        10000,
        'waiting for a session',
      ),
  };
}

function protocolConnector(config: WorkerConfig): Connector {
  const port = config.port!;
  const settings = tlsSettings(config);
  const files = certFiles(config, settings);
  const core = coreModule();
  const protocol = protocolModule();
  // One SSLContext per process; it verifies the chain and the hostname.
  const ctx: SSLContext = new core.SSLContext(core.PROTOCOL_TLS_CLIENT);
  ctx.loadVerifyLocations({ cafile: files.ca });
  applySettings(ctx, settings);
  const make = (buffered: boolean): ProtocolLink => (buffered ? new BufferedLink() : new ProtocolLink());

  /**
   * createConnection() has no option for a session to resume, so resumed
   * connections are put together from the same public pieces it uses:
   * a socket, an SSLProtocol whose SSLObject gets the session before the
   * handshake starts, and a SocketTransport.
   */
  const connectWithSession = async (buffered: boolean, session: SSLSession): Promise<Link> => {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: HOST, port, noDelay: true });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
    });
    const app = make(buffered);
    const waiter = new protocol.Waiter();
    const loop = protocol.getEventLoop();
    const sslProtocol = new protocol.SSLProtocol(loop, app, ctx, waiter, { serverSide: false, serverHostname: SERVER_NAME });
    sslProtocol.sslObject.session = session;
    new protocol.SocketTransport(socket, sslProtocol, { loop });
    await waiter.promise;
    return app;
  };

  return {
    connect: async (buffered, session) => {
      if (session !== undefined) return connectWithSession(buffered, session as SSLSession);
      const [, app] = await protocol.createConnection(() => make(buffered), { host: HOST, port, ssl: ctx, serverHostname: SERVER_NAME });
      return app;
    },
    primeSession: async () => {
      let resolveSession!: (session: SSLSession) => void;
      const arrived = new Promise<SSLSession>((resolve) => (resolveSession = resolve));
      ctx.newSessionCallback = (sslObject) => {
        const session = sslObject.session;
        if (session !== null) resolveSession(session);
      };
      const link = await connectOnce();
      const session = await withTimeout(arrived, 10000, 'waiting for a session');
      // Only the priming connection pays for session callbacks.
      ctx.newSessionCallback = undefined;
      link.close();
      return session;
    },
  };

  async function connectOnce(): Promise<Link> {
    const [, app] = await protocol.createConnection(() => make(false), { host: HOST, port, ssl: ctx, serverHostname: SERVER_NAME });
    return app;
  }
}

function connector(config: WorkerConfig): Connector {
  return config.contender === 'memtls/protocol' ? protocolConnector(config) : streamConnector(config);
}

function infoOf(link: Link): ReadyInfo {
  const { protocol, cipher } = link.info();
  return { protocol, cipher };
}

// ---------------------------------------------------------------------------
// Workloads

/**
 * Writes `chunk` for ever, waiting whenever the link asks to. A turn of the
 * event loop writes at most 512 KiB: when the peer reads as fast as we write,
 * back-pressure may never come, and a loop that never yields would hold up
 * everything else in the process (reads, timers, the orchestrator's 'stop').
 * Every contender runs this same loop.
 */
function pump(link: Link, chunk: Buffer): void {
  const perTurn = Math.max(1, Math.floor((512 * 1024) / chunk.length));
  let scheduled = false;
  const run = (): void => {
    scheduled = false;
    for (let i = 0; i < perTurn; i++) {
      if (!link.write(chunk)) return; // onWritable calls run again
    }
    if (!scheduled) {
      scheduled = true;
      setImmediate(run);
    }
  };
  // Not synchronously: 'drain' may come from process.nextTick (a write that
  // completed at once), and writing again from there chains nextTicks that
  // never let the event loop read its sockets or the IPC channel.
  link.onWritable = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(run);
    }
  };
  run();
}

async function bulkServer(config: WorkerConfig, p: BulkParams): Promise<number> {
  const chunk = Buffer.alloc(p.writeSize, 0x61);
  return listen(
    config,
    (link) => {
      if (p.direction === 's2c') pump(link, chunk);
      else link.onBytes = (count) => (counters.units += count);
    },
    p.direction === 'c2s',
  );
}

async function bulkClient(config: WorkerConfig, p: BulkParams): Promise<ReadyInfo> {
  const link = await connector(config).connect(p.direction === 's2c');
  if (p.direction === 'c2s') pump(link, Buffer.alloc(p.writeSize, 0x61));
  else link.onBytes = (count) => (counters.units += count);
  return infoOf(link);
}

async function handshakeServer(config: WorkerConfig): Promise<number> {
  // The server only reads (to see the client's close) and closes in turn.
  return listen(config, () => {}, false);
}

async function handshakeClient(config: WorkerConfig, p: HandshakeParams): Promise<ReadyInfo> {
  const c = connector(config);
  const session = p.resumed && config.contender !== 'net' ? await c.primeSession() : undefined;
  let info: ReadyInfo | undefined;
  let firstDone!: () => void;
  const first = new Promise<void>((resolve) => (firstDone = resolve));
  const slot = async (): Promise<void> => {
    for (;;) {
      try {
        const link = await c.connect(false, session);
        counters.units++;
        const linkInfo = link.info();
        if (linkInfo.reused) counters.reused++;
        if (info === undefined) {
          info = { protocol: linkInfo.protocol, cipher: linkInfo.cipher };
          firstDone();
        }
        link.close();
      } catch (error) {
        noteError(error);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  for (let i = 0; i < p.concurrency; i++) void slot();
  await withTimeout(first, 15000, `first handshake (errors: ${counters.errors}${firstError ? `, ${firstError}` : ''})`);
  return info!;
}

async function reqresServer(config: WorkerConfig, p: ReqresParams): Promise<number> {
  const response = Buffer.alloc(p.messageSize, 0x62);
  return listen(
    config,
    (link) => {
      let pending = 0;
      link.onBytes = (count) => {
        pending += count;
        while (pending >= p.messageSize) {
          pending -= p.messageSize;
          link.write(response);
        }
      };
    },
    false,
  );
}

async function reqresClient(config: WorkerConfig, p: ReqresParams): Promise<ReadyInfo> {
  const c = connector(config);
  const request = Buffer.alloc(p.messageSize, 0x71);
  const links = await Promise.all(Array.from({ length: p.connections }, () => c.connect(false)));
  for (const link of links) {
    let got = 0;
    let sentAt = performance.now();
    link.onBytes = (count) => {
      got += count;
      while (got >= p.messageSize) {
        got -= p.messageSize;
        const now = performance.now();
        recordLatency((now - sentAt) * 1000);
        counters.units++;
        sentAt = now;
        link.write(request);
      }
    };
    link.write(request);
  }
  return infoOf(links[0]);
}

const held: Link[] = [];

async function memoryServer(config: WorkerConfig): Promise<number> {
  return listen(
    config,
    (link) => {
      held.push(link);
      link.onBytes = () => link.write(ONE_BYTE);
    },
    false,
  );
}

async function memoryClient(config: WorkerConfig, p: MemoryParams): Promise<ReadyInfo> {
  const c = connector(config);
  const started = performance.now();
  let next = 0;
  const opener = async (): Promise<void> => {
    while (next < p.connections) {
      next++;
      const link = await c.connect(false);
      // One byte there and back: both ends are established and idle afterwards.
      await new Promise<void>((resolve) => {
        link.onBytes = () => {
          link.onBytes = null;
          resolve();
        };
        link.write(ONE_BYTE);
      });
      held.push(link);
    }
  };
  await Promise.all(Array.from({ length: p.openConcurrency }, opener));
  return { ...infoOf(held[0]), openSeconds: (performance.now() - started) / 1000, connections: held.length };
}

// ---------------------------------------------------------------------------
// Memory figures after garbage collection

async function settledMemory(): Promise<MemoryFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the memory workload needs --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const m = process.memoryUsage();
  const youngGeneration = v8
    .getHeapSpaceStatistics()
    .filter((space) => space.space_name === 'new_space' || space.space_name === 'new_large_object_space')
    .reduce((sum, space) => sum + space.physical_space_size, 0);
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, youngGeneration };
}

// ---------------------------------------------------------------------------
// IPC with the orchestrator

function send(message: FromWorker, then?: () => void): void {
  if (!process.send) throw new Error('bench/worker.js runs under bench/run.js (no IPC channel)');
  process.send(message, undefined, {}, () => then?.());
}

function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: 'failed', message }, () => process.exit(1));
}

let baseline: MemoryFigures | undefined;
let role = 'worker';

async function init(config: WorkerConfig): Promise<void> {
  role = config.role;
  const p = config.params;
  if (p.kind === 'memory') baseline = await settledMemory();
  if (config.role === 'server') {
    let port: number;
    if (p.kind === 'bulk') port = await bulkServer(config, p);
    else if (p.kind === 'handshake') port = await handshakeServer(config);
    else if (p.kind === 'reqres') port = await reqresServer(config, p);
    else port = await memoryServer(config);
    send({ type: 'listening', port });
    return;
  }
  let info: ReadyInfo;
  if (p.kind === 'bulk') info = await bulkClient(config, p);
  else if (p.kind === 'handshake') info = await handshakeClient(config, p);
  else if (p.kind === 'reqres') info = await reqresClient(config, p);
  else info = await memoryClient(config, p);
  send({ type: 'ready', info });
}

async function measureMemory(): Promise<void> {
  const loaded = await settledMemory();
  send({ type: 'memory', result: { connections: held.length, baseline: baseline!, loaded } });
}

// The contender is also the first argument, so that its modules load while
// the other process starts, before 'init' arrives.
const preload = process.argv[2] as Contender | undefined;
if (preload === 'memtls/tls') tlsModule(preload);
else if (preload === 'memtls/protocol') protocolModule();

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'init':
      init(message.config).catch(fail);
      break;
    case 'mark':
      mark();
      break;
    case 'stop': {
      const result = stopWindow();
      if (result.errors > 0 && firstError) process.stderr.write(`${role}: ${result.errors} connection errors, first: ${firstError}\n`);
      send({ type: 'window', result });
      break;
    }
    case 'exit':
      process.exit(0);
    case 'measure':
      measureMemory().catch(fail);
      break;
  }
});
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
// The orchestrator went away: nothing left to do.
process.on('disconnect', () => process.exit(0));

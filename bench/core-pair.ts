/**
 * Core engine micro-benchmark: an in-memory TLS client/server pair, no sockets.
 *
 * Each case runs two loops that do the same TLS work:
 *  - JS: the fast path driven from JavaScript exactly as the protocol layer
 *    does it (engine.send() of a batch into a reused wire buffer, then
 *    engine.receive() of that ciphertext into a reused plaintext buffer);
 *  - C++: native.ceilingBench(), the same loop written directly against
 *    OpenSSL inside the addon: the ceiling the JS path can approach.
 * Trials alternate JS, C++, JS, C++ ... after a warm-up; the report gives the
 * median, min and max of each side and the ratio of the medians.
 *
 * Usage: node dist/bench/core-pair.js [--quick] [--json FILE]
 *          [--trials N] [--trial-seconds S] [--only bulk-1k,bulk-1k-x16,bulk-16k,bulk-64k,handshake]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemoryBIO, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER, SSLContext, type SSLObject } from '../lib';
import { native, Slot, Status, StatusFlag, type NativeSSLObject } from '../lib/native';
import { busiestProcesses } from './common';

const HOST = 'localhost';
const CIPHERSUITE = 'TLS_AES_128_GCM_SHA256';
const KiB = 1024;
const MB = 1e6;
const shared = native.sharedState;
const CASE_IDS = ['bulk-1k', 'bulk-1k-x16', 'bulk-16k', 'bulk-64k', 'bulk-64k-fresh', 'handshake'];

// ---------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean;
  json: string | undefined;
  trials: number;
  trialSeconds: number;
  warmupSeconds: number;
  only: string[] | undefined;
}

function usage(): never {
  console.log('usage: core-pair [--quick] [--json FILE] [--trials N] [--trial-seconds S] [--only ID,...]');
  console.log(`case ids: ${CASE_IDS.join(', ')}`);
  process.exit(0);
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    quick: false,
    json: undefined,
    trials: 9,
    trialSeconds: 0.4,
    warmupSeconds: 0.4,
    only: undefined,
  };
  let trials: number | undefined;
  let trialSeconds: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--json') options.json = value();
    else if (arg === '--trials') trials = Number(value());
    else if (arg === '--trial-seconds') trialSeconds = Number(value());
    else if (arg === '--only') options.only = value().split(',');
    else if (arg === '--help' || arg === '-h') usage();
    else throw new Error(`unknown argument: ${arg}`);
  }
  for (const id of options.only ?? []) {
    if (!CASE_IDS.includes(id)) throw new Error(`unknown case: ${id} (one of ${CASE_IDS.join(', ')})`);
  }
  if (options.quick) {
    options.trials = 3;
    options.trialSeconds = 0.12;
    options.warmupSeconds = 0.15;
  }
  if (trials !== undefined) {
    if (!Number.isInteger(trials) || trials < 1) throw new Error('--trials must be a positive integer');
    options.trials = trials;
  }
  if (trialSeconds !== undefined) {
    if (!(trialSeconds > 0)) throw new Error('--trial-seconds must be positive');
    options.trialSeconds = trialSeconds;
  }
  return options;
}

// ---------------------------------------------------------------------------
// Machine facts

/** Aggregate jiffies from /proc/stat: [busy, total], or undefined off Linux. */
function cpuJiffies(): [number, number] | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0];
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const idle = fields[3] + (fields[4] ?? 0);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return [total - idle, total];
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Cores kept busy by the whole machine over `ms` while this process sleeps. */
function idleMachineLoad(ms: number): number | undefined {
  const before = cpuJiffies();
  sleepSync(ms);
  const after = cpuJiffies();
  if (before === undefined || after === undefined || after[1] === before[1]) return undefined;
  return ((after[0] - before[0]) / (after[1] - before[1])) * os.cpus().length;
}

interface Machine {
  node: string;
  openssl: string;
  cpu: string;
  cores: number;
  loadavg: number[];
  busiest: string[];
  idleLoadCores: number | undefined;
  platform: string;
}

function machineFacts(): Machine {
  const cpus = os.cpus();
  return {
    node: process.version,
    openssl: process.versions.openssl,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    loadavg: os.loadavg(),
    busiest: busiestProcesses(2),
    idleLoadCores: idleMachineLoad(500),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

// ---------------------------------------------------------------------------
// Contexts and the fast-path handshake

interface Contexts {
  client: SSLContext;
  server: SSLContext;
}

function makeCertificates(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memtls-bench-'));
  const cleanup = (): void => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const script = path.join(__dirname, '..', '..', 'scripts', 'make-test-certs.sh');
    execFileSync('bash', [script, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    cleanup();
    throw error;
  }
  return { dir, cleanup };
}

function makeContexts(certDir: string): Contexts {
  const client = new SSLContext(PROTOCOL_TLS_CLIENT);
  client.loadVerifyLocations({ cafile: path.join(certDir, 'ca.pem') });
  const server = new SSLContext(PROTOCOL_TLS_SERVER);
  server.loadCertChain(path.join(certDir, 'server-ec.pem'), path.join(certDir, 'server-ec.key'));
  for (const ctx of [client, server]) {
    ctx.minimumVersion = 'TLSv1.3';
    ctx.setCiphersuites(CIPHERSUITE);
  }
  return { client, server };
}

function fail(engine: NativeSSLObject, status: number, what: string): never {
  const error = (status & StatusFlag.Mask) === Status.Error ? engine.takeError() : undefined;
  throw new Error(`${what}: unexpected status ${status & StatusFlag.Mask}${error ? `: ${error.message}` : ''}`);
}

function wrapPair(ctx: Contexts): { client: SSLObject; server: SSLObject } {
  return {
    client: ctx.client.wrapBio(new MemoryBIO(), new MemoryBIO(), { serverHostname: HOST }),
    server: ctx.server.wrapBio(new MemoryBIO(), new MemoryBIO(), { serverSide: true }),
  };
}

/**
 * A full handshake through the fast path only (handshake/drain/receive), as
 * the protocol layer runs it. The server's session tickets are drained out of
 * its BIO and dropped, as the C++ ceiling leaves them unread in the client's.
 */
function fastHandshake(c: NativeSSLObject, s: NativeSSLObject, wire: Buffer, plain: Buffer): void {
  let status = c.handshake();
  let clientDone = (status & StatusFlag.HandshakeDone) !== 0;
  let serverDone = false;
  if ((status & StatusFlag.Mask) !== Status.WantRead) fail(c, status, 'client handshake');
  for (let round = 0; round < 8; round++) {
    let n = c.drain(wire, 0, wire.length);
    if (n > 0) {
      status = s.receive(wire.subarray(0, n), plain, 0, plain.length);
      const outcome = status & StatusFlag.Mask;
      if (outcome !== Status.Ok && outcome !== Status.WantRead) fail(s, status, 'server handshake');
      if (status & StatusFlag.HandshakeDone) serverDone = true;
    }
    if (clientDone && serverDone) {
      s.drain(wire, 0, wire.length);
      return;
    }
    n = s.drain(wire, 0, wire.length);
    if (n > 0) {
      status = c.receive(wire.subarray(0, n), plain, 0, plain.length);
      const outcome = status & StatusFlag.Mask;
      if (outcome !== Status.Ok && outcome !== Status.WantRead) fail(c, status, 'client handshake');
      if (status & StatusFlag.HandshakeDone) clientDone = true;
    }
  }
  throw new Error('fast-path handshake did not finish');
}

// ---------------------------------------------------------------------------
// The measured loops

/** One trial: work units done (bytes or handshakes) and the time they took. */
interface Sample {
  units: number;
  cpuSeconds: number;
  wallSeconds: number;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** Client -> server bulk transfer through the fast path, from JS. */
class JsBulk {
  readonly pair: { client: SSLObject; server: SSLObject };
  readonly wire = Buffer.alloc(256 * KiB);
  readonly plain = Buffer.alloc(256 * KiB);
  readonly chunk: Buffer;

  /**
   * @param freshOutput decrypt each batch into a newly allocated Buffer, sized
   *   as SSLProtocol sizes one for a large chunk (the chunk plus one record),
   *   which is what a Protocol's dataReceived or a drop-in 'data' listener
   *   gets, instead of one reused buffer (a BufferedProtocol's)
   */
  constructor(
    ctx: Contexts,
    readonly size: number,
    readonly perCall: number,
    readonly freshOutput = false,
  ) {
    this.chunk = Buffer.alloc(size, 0x61);
    this.pair = wrapPair(ctx);
    fastHandshake(this.pair.client.engine, this.pair.server.engine, this.wire, this.plain);
    this.check();
  }

  /** Once, outside the timing: the bytes arrive intact. */
  private check(): void {
    const probe = Buffer.alloc(this.size * this.perCall);
    for (let i = 0; i < probe.length; i++) probe[i] = (i * 7 + 3) & 0xff;
    const chunks = Array.from({ length: this.perCall }, (_, i) => probe.subarray(i * this.size, (i + 1) * this.size));
    const status = this.pair.client.engine.send(chunks, this.wire, 0, this.wire.length);
    if ((status & StatusFlag.Mask) !== Status.Ok) fail(this.pair.client.engine, status, 'send');
    const got = this.pair.server.engine.receive(this.wire.subarray(0, shared[Slot.OutBytes]), this.plain, 0, this.plain.length);
    // Plaintext comes back with Ok, or with WantRead (nothing more for now).
    const outcome = got & StatusFlag.Mask;
    if (outcome !== Status.Ok && outcome !== Status.WantRead) fail(this.pair.server.engine, got, 'receive');
    if (!this.plain.subarray(0, shared[Slot.Bytes]).equals(probe)) throw new Error('bulk check: data corrupted');
  }

  /** `calls` send() calls of `perCall` chunks each, all received by the server. */
  run(calls: number): Sample {
    const c = this.pair.client.engine;
    const s = this.pair.server.engine;
    const { wire, chunk, perCall, freshOutput } = this;
    let plain = this.plain;
    const batchBytes = chunk.length * perCall;
    let received = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      let batch: Buffer[];
      if (perCall === 1) {
        batch = [chunk];
      } else {
        batch = [];
        for (let k = 0; k < perCall; k++) batch.push(chunk);
      }
      const sent = c.send(batch, wire, 0, wire.length);
      // The wire buffer always has room for a whole batch, so one call does it.
      if ((sent & StatusFlag.Mask) !== Status.Ok || shared[Slot.Bytes] !== batchBytes) fail(c, sent, 'send');
      let input: Buffer | null = wire.subarray(0, shared[Slot.OutBytes]);
      if (freshOutput) plain = Buffer.allocUnsafe(input.length + 16640);
      for (;;) {
        const status = s.receive(input, plain, 0, plain.length);
        input = null;
        const outcome = status & StatusFlag.Mask;
        if (outcome !== Status.Ok && outcome !== Status.WantRead) fail(s, status, 'receive');
        const got = shared[Slot.Bytes];
        received += got;
        if (got < plain.length) break; // output not full: everything is decrypted
      }
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpuSeconds = cpuSecondsSince(cpu0);
    if (received !== calls * batchBytes) throw new Error(`bulk: received ${received} of ${calls * batchBytes} bytes`);
    return { units: received, cpuSeconds, wallSeconds };
  }

  close(): void {
    this.pair.client.close();
    this.pair.server.close();
  }
}

/** New SSLObjects and a full handshake per iteration, from JS. */
class JsHandshakes {
  readonly wire = Buffer.alloc(64 * KiB);
  readonly plain = Buffer.alloc(16 * KiB);

  constructor(readonly ctx: Contexts) {}

  run(count: number): Sample {
    const { ctx, wire, plain } = this;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const pair = wrapPair(ctx);
      fastHandshake(pair.client.engine, pair.server.engine, wire, plain);
      pair.client.close();
      pair.server.close();
    }
    return { units: count, cpuSeconds: cpuSecondsSince(cpu0), wallSeconds: (performance.now() - t0) / 1000 };
  }
}

/** The same loops inside the addon; CPU time is the thread's, measured in C++. */
function ceiling(ctx: Contexts, kind: 'bulk' | 'handshake', size: number, count: number): Sample {
  const t0 = performance.now();
  const result = native.ceilingBench(ctx.client.native, ctx.server.native, kind, size, count, HOST);
  const wallSeconds = (performance.now() - t0) / 1000;
  const units = kind === 'bulk' ? result.bytes ?? 0 : result.handshakes ?? 0;
  const expected = kind === 'bulk' ? size * count : count;
  if (units !== expected) throw new Error(`ceiling ${kind}: got ${units} of ${expected}`);
  return { units, cpuSeconds: result.seconds, wallSeconds };
}

/**
 * The ceiling must complete its handshakes, or every C++ figure is
 * meaningless: ceilingBench('handshake') counts failures silently.
 */
function checkCeiling(ctx: Contexts): void {
  const result = native.ceilingBench(ctx.client.native, ctx.server.native, 'handshake', 0, 2, HOST);
  if (result.handshakes === 2) return;
  throw new Error(
    `native.ceilingBench completed ${result.handshakes ?? 0} of 2 handshakes, so there is no C++ ceiling to ` +
      'compare with: check the certificates and native/ceiling_bench.cc.',
  );
}

// ---------------------------------------------------------------------------
// Cases, calibration, trials

interface Side {
  /** Runs `n` iterations and returns the sample. */
  run(n: number): Sample;
  /** Iterations per trial, from the warm-up. */
  iterations: number;
}

interface Case {
  id: string;
  label: string;
  unit: 'MB/s' | 'handshakes/s';
  js: Side;
  cpp: Side;
  note?: string;
  close?: () => void;
}

/**
 * Warm-up: grows the iteration count until one run lasts `warmupSeconds` of
 * wall time (V8 optimises the loop, caches and allocators settle meanwhile),
 * then sizes the trials to last `trialSeconds` each.
 */
function calibrate(side: Side, warmupSeconds: number, trialSeconds: number): void {
  let n = 1;
  let sample = side.run(n);
  while (sample.wallSeconds < warmupSeconds) {
    const factor = sample.wallSeconds > 0 ? Math.min(8, Math.max(2, (warmupSeconds * 1.2) / sample.wallSeconds)) : 8;
    n = Math.ceil(n * factor);
    sample = side.run(n);
  }
  side.iterations = Math.max(1, Math.round((n / sample.wallSeconds) * trialSeconds));
}

function bulkCase(ctx: Contexts, size: number, perCall: number, label: string, note?: string, freshOutput = false): Case {
  const js = new JsBulk(ctx, size, perCall, freshOutput);
  return {
    id: (perCall === 1 ? `bulk-${size / KiB}k` : `bulk-${size / KiB}k-x${perCall}`) + (freshOutput ? '-fresh' : ''),
    label,
    unit: 'MB/s',
    js: { run: (n) => js.run(n), iterations: 1 },
    // The ceiling makes the same application writes: perCall writes of `size`.
    cpp: { run: (n) => ceiling(ctx, 'bulk', size, n * perCall), iterations: 1 },
    note,
    close: () => js.close(),
  };
}

function handshakeCase(ctx: Contexts): Case {
  const js = new JsHandshakes(ctx);
  return {
    id: 'handshake',
    label: 'full handshake (new pair each)',
    unit: 'handshakes/s',
    js: { run: (n) => js.run(n), iterations: 1 },
    cpp: { run: (n) => ceiling(ctx, 'handshake', 0, n), iterations: 1 },
  };
}

interface Stats {
  median: number;
  min: number;
  max: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

interface SideResult {
  iterations: number;
  samples: Sample[];
  cpu: Stats;
  wall: Stats;
}

interface CaseResult {
  id: string;
  label: string;
  unit: string;
  note?: string;
  js: SideResult;
  cpp: SideResult;
  /** Ratio of the medians, by CPU time and by wall time. */
  ratioCpu: number;
  ratioWall: number;
  /**
   * Median of the per-trial ratios JS[i] / C++[i], by CPU time: each pair ran
   * back to back, so this one is less sensitive to slow drifts of the machine.
   */
  pairedRatioCpu: Stats;
}

function summarise(side: Side, samples: Sample[], scale: number): SideResult {
  return {
    iterations: side.iterations,
    samples,
    cpu: stats(samples.map((s) => s.units / s.cpuSeconds / scale)),
    wall: stats(samples.map((s) => s.units / s.wallSeconds / scale)),
  };
}

function runCase(c: Case, options: Options, progress: (text: string) => void): CaseResult {
  progress(`${c.label}: warm-up`);
  calibrate(c.js, options.warmupSeconds, options.trialSeconds);
  calibrate(c.cpp, options.warmupSeconds, options.trialSeconds);
  const js: Sample[] = [];
  const cpp: Sample[] = [];
  for (let t = 0; t < options.trials; t++) {
    progress(`${c.label}: trial ${t + 1}/${options.trials}`);
    js.push(c.js.run(c.js.iterations));
    cpp.push(c.cpp.run(c.cpp.iterations));
  }
  c.close?.();
  const scale = c.unit === 'MB/s' ? MB : 1;
  const jsResult = summarise(c.js, js, scale);
  const cppResult = summarise(c.cpp, cpp, scale);
  return {
    id: c.id,
    label: c.label,
    unit: c.unit,
    note: c.note,
    js: jsResult,
    cpp: cppResult,
    ratioCpu: jsResult.cpu.median / cppResult.cpu.median,
    ratioWall: jsResult.wall.median / cppResult.wall.median,
    pairedRatioCpu: stats(js.map((s, i) => s.units / s.cpuSeconds / (cpp[i].units / cpp[i].cpuSeconds))),
  };
}

// ---------------------------------------------------------------------------
// Report

function fmt(value: number): string {
  if (value >= 1000) return value.toFixed(0);
  if (value >= 100) return value.toFixed(1);
  return value.toFixed(2);
}

function range(s: Stats): string {
  return `${fmt(s.median).padStart(7)} [${fmt(s.min)} - ${fmt(s.max)}]`;
}

function report(results: CaseResult[]): string[] {
  const lines: string[] = [];
  const labelWidth = Math.max(...results.map((r) => r.label.length), 4);
  const side = 7;
  const unit = 17;
  const col = 28;
  const row = (label: string, who: string, what: string, cpu: string, wall: string): string =>
    `${label.padEnd(labelWidth)}  ${who.padEnd(side)}  ${what.padEnd(unit)}  ${cpu.padEnd(col)}  ${wall}`.trimEnd();
  lines.push(row('case', 'side', 'unit', 'CPU: median [min - max]', 'wall: median [min - max]'));
  lines.push('-'.repeat(labelWidth + side + unit + 2 * col + 8));
  for (const r of results) {
    lines.push(row(r.label, 'JS', r.unit, range(r.js.cpu), range(r.js.wall)));
    lines.push(row('', 'C++', r.unit, range(r.cpp.cpu), range(r.cpp.wall)));
    lines.push(row('', 'JS/C++', 'ratio of medians', r.ratioCpu.toFixed(2).padStart(7), r.ratioWall.toFixed(2).padStart(7)));
    const p = r.pairedRatioCpu;
    lines.push(row('', '', 'per-trial ratios', `${p.median.toFixed(2).padStart(7)} [${p.min.toFixed(2)} - ${p.max.toFixed(2)}]`, ''));
  }
  return lines;
}

// ---------------------------------------------------------------------------

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const runStart = performance.now();
  const machine = machineFacts();
  const interactive = process.stderr.isTTY === true;
  const progress = (text: string): void => {
    if (interactive) process.stderr.write(`\r\x1b[K${text}`);
  };

  const out: string[] = [];
  const print = (line = ''): void => {
    out.push(line);
    if (interactive) process.stderr.write('\r\x1b[K');
    console.log(line);
  };

  print('memtls core engine in memory: client -> server, no sockets');
  print(`node ${machine.node}, OpenSSL ${machine.openssl}, ${machine.platform}`);
  print(`CPU: ${machine.cpu}, ${machine.cores} cores; load average ${machine.loadavg.map((v) => v.toFixed(2)).join(' ')}`);
  print(`addon: ${process.env.MEMTLS_ADDON ? `${path.resolve(process.env.MEMTLS_ADDON)} (MEMTLS_ADDON)` : 'build/Release/memtls.node'}`);
  print(`busiest other processes (ps %CPU, lifetime average): ${machine.busiest.join('; ')}`);
  if (machine.idleLoadCores !== undefined) {
    print(`machine load while this process slept 0.5 s: ${machine.idleLoadCores.toFixed(2)} of ${machine.cores} cores busy`);
  }

  // The contexts hold certificates and keys in memory once loaded, so the
  // temporary files go right away.
  const certs = makeCertificates();
  let ctx: Contexts;
  try {
    ctx = makeContexts(certs.dir);
  } finally {
    certs.cleanup();
  }
  const jiffiesStart = cpuJiffies();
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  let negotiated: string;
  {
    // What the pair negotiates, checked once.
    const pair = wrapPair(ctx);
    fastHandshake(pair.client.engine, pair.server.engine, Buffer.alloc(64 * KiB), Buffer.alloc(16 * KiB));
    const cipher = pair.client.cipher();
    const kx = pair.client.engine.ephemeralKeyInfo();
    negotiated = `${pair.client.version()} ${cipher?.[0]}, server certificate ECDSA P-256, key exchange ${kx.name ?? kx.type ?? '?'}`;
    if (pair.client.version() !== 'TLSv1.3' || cipher?.[0] !== CIPHERSUITE) throw new Error(`unexpected negotiation: ${negotiated}`);
    pair.client.close();
    pair.server.close();
  }
  print(`negotiated: ${negotiated}`);
  checkCeiling(ctx);
  print(
    `method: warm-up, then ${options.trials} interleaved trials (JS, C++, JS, C++ ...) of ~${options.trialSeconds} s each per side${options.quick ? ' (--quick)' : ''}`,
  );
  print('CPU = process.cpuUsage() user+system for JS, thread CPU time for C++; wall = elapsed time; 1 MB = 1e6 bytes');
  print();

  const cases: Record<string, () => Case> = {
    'bulk-1k': () => bulkCase(ctx, 1 * KiB, 1, '1 KiB writes, 1 per send()'),
    'bulk-1k-x16': () =>
      bulkCase(
        ctx,
        1 * KiB,
        16,
        '1 KiB writes, 16 per send() (coalesced)',
        'JS coalesces 16 x 1 KiB into one 16 KiB record; the C++ ceiling makes the same 1 KiB SSL_write calls (one record each)',
      ),
    'bulk-16k': () => bulkCase(ctx, 16 * KiB, 1, '16 KiB writes'),
    'bulk-64k': () => bulkCase(ctx, 64 * KiB, 1, '64 KiB writes'),
    'bulk-64k-fresh': () =>
      bulkCase(
        ctx,
        64 * KiB,
        1,
        '64 KiB writes, into a new Buffer each',
        'JS decrypts each chunk into a newly allocated Buffer (what a data event hands on); the C++ ceiling reuses one buffer',
        true,
      ),
    handshake: () => handshakeCase(ctx),
  };
  const selected = options.only ?? CASE_IDS;
  const results = selected.map((id) => runCase(cases[id](), options, progress));
  progress('');

  for (const line of report(results)) print(line);
  print();
  for (const r of results) if (r.note) print(`note (${r.label}): ${r.note}`);

  const key = results.filter((r) => r.id === 'bulk-16k' || r.id === 'bulk-64k');
  const verdict = key.map((r) => `${r.label} ${r.ratioCpu.toFixed(2)}`).join(', ');
  const pass = key.every((r) => r.ratioCpu >= 0.8);
  // The key figure needs its cases; a run with --only that leaves them out has no verdict.
  if (key.length > 0) print(`key figure, JS/C++ by CPU medians (target >= 0.80): ${verdict} -> ${pass ? 'met' : 'NOT met'}`);

  const wall = (performance.now() - wallStart) / 1000;
  const ownCpu = cpuSecondsSince(cpuStart);
  const jiffiesEnd = cpuJiffies();
  let otherCores: number | undefined;
  if (jiffiesStart !== undefined && jiffiesEnd !== undefined && jiffiesEnd[1] > jiffiesStart[1]) {
    const busyCores = ((jiffiesEnd[0] - jiffiesStart[0]) / (jiffiesEnd[1] - jiffiesStart[1])) * machine.cores;
    otherCores = Math.max(0, busyCores - ownCpu / wall);
    print(`other processes kept ${otherCores.toFixed(2)} of ${machine.cores} cores busy on average during the measurement`);
  }
  const total = (performance.now() - runStart) / 1000;
  print(`total run time ${total.toFixed(1)} s`);

  if (options.json !== undefined) {
    const document = {
      benchmark: 'core-pair',
      date: new Date().toISOString(),
      options: { quick: options.quick, trials: options.trials, trialSeconds: options.trialSeconds },
      machine: { ...machine, otherLoadCoresDuringRun: otherCores },
      negotiated,
      results,
      keyRatios: Object.fromEntries(key.map((r) => [r.id, r.ratioCpu])),
      targetMet: key.length > 0 ? pass : null,
      totalSeconds: total,
    };
    fs.mkdirSync(path.dirname(path.resolve(options.json)), { recursive: true });
    fs.writeFileSync(options.json, `${JSON.stringify(document, null, 2)}\n`);
    print(`results written to ${options.json}`);
  }
}

if (require.main === module) main();

/**
 * Exported so that one loop can be profiled on its own (node --cpu-prof, perf):
 * requiring this module does not start the benchmark.
 */
export { ceiling, JsBulk, JsHandshakes, makeCertificates, makeContexts };

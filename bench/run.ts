/**
 * `npm run bench`: memtls against node:tls and plain net over loopback.
 *
 * Contenders: memtls through memtls/tls (the node:tls drop-in), memtls
 * through memtls/protocol (asyncio-style protocols), node:tls, and net
 * without TLS (what the socket layer alone costs). Every trial runs in fresh
 * processes, the server in one and the client in another, and the contenders
 * take turns trial by trial (A B C D, A B C D, ...), so that a slow phase of
 * the machine hits all of them.
 *
 * Workloads: bulk transfer, handshakes, request/response, memory per idle
 * connection, and the in-memory engine against its C++ ceiling
 * (bench/core-pair.ts, run as a child process).
 *
 * Usage: node dist/bench/run.js [--full] [--only NAME[,NAME]] [--json FILE]
 *          [--trials N] [--seconds S]
 * NAME: bulk, handshake, reqres, memory, core. See docs/benchmarks.md.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  busiestProcesses,
  CONTENDERS,
  KiB,
  MEMTLS_CONTENDERS,
  MiB,
  WORKLOADS,
  type Contender,
  type FromWorker,
  type MemoryFigures,
  type MemoryResult,
  type ReadyInfo,
  type ToWorker,
  type TrialParams,
  type WindowResult,
  type WorkerConfig,
  type WorkloadName,
} from './common';
import { renderBarChart, type BarChart, type BarGroup } from './svg';

const ROOT = path.join(__dirname, '..', '..');
const WORKER = path.join(__dirname, 'worker.js');
const CORE_PAIR = path.join(__dirname, 'core-pair.js');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

// ---------------------------------------------------------------------------
// Options and plans

type Mode = 'default' | 'full' | 'smoke';

interface Options {
  mode: Mode;
  only: WorkloadName[];
  /** --only was given (not the default list). */
  onlyGiven?: boolean;
  json?: string;
  trials?: number;
  seconds?: number;
  contenders: Contender[];
  cpuProf?: string;
  /** Only cells whose id contains one of these strings. */
  cells?: string[];
  /** Repeat a trial whose window other processes disturbed, up to this many times. */
  retryNoisy?: number;
  svg: boolean;
}

function usage(): never {
  console.log(`usage: npm run bench -- [options]

  --full              the whole matrix, more trials, longer windows (about 20 minutes)
  --only NAME[,NAME]  run only these workloads: ${WORKLOADS.join(', ')}
  --json FILE         also write every trial as JSON
  --trials N          trials per contender and cell (overrides the mode's)
  --seconds S         length of each measured window (bulk, handshake, reqres)
  --contenders LIST   a subset of: ${CONTENDERS.join(', ')}
  --cpu-prof DIR      run every server and client process under node --cpu-prof,
                      profiles in DIR (narrow it down with --only/--contenders);
                      summarise them with node dist/bench/prof-summary.js
  --cells TEXT[,...]  only the cells whose id contains one of these (ids: see --json),
                      e.g. --cells bulk-16KiB-c2s-aes128,handshake-TLS1.3-ec-full-c32
  --retry-noisy N     run a trial again (up to N times, default 1) when other
                      processes kept more than 0.25 cores busy during its window
  --no-svg            do not write charts to bench/results/
`);
  process.exit(0);
}

function parseOptions(argv: string[]): Options {
  const options: Options = { mode: 'default', only: [...WORKLOADS], contenders: [...CONTENDERS], svg: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--full') options.mode = 'full';
    else if (arg === '--smoke') options.mode = 'smoke';
    else if (arg === '--only') {
      const names = value().split(',');
      for (const name of names) if (!(WORKLOADS as readonly string[]).includes(name)) throw new Error(`unknown workload ${name} (one of ${WORKLOADS.join(', ')})`);
      options.only = names as WorkloadName[];
      options.onlyGiven = true;
    } else if (arg === '--json') options.json = value();
    else if (arg === '--trials') {
      options.trials = Number(value());
      if (!Number.isInteger(options.trials) || options.trials < 1) throw new Error('--trials needs a positive integer');
    } else if (arg === '--seconds') {
      options.seconds = Number(value());
      if (!(options.seconds > 0)) throw new Error('--seconds needs a positive number');
    } else if (arg === '--contenders') {
      const names = value().split(',');
      for (const name of names) if (!(CONTENDERS as readonly string[]).includes(name)) throw new Error(`unknown contender ${name}`);
      options.contenders = CONTENDERS.filter((c) => names.includes(c));
    } else if (arg === '--cpu-prof') options.cpuProf = path.resolve(value());
    else if (arg === '--cells') options.cells = value().split(',');
    else if (arg === '--retry-noisy') {
      options.retryNoisy = Number(value());
      if (!Number.isInteger(options.retryNoisy) || options.retryNoisy < 0) throw new Error('--retry-noisy needs a whole number');
    }
    else if (arg === '--no-svg') options.svg = false;
    else if (arg === '--help' || arg === '-h') usage();
    else throw new Error(`unknown argument: ${arg} (--help lists the options)`);
  }
  return options;
}

interface Plan {
  trials: number;
  bulk: {
    warmup: number;
    seconds: number;
    sizes: number[];
    directions: Array<'c2s' | 's2c'>;
    suites: string[];
    /** A second suite on fewer cells (the default run). */
    suites2?: { suite: string; sizes: number[]; directions: Array<'c2s' | 's2c'> };
  };
  handshake: { warmup: number; seconds: number; cells: Array<{ version: 'TLSv1.2' | 'TLSv1.3'; cert: 'ec' | 'rsa'; resumed: boolean; concurrency: number }> };
  reqres: { warmup: number; seconds: number; connections: number; messageSize: number };
  memory: { trials: number; connections: number; openConcurrency: number };
  coreArgs: string[];
}

const AES128 = 'TLS_AES_128_GCM_SHA256';
const AES256 = 'TLS_AES_256_GCM_SHA384';

function handshakeMatrix(concurrencies: number[]): Plan['handshake']['cells'] {
  const cells: Plan['handshake']['cells'] = [];
  for (const concurrency of concurrencies) {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      for (const cert of ['ec', 'rsa'] as const) {
        for (const resumed of [false, true]) cells.push({ version, cert, resumed, concurrency });
      }
    }
  }
  return cells;
}

function makePlan(options: Options): Plan {
  let plan: Plan;
  if (options.mode === 'smoke') {
    plan = {
      trials: 1,
      bulk: { warmup: 0.05, seconds: 0.15, sizes: [16 * KiB], directions: ['c2s'], suites: [AES128], suites2: { suite: AES256, sizes: [MiB], directions: ['s2c'] } },
      handshake: {
        warmup: 0.05,
        seconds: 0.15,
        cells: [
          { version: 'TLSv1.3', cert: 'ec', resumed: false, concurrency: 32 },
          { version: 'TLSv1.2', cert: 'rsa', resumed: true, concurrency: 1 },
        ],
      },
      reqres: { warmup: 0.1, seconds: 0.3, connections: 64, messageSize: KiB },
      memory: { trials: 1, connections: 200, openConcurrency: 32 },
      coreArgs: ['--quick', '--trials', '1', '--trial-seconds', '0.05', '--only', 'bulk-16k,handshake'],
    };
  } else if (options.mode === 'full') {
    // The whole matrix: about 20 minutes.
    plan = {
      trials: 5,
      bulk: { warmup: 0.3, seconds: 1.5, sizes: [KiB, 16 * KiB, 64 * KiB, MiB], directions: ['c2s', 's2c'], suites: [AES128, AES256] },
      handshake: { warmup: 0.3, seconds: 1, cells: handshakeMatrix([1, 32]) },
      reqres: { warmup: 0.5, seconds: 3, connections: 64, messageSize: KiB },
      memory: { trials: 3, connections: 5000, openConcurrency: 64 },
      coreArgs: [],
    };
  } else {
    // Sized so that the whole default run takes about three minutes on a
    // 2-core machine (about 0.17 s of each trial goes to starting and
    // stopping processes); the complete matrix is --full.
    plan = {
      trials: 3,
      bulk: {
        warmup: 0.15,
        seconds: 0.4,
        sizes: [KiB, 16 * KiB, 64 * KiB, MiB],
        directions: ['c2s', 's2c'],
        suites: [AES128],
        suites2: { suite: AES256, sizes: [16 * KiB, MiB], directions: ['c2s'] },
      },
      handshake: {
        warmup: 0.15,
        seconds: 0.35,
        cells: [
          ...handshakeMatrix([32]).filter((c) => c.cert === 'ec' || !c.resumed),
          { version: 'TLSv1.3', cert: 'ec', resumed: false, concurrency: 1 },
          { version: 'TLSv1.3', cert: 'ec', resumed: true, concurrency: 1 },
        ],
      },
      reqres: { warmup: 0.3, seconds: 1.2, connections: 64, messageSize: KiB },
      memory: { trials: 1, connections: 5000, openConcurrency: 64 },
      coreArgs: ['--quick', '--trials', '5', '--trial-seconds', '0.15'],
    };
  }
  if (options.trials !== undefined) {
    plan.trials = options.trials;
    plan.memory.trials = options.trials;
  }
  if (options.seconds !== undefined) {
    plan.bulk.seconds = options.seconds;
    plan.handshake.seconds = options.seconds;
    plan.reqres.seconds = options.seconds;
  }
  return plan;
}

// ---------------------------------------------------------------------------
// Cells: one configuration of one workload, measured for several contenders

interface Cell {
  workload: Exclude<WorkloadName, 'core'>;
  id: string;
  label: string;
  params: TrialParams;
  contenders: Contender[];
  trials: number;
  warmup: number;
  seconds: number;
  /** What the net contender stands for in this cell, when it is not a plain comparison. */
  netLabel?: string;
}

function sizeLabel(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB}MiB` : `${bytes / KiB}KiB`;
}

function suiteLabel(suite: string): string {
  return suite === AES128 ? 'AES-128-GCM' : suite === AES256 ? 'AES-256-GCM' : suite;
}

function makeCells(plan: Plan, options: Options): Cell[] {
  const cells: Cell[] = [];
  const pick = (list: readonly Contender[]): Contender[] => list.filter((c) => options.contenders.includes(c));
  const tlsOnly = CONTENDERS.filter((c) => c !== 'net');
  if (options.only.includes('bulk')) {
    const b = plan.bulk;
    const groups: Array<{ suite: string; sizes: number[]; directions: Array<'c2s' | 's2c'> }> = b.suites.map((suite) => ({ suite, sizes: b.sizes, directions: b.directions }));
    if (b.suites2) groups.push(b.suites2);
    groups.forEach(({ suite, sizes, directions }, index) => {
      for (const direction of directions) {
        for (const writeSize of sizes) {
          cells.push({
            workload: 'bulk',
            id: `bulk-${sizeLabel(writeSize)}-${direction}-${suite === AES128 ? 'aes128' : 'aes256'}`,
            label: `${sizeLabel(writeSize)} ${direction === 'c2s' ? 'c->s' : 's->c'} ${suiteLabel(suite)}`,
            params: { kind: 'bulk', direction, writeSize, suite },
            // net has no cipher: it runs once per size and direction, with the first suite.
            contenders: pick(index === 0 ? CONTENDERS : tlsOnly),
            trials: plan.trials,
            warmup: b.warmup,
            seconds: b.seconds,
          });
        }
      }
    });
  }
  if (options.only.includes('handshake')) {
    const h = plan.handshake;
    const netDone = new Set<number>();
    for (const c of h.cells) {
      // net: TCP connect + close, once per concurrency (it has no version, certificate or session).
      const withNet = !netDone.has(c.concurrency) && !c.resumed;
      if (withNet) netDone.add(c.concurrency);
      const version = c.version === 'TLSv1.3' ? 'TLS1.3' : 'TLS1.2';
      cells.push({
        workload: 'handshake',
        id: `handshake-${version}-${c.cert}-${c.resumed ? 'resumed' : 'full'}-c${c.concurrency}`,
        label: `${version} ${c.cert === 'ec' ? 'ECDSA' : 'RSA'} ${c.resumed ? 'resumed' : 'full'} conc ${c.concurrency}`,
        params: { kind: 'handshake', ...c },
        contenders: pick(withNet ? CONTENDERS : tlsOnly),
        trials: plan.trials,
        warmup: h.warmup,
        seconds: h.seconds,
        netLabel: 'net (TCP only)',
      });
    }
  }
  if (options.only.includes('reqres')) {
    const r = plan.reqres;
    cells.push({
      workload: 'reqres',
      id: `reqres-${r.connections}x${r.messageSize}`,
      label: `${r.connections} conns, ${sizeLabel(r.messageSize)} req/resp`,
      params: { kind: 'reqres', connections: r.connections, messageSize: r.messageSize },
      contenders: pick(CONTENDERS),
      trials: plan.trials,
      warmup: r.warmup,
      seconds: r.seconds,
    });
  }
  if (options.only.includes('memory')) {
    const m = plan.memory;
    cells.push({
      workload: 'memory',
      id: `memory-${m.connections}`,
      label: `${m.connections} idle connections`,
      params: { kind: 'memory', connections: m.connections, openConcurrency: m.openConcurrency },
      contenders: pick(CONTENDERS),
      trials: m.trials,
      warmup: 0,
      seconds: 0,
    });
  }
  const wanted = options.cells;
  return wanted === undefined ? cells : cells.filter((c) => wanted.some((w) => c.id.includes(w)));
}

// ---------------------------------------------------------------------------
// Machine state

function cpuJiffies(): [busy: number, total: number] | undefined {
  try {
    const fields = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3] + (fields[4] ?? 0);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return [total - idle, total];
  } catch {
    return undefined;
  }
}

/** Cores busy on the whole machine between two readings. */
function busyCores(before: [number, number] | undefined, after: [number, number] | undefined): number | undefined {
  if (before === undefined || after === undefined || after[1] <= before[1]) return undefined;
  return ((after[0] - before[0]) / (after[1] - before[1])) * os.cpus().length;
}

/** CPU seconds of this process and of its children that have exited (/proc/self/stat utime stime cutime cstime). */
function ownAndChildrenCpu(): number | undefined {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return ticks / 100;
  } catch {
    return undefined;
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The commit measured, and whether lib/ or native/ differ from it. */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'native'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} + uncommitted changes in lib/ or native/` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

async function machineFacts(): Promise<Record<string, unknown>> {
  const cpus = os.cpus();
  const before = cpuJiffies();
  await sleepMs(500);
  const idleLoad = busyCores(before, cpuJiffies());
  return {
    node: process.version,
    openssl: process.versions.openssl,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGB: Math.round(os.totalmem() / 1e9),
    loadavg: os.loadavg(),
    busiest: busiestProcesses(3),
    idleLoadCores: idleLoad,
    revision: revision(),
  };
}

// ---------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>();

class Worker {
  readonly child: ChildProcess;
  #stderr = '';
  #queue: FromWorker[] = [];
  #waiter: { type: FromWorker['type']; resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    contender: Contender,
    execArgv: string[],
  ) {
    this.child = fork(WORKER, [contender], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    children.add(this.child);
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-4000);
    });
    this.child.on('message', (message: FromWorker) => this.#onMessage(message));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        children.delete(this.child);
        this.#exit = { code, signal };
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter?.reject(new Error(`${this.name} exited (${signal ?? `code ${code}`}) while ${waiter.type} was awaited${this.stderrTail()}`));
        resolve();
      });
    });
  }

  stderrTail(): string {
    const text = this.#stderr.trim();
    return text ? `; stderr: ${text.split('\n').slice(-6).join(' | ')}` : '';
  }

  #onMessage(message: FromWorker): void {
    const waiter = this.#waiter;
    if (message.type === 'failed') {
      const error = new Error(`${this.name} failed: ${message.message.split('\n').slice(0, 4).join(' | ')}`);
      if (waiter) {
        this.#waiter = undefined;
        waiter.reject(error);
      } else {
        this.#queue.push(message);
      }
      return;
    }
    if (waiter && waiter.type === message.type) {
      this.#waiter = undefined;
      waiter.resolve(message);
    } else {
      this.#queue.push(message);
    }
  }

  send(message: ToWorker): void {
    if (this.child.connected) this.child.send(message);
  }

  next<T extends FromWorker['type']>(type: T, timeoutMs: number): Promise<Extract<FromWorker, { type: T }>> {
    const queued = this.#queue.findIndex((m) => m.type === type || m.type === 'failed');
    if (queued >= 0) {
      const [message] = this.#queue.splice(queued, 1);
      if (message.type === 'failed') return Promise.reject(new Error(`${this.name} failed: ${message.message.split('\n')[0]}`));
      return Promise.resolve(message as Extract<FromWorker, { type: T }>);
    }
    if (this.#exit) return Promise.reject(new Error(`${this.name} has exited${this.stderrTail()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`${this.name}: no '${type}' after ${timeoutMs / 1000} s (hung?)${this.stderrTail()}`));
      }, timeoutMs);
      this.#waiter = {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<FromWorker, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Waits for the process to end by itself, then kills it. */
  async finish(ms: number): Promise<void> {
    if (this.#exit) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.#exit) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// One trial

interface Trial {
  contender: Contender;
  index: number;
  ok: boolean;
  error?: string;
  /** The figures of this trial, by metric key. */
  values: Record<string, number>;
  ready?: ReadyInfo;
  server?: WindowResult;
  client?: WindowResult;
  memory?: { server: MemoryResult; client: MemoryResult };
  /** Cores other processes kept busy during the window. */
  otherCores?: number;
  /** Extra attempts made because the window was noisy (the quietest attempt is kept). */
  retries?: number;
  seconds: number;
}

function expectedNegotiation(cell: Cell): { protocol: string; cipher?: string } | undefined {
  const p = cell.params;
  if (p.kind === 'bulk') return { protocol: 'TLSv1.3', cipher: p.suite };
  if (p.kind === 'handshake') {
    const cipher = p.version === 'TLSv1.3' ? AES128 : p.cert === 'ec' ? 'ECDHE-ECDSA-AES128-GCM-SHA256' : 'ECDHE-RSA-AES128-GCM-SHA256';
    return { protocol: p.version, cipher };
  }
  return { protocol: 'TLSv1.3', cipher: AES128 };
}

async function runTrial(cell: Cell, contender: Contender, index: number, certDir: string, options: Options): Promise<Trial> {
  const started = performance.now();
  const trial: Trial = { contender, index, ok: false, values: {}, seconds: 0 };
  const execArgv: string[] = [];
  if (cell.workload === 'memory') execArgv.push('--expose-gc');
  const profiled = options.cpuProf !== undefined;
  const profArgs = (role: string): string[] =>
    profiled ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProf!, '--cpu-prof-name', `${cell.id}-${contender.replace(/[/:]/g, '_')}-t${index + 1}-${role}.cpuprofile`] : [];
  const base: Omit<WorkerConfig, 'role'> = { contender, params: cell.params, certDir };
  // Both processes start at once; the client gets the port when the server has it.
  const server = new Worker(`${contender} server`, contender, [...execArgv, ...profArgs('server')]);
  const client = new Worker(`${contender} client`, contender, [...execArgv, ...profArgs('client')]);
  try {
    server.send({ type: 'init', config: { ...base, role: 'server' } });
    const { port } = await server.next('listening', 20000);
    client.send({ type: 'init', config: { ...base, role: 'client', port } });
    const { info } = await client.next('ready', cell.workload === 'memory' ? 300000 : 30000);
    trial.ready = info;
    const expected = expectedNegotiation(cell);
    if (contender !== 'net' && expected !== undefined) {
      if (info.protocol !== expected.protocol || (expected.cipher !== undefined && info.cipher !== expected.cipher)) {
        throw new Error(`negotiated ${info.protocol} ${info.cipher}, expected ${expected.protocol} ${expected.cipher ?? ''}`);
      }
    }
    if (cell.workload === 'memory') {
      server.send({ type: 'measure' });
      client.send({ type: 'measure' });
      const [s, c] = await Promise.all([server.next('memory', 60000), client.next('memory', 60000)]);
      trial.memory = { server: s.result, client: c.result };
    } else {
      await sleepMs(cell.warmup * 1000);
      const jiffies0 = cpuJiffies();
      const own0 = process.cpuUsage();
      server.send({ type: 'mark' });
      client.send({ type: 'mark' });
      await sleepMs(cell.seconds * 1000);
      server.send({ type: 'stop' });
      client.send({ type: 'stop' });
      const [s, c] = await Promise.all([server.next('window', 20000), client.next('window', 20000)]);
      const busy = busyCores(jiffies0, cpuJiffies());
      // A process whose event loop was blocked handles 'mark' and 'stop' late:
      // its window is then not the one measured.
      for (const [who, w] of [['server', s.result], ['client', c.result]] as const) {
        if (Math.abs(w.wallSeconds - cell.seconds) > 0.1 * cell.seconds + 0.05) {
          throw new Error(`the ${who}'s window lasted ${w.wallSeconds.toFixed(3)} s instead of ${cell.seconds} s (its event loop was blocked)`);
        }
      }
      trial.server = s.result;
      trial.client = c.result;
      if (busy !== undefined) {
        const own = process.cpuUsage(own0);
        const ownCores = (own.user + own.system) / 1e6 / c.result.wallSeconds;
        trial.otherCores = Math.max(0, busy - (s.result.cpuSeconds + c.result.cpuSeconds) / c.result.wallSeconds - ownCores);
      }
    }
    trial.values = deriveValues(cell, trial);
    trial.ok = true;
    const errors = (trial.server?.errors ?? 0) + (trial.client?.errors ?? 0);
    if (errors > 0) trial.error = `${errors} connection errors during the window${server.stderrTail()}${client.stderrTail()}`;
  } catch (error) {
    trial.ok = false;
    trial.error = (error as Error).message;
    server.kill();
    client.kill();
  }
  server.send({ type: 'exit' });
  client.send({ type: 'exit' });
  await Promise.all([server.finish(5000), client.finish(5000)]);
  trial.seconds = (performance.now() - started) / 1000;
  return trial;
}

// ---------------------------------------------------------------------------
// Figures

interface Metric {
  key: string;
  header: string;
  /** Whether a larger value is better (rates) or worse (CPU, latency, memory). */
  higherIsBetter: boolean;
  /** Show memtls / node:tls for this metric. */
  ratio?: boolean;
  /** Decimals to print, when not the default. */
  digits?: number;
}

const METRICS: Record<Cell['workload'], Metric[]> = {
  bulk: [
    { key: 'rate', header: 'MB/s', higherIsBetter: true, ratio: true },
    { key: 'srvCpu', header: 'srv CPU s/GB', higherIsBetter: false },
    { key: 'cliCpu', header: 'cli CPU s/GB', higherIsBetter: false },
    { key: 'cpu', header: 'CPU s/GB (both)', higherIsBetter: false, ratio: true },
  ],
  handshake: [
    { key: 'rate', header: 'handshakes/s', higherIsBetter: true, ratio: true },
    { key: 'srvCpu', header: 'srv CPU µs/hs', higherIsBetter: false },
    { key: 'cliCpu', header: 'cli CPU µs/hs', higherIsBetter: false },
    { key: 'cpu', header: 'CPU µs/hs (both)', higherIsBetter: false, ratio: true },
    { key: 'reused', header: 'resumed %', higherIsBetter: true, digits: 0 },
  ],
  reqres: [
    { key: 'rate', header: 'requests/s', higherIsBetter: true, ratio: true },
    { key: 'p50', header: 'p50 µs', higherIsBetter: false, ratio: true },
    { key: 'p99', header: 'p99 µs', higherIsBetter: false, ratio: true },
    { key: 'srvCpu', header: 'srv CPU µs/req', higherIsBetter: false },
    { key: 'cliCpu', header: 'cli CPU µs/req', higherIsBetter: false },
    { key: 'cpu', header: 'CPU µs/req (both)', higherIsBetter: false, ratio: true },
  ],
  memory: [
    { key: 'srvRss', header: 'srv RSS', higherIsBetter: false, ratio: true },
    { key: 'srvConnRss', header: 'srv RSS-young', higherIsBetter: false, ratio: true },
    { key: 'srvHeap', header: 'srv heap', higherIsBetter: false },
    { key: 'srvExternal', header: 'srv external', higherIsBetter: false },
    { key: 'cliRss', header: 'cli RSS', higherIsBetter: false, ratio: true },
    { key: 'cliConnRss', header: 'cli RSS-young', higherIsBetter: false, ratio: true },
    { key: 'cliHeap', header: 'cli heap', higherIsBetter: false },
    { key: 'cliExternal', header: 'cli external', higherIsBetter: false },
  ],
};

function perConnection(result: MemoryResult, key: keyof MemoryFigures): number {
  return (result.loaded[key] - result.baseline[key]) / result.connections / 1000;
}

/**
 * RSS per connection without the growth of V8's young generation: after gc()
 * that space is empty, and its size is V8's choice (capped, so at 5,000
 * connections a few MB of it would read as kB per connection). The marginal
 * cost of a connection is the rest.
 */
function connectionRss(result: MemoryResult): number {
  return perConnection(result, 'rss') - perConnection(result, 'youngGeneration');
}

function deriveValues(cell: Cell, trial: Trial): Record<string, number> {
  const p = cell.params;
  if (p.kind === 'memory') {
    const { server, client } = trial.memory!;
    if (server.connections !== p.connections || client.connections !== p.connections) {
      throw new Error(`held ${server.connections} (server) / ${client.connections} (client) of ${p.connections} connections`);
    }
    return {
      srvRss: perConnection(server, 'rss'),
      srvConnRss: connectionRss(server),
      srvHeap: perConnection(server, 'heapUsed'),
      srvExternal: perConnection(server, 'external'),
      cliRss: perConnection(client, 'rss'),
      cliConnRss: connectionRss(client),
      cliHeap: perConnection(client, 'heapUsed'),
      cliExternal: perConnection(client, 'external'),
    };
  }
  const s = trial.server!;
  const c = trial.client!;
  if (p.kind === 'bulk') {
    const receiver = p.direction === 'c2s' ? s : c;
    if (receiver.units === 0) throw new Error('no bytes arrived during the window');
    const gb = receiver.units / 1e9;
    return {
      rate: receiver.units / 1e6 / receiver.wallSeconds,
      srvCpu: s.cpuSeconds / gb,
      cliCpu: c.cpuSeconds / gb,
      cpu: (s.cpuSeconds + c.cpuSeconds) / gb,
    };
  }
  if (c.units === 0) throw new Error(`nothing completed during the window${c.errors ? ` (${c.errors} errors)` : ''}`);
  const values: Record<string, number> = {
    rate: c.units / c.wallSeconds,
    srvCpu: (s.cpuSeconds * 1e6) / c.units,
    cliCpu: (c.cpuSeconds * 1e6) / c.units,
    cpu: ((s.cpuSeconds + c.cpuSeconds) * 1e6) / c.units,
  };
  if (p.kind === 'handshake') values.reused = (100 * c.reused) / c.units;
  if (p.kind === 'reqres') {
    values.p50 = c.latency?.p50 ?? NaN;
    values.p99 = c.latency?.p99 ?? NaN;
  }
  return values;
}

interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}

function stats(values: number[]): Stats | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

interface ContenderSummary {
  contender: Contender;
  label: string;
  trials: number;
  failed: number;
  errors: string[];
  stats: Record<string, Stats | undefined>;
  /** memtls / node:tls, ratio of the medians, for the metrics marked `ratio`. */
  ratios: Record<string, number>;
  /** Median of the per-trial ratios (trial i of memtls against trial i of node:tls). */
  pairedRatios: Record<string, Stats | undefined>;
}

interface CellResult {
  cell: Cell;
  trials: Trial[];
  summaries: ContenderSummary[];
}

function summarise(cell: Cell, trials: Trial[]): CellResult {
  const metrics = METRICS[cell.workload];
  const summaries: ContenderSummary[] = cell.contenders.map((contender) => {
    const mine = trials.filter((t) => t.contender === contender);
    const ok = mine.filter((t) => t.ok);
    const s: Record<string, Stats | undefined> = {};
    for (const m of metrics) s[m.key] = stats(ok.map((t) => t.values[m.key]));
    return {
      contender,
      label: contender === 'net' && cell.netLabel ? cell.netLabel : contender,
      trials: mine.length,
      failed: mine.length - ok.length,
      errors: [...new Set(mine.map((t) => t.error).filter((e): e is string => e !== undefined))],
      stats: s,
      ratios: {},
      pairedRatios: {},
    };
  });
  const base = summaries.find((s) => s.contender === 'node:tls');
  for (const summary of summaries) {
    if (!MEMTLS_CONTENDERS.includes(summary.contender) || base === undefined) continue;
    for (const m of metrics) {
      if (!m.ratio) continue;
      const a = summary.stats[m.key];
      const b = base.stats[m.key];
      if (a && b && b.median !== 0) summary.ratios[m.key] = a.median / b.median;
      const paired: number[] = [];
      for (const t of trials) {
        if (t.contender !== summary.contender || !t.ok) continue;
        const partner = trials.find((u) => u.contender === 'node:tls' && u.index === t.index && u.ok);
        if (partner && partner.values[m.key]) paired.push(t.values[m.key] / partner.values[m.key]);
      }
      summary.pairedRatios[m.key] = stats(paired);
    }
  }
  return { cell, trials, summaries };
}

// ---------------------------------------------------------------------------
// The table

function fmt(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function figure(s: Stats | undefined, digits?: number): string {
  if (s === undefined) return '-';
  const f = digits === undefined ? fmt : (v: number): string => v.toFixed(digits);
  if (s.n === 1 || s.min === s.max) return f(s.median);
  return `${f(s.median)} [${f(s.min)}-${f(s.max)}]`;
}

/** Other processes kept more than this many cores busy: the window is marked noisy. */
const NOISY_CORES = 0.25;

const WORKLOAD_TITLES: Record<Cell['workload'], string> = {
  bulk: 'Bulk transfer over loopback: MB/s counted by the receiver (1 MB = 1e6 bytes); CPU seconds per GB moved, server and client processes',
  handshake: 'Handshakes: completed per second by one client process; CPU µs per handshake in the server and client processes',
  reqres: 'Request/response: closed loop, one request in flight per connection; latency = write of the request to the last byte of the response',
  memory:
    "Memory per idle established connection (kB = 1000 bytes), after gc(), minus the figures before any connection, in the process holding them; RSS-young leaves out the growth of V8's (empty) young generation",
};

function renderTable(results: CellResult[]): string[] {
  const lines: string[] = [];
  for (const workload of ['bulk', 'handshake', 'reqres', 'memory'] as const) {
    const mine = results.filter((r) => r.cell.workload === workload);
    if (mine.length === 0) continue;
    const metrics = METRICS[workload];
    const ratioMetrics = metrics.filter((m) => m.ratio);
    const header = ['cell', 'contender', ...metrics.map((m) => m.header), ...ratioMetrics.map((m) => `÷node ${m.header}`)];
    const rows: string[][] = [];
    for (const r of mine) {
      const noisy = r.trials.some((t) => (t.otherCores ?? 0) > NOISY_CORES);
      r.summaries.forEach((s, i) => {
        const cellLabel = i === 0 ? r.cell.label + (noisy ? ' *' : '') : '';
        if (s.failed === s.trials && s.trials > 0) {
          rows.push([cellLabel, s.label, `FAILED (${s.failed}/${s.trials} trials): ${s.errors[0] ?? ''}`]);
          return;
        }
        const mark = s.failed > 0 ? ` (${s.failed}/${s.trials} failed)` : '';
        rows.push([
          cellLabel,
          s.label + mark,
          ...metrics.map((m) => figure(s.stats[m.key], m.digits)),
          ...ratioMetrics.map((m) => (s.ratios[m.key] !== undefined ? s.ratios[m.key].toFixed(2) : '')),
        ]);
      });
    }
    const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((row) => row.length === header.length).map((row) => (row[i] ?? '').length)));
    const line = (row: string[]): string => {
      if (row.length !== header.length) {
        // A failure row: the message spans the remaining columns.
        return `${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row.slice(2).join(' ')}`.trimEnd();
      }
      return row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
    };
    lines.push(`== ${workload}: ${WORKLOAD_TITLES[workload]}`);
    lines.push(line(header));
    lines.push('-'.repeat(widths.reduce((a, b) => a + b + 2, -2)));
    for (const row of rows) lines.push(line(row));
    if (mine.some((r) => r.trials.some((t) => (t.otherCores ?? 0) > NOISY_CORES))) {
      lines.push(`* other processes kept more than ${NOISY_CORES} cores busy during at least one window of this cell`);
    }
    lines.push('');
  }
  return lines;
}

// ---------------------------------------------------------------------------
// The in-memory engine (bench/core-pair.ts) as a child process

interface CoreCase {
  id: string;
  label: string;
  unit: string;
  js: { cpu: Stats };
  cpp: { cpu: Stats };
  ratioCpu: number;
  pairedRatioCpu: Stats;
}

interface CoreResult {
  ok: boolean;
  error?: string;
  args: string[];
  cases: CoreCase[];
  seconds: number;
}

async function runCore(args: string[]): Promise<CoreResult> {
  const started = performance.now();
  const jsonFile = path.join(os.tmpdir(), `memtls-core-${process.pid}-${Date.now()}.json`);
  const fullArgs = [...args, '--json', jsonFile];
  const child = fork(CORE_PAIR, fullArgs, { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 300000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      children.delete(child);
      resolve(c);
    });
  });
  const seconds = (performance.now() - started) / 1000;
  try {
    if (code !== 0) throw new Error(`core-pair exited with ${code}: ${output.trim().split('\n').slice(-4).join(' | ')}`);
    const document = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { results: CoreCase[] };
    return { ok: true, args, cases: document.results, seconds };
  } catch (error) {
    return { ok: false, error: (error as Error).message, args, cases: [], seconds };
  } finally {
    fs.rmSync(jsonFile, { force: true });
  }
}

function renderCore(core: CoreResult): string[] {
  const lines = [
    '== core: the in-memory SSLObject pair (bench/core-pair.ts): JS fast path against the same loop in C++, CPU-time rates, one process',
  ];
  if (!core.ok) {
    lines.push(`FAILED: ${core.error}`, '');
    return lines;
  }
  const header = ['case', 'unit', 'JS (engine)', 'C++ ceiling', 'JS/C++', 'per-trial JS/C++'];
  const rows = core.cases.map((c) => [
    c.label,
    c.unit,
    figure({ ...c.js.cpu, n: 2 }),
    figure({ ...c.cpp.cpu, n: 2 }),
    c.ratioCpu.toFixed(2),
    figure({ ...c.pairedRatioCpu, n: 2 }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (row: string[]): string => row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  lines.push(line(header), '-'.repeat(widths.reduce((a, b) => a + b + 2, -2)), ...rows.map(line), '');
  return lines;
}

// ---------------------------------------------------------------------------
// Charts

function writeCharts(results: CellResult[], core: CoreResult | undefined, subtitle: string): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const written: string[] = [];
  const write = (name: string, chart: BarChart): void => {
    if (chart.groups.length === 0) return;
    const file = path.join(RESULTS_DIR, name);
    fs.writeFileSync(file, renderBarChart(chart));
    written.push(path.relative(process.cwd(), file));
  };
  const rateGroups = (workload: Cell['workload'], key: string): BarGroup[] =>
    results
      .filter((r) => r.cell.workload === workload)
      .map((r) => ({
        label: r.cell.label,
        bars: r.summaries.map((s) => {
          const st = s.stats[key];
          return st ? { label: s.label, value: st.median, min: st.min, max: st.max } : { label: s.label, value: NaN, note: s.failed ? 'failed' : '' };
        }),
      }));
  write('bulk.svg', { title: 'Bulk transfer over loopback (median, min-max whiskers)', subtitle, unit: 'MB/s (receiver)', groups: rateGroups('bulk', 'rate') });
  write('handshake.svg', { title: 'Handshakes per second (one client process)', subtitle, unit: 'handshakes/s', groups: rateGroups('handshake', 'rate') });
  write('reqres.svg', { title: 'Request/response, 64 connections, 1 KiB each way', subtitle, unit: 'requests/s', groups: rateGroups('reqres', 'rate') });
  write('reqres-latency.svg', {
    title: 'Request/response latency (p50 and p99 of each trial)',
    subtitle,
    unit: 'µs',
    groups: [...rateGroups('reqres', 'p50').map((g) => ({ ...g, label: `${g.label}: p50` })), ...rateGroups('reqres', 'p99').map((g) => ({ ...g, label: `${g.label}: p99` }))],
  });
  const memoryResult = results.find((r) => r.cell.workload === 'memory');
  if (memoryResult) {
    write('memory.svg', {
      title: `Memory per idle connection (${memoryResult.cell.label})`,
      subtitle,
      unit: 'kB per connection (after gc, minus the baseline)',
      groups: METRICS.memory.map((m) => ({
        label: m.header,
        bars: memoryResult.summaries.map((s) => ({ label: s.label, value: s.stats[m.key]?.median ?? NaN, min: s.stats[m.key]?.min, max: s.stats[m.key]?.max })),
      })),
    });
  }
  const ratioGroups = (key: string): BarGroup[] =>
    results
      .filter((r) => r.cell.workload !== 'memory')
      .map((r) => ({
        label: `${r.cell.workload}: ${r.cell.label}`,
        bars: r.summaries
          .filter((s) => MEMTLS_CONTENDERS.includes(s.contender))
          .map((s) => ({ label: s.label, value: s.ratios[key] ?? NaN, min: s.pairedRatios[key]?.min, max: s.pairedRatios[key]?.max, note: s.failed === s.trials ? 'failed' : '' })),
      }))
      .filter((g) => g.bars.length > 0);
  write('ratios.svg', {
    title: 'memtls rate / node:tls rate (above 1: memtls is faster)',
    subtitle: `${subtitle}; whiskers: range of the per-trial ratios`,
    unit: 'ratio of medians',
    reference: 1,
    referenceLabel: 'node:tls',
    groups: ratioGroups('rate'),
  });
  write('cpu-ratios.svg', {
    title: 'memtls CPU per unit of work / node:tls (below 1: memtls uses less CPU)',
    subtitle: `${subtitle}; server + client processes; whiskers: range of the per-trial ratios`,
    unit: 'ratio of medians',
    reference: 1,
    referenceLabel: 'node:tls',
    groups: ratioGroups('cpu'),
  });
  if (core?.ok) {
    write('core.svg', {
      title: 'In-memory engine: JS fast path / the same loop in C++ (CPU time)',
      subtitle,
      unit: 'JS / C++ (median of per-trial ratios, min-max whiskers)',
      reference: 1,
      referenceLabel: 'C++',
      groups: core.cases.map((c) => ({ label: c.label, bars: [{ label: 'JS (engine)', value: c.pairedRatioCpu.median, min: c.pairedRatioCpu.min, max: c.pairedRatioCpu.max }] })),
    });
  }
  return written;
}

// ---------------------------------------------------------------------------

function makeCertificates(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memtls-bench-'));
  execFileSync('bash', [path.join(ROOT, 'scripts', 'make-test-certs.sh'), dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return dir;
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    process.exit(2);
  }
  const plan = makePlan(options);
  const runStart = performance.now();
  const interactive = process.stderr.isTTY === true;
  const progress = (text: string): void => {
    if (interactive) process.stderr.write(`\r\x1b[K${text}`);
    else process.stderr.write(`${text}\n`);
  };
  const out: string[] = [];
  const print = (line = ''): void => {
    out.push(line);
    if (interactive) process.stderr.write('\r\x1b[K');
    console.log(line);
  };

  const machine = await machineFacts();
  const certDir = makeCertificates();
  const cleanup = (): void => {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(certDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });

  const cells = makeCells(plan, options);
  const retryNoisy = options.retryNoisy ?? (options.mode === 'smoke' ? 0 : 1);
  // --cells picks cells of the socket workloads: core runs only if asked for by name.
  const runCoreToo = options.only.includes('core') && (options.cells === undefined || options.onlyGiven);
  const total = cells.reduce((n, c) => n + c.trials * c.contenders.length, 0) + (runCoreToo ? 1 : 0);

  print(`memtls benchmark: ${options.contenders.join(', ')} over loopback (${options.mode} run${options.only.length < WORKLOADS.length ? `, only ${options.only.join(',')}` : ''})`);
  print(`memtls ${machine.revision}; node ${machine.node}, OpenSSL ${machine.openssl}, ${machine.platform}; ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB`);
  print(`load average ${(machine.loadavg as number[]).map((v) => v.toFixed(2)).join(' ')}; busiest other processes (ps %CPU): ${(machine.busiest as string[]).join('; ')}`);
  if (machine.idleLoadCores !== undefined) print(`machine load before the run (0.5 s sample): ${(machine.idleLoadCores as number).toFixed(2)} of ${machine.cores} cores busy`);
  print(
    `method: each trial = a fresh server process + a fresh client process (127.0.0.1, port 0); contenders interleaved trial by trial; ` +
      `a trial disturbed by other processes (> ${NOISY_CORES} cores) is repeated up to ${retryNoisy} time(s); ` +
      `${plan.trials} trials per cell (memory: ${plan.memory.trials}); windows: bulk ${plan.bulk.warmup}+${plan.bulk.seconds} s, handshake ${plan.handshake.warmup}+${plan.handshake.seconds} s, reqres ${plan.reqres.warmup}+${plan.reqres.seconds} s (warm-up + measured)`,
  );
  print('figures: median [min-max] over trials; CPU = process.cpuUsage() (user+system) of each process over the window; ÷node = memtls median / node:tls median');
  print();

  const jiffiesStart = cpuJiffies();
  const cpuStart = ownAndChildrenCpu();
  const wallStart = performance.now();
  let done = 0;
  const results: CellResult[] = [];
  for (const cell of cells) {
    const trials: Trial[] = [];
    const consecutiveFailures = new Map<Contender, number>();
    for (let t = 0; t < cell.trials; t++) {
      for (const contender of cell.contenders) {
        done++;
        // A contender that failed twice in a row in this cell is not tried again there.
        if ((consecutiveFailures.get(contender) ?? 0) >= 2) {
          trials.push({ contender, index: t, ok: false, error: 'skipped after two failures', values: {}, seconds: 0 });
          continue;
        }
        progress(`[${done}/${total}] ${cell.workload} ${cell.label} ${contender} trial ${t + 1}  (${((performance.now() - runStart) / 1000).toFixed(0)} s)`);
        let trial = await runTrial(cell, contender, t, certDir, options);
        // Another process disturbed the window: try again, keep the quietest attempt.
        let retries = 0;
        while (retries < retryNoisy && trial.ok && (trial.otherCores ?? 0) > NOISY_CORES) {
          retries++;
          progress(`[${done}/${total}] ${cell.workload} ${cell.label} ${contender} trial ${t + 1} again (other load ${trial.otherCores!.toFixed(2)} cores)`);
          const again = await runTrial(cell, contender, t, certDir, options);
          if (again.ok && (again.otherCores ?? 0) <= trial.otherCores!) trial = again;
        }
        if (retries > 0) trial.retries = retries;
        trials.push(trial);
        consecutiveFailures.set(contender, trial.ok ? 0 : (consecutiveFailures.get(contender) ?? 0) + 1);
        if (!trial.ok) {
          if (interactive) process.stderr.write('\r\x1b[K');
          process.stderr.write(`  ${cell.workload} ${cell.label} ${contender} trial ${t + 1} FAILED: ${trial.error}\n`);
        }
      }
    }
    results.push(summarise(cell, trials));
  }
  let core: CoreResult | undefined;
  if (runCoreToo) {
    done++;
    progress(`[${done}/${total}] core: in-memory engine vs C++ ceiling (core-pair ${plan.coreArgs.join(' ')})`);
    core = await runCore(plan.coreArgs);
  }
  progress('');
  const wall = (performance.now() - wallStart) / 1000;
  const cpuEnd = ownAndChildrenCpu();
  const machineBusy = busyCores(jiffiesStart, cpuJiffies());
  const otherCores = machineBusy !== undefined && cpuStart !== undefined && cpuEnd !== undefined ? Math.max(0, machineBusy - (cpuEnd - cpuStart) / wall) : undefined;

  for (const line of renderTable(results)) print(line);
  if (core) for (const line of renderCore(core)) print(line);

  const notes: string[] = [];
  for (const r of results) {
    for (const s of r.summaries) {
      for (const e of s.errors) notes.push(`${r.cell.workload} ${r.cell.label} ${s.contender}: ${e}`);
    }
    const ciphers = new Set(r.trials.filter((t) => t.ok && t.contender !== 'net' && t.ready?.cipher).map((t) => `${t.ready!.protocol} ${t.ready!.cipher}`));
    if (ciphers.size > 1) notes.push(`${r.cell.workload} ${r.cell.label}: contenders negotiated differently: ${[...ciphers].join(', ')}`);
  }
  const noisy = results.flatMap((r) => r.trials).filter((t) => (t.otherCores ?? 0) > NOISY_CORES).length;
  const retried = results.flatMap((r) => r.trials).filter((t) => t.retries !== undefined).length;
  const measured = results.flatMap((r) => r.trials).filter((t) => t.otherCores !== undefined).length;
  if (notes.length > 0) {
    print('notes and failures:');
    for (const note of notes) print(`  ${note}`);
  }
  const otherCoresList = results.flatMap((r) => r.trials).map((t) => t.otherCores).filter((v): v is number => v !== undefined);
  const otherMedian = stats(otherCoresList)?.median;
  print(
    `other processes: ${otherCores !== undefined ? `${otherCores.toFixed(2)} of ${machine.cores} cores busy on average over the run` : 'unknown'}` +
      (otherMedian !== undefined ? `; within measured windows median ${otherMedian.toFixed(2)} cores, ${noisy} of ${measured} windows above ${NOISY_CORES}` : '') +
      (retried > 0 ? `; ${retried} trials were repeated for that reason` : ''),
  );
  print(`total run time ${((performance.now() - runStart) / 1000).toFixed(1)} s`);

  const subtitle = `node ${machine.node}, ${machine.cores} cores, ${options.mode} run, ${new Date().toISOString().slice(0, 16)}Z`;
  if (options.svg) {
    const written = writeCharts(results, core, subtitle);
    if (written.length > 0) print(`charts: ${written.join(', ')}`);
  }
  if (options.json !== undefined) {
    const document = {
      benchmark: 'memtls loopback',
      date: new Date().toISOString(),
      options: { ...options },
      plan,
      machine: { ...machine, otherCoresDuringRun: otherCores },
      results: results.map((r) => ({ cell: r.cell, summaries: r.summaries, trials: r.trials })),
      core,
      table: out,
      totalSeconds: (performance.now() - runStart) / 1000,
    };
    fs.mkdirSync(path.dirname(path.resolve(options.json)), { recursive: true });
    fs.writeFileSync(options.json, `${JSON.stringify(document, null, 2)}\n`);
    print(`results written to ${options.json}`);
  }
  cleanup();
}

main().catch((error) => {
  for (const child of children) child.kill('SIGKILL');
  console.error(error);
  process.exit(1);
});

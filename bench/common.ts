/**
 * Types shared by the benchmark orchestrator (bench/run.ts) and the
 * processes it starts for each trial (bench/worker.ts): the contenders, the
 * parameters of one trial, and the messages exchanged over the IPC channel.
 */

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** This process and its ancestors (npm, sh): their CPU is not "other" load. */
export function ownLineage(): Set<number> {
  const pids = new Set<number>([process.pid, process.ppid]);
  let pid = process.ppid;
  for (let depth = 0; depth < 16 && pid > 1; depth++) {
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      pids.add(pid);
    } catch {
      break;
    }
  }
  return pids;
}

/**
 * The busiest processes other than this one and its ancestors, by ps's %CPU
 * (CPU time over lifetime, so a short-lived busy process stands out).
 */
export function busiestProcesses(count: number): string[] {
  try {
    const own = ownLineage();
    const text = execFileSync('ps', ['-eo', 'pid,pcpu,comm', '--sort=-pcpu'], { encoding: 'utf8' });
    return text
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .map((line) => line.split(/\s+/))
      .filter(([pid, , comm]) => !own.has(Number(pid)) && comm !== 'ps')
      .slice(0, count)
      .map(([pid, pcpu, ...comm]) => `${comm.join(' ')} (pid ${pid}) ${pcpu}%`);
  } catch {
    return ['(ps not available)'];
  }
}

/** The four stacks measured against each other, in the order trials run. */
export const CONTENDERS = ['node:tls', 'memtls/tls', 'memtls/protocol', 'net'] as const;
export type Contender = (typeof CONTENDERS)[number];

/** The contenders whose figures are divided by node:tls's. */
export const MEMTLS_CONTENDERS: readonly Contender[] = ['memtls/tls', 'memtls/protocol'];

export const WORKLOADS = ['bulk', 'handshake', 'reqres', 'memory', 'core'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export const KiB = 1024;
export const MiB = 1024 * 1024;

export interface BulkParams {
  kind: 'bulk';
  /** c2s: the client writes, the server counts; s2c: the other way round. */
  direction: 'c2s' | 's2c';
  writeSize: number;
  /** TLS 1.3 ciphersuite, e.g. TLS_AES_128_GCM_SHA256. */
  suite: string;
}

export interface HandshakeParams {
  kind: 'handshake';
  version: 'TLSv1.2' | 'TLSv1.3';
  cert: 'ec' | 'rsa';
  resumed: boolean;
  concurrency: number;
}

export interface ReqresParams {
  kind: 'reqres';
  connections: number;
  messageSize: number;
}

export interface MemoryParams {
  kind: 'memory';
  connections: number;
  /** Connections being opened at the same time. */
  openConcurrency: number;
}

export type TrialParams = BulkParams | HandshakeParams | ReqresParams | MemoryParams;

export interface WorkerConfig {
  role: 'server' | 'client';
  contender: Contender;
  params: TrialParams;
  /** Where scripts/make-test-certs.sh wrote the certificates. */
  certDir: string;
  /** The server's port (client only). */
  port?: number;
}

/** What a process did between 'mark' and 'stop'. */
export interface WindowResult {
  cpuUser: number;
  cpuSystem: number;
  /** user + system, seconds. */
  cpuSeconds: number;
  wallSeconds: number;
  /** Bytes received (bulk receiver), handshakes completed, requests answered; 0 where this side does not count. */
  units: number;
  /** Handshakes that resumed a session (client). */
  reused: number;
  /** Errors seen on connections (should stay 0). */
  errors: number;
  /** From process.resourceUsage() over the window: page faults and context switches. */
  minorFaults: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
  /** Request latencies in microseconds (reqres client). */
  latency?: { count: number; p50: number; p99: number; mean: number };
}

export interface MemoryFigures {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /**
   * Resident size of V8's young generation (new space and new large-object
   * space). After gc() it holds no live object; V8 sizes it from the
   * allocation pattern, up to a fixed cap, whatever the connection count.
   */
  youngGeneration: number;
}

export interface MemoryResult {
  connections: number;
  baseline: MemoryFigures;
  loaded: MemoryFigures;
}

/** What the client learned when its connections came up. */
export interface ReadyInfo {
  protocol?: string;
  cipher?: string;
  /** Seconds it took to open every connection (memory workload). */
  openSeconds?: number;
  connections?: number;
}

export type ToWorker =
  | { type: 'init'; config: WorkerConfig }
  | { type: 'mark' }
  | { type: 'stop' }
  | { type: 'measure' }
  /** Both sides have reported: exit now (not before, or the peer sees resets inside its window). */
  | { type: 'exit' };

export type FromWorker =
  | { type: 'listening'; port: number }
  | { type: 'ready'; info: ReadyInfo }
  | { type: 'window'; result: WindowResult }
  | { type: 'memory'; result: MemoryResult }
  | { type: 'failed'; message: string };

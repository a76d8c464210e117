/**
 * The openssl command-line tool as a TLS peer: `s_server` on a loopback port
 * chosen by the kernel, and `s_client` runs fed with some stdin. Every process
 * started here is remembered until it exits; call killOpensslChildren() from
 * an afterEach hook so that none outlives its test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

const OPENSSL = '/usr/bin/openssl';
const running = new Set<ChildProcess>();

interface Started {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output: () => string;
}

function start(args: string[]): Started {
  const child = spawn(OPENSSL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
  let text = '';
  child.stdout!.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  child.stderr!.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  return { child, output: () => text };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Kills every openssl process still running and waits until they have exited. */
export async function killOpensslChildren(): Promise<void> {
  const children = [...running];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(exited));
}

/**
 * Resolves with the first match of `pattern` in the process's output, as
 * soon as it appears; rejects if the process closes its output first.
 */
function waitForOutput({ child, output }: Started, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const match = pattern.exec(output());
      if (match === null) return;
      stop();
      resolve(match);
    };
    const gone = (): void => {
      stop();
      reject(new Error(`openssl exited without printing ${pattern}:\n${output()}`));
    };
    const stop = (): void => {
      child.stdout!.off('data', check);
      child.stderr!.off('data', check);
      child.off('close', gone);
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('close', gone);
    check();
  });
}

/** A free loopback port, for an openssl that does not report the port it bound. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface OpensslServer {
  port: number;
  process: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with all output once it matches `pattern` (its stdout may lag behind the socket). */
  waitForOutput(pattern: RegExp): Promise<string>;
}

/**
 * Starts `openssl s_server -accept 127.0.0.1:0` plus `args` (certificate,
 * mode, versions) and resolves once it listens, with the port from its
 * "ACCEPT 127.0.0.1:PORT" line.
 */
export async function startOpensslServer(args: string[]): Promise<OpensslServer> {
  let server = start(['s_server', '-accept', '127.0.0.1:0', ...args]);
  const accept = await waitForOutput(server, /^ACCEPT(?:.*:(\d+))?[ \t]*\r?\n/m);
  let port = Number(accept[1] ?? 0);
  if (port === 0) {
    // This openssl did not say which port it bound: choose one ourselves.
    server.child.kill('SIGKILL');
    await exited(server.child);
    port = await freePort();
    server = start(['s_server', '-accept', `127.0.0.1:${port}`, ...args]);
    await waitForOutput(server, /^ACCEPT.*\n/m);
  }
  const ready = server;
  return {
    port,
    process: ready.child,
    output: ready.output,
    waitForOutput: async (pattern) => {
      await waitForOutput(ready, pattern);
      return ready.output();
    },
  };
}

export interface OpensslClientResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs `openssl s_client` with `args`, writes `stdin` to it and closes its
 * stdin; resolves with the exit status and everything it printed.
 */
export function runOpensslClient(args: string[], stdin: string | Buffer = ''): Promise<OpensslClientResult> {
  const { child, output } = start(['s_client', ...args]);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, output: output() }));
    child.stdin!.on('error', () => {}); // it may exit before reading all of it
    child.stdin!.end(stdin);
  });
}

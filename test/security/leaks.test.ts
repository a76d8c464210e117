/**
 * Hardening: leaks and worker termination.
 *
 *  - A bounded run of the soak (bench/soak.ts) in a child process of its own,
 *    so mocha's own allocations do not blur the figures: the soak must pass
 *    and report what it measured in its final JSON line.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const distRoot = path.join(__dirname, '..', '..');
const soakScript = path.join(distRoot, 'bench', 'soak.js');

interface SoakResult {
  ok: boolean;
  cycles: number;
  failures: string[];
  before: { heapUsed: number; external: number; rss: number; handles: number };
  after: { heapUsed: number; external: number; rss: number; handles: number };
  growth: { heapUsed: number; external: number; rss: number; handles: number };
  handlesAtStart: number;
  handlesAtEnd: number;
  limits: { heapUsed: number; external: number; rss: number };
}

describe('leaks: soak in a child process', function () {
  this.timeout(40_000);

  it('2,000 cycles of full and failed connections keep heap, external memory and handles flat', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--expose-gc', soakScript, '--cycles', '2000'],
        { maxBuffer: 1024 * 1024 },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
    const lines = stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1]) as SoakResult;
    expect(result.failures, `${stdout}\n${stderr}`).to.deep.equal([]);
    expect(code).to.equal(0);
    expect(result.ok).to.equal(true);
    expect(result.cycles).to.equal(2000);
    expect(result.growth.heapUsed).to.be.at.most(result.limits.heapUsed);
    expect(result.growth.external).to.be.at.most(result.limits.external);
    expect(result.growth.rss).to.be.at.most(result.limits.rss);
    expect(result.after.handles).to.equal(result.before.handles);
  });
});

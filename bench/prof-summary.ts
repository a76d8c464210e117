/**
 * Summarises V8 CPU profiles (.cpuprofile, as written by node --cpu-prof or
 * `npm run bench -- --cpu-prof DIR`): the functions with the most self time,
 * and for each the share of all samples.
 *
 * Usage: node dist/bench/prof-summary.js [--top N] FILE.cpuprofile...
 * Several files are added together (e.g. the same role over several trials).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function frameName(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  let file = url.replace(/^file:\/\//, '');
  if (file.startsWith(root)) file = path.relative(root, file);
  return `${name} ${file}:${lineNumber + 1}`;
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else files.push(args[i]);
  }
  if (files.length === 0) {
    console.log('usage: prof-summary [--top N] FILE.cpuprofile...');
    process.exit(1);
  }
  const root = path.join(__dirname, '..', '..');
  const selfMicros = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    // Each sample's time is the delta to the next sample.
    for (let i = 0; i < samples.length; i++) {
      const micros = deltas[i + 1] ?? 0;
      const node = byId.get(samples[i]);
      if (node === undefined) continue;
      const name = frameName(node, root);
      selfMicros.set(name, (selfMicros.get(name) ?? 0) + micros);
      total += micros;
    }
  }
  const rows = [...selfMicros.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`${files.length} profile(s), ${(total / 1e6).toFixed(2)} s sampled`);
  console.log(' self ms  share  function');
  for (const [name, micros] of rows) {
    console.log(`${(micros / 1000).toFixed(0).padStart(8)}  ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
}

main();

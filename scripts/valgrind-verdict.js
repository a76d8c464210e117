#!/usr/bin/env node
// Reads the memcheck XML files written by scripts/test-valgrind.sh (one per
// traced process) and decides the verdict:
//   - any invalid read/write/free anywhere fails the run;
//   - a definite leak fails the run only when its allocation stack passes
//     through memtls's own code (memtls.node or native/*.cc); node's and V8's
//     own leaks at exit are counted but not held against us;
//   - everything else (e.g. V8's conservative stack scan reading uninitialised
//     stack words) is listed for information, flagged when memtls is involved.
// Usage: valgrind-verdict.js <file.xml>...   Exit status 1 on a failing verdict.
'use strict';
const fs = require('node:fs');

const FATAL_KINDS = new Set(['InvalidRead', 'InvalidWrite', 'InvalidFree', 'MismatchedFree', 'InvalidMemPool']);

function tag(text, name) {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(text);
  return m ? m[1].trim() : '';
}

function decode(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

function frames(stackXml) {
  return [...stackXml.matchAll(/<frame>([\s\S]*?)<\/frame>/g)].map(([, f]) => ({
    fn: decode(tag(f, 'fn')) || '???',
    obj: tag(f, 'obj'),
    file: tag(f, 'file'),
    line: tag(f, 'line'),
    dir: tag(f, 'dir'),
  }));
}

const isOurs = (f) => /memtls[^/]*\.node$/.test(f.obj) || (/\.(cc|h)$/.test(f.file) && /(^|\/)native$/.test(f.dir));

function describe(f) {
  const where = f.file ? `${f.file}:${f.line}` : f.obj.split('/').pop();
  return `${f.fn} (${where})`;
}

const files = process.argv.slice(2);
const summary = { processes: 0, fatal: [], ourLeaks: [], otherLeaks: { count: 0, bytes: 0 }, other: new Map() };

for (const file of files) {
  const xml = fs.readFileSync(file, 'utf8');
  if (!xml.includes('<valgrindoutput>')) continue;
  summary.processes += 1;
  const pid = tag(xml, 'pid');
  for (const [, err] of xml.matchAll(/<error>([\s\S]*?)<\/error>/g)) {
    const kind = tag(err, 'kind');
    const what = decode(tag(err, 'what') || tag(tag(err, 'xwhat'), 'text'));
    const stacks = [...err.matchAll(/<stack>([\s\S]*?)<\/stack>/g)].map(([, s]) => frames(s));
    const all = stacks.flat();
    const ours = all.some(isOurs);
    const entry = { pid, kind, what, stack: stacks[0] || [], ours };
    if (FATAL_KINDS.has(kind)) {
      summary.fatal.push(entry);
    } else if (kind === 'Leak_DefinitelyLost') {
      if (ours) summary.ourLeaks.push(entry);
      else {
        summary.otherLeaks.count += 1;
        summary.otherLeaks.bytes += Number(tag(tag(err, 'xwhat'), 'leakedbytes')) || 0;
      }
    } else {
      const key = `${kind}${ours ? ' (memtls frames in stack)' : ''}`;
      summary.other.set(key, (summary.other.get(key) || 0) + 1);
    }
  }
}

function printStack(entry) {
  console.log(`  [pid ${entry.pid}] ${entry.kind}: ${entry.what}`);
  for (const f of entry.stack.slice(0, 25)) console.log(`      ${isOurs(f) ? '>' : ' '} ${describe(f)}`);
}

console.log(`[valgrind] processes checked: ${summary.processes}`);
console.log(`[valgrind] invalid reads/writes/frees: ${summary.fatal.length}`);
summary.fatal.forEach(printStack);
console.log(`[valgrind] definite leaks through memtls code: ${summary.ourLeaks.length}`);
summary.ourLeaks.forEach(printStack);
console.log(`[valgrind] definite leaks elsewhere (node/V8/OpenSSL, ignored): ${summary.otherLeaks.count} (${summary.otherLeaks.bytes} bytes)`);
if (summary.other.size) {
  console.log('[valgrind] other memcheck reports (informational, distinct contexts):');
  for (const [key, n] of summary.other) console.log(`    ${key}: ${n}`);
}
const ok = summary.processes > 0 && summary.fatal.length === 0 && summary.ourLeaks.length === 0;
if (summary.processes === 0) console.log('[valgrind] no valgrind XML output found');
process.exit(ok ? 0 : 1);

#!/usr/bin/env node
// Makes a fresh machine ready for `npm test`: the tools the tests run as real
// peers (the openssl CLI and curl) and the test certificates.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const tools = { openssl: 'openssl', curl: 'curl' };

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const missing = Object.entries(tools).filter(([command]) => !onPath(command)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!onPath('apt-get')) {
    console.error(`memtls tests need: ${missing.join(', ')} (install them with your package manager)`);
    process.exit(1);
  }
  const sudo = isRoot ? [] : ['sudo'];
  console.log(`installing test peers: ${missing.join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(isRoot ? [] : ['apt-get']), 'update'], { stdio: 'inherit', env });
  execFileSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(isRoot ? [] : ['apt-get']), 'install', '-y', ...missing], { stdio: 'inherit', env });
}

const certs = path.join(root, 'test', 'fixtures', 'certs');
// Remade whole when any is missing (e.g. a checkout that added a certificate).
const needed = ['expired.pem', 'names.pem', 'cn-only.pem'];
if (!needed.every((name) => fs.existsSync(path.join(certs, name)))) {
  execFileSync('bash', [path.join(root, 'scripts', 'make-test-certs.sh'), certs], { stdio: 'inherit' });
}

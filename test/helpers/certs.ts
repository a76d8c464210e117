/** Paths and contents of the certificates made by scripts/make-test-certs.sh. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const certDir = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'certs');

export function certPath(name: string): string {
  return path.join(certDir, name);
}

export function readCert(name: string): Buffer {
  return fs.readFileSync(certPath(name));
}

/** The hostname every server certificate is issued for. */
export const SERVER_NAME = 'localhost';
export const PASSPHRASE = 'memtls-secret';

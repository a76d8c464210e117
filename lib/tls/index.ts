/**
 * memtls/tls: a drop-in for node:tls. `const tls = require('memtls/tls')`
 * in place of `require('tls')` keeps the calls, options, events, properties
 * and error codes; the bytes go through memtls's protocol layer.
 */
import * as nodeTls from 'node:tls';

import { tlsDefaults, type TlsDefaultName } from './defaults';

export { TLSSocket } from './tls-socket';
export type { TLSSocketOptions, CheckServerIdentity, ALPNCallback, OnReadOptions } from './tls-socket';
export { connect } from './connect';
export type { ConnectionOptions } from './connect';
export { Server, createServer } from './server';
export type { TlsServerOptions } from './server';
export { SecureContext, createSecureContext, UNSUPPORTED_CONTEXT_OPTIONS } from './secure-context';
export type { SecureContextOptions } from './secure-context';
export { checkServerIdentity } from './check-server-identity';

/** The Mozilla roots bundled with Node (the default trust store). */
export const rootCertificates: readonly string[] = nodeTls.rootCertificates;

/** Cipher names OpenSSL supports, lower-cased, as node:tls returns them. */
export function getCiphers(): string[] {
  return nodeTls.getCiphers();
}

export const CLIENT_RENEG_LIMIT = 3;
export const CLIENT_RENEG_WINDOW = 600;

/** node:tls's undocumented helper: ALPN names to wire format in `out.ALPNProtocols`. */
export function convertALPNProtocols(protocols: string[] | Buffer | Uint8Array, out: { ALPNProtocols?: Buffer }): void {
  if (Array.isArray(protocols)) {
    const parts: Buffer[] = [];
    for (const protocol of protocols) {
      const bytes = Buffer.from(protocol);
      if (bytes.length > 255) {
        throw Object.assign(new RangeError(`The byte length of the protocol at index ${parts.length / 2} exceeds the maximum length.`), { code: 'ERR_OUT_OF_RANGE' });
      }
      parts.push(Buffer.from([bytes.length]), bytes);
    }
    out.ALPNProtocols = Buffer.concat(parts);
  } else {
    out.ALPNProtocols = Buffer.from(protocols);
  }
}

// DEFAULT_MIN_VERSION and friends are read when a context is created, and
// users assign to them: route the module properties to the shared defaults.
export declare let DEFAULT_MIN_VERSION: string;
export declare let DEFAULT_MAX_VERSION: string;
export declare let DEFAULT_CIPHERS: string;
export declare let DEFAULT_ECDH_CURVE: string;
for (const name of Object.keys(tlsDefaults) as TlsDefaultName[]) {
  Object.defineProperty(exports, name, {
    enumerable: true,
    get: () => tlsDefaults[name],
    set: (value: string) => {
      tlsDefaults[name] = value;
    },
  });
}

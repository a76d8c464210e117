/**
 * The mutable defaults node:tls reads when a secure context is created
 * (tls.DEFAULT_MIN_VERSION and friends). Users assign to the module exports;
 * lib/tls/index.ts routes those assignments here.
 */
import { DEFAULT_CIPHERS as NODE_DEFAULT_CIPHERS } from 'node:tls';

export const tlsDefaults = {
  DEFAULT_MIN_VERSION: 'TLSv1.2',
  DEFAULT_MAX_VERSION: 'TLSv1.3',
  DEFAULT_CIPHERS: NODE_DEFAULT_CIPHERS,
  DEFAULT_ECDH_CURVE: 'auto',
};

export type TlsDefaultName = keyof typeof tlsDefaults;

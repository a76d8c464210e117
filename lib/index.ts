/**
 * memtls core: TLS as a bytes-in/bytes-out engine over OpenSSL memory BIOs,
 * with the API of Python's ssl.SSLContext / MemoryBIO / SSLObject.
 * No sockets, timers or event loop here: see memtls/protocol and memtls/tls.
 */
import { native, type NativeMemoryBIO } from './native';

export * from './ssl/constants';
export * from './ssl/errors';
export { SSLContext, createDefaultContext } from './ssl/ssl-context';
export type {
  SNICallback,
  KeylogCallback,
  NewSessionCallback,
  ServerSession,
  ClientHelloInfo,
  ClientHelloResult,
  ClientHelloCallback,
  OCSPCallback,
  VerifyLocations,
  WrapBioOptions,
  PemOrPath,
  Password,
} from './ssl/ssl-context';
export { SSLObject } from './ssl/ssl-object';
export { SSLSession } from './ssl/session';
export type { PeerCertificate, DetailedPeerCertificate } from './ssl/certificate';

/**
 * A memory buffer for TLS bytes (Python's ssl.MemoryBIO): `write(bytes)`,
 * `read(n?)`, `pending`, `eof`, `writeEof()`.
 */
export type MemoryBIO = NativeMemoryBIO;
export const MemoryBIO: new () => MemoryBIO = native.MemoryBIO;

/** The OpenSSL the addon runs on: the one inside the node binary. */
export const opensslVersion: string = native.opensslVersion;

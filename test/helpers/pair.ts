/**
 * In-memory client/server pairs: two real SSLObjects whose outgoing bytes the
 * test carries to the other side's incoming BIO.
 */
import {
  CERT_REQUIRED,
  MemoryBIO,
  PROTOCOL_TLS_CLIENT,
  PROTOCOL_TLS_SERVER,
  SSLContext,
  SSLObject,
  SSLWantReadError,
  type WrapBioOptions,
} from '../../lib';
import { certPath, SERVER_NAME } from './certs';

export interface Endpoint {
  ssl: SSLObject;
  incoming: MemoryBIO;
  outgoing: MemoryBIO;
}

export interface Pair {
  client: Endpoint;
  server: Endpoint;
}

export type KeyKind = 'ec' | 'rsa';

/** A server context with the chosen certificate; optionally requiring client certs. */
export function serverContext(kind: KeyKind = 'ec', configure?: (ctx: SSLContext) => void): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  ctx.loadCertChain(certPath(`server-${kind}.pem`), certPath(`server-${kind}.key`));
  configure?.(ctx);
  return ctx;
}

/** A client context that trusts the test CA and checks hostnames. */
export function clientContext(configure?: (ctx: SSLContext) => void): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_CLIENT);
  ctx.loadVerifyLocations({ cafile: certPath('ca.pem') });
  configure?.(ctx);
  return ctx;
}

export function endpoint(ctx: SSLContext, options: WrapBioOptions): Endpoint {
  const incoming = new MemoryBIO();
  const outgoing = new MemoryBIO();
  return { ssl: ctx.wrapBio(incoming, outgoing, options), incoming, outgoing };
}

export function makePair(
  clientCtx: SSLContext,
  serverCtx: SSLContext,
  clientOptions: WrapBioOptions = { serverHostname: SERVER_NAME },
): Pair {
  return {
    client: endpoint(clientCtx, clientOptions),
    server: endpoint(serverCtx, { serverSide: true }),
  };
}

/** Moves everything `from` wrote to `to`'s incoming BIO; returns the byte count. */
export function transfer(from: Endpoint, to: Endpoint): number {
  const bytes = from.outgoing.read();
  if (bytes.length > 0) to.incoming.write(bytes);
  return bytes.length;
}

/** Runs one handshake step; true when done, false on SSLWantReadError. */
function step(side: Endpoint): boolean {
  try {
    side.ssl.doHandshake();
    return true;
  } catch (error) {
    if (error instanceof SSLWantReadError) return false;
    throw error;
  }
}

/**
 * Pumps both handshakes to completion. Throws the first real error, tagged
 * with the side that raised it (`error.side`).
 */
export function handshake(pair: Pair, maxRounds = 10): void {
  let clientDone = false;
  let serverDone = false;
  for (let round = 0; round < maxRounds; round++) {
    try {
      clientDone = step(pair.client) || clientDone;
    } catch (error) {
      transfer(pair.client, pair.server);
      throw Object.assign(error as Error, { side: 'client' });
    }
    transfer(pair.client, pair.server);
    try {
      serverDone = step(pair.server) || serverDone;
    } catch (error) {
      transfer(pair.server, pair.client);
      throw Object.assign(error as Error, { side: 'server' });
    }
    transfer(pair.server, pair.client);
    if (clientDone && serverDone) return;
  }
  throw new Error('handshake did not finish');
}

/** Reads everything currently decryptable; stops at SSLWantReadError. */
export function readAll(side: Endpoint): Buffer {
  const chunks: Buffer[] = [];
  for (;;) {
    try {
      const chunk = side.ssl.read(65536) as Buffer;
      if (chunk.length === 0) break;
      chunks.push(chunk);
    } catch (error) {
      if (error instanceof SSLWantReadError) break;
      throw error;
    }
  }
  return Buffer.concat(chunks);
}

/** Sends `data` from one side and returns what the other side decrypted. */
export function send(from: Endpoint, to: Endpoint, data: Buffer): Buffer {
  from.ssl.write(data);
  transfer(from, to);
  return readAll(to);
}

export { CERT_REQUIRED };

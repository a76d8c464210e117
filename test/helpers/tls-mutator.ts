/**
 * Hostile-input helpers for the fuzz test: a seeded PRNG, a TLS record
 * splitter, mutations of valid record streams, and a TLS 1.3 record sealer
 * (from a keylog traffic secret) that can forge post-handshake messages such
 * as KeyUpdate.
 */
import { createCipheriv, createHmac } from 'node:crypto';

/** Largest record body a peer may send: 2^14 plaintext plus 2048 of expansion. */
export const MAX_RECORD_BODY = 16384 + 2048;

/** mulberry32: small, fast and reproducible from a 32-bit seed. */
export class Rng {
  #state: number;
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

export interface TlsRecord {
  type: number;
  version: number;
  body: Buffer;
}

/** Splits a well-formed record stream into records (a trailing partial record is dropped). */
export function splitRecords(stream: Buffer): TlsRecord[] {
  const records: TlsRecord[] = [];
  let at = 0;
  while (at + 5 <= stream.length) {
    const length = stream.readUInt16BE(at + 3);
    if (at + 5 + length > stream.length) break;
    records.push({ type: stream[at], version: stream.readUInt16BE(at + 1), body: stream.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return records;
}

export function encodeRecord(type: number, version: number, body: Buffer, declaredLength = body.length): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeUInt16BE(version, 1);
  header.writeUInt16BE(declaredLength & 0xffff, 3);
  return Buffer.concat([header, body]);
}

export const MUTATIONS = [
  'bitflip',
  'truncate',
  'length',
  'oversized',
  'contentType',
  'version',
  'handshakeLength',
  'insert',
  'duplicate',
  'splice',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/**
 * One mutation of a valid record stream. Every result differs from the
 * input (the caller gets the name of what was done, for failure messages).
 */
export function mutate(rng: Rng, stream: Buffer, kind: Mutation = rng.pick(MUTATIONS)): { kind: Mutation; bytes: Buffer } {
  const records = splitRecords(stream);
  const index = rng.int(records.length);
  const record = records[index];
  const rebuild = (replacement: Buffer[]): Buffer =>
    Buffer.concat([...records.slice(0, index).map((r) => encodeRecord(r.type, r.version, r.body)), ...replacement, ...records.slice(index + 1).map((r) => encodeRecord(r.type, r.version, r.body))]);
  switch (kind) {
    case 'bitflip': {
      const bytes = Buffer.from(stream);
      const flips = 1 + rng.int(8);
      for (let i = 0; i < flips; i++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      return { kind, bytes };
    }
    case 'truncate':
      return { kind, bytes: Buffer.from(stream.subarray(0, rng.int(stream.length))) };
    case 'length': {
      // The header claims a length other than the body's.
      const choices = [0, 1, record.body.length - 1, record.body.length + 1, rng.int(0x10000), 0xffff];
      let declared = rng.pick(choices) & 0xffff;
      if (declared === record.body.length) declared = (declared + 1) & 0xffff;
      return { kind, bytes: rebuild([encodeRecord(record.type, record.version, record.body, declared)]) };
    }
    case 'oversized': {
      // A record (of the original type) larger than any peer may send.
      const size = MAX_RECORD_BODY + 1 + rng.int(0xffff - MAX_RECORD_BODY);
      const body = Buffer.concat([record.body, rng.bytes(Math.max(0, size - record.body.length))]).subarray(0, size);
      return { kind, bytes: rebuild([encodeRecord(record.type, record.version, body)]) };
    }
    case 'contentType': {
      let type = rng.pick([0, 1, 19, 20, 21, 22, 23, 24, 25, 0x80, 0xff, rng.int(256)]);
      if (type === record.type) type ^= 0x40;
      return { kind, bytes: rebuild([encodeRecord(type, record.version, record.body)]) };
    }
    case 'version': {
      let version = rng.pick([0x0000, 0x0200, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f1c, 0xfefd, rng.int(0x10000)]);
      if (version === record.version) version ^= 0x0101;
      return { kind, bytes: rebuild([encodeRecord(record.type, version, record.body)]) };
    }
    case 'handshakeLength': {
      // Corrupt an inner length field: the first handshake header's 24-bit
      // length, or a random 16-bit span inside the body.
      const body = Buffer.from(record.body);
      if (body.length >= 4 && rng.int(2) === 0) {
        body.writeUIntBE(rng.pick([0, 1, body.length - 4 + 1, 0xffffff, rng.int(0x1000000)]), 1, 3);
      } else if (body.length >= 2) {
        body.writeUInt16BE(rng.pick([0, 0xffff, rng.int(0x10000)]), rng.int(body.length - 1));
      } else {
        body.writeUInt8(0xff ^ (body[0] ?? 0), 0);
      }
      return { kind, bytes: rebuild([encodeRecord(record.type, record.version, body)]) };
    }
    case 'insert': {
      const at = rng.int(stream.length + 1);
      return { kind, bytes: Buffer.concat([stream.subarray(0, at), rng.bytes(1 + rng.int(64)), stream.subarray(at)]) };
    }
    case 'duplicate': {
      const copy = encodeRecord(record.type, record.version, record.body);
      return { kind, bytes: rebuild([copy, copy]) };
    }
    case 'splice': {
      // A record whose body is replaced by random bytes of the same length.
      return { kind, bytes: rebuild([encodeRecord(record.type, record.version, rng.bytes(record.body.length || 1))]) };
    }
  }
}

// --- TLS 1.3 record protection (RFC 8446 §5.2, §7.1), SHA-256 suites only ---

function hkdfExpandLabel(secret: Buffer, label: string, context: Buffer, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([context.length]), context]);
  // HKDF-Expand with SHA-256; `length` is at most 32 here, one block.
  const block = createHmac('sha256', secret).update(Buffer.concat([info, Buffer.from([1])])).digest();
  return block.subarray(0, length);
}

/**
 * Seals records under a TLS_AES_128_GCM_SHA256 traffic secret, as the peer
 * that owns it would. `keyUpdate()` forges a KeyUpdate handshake message and
 * then moves to the next generation of the secret, as the sender must.
 */
export class Tls13Sealer {
  #secret: Buffer;
  #key!: Buffer;
  #iv!: Buffer;
  #seq = 0n;

  constructor(trafficSecret: Buffer) {
    this.#secret = trafficSecret;
    this.#derive();
  }

  #derive(): void {
    this.#key = hkdfExpandLabel(this.#secret, 'key', Buffer.alloc(0), 16);
    this.#iv = hkdfExpandLabel(this.#secret, 'iv', Buffer.alloc(0), 12);
    this.#seq = 0n;
  }

  seal(contentType: number, content: Buffer): Buffer {
    const inner = Buffer.concat([content, Buffer.from([contentType])]);
    const header = Buffer.from([23, 3, 3, (inner.length + 16) >> 8, (inner.length + 16) & 0xff]);
    const nonce = Buffer.from(this.#iv);
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.#seq);
    for (let i = 0; i < 8; i++) nonce[4 + i] ^= seq[i];
    this.#seq++;
    const cipher = createCipheriv('aes-128-gcm', this.#key, nonce);
    cipher.setAAD(header);
    const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([header, body]);
  }

  /** A KeyUpdate record (update_not_requested unless `request`); later records use the next key. */
  keyUpdate(request = false): Buffer {
    const record = this.seal(22, Buffer.from([24, 0, 0, 1, request ? 1 : 0]));
    this.#secret = hkdfExpandLabel(this.#secret, 'traffic upd', Buffer.alloc(0), 32);
    this.#derive();
    return record;
  }
}

/** The secret of `label` (e.g. CLIENT_TRAFFIC_SECRET_0) from NSS keylog lines. */
export function keylogSecret(lines: readonly string[], label: string): Buffer {
  for (const line of lines) {
    const [name, , secret] = line.trim().split(' ');
    if (name === label) return Buffer.from(secret, 'hex');
  }
  throw new Error(`no ${label} in the keylog`);
}

/**
 * Decodes a DER certificate into the object node:tls returns from
 * `getPeerCertificate()`: subject and issuer as objects, subjectaltname,
 * validity, fingerprints, key details and the DER itself as `raw`.
 * Decoding happens only when asked: nothing on the handshake path calls it.
 */
import { X509Certificate } from 'node:crypto';

export type NameFields = Record<string, string | string[]>;

export interface PeerCertificate {
  subject: NameFields;
  issuer: NameFields;
  subjectaltname?: string;
  infoAccess?: Record<string, string[]>;
  ca: boolean;
  modulus?: string;
  exponent?: string;
  pubkey?: Buffer;
  bits?: number;
  asn1Curve?: string;
  nistCurve?: string;
  valid_from: string;
  valid_to: string;
  fingerprint: string;
  fingerprint256: string;
  fingerprint512: string;
  ext_key_usage?: string[];
  serialNumber: string;
  raw: Buffer;
}

export interface DetailedPeerCertificate extends PeerCertificate {
  issuerCertificate?: DetailedPeerCertificate;
}

const NIST_NAMES: Record<string, string> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
  secp224r1: 'P-224',
};

const CURVE_BITS: Record<string, number> = {
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  secp224r1: 224,
};

/** "C=US\nCN=example" -> { C: 'US', CN: 'example' }; repeated keys become arrays. */
export function parseDistinguishedName(text: string): NameFields {
  const fields: NameFields = Object.create(null);
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const existing = fields[key];
    if (existing === undefined) fields[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else fields[key] = [existing, value];
  }
  return fields;
}

function parseInfoAccess(text: string): Record<string, string[]> {
  const access: Record<string, string[]> = Object.create(null);
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    (access[key] ??= []).push(line.slice(colon + 1));
  }
  return access;
}

/**
 * Just the names a hostname check reads (subject and subjectaltname): a
 * fraction of decodeCertificate's cost, which also computes fingerprints and
 * exports the public key.
 */
export function decodeIdentity(der: Buffer): Pick<PeerCertificate, 'subject' | 'subjectaltname'> {
  const x509 = new X509Certificate(der);
  const identity: Pick<PeerCertificate, 'subject' | 'subjectaltname'> = { subject: parseDistinguishedName(x509.subject) };
  if (x509.subjectAltName !== undefined) identity.subjectaltname = x509.subjectAltName;
  return identity;
}

export function decodeCertificate(der: Buffer): PeerCertificate {
  const x509 = new X509Certificate(der);
  const cert: PeerCertificate = {
    subject: parseDistinguishedName(x509.subject),
    issuer: parseDistinguishedName(x509.issuer),
    ca: x509.ca,
    valid_from: x509.validFrom,
    valid_to: x509.validTo,
    fingerprint: x509.fingerprint,
    fingerprint256: x509.fingerprint256,
    fingerprint512: x509.fingerprint512,
    serialNumber: x509.serialNumber,
    raw: der,
  };
  if (x509.subjectAltName !== undefined) cert.subjectaltname = x509.subjectAltName;
  if (x509.infoAccess !== undefined) cert.infoAccess = parseInfoAccess(x509.infoAccess);
  if (x509.keyUsage !== undefined) cert.ext_key_usage = x509.keyUsage;
  const key = x509.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  cert.pubkey = key.export({ type: 'spki', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    const jwk = key.export({ format: 'jwk' });
    cert.bits = details.modulusLength;
    cert.modulus = Buffer.from(jwk.n ?? '', 'base64url').toString('hex').toUpperCase();
    cert.exponent = `0x${(details.publicExponent ?? 65537n).toString(16)}`;
  } else if (key.asymmetricKeyType === 'ec' && details.namedCurve !== undefined) {
    cert.asn1Curve = details.namedCurve;
    cert.bits = CURVE_BITS[details.namedCurve];
    const nist = NIST_NAMES[details.namedCurve];
    if (nist !== undefined) cert.nistCurve = nist;
  }
  return cert;
}

/**
 * Decodes a chain (leaf first) into node:tls's detailed form: each
 * certificate links to its issuer; a self-signed root links to itself.
 */
export function decodeCertificateChain(chain: Buffer[]): DetailedPeerCertificate | undefined {
  if (chain.length === 0) return undefined;
  const decoded: DetailedPeerCertificate[] = chain.map((der) => decodeCertificate(der));
  for (let i = 0; i < decoded.length; i++) {
    const cert = decoded[i];
    const next = decoded[i + 1];
    if (next !== undefined) cert.issuerCertificate = next;
    else if (new X509Certificate(cert.raw).checkIssued(new X509Certificate(cert.raw))) {
      cert.issuerCertificate = cert;
    }
  }
  return decoded[0];
}

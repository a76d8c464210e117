/** Constants with Python's ssl module values. */

export const PROTOCOL_TLS_CLIENT = 16;
export const PROTOCOL_TLS_SERVER = 17;
export type Protocol = typeof PROTOCOL_TLS_CLIENT | typeof PROTOCOL_TLS_SERVER;

export const CERT_NONE = 0;
export const CERT_OPTIONAL = 1;
export const CERT_REQUIRED = 2;
export type VerifyMode = typeof CERT_NONE | typeof CERT_OPTIONAL | typeof CERT_REQUIRED;

/** Protocol versions, by the names both Python and node:tls print. */
export type TLSVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** OpenSSL's wire numbers for each version; 0 means "no limit". */
export const TLS_VERSION_NUMBERS: Readonly<Record<TLSVersion, number>> = {
  TLSv1: 0x301,
  'TLSv1.1': 0x302,
  'TLSv1.2': 0x303,
  'TLSv1.3': 0x304,
};

export function versionName(wire: number): TLSVersion | undefined {
  for (const [name, value] of Object.entries(TLS_VERSION_NUMBERS)) {
    if (value === wire) return name as TLSVersion;
  }
  return undefined;
}

/** Largest plaintext of one TLS record. */
export const MAX_RECORD_PLAINTEXT = 16384;

/**
 * checkServerIdentity(hostname, cert): node:tls's identity rules, written
 * anew. Returns an Error with code ERR_TLS_CERT_ALTNAME_INVALID when the
 * certificate does not name the host, undefined when it does.
 *
 *  - IP hosts match only `IP Address:` subjectAltNames (compared canonically).
 *  - DNS subjectAltNames win; the subject CN is used only when there are none.
 *  - A wildcard is allowed only as the whole or part of the left-most label,
 *    once, never for a two-label name (`*.com`) and never in an IDNA label.
 *  - URI subjectAltNames are ignored; a trailing dot on the host is ignored.
 */
import { isIP } from 'node:net';
import type { PeerCertificate } from '../ssl/certificate';

export interface IdentityError extends Error {
  code: 'ERR_TLS_CERT_ALTNAME_INVALID';
  reason: string;
  host: string;
  cert: PeerCertificate;
}

function withoutTrailingDot(host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function labels(host: string): string[] {
  return withoutTrailingDot(host).toLowerCase().split('.');
}

/** Normal form of an IP address, so '::1' and '0:0::1' compare equal. */
function canonicalIp(address: string): string {
  if (isIP(address) === 0) return ''; // not an address (e.g. a range): matches nothing
  if (isIP(address) === 6) {
    try {
      return new URL(`http://[${address}]/`).hostname.slice(1, -1);
    } catch {
      return address.toLowerCase();
    }
  }
  return address;
}

/**
 * Splits "DNS:a, IP Address:1.2.3.4, DNS:\"b, c\"" into entries; quoted values
 * (which may contain ", ") are JSON strings.
 */
function splitAltNames(altNames: string): string[] {
  const entries: string[] = [];
  let current = '';
  let i = 0;
  while (i < altNames.length) {
    const ch = altNames[i];
    if (ch === '"') {
      let end = i + 1;
      while (end < altNames.length && altNames[end] !== '"') end += altNames[end] === '\\' ? 2 : 1;
      const quoted = altNames.slice(i, end + 1);
      try {
        current += JSON.parse(quoted) as string;
      } catch {
        current += quoted;
      }
      i = end + 1;
    } else if (ch === ',' && altNames[i + 1] === ' ') {
      entries.push(current);
      current = '';
      i += 2;
    } else {
      current += ch;
      i += 1;
    }
  }
  if (current !== '') entries.push(current);
  return entries;
}

function matchesPattern(hostLabels: string[], pattern: string): boolean {
  if (!pattern || /[^\x00-\x7f]/.test(pattern)) return false;
  const patternLabels = labels(pattern);
  if (patternLabels.length !== hostLabels.length || patternLabels.includes('')) return false;
  for (let i = 1; i < hostLabels.length; i++) {
    if (patternLabels[i] !== hostLabels[i]) return false;
  }
  const first = patternLabels[0];
  const host = hostLabels[0];
  const pieces = first.split('*');
  if (pieces.length === 1 || first.includes('xn--')) return first === host;
  if (pieces.length > 2 || patternLabels.length <= 2) return false;
  const [prefix, suffix] = pieces;
  return prefix.length + suffix.length <= host.length && host.startsWith(prefix) && host.endsWith(suffix);
}

export function checkServerIdentity(hostname: string, cert: PeerCertificate): IdentityError | undefined {
  const host = withoutTrailingDot(String(hostname));
  const altNames = cert.subjectaltname;
  const dnsNames: string[] = [];
  const ips: string[] = [];
  if (altNames) {
    for (const entry of splitAltNames(altNames)) {
      if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
      else if (entry.startsWith('IP Address:')) ips.push(canonicalIp(entry.slice(11)));
    }
  }
  let valid = false;
  let reason: string;
  if (isIP(host) !== 0) {
    valid = ips.includes(canonicalIp(host));
    reason = `IP: ${host} is not in the cert's list: ${ips.join(', ')}`;
  } else {
    const hostLabels = labels(host);
    const cn = cert.subject?.CN;
    if (dnsNames.length > 0) {
      valid = dnsNames.some((name) => matchesPattern(hostLabels, name));
      reason = `Host: ${host}. is not in the cert's altnames: ${altNames}`;
    } else if (cn !== undefined) {
      valid = Array.isArray(cn) ? cn.some((name) => matchesPattern(hostLabels, name)) : matchesPattern(hostLabels, cn);
      reason = `Host: ${host}. is not cert's CN: ${Array.isArray(cn) ? cn.join(', ') : cn}`;
    } else {
      reason = 'Cert does not contain a DNS name';
    }
  }
  if (valid) return undefined;
  const error = new Error(`Hostname/IP does not match certificate's altnames: ${reason}`) as IdentityError;
  error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  error.reason = reason;
  error.host = host;
  error.cert = cert;
  return error;
}

/**
 * The SSLError family, with Python's class names and Node's `code` vocabulary.
 *
 * Every error carries `library` and `reason` (OpenSSL's mnemonics, when
 * OpenSSL supplied them), `errno` (Python's SSL_ERROR_* number) and a
 * Node-style `code` derived from the reason: `ERR_SSL_WRONG_VERSION_NUMBER`.
 */
import { ErrorKind, native, type NativeErrorDetails } from '../native';

/** Python's ssl.SSL_ERROR_* numbers, carried as `errno`. */
export const SSL_ERROR_SSL = 1;
export const SSL_ERROR_WANT_READ = 2;
export const SSL_ERROR_WANT_WRITE = 3;
export const SSL_ERROR_WANT_X509_LOOKUP = 4;
export const SSL_ERROR_SYSCALL = 5;
export const SSL_ERROR_ZERO_RETURN = 6;
export const SSL_ERROR_WANT_CONNECT = 7;
export const SSL_ERROR_EOF = 8;

export interface SSLErrorOptions {
  library?: string;
  reason?: string;
  errno?: number;
  cause?: unknown;
}

export class SSLError extends Error {
  /** OpenSSL library mnemonic, e.g. `SSL`, `X509`, `PEM`. */
  readonly library: string | undefined;
  /** OpenSSL reason mnemonic, e.g. `WRONG_VERSION_NUMBER`. */
  readonly reason: string | undefined;
  /** `ERR_SSL_<REASON>`, Node's naming. */
  readonly code: string;
  /** Python's SSL_ERROR_* number. */
  readonly errno: number;

  constructor(message: string, options: SSLErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.library = options.library;
    this.reason = options.reason;
    this.errno = options.errno ?? SSL_ERROR_SSL;
    this.code = `ERR_SSL_${options.reason ?? 'ERROR'}`;
  }
}

/** Nothing to read yet: feed more ciphertext into the incoming BIO and retry. */
export class SSLWantReadError extends SSLError {
  constructor(message = 'The operation did not complete (read)', options: SSLErrorOptions = {}) {
    super(message, { reason: 'WANT_READ', ...options, errno: SSL_ERROR_WANT_READ });
  }
}

/** Never raised with memory BIOs (the outgoing BIO is unbounded); kept for parity. */
export class SSLWantWriteError extends SSLError {
  constructor(message = 'The operation did not complete (write)', options: SSLErrorOptions = {}) {
    super(message, { reason: 'WANT_WRITE', ...options, errno: SSL_ERROR_WANT_WRITE });
  }
}

/** The connection was closed cleanly in both directions. */
export class SSLZeroReturnError extends SSLError {
  constructor(message = 'TLS/SSL connection has been closed (EOF)', options: SSLErrorOptions = {}) {
    super(message, { reason: 'ZERO_RETURN', ...options, errno: SSL_ERROR_ZERO_RETURN });
  }
}

/** The transport ended without a close_notify (a truncation attack looks like this). */
export class SSLEOFError extends SSLError {
  constructor(message = 'EOF occurred in violation of protocol', options: SSLErrorOptions = {}) {
    super(message, { reason: 'EOF', ...options, errno: SSL_ERROR_EOF });
  }
}

export class SSLSyscallError extends SSLError {
  constructor(message = 'Some I/O error occurred', options: SSLErrorOptions = {}) {
    super(message, { reason: 'SYSCALL', ...options, errno: SSL_ERROR_SYSCALL });
  }
}

export interface CertVerificationOptions extends SSLErrorOptions {
  verifyCode: number;
  verifyMessage: string;
  /** Node's name for the X509 code, e.g. `CERT_HAS_EXPIRED`. */
  verifyCodeName?: string;
}

/** The peer's certificate chain or identity did not verify. */
export class SSLCertVerificationError extends SSLError {
  /** X509_V_ERR_* number, e.g. 18 for a self-signed certificate. */
  readonly verifyCode: number;
  readonly verifyMessage: string;
  /** Node's symbolic name for verifyCode (`DEPTH_ZERO_SELF_SIGNED_CERT`). */
  readonly verifyCodeName: string;

  constructor(message: string, options: CertVerificationOptions) {
    super(message, { reason: 'CERTIFICATE_VERIFY_FAILED', library: 'SSL', ...options });
    this.verifyCode = options.verifyCode;
    this.verifyMessage = options.verifyMessage;
    this.verifyCodeName = options.verifyCodeName ?? 'UNSPECIFIED';
  }
}

/** Builds the error class for a native failure; registered with the addon. */
export function errorFromNative(kind: ErrorKind, details: NativeErrorDetails): SSLError {
  const options = { library: details.library, reason: details.reason };
  switch (kind) {
    case ErrorKind.WantRead:
      return new SSLWantReadError(details.message, options);
    case ErrorKind.WantWrite:
      return new SSLWantWriteError(details.message, options);
    case ErrorKind.ZeroReturn:
      return new SSLZeroReturnError(details.message, options);
    case ErrorKind.EOF:
      return new SSLEOFError(details.message, options);
    case ErrorKind.Syscall:
      return new SSLSyscallError(details.message, options);
    case ErrorKind.CertVerification:
      return new SSLCertVerificationError(details.message, {
        ...options,
        verifyCode: details.verifyCode ?? 0,
        verifyMessage: details.verifyMessage ?? '',
        verifyCodeName: details.verifyCodeName,
      });
    default:
      return new SSLError(details.message, options);
  }
}

native.setErrorFactory(errorFromNative);

// Error capture for the native engine.
//
// OpenSSL reports failures through a thread-local queue. Every entry point that
// can fail captures what it needs from that queue into an ErrorInfo and clears
// the queue before returning to JS, so a stale entry can never be attached to an
// unrelated later error (sslproto-spec ERR-1).
//
// The JS error classes live in TypeScript (lib/ssl/errors.ts). The addon builds
// them through a factory the TS side registers once per environment, so a
// failure surfaces as an `SSLError` subclass with library/reason/code whether
// it was thrown by native code or returned as a status and turned into an error
// by the TS wrapper.
#ifndef MEMTLS_ERRORS_H_
#define MEMTLS_ERRORS_H_

#include <napi.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

namespace memtls {

// The kind selects the TS error class; values are mirrored in lib/native.ts.
enum class ErrorKind : int {
  kSSLError = 0,
  kWantRead = 1,
  kWantWrite = 2,
  kZeroReturn = 3,
  kEOF = 4,
  kSyscall = 5,
  kCertVerification = 6,
};

struct ErrorInfo {
  ErrorKind kind = ErrorKind::kSSLError;
  std::string library;  // OpenSSL library mnemonic ("SSL", "X509", ...), may be empty
  std::string reason;   // reason mnemonic ("WRONG_VERSION_NUMBER"), may be empty
  std::string message;  // "[SSL: WRONG_VERSION_NUMBER] wrong version number"
  long verify_code = 0;
  std::string verify_message;
  std::string verify_code_name;  // Node's name for the X509 code, e.g. CERT_HAS_EXPIRED
};

// Empties the OpenSSL error queue. Peeking first is much cheaper than
// ERR_clear_error on the common, already-empty queue (the hot path calls this
// twice per native call).
inline void ClearErrorQueue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// Clears the OpenSSL error queue when the scope ends, whatever the exit path.
class ClearErrorOnReturn {
 public:
  ClearErrorOnReturn() = default;
  ~ClearErrorOnReturn() { ClearErrorQueue(); }
  ClearErrorOnReturn(const ClearErrorOnReturn&) = delete;
  ClearErrorOnReturn& operator=(const ClearErrorOnReturn&) = delete;
};

// Fills `info` from the last entry of the error queue. `fallback` is the message
// used when the queue is empty. Does not clear the queue.
void CaptureQueueError(ErrorInfo* info, const char* fallback);

// Classifies the result of an SSL_* I/O call the way CPython's PySSL_SetError
// does, filling `info`. `ssl_error` is SSL_get_error(ssl, ret).
void CaptureSslError(ErrorInfo* info, SSL* ssl, int ssl_error,
                     const std::string& server_hostname);

// Node's symbolic name for an X509_V_ERR_* code ("DEPTH_ZERO_SELF_SIGNED_CERT").
const char* X509ErrorCodeName(long code);

// Builds the JS error through the registered factory. Falls back to a plain
// Error when no factory is registered (only possible before lib/native.ts ran).
Napi::Value MakeError(Napi::Env env, const ErrorInfo& info);

// Throws the last queued OpenSSL error (or `fallback`) as an SSLError.
void ThrowQueueError(Napi::Env env, const char* fallback);

// Throws an SSLError with a fixed reason, for failures OpenSSL does not queue.
void ThrowPlainError(Napi::Env env, const std::string& message);

}  // namespace memtls

#endif  // MEMTLS_ERRORS_H_

#include "errors.h"

#include <openssl/x509.h>

#include <cctype>

#include "addon.h"

namespace memtls {

namespace {

// Short library names as CPython prints them ("[SSL: ...]"), keyed by ERR_LIB_*.
const char* LibraryMnemonic(int lib) {
  switch (lib) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_SYS: return "SYS";
    case ERR_LIB_BIO: return "BIO";
    case ERR_LIB_CRYPTO: return "CRYPTO";
    case ERR_LIB_RSA: return "RSA";
    case ERR_LIB_EC: return "EC";
    case ERR_LIB_PROV: return "PROV";
    case ERR_LIB_OSSL_DECODER: return "DECODER";
    case ERR_LIB_OSSL_STORE: return "OSSL_STORE";
    case ERR_LIB_PKCS12: return "PKCS12";
    default: return nullptr;
  }
}

// "wrong version number" -> "WRONG_VERSION_NUMBER", the mnemonic CPython and
// Node both derive their reason and code from.
std::string ToMnemonic(const char* text) {
  std::string out;
  for (const char* p = text; *p != '\0'; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    out.push_back(std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_');
  }
  return out;
}

void FillFromPacked(ErrorInfo* info, unsigned long packed) {
  const int lib = ERR_GET_LIB(packed);
  const char* lib_name = LibraryMnemonic(lib);
  if (lib_name != nullptr) {
    info->library = lib_name;
  } else if (const char* s = ERR_lib_error_string(packed)) {
    info->library = ToMnemonic(s);
  }
  const char* reason_text = ERR_reason_error_string(packed);
  if (reason_text != nullptr) {
    info->reason = ToMnemonic(reason_text);
    info->message = "[" + info->library + ": " + info->reason + "] " + reason_text;
  } else {
    info->reason = "UNKNOWN_" + std::to_string(ERR_GET_REASON(packed));
    info->message = "[" + info->library + ": " + info->reason + "] unknown error";
  }
}

}  // namespace

void CaptureQueueError(ErrorInfo* info, const char* fallback) {
  const unsigned long packed = ERR_peek_last_error();
  if (packed == 0) {
    info->message = fallback;
    return;
  }
  FillFromPacked(info, packed);
}

void CaptureSslError(ErrorInfo* info, SSL* ssl, int ssl_error,
                     const std::string& server_hostname) {
  *info = ErrorInfo();
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
      info->kind = ErrorKind::kWantRead;
      info->reason = "WANT_READ";
      info->message = "The operation did not complete (read)";
      return;
    case SSL_ERROR_WANT_WRITE:
      info->kind = ErrorKind::kWantWrite;
      info->reason = "WANT_WRITE";
      info->message = "The operation did not complete (write)";
      return;
    case SSL_ERROR_ZERO_RETURN:
      info->kind = ErrorKind::kZeroReturn;
      info->reason = "ZERO_RETURN";
      info->message = "TLS/SSL connection has been closed (EOF)";
      return;
    case SSL_ERROR_SYSCALL: {
      const unsigned long packed = ERR_peek_last_error();
      if (packed == 0) {
        // A memory BIO has no errno: an empty queue means the transport ended.
        info->kind = ErrorKind::kEOF;
        info->reason = "EOF";
        info->message = "EOF occurred in violation of protocol";
      } else {
        info->kind = ErrorKind::kSyscall;
        FillFromPacked(info, packed);
      }
      return;
    }
    case SSL_ERROR_SSL: {
      const unsigned long packed = ERR_peek_last_error();
      if (packed == 0) {
        // What OpenSSL reports for any call after a fatal error: CPython maps
        // it to SSLEOFError, and so do we.
        info->kind = ErrorKind::kEOF;
        info->reason = "EOF";
        info->message = "EOF occurred in violation of protocol";
        return;
      }
      FillFromPacked(info, packed);
      const int lib = ERR_GET_LIB(packed);
      const int reason = ERR_GET_REASON(packed);
      if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        info->kind = ErrorKind::kCertVerification;
        info->verify_code = SSL_get_verify_result(ssl);
        if (info->verify_code == X509_V_ERR_HOSTNAME_MISMATCH) {
          info->verify_message =
              "Hostname mismatch, certificate is not valid for '" + server_hostname + "'.";
        } else if (info->verify_code == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          info->verify_message =
              "IP address mismatch, certificate is not valid for '" + server_hostname + "'.";
        } else {
          info->verify_message = X509_verify_cert_error_string(info->verify_code);
        }
        info->verify_code_name = X509ErrorCodeName(info->verify_code);
        info->message += ": " + info->verify_message;
      } else if (lib == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        info->kind = ErrorKind::kEOF;
        info->message = "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol";
      }
      return;
    }
    case SSL_ERROR_WANT_X509_LOOKUP:
      info->reason = "WANT_X509_LOOKUP";
      info->message = "The operation did not complete (X509 lookup)";
      return;
    default:
      info->reason = "UNKNOWN";
      info->message = "A failure in the SSL library occurred";
      return;
  }
}

const char* X509ErrorCodeName(long code) {
  switch (code) {
#define MEMTLS_X509_CODE(name) \
  case X509_V_ERR_##name:      \
    return #name;
    MEMTLS_X509_CODE(UNABLE_TO_GET_ISSUER_CERT)
    MEMTLS_X509_CODE(UNABLE_TO_GET_CRL)
    MEMTLS_X509_CODE(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    MEMTLS_X509_CODE(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    MEMTLS_X509_CODE(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    MEMTLS_X509_CODE(CERT_SIGNATURE_FAILURE)
    MEMTLS_X509_CODE(CRL_SIGNATURE_FAILURE)
    MEMTLS_X509_CODE(CERT_NOT_YET_VALID)
    MEMTLS_X509_CODE(CERT_HAS_EXPIRED)
    MEMTLS_X509_CODE(CRL_NOT_YET_VALID)
    MEMTLS_X509_CODE(CRL_HAS_EXPIRED)
    MEMTLS_X509_CODE(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    MEMTLS_X509_CODE(ERROR_IN_CERT_NOT_AFTER_FIELD)
    MEMTLS_X509_CODE(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    MEMTLS_X509_CODE(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    MEMTLS_X509_CODE(OUT_OF_MEM)
    MEMTLS_X509_CODE(DEPTH_ZERO_SELF_SIGNED_CERT)
    MEMTLS_X509_CODE(SELF_SIGNED_CERT_IN_CHAIN)
    MEMTLS_X509_CODE(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    MEMTLS_X509_CODE(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    MEMTLS_X509_CODE(CERT_CHAIN_TOO_LONG)
    MEMTLS_X509_CODE(CERT_REVOKED)
    MEMTLS_X509_CODE(INVALID_CA)
    MEMTLS_X509_CODE(PATH_LENGTH_EXCEEDED)
    MEMTLS_X509_CODE(INVALID_PURPOSE)
    MEMTLS_X509_CODE(CERT_UNTRUSTED)
    MEMTLS_X509_CODE(CERT_REJECTED)
    MEMTLS_X509_CODE(HOSTNAME_MISMATCH)
    MEMTLS_X509_CODE(IP_ADDRESS_MISMATCH)
    MEMTLS_X509_CODE(EMAIL_MISMATCH)
#undef MEMTLS_X509_CODE
    default:
      return "UNSPECIFIED";
  }
}

Napi::Value MakeError(Napi::Env env, const ErrorInfo& info) {
  Addon* addon = env.GetInstanceData<Addon>();
  if (addon == nullptr || addon->error_factory.IsEmpty()) {
    return Napi::Error::New(env, info.message).Value();
  }
  Napi::Object details = Napi::Object::New(env);
  details.Set("message", info.message);
  if (!info.library.empty()) details.Set("library", info.library);
  if (!info.reason.empty()) details.Set("reason", info.reason);
  if (info.kind == ErrorKind::kCertVerification) {
    details.Set("verifyCode", Napi::Number::New(env, static_cast<double>(info.verify_code)));
    details.Set("verifyMessage", info.verify_message);
    details.Set("verifyCodeName", info.verify_code_name);
  }
  return addon->error_factory.Call(
      {Napi::Number::New(env, static_cast<int>(info.kind)), details});
}

void ThrowQueueError(Napi::Env env, const char* fallback) {
  ErrorInfo info;
  CaptureQueueError(&info, fallback);
  ERR_clear_error();
  Napi::Value error = MakeError(env, info);
  if (!env.IsExceptionPending()) Napi::Error(env, error).ThrowAsJavaScriptException();
}

void ThrowPlainError(Napi::Env env, const std::string& message) {
  ErrorInfo info;
  info.message = message;
  Napi::Value error = MakeError(env, info);
  if (!env.IsExceptionPending()) Napi::Error(env, error).ThrowAsJavaScriptException();
}

}  // namespace memtls

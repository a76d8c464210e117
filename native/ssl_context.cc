#include "ssl_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>

#include "der.h"
#include "errors.h"
#include "ssl_object.h"

namespace memtls {

namespace {

const napi_type_tag kSslContextTag = {0x6d656d74'6c73'0002ULL, 0x53534c43'74780000ULL};

// The TLS 1.2 cipher list CPython uses by default (its _DEFAULT_CIPHERS):
// forward secrecy and AEAD first, nothing anonymous, NULL, SHA1 or CCM.
constexpr const char* kDefaultCipherList =
    "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM";
constexpr const unsigned char kSessionIdContext[] = "memtls";

// Protocol constants as Python numbers them (ssl.PROTOCOL_TLS_CLIENT/SERVER).
constexpr int kProtocolTlsClient = 16;
constexpr int kProtocolTlsServer = 17;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using BioPointer = std::unique_ptr<BIO, BioDeleter>;
using X509Pointer = std::unique_ptr<X509, X509Deleter>;

bool BufferArg(const Napi::Value& value, const uint8_t** data, size_t* length) {
  if (!value.IsTypedArray()) return false;
  Napi::TypedArray ta = value.As<Napi::TypedArray>();
  *data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  *length = ta.ByteLength();
  return true;
}

BioPointer BioFromBuffer(const Napi::Value& value) {
  const uint8_t* data;
  size_t length;
  if (!BufferArg(value, &data, &length)) return BioPointer();
  return BioPointer(BIO_new_mem_buf(data, static_cast<int>(length)));
}

// Passphrase for an encrypted key; OpenSSL asks through this callback.
struct Passphrase {
  const uint8_t* data = nullptr;
  size_t length = 0;
};

int PassphraseCallback(char* buf, int size, int rwflag, void* userdata) {
  const Passphrase* pass = static_cast<const Passphrase*>(userdata);
  if (pass == nullptr || pass->data == nullptr) return -1;
  if (pass->length > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, pass->data, pass->length);
  return static_cast<int>(pass->length);
}

int VersionFromNumber(double value) { return static_cast<int>(value); }

// A new session is noted on the SSLObject, which reports kFlagSession. On a
// client (a TLS 1.3 ticket arriving after the handshake, or the TLS 1.2
// session at its end) JS reads the session when it wants; on a server the
// SSLObject keeps its id and DER for an external cache. Returns 0: we keep no
// reference.
int NewSessionCallback(SSL* ssl, SSL_SESSION* session) {
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  if (object != nullptr) object->NoteNewSession(session);
  return 0;
}

// Server with an external cache: OpenSSL asks for the session the client
// offered. The answer is whatever JS loaded at the ClientHello pause (OpenSSL
// checks it: version, session id context, expiry). *copy = 0: the reference
// we held moves to OpenSSL.
SSL_SESSION* GetSessionCallback(SSL* ssl, const unsigned char* id, int id_length, int* copy) {
  *copy = 0;
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  return object == nullptr ? nullptr : object->TakeLoadedSession();
}

// Server: installed on every server context (OpenSSL asks the context in use,
// which an SNI switch may have changed). Staples the response JS gave, if any.
int OcspStatusCallback(SSL* ssl, void* arg) {
  if (!SSL_is_server(ssl)) return 1;
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  return object == nullptr ? SSL_TLSEXT_ERR_NOACK : object->StapleOcspResponse();
}

// Server, when the context has an ALPN callback or an external session cache:
// pauses the handshake once the ClientHello is parsed, so JS can choose.
int ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  if (object == nullptr) return SSL_CLIENT_HELLO_SUCCESS;
  return object->ClientHelloHook(alert);
}

void KeylogCallback(const SSL* ssl, const char* line) {
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  if (object != nullptr) object->QueueKeylog(line);
}

// With deferred verification the chain is still verified (the result is kept
// for SSL_get_verify_result) but the handshake goes on; the caller decides.
int AcceptAndRecordVerify(int preverify_ok, X509_STORE_CTX* store) { return 1; }

// Server side, installed when an SNI callback or an OCSP callback is set:
// pauses the handshake once the ClientHello (and so the server name and the
// status request) is known, so JS can choose the context and the OCSP response
// outside of any OpenSSL callback.
int CertCallback(SSL* ssl, void* arg) {
  if (!SSL_is_server(ssl)) return 1;
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  if (object == nullptr) return 1;
  return object->CertHook();
}

}  // namespace

Napi::Function SSLContext::Init(Napi::Env env) {
  return DefineClass(
      env, "SSLContext",
      {
          InstanceMethod<&SSLContext::JS_loadCertChain>("loadCertChain"),
          InstanceMethod<&SSLContext::JS_loadVerifyLocations>("loadVerifyLocations"),
          InstanceMethod<&SSLContext::JS_loadCaData>("loadCaData"),
          InstanceMethod<&SSLContext::JS_loadDefaultPaths>("loadDefaultPaths"),
          InstanceMethod<&SSLContext::JS_setVerifyMode>("setVerifyMode"),
          InstanceMethod<&SSLContext::JS_getVerifyMode>("getVerifyMode"),
          InstanceMethod<&SSLContext::JS_setCheckHostname>("setCheckHostname"),
          InstanceMethod<&SSLContext::JS_setProtocolVersions>("setProtocolVersions"),
          InstanceMethod<&SSLContext::JS_getProtocolVersions>("getProtocolVersions"),
          InstanceMethod<&SSLContext::JS_setCiphers>("setCiphers"),
          InstanceMethod<&SSLContext::JS_setCiphersuites>("setCiphersuites"),
          InstanceMethod<&SSLContext::JS_getCiphers>("getCiphers"),
          InstanceMethod<&SSLContext::JS_setAlpnProtocols>("setAlpnProtocols"),
          InstanceMethod<&SSLContext::JS_setSniHook>("setSniHook"),
          InstanceMethod<&SSLContext::JS_setKeylog>("setKeylog"),
          InstanceMethod<&SSLContext::JS_setOcspHook>("setOcspHook"),
          InstanceMethod<&SSLContext::JS_setClientHelloHook>("setClientHelloHook"),
          InstanceMethod<&SSLContext::JS_setExternalSessionCache>("setExternalSessionCache"),
          InstanceMethod<&SSLContext::JS_setOptions>("setOptions"),
          InstanceMethod<&SSLContext::JS_getIssuer>("getIssuer"),
          InstanceMethod<&SSLContext::JS_setNumTickets>("setNumTickets"),
          InstanceMethod<&SSLContext::JS_getNumTickets>("getNumTickets"),
          InstanceMethod<&SSLContext::JS_setSessionCallback>("setSessionCallback"),
          InstanceMethod<&SSLContext::JS_setEcdhCurves>("setEcdhCurves"),
          InstanceMethod<&SSLContext::JS_setTicketKeys>("setTicketKeys"),
          InstanceMethod<&SSLContext::JS_getTicketKeys>("getTicketKeys"),
          InstanceMethod<&SSLContext::JS_setSessionIdContext>("setSessionIdContext"),
          InstanceMethod<&SSLContext::JS_setSessionTimeout>("setSessionTimeout"),
          InstanceMethod<&SSLContext::JS_getCertificate>("getCertificate"),
      });
}

SSLContext* SSLContext::Unwrap(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kSslContextTag)) return nullptr;
  return Napi::ObjectWrap<SSLContext>::Unwrap(object);
}

SSLContext::SSLContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SSLContext>(info) {
  Napi::Env env = info.Env();
  info.This().As<Napi::Object>().TypeTag(&kSslContextTag);
  const int protocol = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  if (protocol != kProtocolTlsClient && protocol != kProtocolTlsServer) {
    Napi::TypeError::New(env, "protocol must be PROTOCOL_TLS_CLIENT or PROTOCOL_TLS_SERVER")
        .ThrowAsJavaScriptException();
    return;
  }
  server_ = protocol == kProtocolTlsServer;
  ClearErrorOnReturn clear;
  ctx_ = SSL_CTX_new(server_ ? TLS_server_method() : TLS_client_method());
  if (ctx_ == nullptr) {
    ThrowQueueError(env, "SSL_CTX_new failed");
    return;
  }
  SSL_CTX_set_app_data(ctx_, this);
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_ALL | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
  // Idle connections give their 17 KiB read and write buffers back.
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_cipher_list(ctx_, kDefaultCipherList);
  SSL_CTX_set_session_id_context(ctx_, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx_);
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_TRUSTED_FIRST);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (server_) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_tlsext_status_cb(ctx_, OcspStatusCallback);
    if (RAND_bytes(ticket_keys_, sizeof(ticket_keys_)) == 1) {
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_, TicketKeyCallback);
      own_ticket_keys_ = true;
    }
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    check_hostname_ = true;
  }
}

SSLContext::~SSLContext() {
  if (ctx_ != nullptr) {
    SSL_CTX_set_app_data(ctx_, nullptr);
    SSL_CTX_free(ctx_);
  }
  OPENSSL_cleanse(ticket_keys_, sizeof(ticket_keys_));
}

// loadCertChain(certPem, keyPem?, password?): the first certificate is the leaf,
// the rest its chain. Without keyPem the key is read from certPem.
Napi::Value SSLContext::JS_loadCertChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  BioPointer cert_bio = BioFromBuffer(info[0]);
  if (!cert_bio) {
    Napi::TypeError::New(env, "certificate must be PEM bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Passphrase pass;
  size_t pass_length = 0;
  if (info.Length() > 2 && BufferArg(info[2], &pass.data, &pass_length)) pass.length = pass_length;

  X509Pointer leaf(PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, PassphraseCallback, &pass));
  if (!leaf) {
    ThrowQueueError(env, "no certificate found in the PEM data");
    return env.Undefined();
  }
  if (SSL_CTX_use_certificate(ctx_, leaf.get()) != 1) {
    ThrowQueueError(env, "the certificate was refused");
    return env.Undefined();
  }
  SSL_CTX_clear_chain_certs(ctx_);
  while (true) {
    X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, PassphraseCallback, &pass);
    if (extra == nullptr) break;
    if (SSL_CTX_add0_chain_cert(ctx_, extra) != 1) {
      X509_free(extra);
      ThrowQueueError(env, "a chain certificate was refused");
      return env.Undefined();
    }
  }
  ERR_clear_error();  // the loop ends on a "no start line" entry

  BioPointer key_bio = info.Length() > 1 && info[1].IsTypedArray() ? BioFromBuffer(info[1])
                                                                   : BioFromBuffer(info[0]);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, PassphraseCallback, &pass);
  if (key == nullptr) {
    ThrowQueueError(env, "no usable private key found (wrong passphrase?)");
    return env.Undefined();
  }
  const int used = SSL_CTX_use_PrivateKey(ctx_, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx_) != 1) {
    ThrowQueueError(env, "the private key does not match the certificate");
    return env.Undefined();
  }
  return env.Undefined();
}

// loadVerifyLocations(cafile?, capath?): paths read by OpenSSL itself.
Napi::Value SSLContext::JS_loadVerifyLocations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  std::string cafile = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  std::string capath = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  if (SSL_CTX_load_verify_locations(ctx_, cafile.empty() ? nullptr : cafile.c_str(),
                                    capath.empty() ? nullptr : capath.c_str()) != 1) {
    ThrowQueueError(env, "could not load the verify locations");
  }
  return env.Undefined();
}

// loadCaData(bytes, isPem): adds every certificate in the data to the store.
// Returns how many were added.
Napi::Value SSLContext::JS_loadCaData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  const uint8_t* data;
  size_t length;
  if (!BufferArg(info[0], &data, &length)) {
    Napi::TypeError::New(env, "cadata must be bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool pem = info[1].ToBoolean().Value();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
  int added = 0;
  if (pem) {
    BioPointer bio(BIO_new_mem_buf(data, static_cast<int>(length)));
    // _AUX also reads "BEGIN TRUSTED CERTIFICATE" blocks.
    while (X509* cert = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);  // a duplicate is not an error
      X509_free(cert);
      ++added;
    }
  } else {
    const unsigned char* p = data;
    const unsigned char* end = data + length;
    while (p < end) {
      X509* cert = d2i_X509(nullptr, &p, static_cast<long>(end - p));
      if (cert == nullptr) break;
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++added;
    }
  }
  if (added == 0) {
    ThrowQueueError(env, "no certificate found in cadata");
    return env.Undefined();
  }
  return Napi::Number::New(env, added);
}

Napi::Value SSLContext::JS_loadDefaultPaths(const Napi::CallbackInfo& info) {
  ClearErrorOnReturn clear;
  SSL_CTX_set_default_verify_paths(ctx_);  // a missing system store is not an error
  return info.Env().Undefined();
}

// Verify modes as Python numbers them: CERT_NONE 0, CERT_OPTIONAL 1, CERT_REQUIRED 2.
// setVerifyMode(mode, deferred): verify modes as Python numbers them
// (CERT_NONE 0, CERT_OPTIONAL 1, CERT_REQUIRED 2). With `deferred`, the peer's
// certificate is requested and verified but a failure does not stop the
// handshake (node:tls's model: `authorized` and rejectUnauthorized decide).
Napi::Value SSLContext::JS_setVerifyMode(const Napi::CallbackInfo& info) {
  const int mode = info[0].As<Napi::Number>().Int32Value();
  const bool deferred = info[1].ToBoolean().Value();
  int flags = SSL_VERIFY_NONE;
  if (mode == 1) flags = SSL_VERIFY_PEER;
  if (mode == 2) flags = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (deferred && !server_) flags = SSL_VERIFY_PEER;
  SSL_CTX_set_verify(ctx_, flags, deferred ? AcceptAndRecordVerify : nullptr);
  return info.Env().Undefined();
}

Napi::Value SSLContext::JS_getVerifyMode(const Napi::CallbackInfo& info) {
  const int flags = SSL_CTX_get_verify_mode(ctx_);
  int mode = 0;
  if (flags & SSL_VERIFY_PEER) mode = (flags & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) ? 2 : 1;
  // A client with SSL_VERIFY_PEER always requires the server's certificate.
  if (!server_ && (flags & SSL_VERIFY_PEER)) mode = mode == 1 ? 2 : mode;
  return Napi::Number::New(info.Env(), mode);
}

Napi::Value SSLContext::JS_setCheckHostname(const Napi::CallbackInfo& info) {
  check_hostname_ = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

// setProtocolVersions(min, max): TLS1_2_VERSION-style numbers; 0 means "no limit".
Napi::Value SSLContext::JS_setProtocolVersions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  const int min = VersionFromNumber(info[0].As<Napi::Number>().DoubleValue());
  const int max = VersionFromNumber(info[1].As<Napi::Number>().DoubleValue());
  if (SSL_CTX_set_min_proto_version(ctx_, min) != 1 ||
      SSL_CTX_set_max_proto_version(ctx_, max) != 1) {
    ThrowQueueError(env, "unsupported protocol version");
  }
  return env.Undefined();
}

Napi::Value SSLContext::JS_getProtocolVersions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, SSL_CTX_get_min_proto_version(ctx_)));
  out.Set(1u, Napi::Number::New(env, SSL_CTX_get_max_proto_version(ctx_)));
  return out;
}

Napi::Value SSLContext::JS_setCiphers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  std::string list = info[0].ToString().Utf8Value();
  if (SSL_CTX_set_cipher_list(ctx_, list.c_str()) != 1) {
    ThrowQueueError(env, "No cipher can be selected.");
  }
  return env.Undefined();
}

Napi::Value SSLContext::JS_setCiphersuites(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  std::string list = info[0].ToString().Utf8Value();
  if (SSL_CTX_set_ciphersuites(ctx_, list.c_str()) != 1) {
    ThrowQueueError(env, "No TLS 1.3 ciphersuite can be selected.");
  }
  return env.Undefined();
}

// getCiphers() -> [[name, protocol, bits], ...] enabled on this context.
Napi::Value SSLContext::JS_getCiphers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx_);
  const int count = ciphers == nullptr ? 0 : sk_SSL_CIPHER_num(ciphers);
  Napi::Array out = Napi::Array::New(env, count);
  for (int i = 0; i < count; ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    Napi::Array entry = Napi::Array::New(env, 3);
    entry.Set(0u, SSL_CIPHER_get_name(cipher));
    entry.Set(1u, SSL_CIPHER_get_version(cipher));
    entry.Set(2u, Napi::Number::New(env, SSL_CIPHER_get_bits(cipher, nullptr)));
    out.Set(static_cast<uint32_t>(i), entry);
  }
  return out;
}

int SSLContext::AlpnSelect(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                           const unsigned char* in, unsigned int inlen, void* arg) {
  // A choice made by JS for this connection (ALPN callback) comes first.
  SSLObject* object = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  if (object != nullptr) {
    const int chosen = object->SelectAlpn(out, outlen, in, inlen);
    if (chosen >= 0) return chosen;
  }
  SSLContext* self = static_cast<SSLContext*>(arg);
  if (self == nullptr || self->alpn_wire_.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* selected = nullptr;
  const int result = SSL_select_next_proto(
      &selected, outlen, reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
      static_cast<unsigned int>(self->alpn_wire_.size()), in, inlen);
  if (result != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// setAlpnProtocols(wire): the protocols in ALPN wire format (length-prefixed).
Napi::Value SSLContext::JS_setAlpnProtocols(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t length;
  if (!BufferArg(info[0], &data, &length)) {
    Napi::TypeError::New(env, "ALPN protocols must be wire-format bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  alpn_wire_.assign(reinterpret_cast<const char*>(data), length);
  if (server_) {
    SSL_CTX_set_alpn_select_cb(ctx_, AlpnSelect, this);
  } else if (SSL_CTX_set_alpn_protos(ctx_, data, static_cast<unsigned int>(length)) != 0) {
    ERR_clear_error();
    ThrowPlainError(env, "invalid ALPN protocol list");
  }
  return env.Undefined();
}

void SSLContext::UpdateCertCallback() {
  SSL_CTX_set_cert_cb(ctx_, sni_hook_ || ocsp_hook_ ? CertCallback : nullptr, nullptr);
}

void SSLContext::UpdateSessionCacheMode() {
  long mode = SSL_SESS_CACHE_SERVER;
  if (!server_) mode = session_callback_ ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL
                                         : SSL_SESS_CACHE_CLIENT;
  // node:tls has no internal server cache: with an external one, only it counts.
  if (server_ && external_cache_) mode |= SSL_SESS_CACHE_NO_INTERNAL;
  SSL_CTX_set_session_cache_mode(ctx_, mode);
}

Napi::Value SSLContext::JS_setSniHook(const Napi::CallbackInfo& info) {
  sni_hook_ = info[0].ToBoolean().Value();
  UpdateCertCallback();
  return info.Env().Undefined();
}

// setOcspHook(on): server: pause in the certificate callback when the client
// asks for OCSP stapling, so JS can give the response.
Napi::Value SSLContext::JS_setOcspHook(const Napi::CallbackInfo& info) {
  ocsp_hook_ = server_ && info[0].ToBoolean().Value();
  UpdateCertCallback();
  return info.Env().Undefined();
}

// setClientHelloHook(on): server: pause once the ClientHello is parsed (ALPN
// callback, external session cache). The ALPN select callback is installed
// too, so a choice made by JS is applied even without a protocol list.
Napi::Value SSLContext::JS_setClientHelloHook(const Napi::CallbackInfo& info) {
  const bool on = server_ && info[0].ToBoolean().Value();
  SSL_CTX_set_client_hello_cb(ctx_, on ? ClientHelloCallback : nullptr, nullptr);
  if (on) SSL_CTX_set_alpn_select_cb(ctx_, AlpnSelect, this);
  return info.Env().Undefined();
}

// setExternalSessionCache(on): server: sessions are stored by the application
// (reported through the new-session callback) and looked up through what JS
// loads at the ClientHello pause; OpenSSL's own cache is off.
Napi::Value SSLContext::JS_setExternalSessionCache(const Napi::CallbackInfo& info) {
  if (!server_) return info.Env().Undefined();
  external_cache_ = info[0].ToBoolean().Value();
  SSL_CTX_sess_set_get_cb(ctx_, external_cache_ ? GetSessionCallback : nullptr);
  UpdateSessionCacheMode();
  return info.Env().Undefined();
}

// setOptions(bits): adds SSL_OP_* bits (node:tls's secureOptions).
Napi::Value SSLContext::JS_setOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double value = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(value >= 0) || value > 9007199254740991.0) {
    Napi::TypeError::New(env, "options must be a non-negative integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SSL_CTX_set_options(ctx_, static_cast<uint64_t>(value));
  return env.Undefined();
}

// getIssuer() -> DER of the issuer of this context's certificate: from the
// chain loaded with it, else from the trust store; undefined if not found.
Napi::Value SSLContext::JS_getIssuer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  X509* leaf = SSL_CTX_get0_certificate(ctx_);
  if (leaf == nullptr) return env.Undefined();
  ClearErrorOnReturn clear;
  X509* issuer = nullptr;
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx_, &chain) == 1 && chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* candidate = sk_X509_value(chain, i);
      if (X509_check_issued(candidate, leaf) == X509_V_OK) {
        X509_up_ref(candidate);
        issuer = candidate;
        break;
      }
    }
  }
  if (issuer == nullptr) {
    X509_STORE_CTX* store_ctx = X509_STORE_CTX_new();
    if (store_ctx != nullptr &&
        X509_STORE_CTX_init(store_ctx, SSL_CTX_get_cert_store(ctx_), leaf, nullptr) == 1) {
      if (X509_STORE_CTX_get1_issuer(&issuer, store_ctx, leaf) != 1) issuer = nullptr;
    }
    X509_STORE_CTX_free(store_ctx);
  }
  if (issuer == nullptr) return env.Undefined();
  Napi::Value der = DerOf(env, issuer);
  X509_free(issuer);
  return der;
}

Napi::Value SSLContext::JS_setKeylog(const Napi::CallbackInfo& info) {
  SSL_CTX_set_keylog_callback(ctx_, info[0].ToBoolean().Value() ? KeylogCallback : nullptr);
  return info.Env().Undefined();
}

Napi::Value SSLContext::JS_setNumTickets(const Napi::CallbackInfo& info) {
  SSL_CTX_set_num_tickets(ctx_, info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

Napi::Value SSLContext::JS_getNumTickets(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(SSL_CTX_get_num_tickets(ctx_)));
}

Napi::Value SSLContext::JS_setSessionCallback(const Napi::CallbackInfo& info) {
  session_callback_ = info[0].ToBoolean().Value();
  if (session_callback_) UpdateSessionCacheMode();
  SSL_CTX_sess_set_new_cb(ctx_, session_callback_ ? NewSessionCallback : nullptr);
  return info.Env().Undefined();
}

Napi::Value SSLContext::JS_setEcdhCurves(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ClearErrorOnReturn clear;
  std::string curves = info[0].ToString().Utf8Value();
  if (curves != "auto" && SSL_CTX_set1_groups_list(ctx_, curves.c_str()) != 1) {
    ThrowQueueError(env, "Failed to set ECDH curve");
  }
  return env.Undefined();
}

int SSLContext::TicketKeyCallback(SSL* ssl, unsigned char* name, unsigned char* iv,
                                  EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  SSLContext* self = static_cast<SSLContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self == nullptr || !self->own_ticket_keys_) return -1;
  const unsigned char* key_name = self->ticket_keys_;
  unsigned char* hmac_key = self->ticket_keys_ + 16;
  const unsigned char* aes_key = self->ticket_keys_ + 32;
  if (enc) {
    std::memcpy(name, key_name, 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
  } else if (std::memcmp(name, key_name, 16) != 0) {
    return 0;  // a ticket from other keys: fall back to a full handshake
  }
  const int ok = enc ? EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, aes_key, iv)
                     : EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, aes_key, iv);
  if (ok != 1) return -1;
  char digest[] = "sha256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac_key, 16),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return 1;
}

// setTicketKeys(keys48): name(16) | HMAC secret(16) | AES key(16), as node:tls.
Napi::Value SSLContext::JS_setTicketKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t length;
  if (!BufferArg(info[0], &data, &length) || length != sizeof(ticket_keys_)) {
    Napi::TypeError::New(env, "Session ticket keys must be a 48-byte buffer")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::memcpy(ticket_keys_, data, sizeof(ticket_keys_));
  if (!own_ticket_keys_) {
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_, TicketKeyCallback);
    own_ticket_keys_ = true;
  }
  return env.Undefined();
}

Napi::Value SSLContext::JS_getTicketKeys(const Napi::CallbackInfo& info) {
  if (!own_ticket_keys_) return info.Env().Undefined();
  return Napi::Buffer<uint8_t>::Copy(info.Env(), ticket_keys_, sizeof(ticket_keys_));
}

Napi::Value SSLContext::JS_setSessionIdContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t length;
  if (!BufferArg(info[0], &data, &length) || length > SSL_MAX_SID_CTX_LENGTH) {
    Napi::TypeError::New(env, "session id context must be at most 32 bytes")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SSL_CTX_set_session_id_context(ctx_, data, static_cast<unsigned int>(length));
  return env.Undefined();
}

Napi::Value SSLContext::JS_setSessionTimeout(const Napi::CallbackInfo& info) {
  SSL_CTX_set_timeout(ctx_, static_cast<long>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

// getCertificate() -> DER of this context's own certificate, or undefined.
Napi::Value SSLContext::JS_getCertificate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  X509* cert = SSL_CTX_get0_certificate(ctx_);
  if (cert == nullptr) return env.Undefined();
  return DerOf(env, cert);
}

}  // namespace memtls

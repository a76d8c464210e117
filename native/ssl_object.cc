#include "ssl_object.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "addon.h"
#include "bytes.h"
#include "der.h"
#include "memory_bio.h"
#include "ssl_context.h"

namespace memtls {

namespace {

// Largest plaintext of one TLS record, and a bound on what a record adds to it
// (header, tag, padding, and TLS 1.2's explicit nonce) for sizing output.
constexpr size_t kMaxRecordPlaintext = 16384;
constexpr size_t kRecordOverhead = 256;
// A BIO that grew past this during a burst is swapped for a fresh one once
// empty, so an idle connection does not keep its peak buffer forever.
constexpr size_t kDefaultShrinkThreshold = 32 * 1024;
// KeyUpdates a peer may send back to back without application data. A real
// peer sends one every few gigabytes or on request; 32 leaves room for
// applications that rekey eagerly.
constexpr int kMaxKeyUpdatesWithoutData = 32;

// The status is not checked: it fails only on a null argument, and a wrong
// hint costs nothing but GC timing. The destructor may not throw either.
void AdjustReportedNativeSize(napi_env env, int64_t change) {
  int64_t total = 0;
  napi_adjust_external_memory(env, change, &total);
}

// SSL_free_buffers() on a record whose header is in but whose body is not
// frees a buffer OpenSSL still reads from, in releases before the fix for
// CVE-2024-4741 (3.0.14, 3.1.6, 3.2.2, 3.3.1). The addon runs on whatever
// OpenSSL the node binary carries, so it asks at run time.
bool FreeBuffersIsSafe() {
  static const bool safe = [] {
    const unsigned long v = OpenSSL_version_num();
    const unsigned long major = v >> 28, minor = (v >> 20) & 0xff, patch = (v >> 4) & 0xff;
    if (major != 3) return major > 3;
    switch (minor) {
      case 0: return patch >= 14;
      case 1: return patch >= 6;
      case 2: return patch >= 2;
      case 3: return patch >= 1;
      default: return true;
    }
  }();
  return safe;
}

Napi::Value CipherTriple(Napi::Env env, const SSL_CIPHER* cipher) {
  Napi::Array entry = Napi::Array::New(env, 4);
  entry.Set(0u, SSL_CIPHER_get_name(cipher));
  entry.Set(1u, SSL_CIPHER_get_version(cipher));
  entry.Set(2u, Napi::Number::New(env, SSL_CIPHER_get_bits(cipher, nullptr)));
  const char* standard = SSL_CIPHER_standard_name(cipher);
  entry.Set(3u, standard != nullptr ? Napi::Value(Napi::String::New(env, standard)) : env.Undefined());
  return entry;
}

// A parsed SSL_SESSION held by JS: an External owning one reference, tagged so
// that no other External can pass for one.
constexpr napi_type_tag kSessionTag = {0x6d656d746c730001ULL, 0x53534c53455353ULL};

Napi::Value WrapSession(Napi::Env env, SSL_SESSION* session) {
  auto handle = Napi::External<SSL_SESSION>::New(env, session, [](Napi::Env, SSL_SESSION* owned) {
    SSL_SESSION_free(owned);
  });
  handle.TypeTag(&kSessionTag);
  return handle;
}

// The session inside a handle (borrowed), or nullptr after throwing a TypeError.
SSL_SESSION* UnwrapSession(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<SSL_SESSION>>().CheckTypeTag(&kSessionTag)) {
    Napi::TypeError::New(value.Env(), "a session handle is required").ThrowAsJavaScriptException();
    return nullptr;
  }
  return value.As<Napi::External<SSL_SESSION>>().Data();
}

// i2d_SSL_SESSION into a string; empty if OpenSSL cannot encode it.
std::string SessionDer(SSL_SESSION* session) {
  const int length = i2d_SSL_SESSION(session, nullptr);
  if (length <= 0) return std::string();
  std::string der(static_cast<size_t>(length), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(&der[0]);
  i2d_SSL_SESSION(session, &p);
  return der;
}

size_t BioCapacity(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return mem == nullptr ? 0 : mem->max;
}

}  // namespace

Napi::Function SSLObject::Init(Napi::Env env) {
  return DefineClass(
      env, "SSLObject",
      {
          InstanceMethod<&SSLObject::JS_handshake>("handshake"),
          InstanceMethod<&SSLObject::JS_readInto>("readInto"),
          InstanceMethod<&SSLObject::JS_write>("write"),
          InstanceMethod<&SSLObject::JS_shutdown>("shutdown"),
          InstanceMethod<&SSLObject::JS_receive>("receive"),
          InstanceMethod<&SSLObject::JS_send>("send"),
          InstanceMethod<&SSLObject::JS_drain>("drain"),
          InstanceMethod<&SSLObject::JS_shrinkBuffers>("shrinkBuffers"),
          InstanceMethod<&SSLObject::JS_takeError>("takeError"),
          InstanceMethod<&SSLObject::JS_takeKeylog>("takeKeylog"),
          InstanceMethod<&SSLObject::JS_pending>("pending"),
          InstanceMethod<&SSLObject::JS_isHandshakeDone>("isHandshakeDone"),
          InstanceMethod<&SSLObject::JS_version>("version"),
          InstanceMethod<&SSLObject::JS_cipher>("cipher"),
          InstanceMethod<&SSLObject::JS_sharedCiphers>("sharedCiphers"),
          InstanceMethod<&SSLObject::JS_alpnProtocol>("alpnProtocol"),
          InstanceMethod<&SSLObject::JS_servername>("servername"),
          InstanceMethod<&SSLObject::JS_peerCertificate>("peerCertificate"),
          InstanceMethod<&SSLObject::JS_peerCertificateChain>("peerCertificateChain"),
          InstanceMethod<&SSLObject::JS_peerMatchesHost>("peerMatchesHost"),
          InstanceMethod<&SSLObject::JS_localCertificate>("localCertificate"),
          InstanceMethod<&SSLObject::JS_verifyResult>("verifyResult"),
          InstanceMethod<&SSLObject::JS_getSession>("getSession"),
          InstanceMethod<&SSLObject::JS_sessionTicket>("sessionTicket"),
          InstanceMethod<&SSLObject::JS_setSession>("setSession"),
          InstanceMethod<&SSLObject::JS_sessionReused>("sessionReused"),
          InstanceMethod<&SSLObject::JS_finished>("finished"),
          InstanceMethod<&SSLObject::JS_peerFinished>("peerFinished"),
          InstanceMethod<&SSLObject::JS_exportKeyingMaterial>("exportKeyingMaterial"),
          InstanceMethod<&SSLObject::JS_ephemeralKeyInfo>("ephemeralKeyInfo"),
          InstanceMethod<&SSLObject::JS_setMaxSendFragment>("setMaxSendFragment"),
          InstanceMethod<&SSLObject::JS_setContext>("setContext"),
          InstanceMethod<&SSLObject::JS_sniDone>("sniDone"),
          InstanceMethod<&SSLObject::JS_clientHello>("clientHello"),
          InstanceMethod<&SSLObject::JS_clientHelloDone>("clientHelloDone"),
          InstanceMethod<&SSLObject::JS_requestOcsp>("requestOcsp"),
          InstanceMethod<&SSLObject::JS_ocspRequested>("ocspRequested"),
          InstanceMethod<&SSLObject::JS_ocspResponse>("ocspResponse"),
          InstanceMethod<&SSLObject::JS_setOcspResponse>("setOcspResponse"),
          InstanceMethod<&SSLObject::JS_takeSessions>("takeSessions"),
          InstanceMethod<&SSLObject::JS_close>("close"),
          InstanceMethod<&SSLObject::JS_isClosed>("isClosed"),
          StaticMethod<&SSLObject::ParseSession>("parseSession"),
          StaticMethod<&SSLObject::DescribeSession>("describeSession"),
          StaticMethod<&SSLObject::EncodeSession>("encodeSession"),
      });
}

// new SSLObject(context, incoming, outgoing, serverSide, serverHostname?)
SSLObject::SSLObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SSLObject>(info) {
  Napi::Env env = info.Env();
  addon_ = env.GetInstanceData<Addon>();
  SSLContext* context = SSLContext::Unwrap(info[0]);
  incoming_ = MemoryBIO::Unwrap(info[1]);
  outgoing_ = MemoryBIO::Unwrap(info[2]);
  if (context == nullptr) {
    Napi::TypeError::New(env, "context must be an SSLContext").ThrowAsJavaScriptException();
    return;
  }
  if (incoming_ == nullptr || outgoing_ == nullptr) {
    Napi::TypeError::New(env, "incoming and outgoing must be MemoryBIO objects")
        .ThrowAsJavaScriptException();
    return;
  }
  if (incoming_ == outgoing_) {
    Napi::TypeError::New(env, "incoming and outgoing must be two different MemoryBIO objects")
        .ThrowAsJavaScriptException();
    return;
  }
  server_ = info[3].ToBoolean().Value();
  if (server_ && !context->server()) {
    ThrowPlainError(env, "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
    return;
  }
  if (!server_ && context->server()) {
    ThrowPlainError(env, "Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
    return;
  }

  ClearErrorOnReturn clear;
  ClearErrorQueue();
  ssl_ = SSL_new(context->ctx());
  if (ssl_ == nullptr) {
    ThrowQueueError(env, "SSL_new failed");
    return;
  }
  SSL_set_app_data(ssl_, this);
  AdjustReportedNativeSize(env, kReportedNativeSize);
  rbio_ = incoming_->bio();
  wbio_ = outgoing_->bio();
  // SSL_set_bio takes over one reference of each; the MemoryBIOs keep theirs.
  BIO_up_ref(rbio_);
  BIO_up_ref(wbio_);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  SSL_set_msg_callback(ssl_, &SSLObject::OnRecordMessage);

  context_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  incoming_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  outgoing_ref_ = Napi::Persistent(info[2].As<Napi::Object>());

  if (info[4].IsString()) {
    server_hostname_ = info[4].As<Napi::String>().Utf8Value();
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(server_hostname_.c_str());
    if (ip == nullptr) {
      ERR_clear_error();
      // Only DNS names go into SNI: RFC 6066 forbids IP literals there.
      SSL_set_tlsext_host_name(ssl_, server_hostname_.c_str());
    }
    if (context->check_hostname()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
      const int ok = ip != nullptr
                         ? X509_VERIFY_PARAM_set1_ip(param, ASN1_STRING_get0_data(ip),
                                                     ASN1_STRING_length(ip))
                         : X509_VERIFY_PARAM_set1_host(param, server_hostname_.c_str(), 0);
      if (ok != 1) {
        if (ip != nullptr) ASN1_OCTET_STRING_free(ip);
        ThrowQueueError(env, "invalid server hostname");
        return;
      }
    }
    if (ip != nullptr) ASN1_OCTET_STRING_free(ip);
  }
  if (server_) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

SSLObject::~SSLObject() {
  ReleaseHandshakeState();
  FreeSsl(Env());
}

void SSLObject::FreeSsl(napi_env env) {
  if (ssl_ == nullptr) return;
  SSL_set_app_data(ssl_, nullptr);
  SSL_free(ssl_);  // also drops its references to both BIOs
  ssl_ = nullptr;
  rbio_ = nullptr;
  wbio_ = nullptr;
  AdjustReportedNativeSize(env, -kReportedNativeSize);
}

void SSLObject::QueueKeylog(const char* line) {
  keylog_.emplace_back(line);
  flags_ |= kFlagKeylog;
}

void SSLObject::NoteNewSession(SSL_SESSION* session) {
  if (server_) {
    // A server's session is only seen here: keep what an external cache needs.
    // Sessions too large to be worth caching are not reported (as node:tls).
    constexpr size_t kMaxSessionSize = 10 * 1024;
    std::string der = SessionDer(session);
    if (der.empty() || der.size() > kMaxSessionSize) return;
    unsigned int id_length = 0;
    const unsigned char* id = SSL_SESSION_get_id(session, &id_length);
    server_sessions_.emplace_back(std::string(reinterpret_cast<const char*>(id), id_length),
                                  std::move(der));
  }
  flags_ |= kFlagSession;
  ++new_sessions_;
}

// The certificate callback: pauses once so JS can switch the context for SNI
// and/or produce an OCSP response, when the context asks for either.
int SSLObject::CertHook() {
  switch (cert_state_) {
    case HookState::kIdle: {
      SSLContext* context =
          static_cast<SSLContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_)));
      const bool sni = context != nullptr && context->sni_hook();
      const bool ocsp = context != nullptr && context->ocsp_hook() &&
                        SSL_get_tlsext_status_type(ssl_) == TLSEXT_STATUSTYPE_ocsp;
      if (!sni && !ocsp) {
        cert_state_ = HookState::kResolved;
        return 1;
      }
      cert_state_ = HookState::kPending;
      return -1;  // pause: SSL_ERROR_WANT_X509_LOOKUP
    }
    case HookState::kPending:
      return -1;
    case HookState::kResolved:
      return 1;
    case HookState::kRefused:
    default:
      return 0;  // fail the handshake
  }
}

// The ClientHello callback: pauses once, after copying what JS needs to decide.
// A second ClientHello (after a HelloRetryRequest) goes straight through.
int SSLObject::ClientHelloHook(int* alert) {
  switch (hello_state_) {
    case HookState::kIdle:
      CaptureClientHello();
      hello_state_ = HookState::kPending;
      return SSL_CLIENT_HELLO_RETRY;
    case HookState::kPending:
      return SSL_CLIENT_HELLO_RETRY;
    case HookState::kResolved:
      return SSL_CLIENT_HELLO_SUCCESS;
    case HookState::kRefused:
    default:
      *alert = SSL_AD_HANDSHAKE_FAILURE;
      return SSL_CLIENT_HELLO_ERROR;
  }
}

void SSLObject::CaptureClientHello() {
  const unsigned char* data = nullptr;
  size_t length = SSL_client_hello_get0_session_id(ssl_, &data);
  hello_session_id_.assign(reinterpret_cast<const char*>(data), data == nullptr ? 0 : length);

  // A non-empty SessionTicket extension: the client resumes from a ticket.
  hello_has_ticket_ =
      SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_session_ticket, &data, &length) == 1 &&
      length > 0;

  // ALPN: a 2-byte length, then the length-prefixed names.
  hello_alpn_.clear();
  hello_has_alpn_ = false;
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_application_layer_protocol_negotiation, &data,
                                &length) == 1 &&
      length >= 2) {
    const size_t list = (static_cast<size_t>(data[0]) << 8) | data[1];
    if (list + 2 == length) {
      hello_alpn_.assign(reinterpret_cast<const char*>(data + 2), list);
      hello_has_alpn_ = true;
    }
  }

  // server_name: a 2-byte list length, then (type, 2-byte length, name)
  // entries; the first host_name (type 0) is the one.
  hello_servername_.clear();
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_server_name, &data, &length) == 1 &&
      length >= 2) {
    size_t pos = 2;
    while (pos + 3 <= length) {
      const unsigned int type = data[pos];
      const size_t name_length = (static_cast<size_t>(data[pos + 1]) << 8) | data[pos + 2];
      pos += 3;
      if (pos + name_length > length) break;
      if (type == TLSEXT_NAMETYPE_host_name) {
        const char* name = reinterpret_cast<const char*>(data + pos);
        // OpenSSL refuses a name with a NUL in it later; never pass one on.
        if (std::memchr(name, '\0', name_length) == nullptr) hello_servername_.assign(name, name_length);
        break;
      }
      pos += name_length;
    }
  }
}

int SSLObject::SelectAlpn(const unsigned char** out, unsigned char* outlen,
                          const unsigned char* in, unsigned int inlen) {
  switch (alpn_mode_) {
    case AlpnMode::kContext:
      return -1;
    case AlpnMode::kRefuse:
      return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
    case AlpnMode::kSelect:
    default:
      break;
  }
  // Point into the client's list: OpenSSL copies the name from there.
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int length = in[i];
    if (i + 1 + length > inlen) break;
    if (length == alpn_choice_.size() && std::memcmp(in + i + 1, alpn_choice_.data(), length) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

SSL_SESSION* SSLObject::TakeLoadedSession() {
  SSL_SESSION* session = loaded_session_;
  loaded_session_ = nullptr;
  return session;
}

int SSLObject::StapleOcspResponse() {
  if (ocsp_response_.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* copy = static_cast<unsigned char*>(OPENSSL_malloc(ocsp_response_.size()));
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, ocsp_response_.data(), ocsp_response_.size());
  // OpenSSL takes ownership of `copy`.
  if (SSL_set_tlsext_status_ocsp_resp(ssl_, copy, static_cast<long>(ocsp_response_.size())) != 1) {
    OPENSSL_free(copy);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

void SSLObject::ReleaseHandshakeState() {
  if (loaded_session_ != nullptr) {
    SSL_SESSION_free(loaded_session_);
    loaded_session_ = nullptr;
  }
  ocsp_response_.clear();
  server_sessions_.clear();
  hello_session_id_.clear();
  hello_servername_.clear();
  hello_alpn_.clear();
}

bool SSLObject::CheckOpen(Napi::Env env) {
  if (ssl_ != nullptr) return true;
  ThrowPlainError(env, "the SSLObject is closed");
  return false;
}

int SSLObject::TakeFlags() {
  const int flags = flags_;
  flags_ = 0;
  return flags;
}

int SSLObject::Finish(int status, size_t bytes, size_t out_bytes) {
  int32_t* shared = addon_->shared;
  shared[kSlotBytes] = static_cast<int32_t>(bytes);
  shared[kSlotOutBytes] = static_cast<int32_t>(out_bytes);
  shared[kSlotPending] = ssl_ != nullptr ? static_cast<int32_t>(BIO_ctrl_pending(wbio_)) : 0;
  shared[kSlotSessions] = new_sessions_;
  new_sessions_ = 0;
  return status | TakeFlags();
}

int SSLObject::StatusFromError(int ret) {
  const int error = SSL_get_error(ssl_, ret);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return kStatusWantRead;
    case SSL_ERROR_WANT_WRITE:
      return kStatusWantWrite;
    case SSL_ERROR_WANT_X509_LOOKUP:
      if (cert_state_ == HookState::kPending) return kStatusWantSni;
      break;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
      if (hello_state_ == HookState::kPending) return kStatusWantClientHello;
      break;
    case SSL_ERROR_ZERO_RETURN:
      // The peer's close_notify. While ours is unsent, reads report a plain EOF
      // (Python returns b''); once both are exchanged it is SSLZeroReturnError.
      if (SSL_get_shutdown(ssl_) == SSL_RECEIVED_SHUTDOWN) return kStatusCloseNotify;
      CaptureSslError(&last_error_, ssl_, error, server_hostname_);
      return kStatusZeroReturn;
    default:
      break;
  }
  CaptureSslError(&last_error_, ssl_, error, server_hostname_);
  return kStatusError;
}

int SSLObject::DoHandshake() {
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    if (!handshake_reported_) {
      handshake_reported_ = true;
      flags_ |= kFlagHandshakeDone;
    }
    return kStatusOk;
  }
  return StatusFromError(ret);
}

void SSLObject::OnRecordMessage(int write_p, int /*version*/, int content_type, const void* buf,
                                size_t len, SSL* ssl, void* /*arg*/) {
  if (write_p != 0 || len == 0) return;
  auto* self = static_cast<SSLObject*>(SSL_get_app_data(ssl));
  if (self == nullptr) return;
  // Only counted here; ReadLoop resets the count when plaintext comes out
  // (empty application records, which OpenSSL skips, do not reset it).
  const uint8_t type = *static_cast<const uint8_t*>(buf);
  if (content_type == SSL3_RT_HANDSHAKE && self->handshake_reported_) self->post_handshake_message_ = true;
  if (content_type == SSL3_RT_HANDSHAKE && type == SSL3_MT_KEY_UPDATE) {
    if (++self->key_updates_in_a_row_ > kMaxKeyUpdatesWithoutData) self->key_update_flood_ = true;
  }
}

int SSLObject::FailKeyUpdateFlood() {
  ClearErrorQueue();
  ERR_raise(ERR_LIB_SSL, SSL_R_TOO_MANY_KEY_UPDATES);
  CaptureSslError(&last_error_, ssl_, SSL_ERROR_SSL, server_hostname_);
  return kStatusError;
}

int SSLObject::ReadLoop(uint8_t* out, size_t length, size_t* produced) {
  *produced = 0;
  if (deferred_status_ >= 0) {
    const int status = deferred_status_;
    deferred_status_ = -1;
    return status;
  }
  if (key_update_flood_) return FailKeyUpdateFlood();
  while (*produced < length) {
    size_t got = 0;
    const int ret = SSL_read_ex(ssl_, out + *produced, length - *produced, &got);
    if (key_update_flood_) {
      // Whatever this call decrypted came after the flood: dropped with it.
      if (*produced == 0) return FailKeyUpdateFlood();
      deferred_status_ = FailKeyUpdateFlood();
      return kStatusOk;
    }
    if (ret == 1) {
      if (got > 0) key_updates_in_a_row_ = 0;
      *produced += got;
      continue;
    }
    const int status = StatusFromError(ret);
    if (*produced == 0) return status;
    // Plaintext comes with the status that ended the loop, so the caller
    // learns "nothing more for now" (WantRead) or "close_notify" without
    // another call. A fatal outcome is held back: the plaintext is returned as
    // a success and the error on the next call.
    if (status == kStatusError || status == kStatusZeroReturn) {
      deferred_status_ = status;
      return kStatusOk;
    }
    return status;
  }
  return kStatusOk;
}

size_t SSLObject::DrainInto(uint8_t* out, size_t length) {
  size_t copied = 0;
  while (copied < length && BIO_ctrl_pending(wbio_) > 0) {
    const size_t want = std::min(length - copied, static_cast<size_t>(INT32_MAX));
    const int got = BIO_read(wbio_, out + copied, static_cast<int>(want));
    if (got <= 0) break;
    copied += static_cast<size_t>(got);
  }
  return copied;
}

// handshake() -> status
Napi::Value SSLObject::JS_handshake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return Napi::Number::New(env, Finish(kStatusClosed, 0, 0));
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  return Napi::Number::New(env, Finish(DoHandshake(), 0, 0));
}

// readInto(out, offset, length) -> status; shared[kSlotBytes] = bytes read.
Napi::Value SSLObject::JS_readInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes out;
  if (!GetWindow(info, 0, &out)) return env.Undefined();
  if (ssl_ == nullptr) return Napi::Number::New(env, Finish(kStatusClosed, 0, 0));
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  size_t produced = 0;
  const int status = out.length == 0 ? kStatusOk : ReadLoop(out.data, out.length, &produced);
  return Napi::Number::New(env, Finish(status, produced, 0));
}

// write(data) -> status; encrypts all of `data` into the outgoing BIO.
Napi::Value SSLObject::JS_write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes data;
  if (!GetBytes(info[0], &data)) {
    Napi::TypeError::New(env, "a bytes-like object is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ssl_ == nullptr) return Napi::Number::New(env, Finish(kStatusClosed, 0, 0));
  if (data.length == 0) return Napi::Number::New(env, Finish(kStatusOk, 0, 0));
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  size_t written = 0;
  const int ret = SSL_write_ex(ssl_, data.data, data.length, &written);
  const int status = ret == 1 ? kStatusOk : StatusFromError(ret);
  return Napi::Number::New(env, Finish(status, written, 0));
}

// shutdown() -> status. Sends close_notify; kStatusOk once the peer's is in too.
Napi::Value SSLObject::JS_shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return Napi::Number::New(env, Finish(kStatusClosed, 0, 0));
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  int status = kStatusWantRead;
  for (int zeros = 0;;) {
    const int ret = SSL_shutdown(ssl_);
    if (ret > 0) {
      status = kStatusOk;
      break;
    }
    if (ret == 0) {
      // Our close_notify is out; the second call looks for the peer's.
      if (++zeros > 1) break;
      continue;
    }
    status = StatusFromError(ret);
    break;
  }
  return Napi::Number::New(env, Finish(status, 0, 0));
}

// receive(chunk | null, out, offset, length) -> status
// One socket chunk in: feed it, finish the handshake if needed, then decrypt
// into out[offset, offset+length). shared[kSlotBytes] = plaintext bytes,
// shared[kSlotPending] = ciphertext waiting to be sent (handshake flights,
// alerts, KeyUpdate responses).
Napi::Value SSLObject::JS_receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes chunk;
  const bool has_chunk = !info[0].IsNull() && !info[0].IsUndefined();
  if (has_chunk && !GetBytes(info[0], &chunk)) {
    Napi::TypeError::New(env, "chunk must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Bytes out;
  if (!GetWindow(info, 1, &out)) return env.Undefined();
  if (ssl_ == nullptr) return Napi::Number::New(env, Finish(kStatusClosed, 0, 0));
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  if (chunk.length > 0) {
    size_t fed = 0;
    if (BIO_write_ex(rbio_, chunk.data, chunk.length, &fed) != 1 || fed != chunk.length) {
      CaptureQueueError(&last_error_, "could not buffer incoming data");
      return Napi::Number::New(env, Finish(kStatusError, 0, 0));
    }
  }
  if (!handshake_reported_) {
    const int status = DoHandshake();
    if (status != kStatusOk) return Napi::Number::New(env, Finish(status, 0, 0));
  }
  size_t produced = 0;
  const int status = out.length == 0 ? kStatusOk : ReadLoop(out.data, out.length, &produced);
  // SSL_MODE_RELEASE_BUFFERS frees the write buffer a post-handshake message
  // set up only after the next write, which an idle client (it just got its
  // session tickets) may never make: 16 KiB per connection. Free it now.
  // Only then: freeing on every drained read would make OpenSSL allocate the
  // read buffer again for the next record, and that churn fragments the heap.
  // (JS_readInto, the Python-style read, leaves this to OpenSSL.)
  if (post_handshake_message_ && status == kStatusWantRead) {
    post_handshake_message_ = false;
    // A no-op while a record is partly buffered, on a fixed OpenSSL.
    if (FreeBuffersIsSafe()) SSL_free_buffers(ssl_);
  }
  return Napi::Number::New(env, Finish(status, produced, 0));
}

// send(data | data[], out, offset, length) -> status
// Encrypts plaintext into full records (coalescing small chunks) and copies the
// ciphertext into out[offset, offset+length). Stops when the output has no
// room for another record. shared[kSlotBytes] = plaintext consumed (in order,
// across the chunks), shared[kSlotOutBytes] = ciphertext copied,
// shared[kSlotPending] = ciphertext still in the BIO.
Napi::Value SSLObject::JS_send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes out;
  if (!GetWindow(info, 1, &out)) return env.Undefined();
  // Gather the chunk views first so a bad argument fails before any work.
  Bytes single;
  std::vector<Bytes>& many = addon_->chunk_views;  // reused: no allocation per call
  const Bytes* chunks = nullptr;
  size_t count = 0;
  if (GetBytes(info[0], &single)) {
    chunks = &single;
    count = 1;
  } else if (info[0].IsArray()) {
    Napi::Array array = info[0].As<Napi::Array>();
    count = array.Length();
    if (many.size() < count) many.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      if (!GetBytes(env, array[i].operator Napi::Value(), &many[i])) {
        Napi::TypeError::New(env, "every chunk must be a Buffer").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    chunks = many.data();
  } else {
    Napi::TypeError::New(env, "data must be a Buffer or an array of Buffers")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ssl_ == nullptr) return Napi::Number::New(env, Finish(kStatusClosed, 0, 0));
  ClearErrorOnReturn clear;
  ClearErrorQueue();

  size_t out_used = DrainInto(out.data, out.length);
  size_t consumed = 0;
  size_t index = 0;   // current chunk
  size_t offset = 0;  // position inside it
  std::vector<uint8_t>& stage = addon_->coalesce;
  if (stage.size() < kMaxRecordPlaintext) stage.resize(kMaxRecordPlaintext);
  int status = kStatusOk;

  while (index < count && BIO_ctrl_pending(wbio_) == 0) {
    const size_t room = out.length - out_used;
    if (room <= kRecordOverhead) break;
    const size_t record = std::min(kMaxRecordPlaintext, room - kRecordOverhead);
    const uint8_t* source;
    size_t take;
    const size_t left_in_chunk = chunks[index].length - offset;
    if (left_in_chunk >= record || index + 1 == count) {
      // Straight from the caller's memory: no staging copy.
      source = chunks[index].data + offset;
      take = std::min(left_in_chunk, record);
      offset += take;
    } else {
      // Coalesce several small chunks into one record.
      take = 0;
      while (index < count && take < record) {
        const size_t n = std::min(record - take, chunks[index].length - offset);
        std::memcpy(stage.data() + take, chunks[index].data + offset, n);
        take += n;
        offset += n;
        if (offset == chunks[index].length) {
          ++index;
          offset = 0;
        }
      }
      source = stage.data();
    }
    while (index < count && offset == chunks[index].length) {
      ++index;
      offset = 0;
    }
    if (take == 0) continue;
    size_t written = 0;
    const int ret = SSL_write_ex(ssl_, source, take, &written);
    if (ret != 1) {
      status = StatusFromError(ret);
      break;
    }
    consumed += written;
    out_used += DrainInto(out.data + out_used, out.length - out_used);
  }
  return Napi::Number::New(env, Finish(status, consumed, out_used));
}

// drain(out, offset, length) -> bytes of pending ciphertext copied into out.
Napi::Value SSLObject::JS_drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes out;
  if (!GetWindow(info, 0, &out)) return env.Undefined();
  if (ssl_ == nullptr) return Napi::Number::New(env, 0);
  const size_t copied = DrainInto(out.data, out.length);
  ERR_clear_error();
  addon_->shared[kSlotPending] = static_cast<int32_t>(BIO_ctrl_pending(wbio_));
  return Napi::Number::New(env, static_cast<double>(copied));
}

// shrinkBuffers(threshold?) -> bytes released. Swaps an empty BIO whose buffer
// grew past the threshold for a fresh one.
Napi::Value SSLObject::JS_shrinkBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return Napi::Number::New(env, 0);
  const size_t threshold = info[0].IsNumber()
                               ? static_cast<size_t>(info[0].As<Napi::Number>().Int64Value())
                               : kDefaultShrinkThreshold;
  size_t released = 0;
  if (BIO_ctrl_pending(rbio_) == 0 && incoming_->bio() == rbio_) {
    const size_t capacity = BioCapacity(rbio_);
    if (capacity > threshold) {
      BIO* fresh = incoming_->Renew();
      if (fresh != nullptr) {
        SSL_set0_rbio(ssl_, fresh);  // drops the SSL's reference to the old one
        rbio_ = fresh;
        released += capacity;
      }
    }
  }
  if (BIO_ctrl_pending(wbio_) == 0 && outgoing_->bio() == wbio_) {
    const size_t capacity = BioCapacity(wbio_);
    if (capacity > threshold) {
      BIO* fresh = outgoing_->Renew();
      if (fresh != nullptr) {
        SSL_set0_wbio(ssl_, fresh);
        wbio_ = fresh;
        released += capacity;
      }
    }
  }
  ERR_clear_error();
  return Napi::Number::New(env, static_cast<double>(released));
}

Napi::Value SSLObject::JS_takeError(const Napi::CallbackInfo& info) {
  return MakeError(info.Env(), last_error_);
}

Napi::Value SSLObject::JS_takeKeylog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, keylog_.size());
  for (size_t i = 0; i < keylog_.size(); ++i) {
    out.Set(static_cast<uint32_t>(i), Napi::String::New(env, keylog_[i]));
  }
  keylog_.clear();
  return out;
}

Napi::Value SSLObject::JS_pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ssl_ == nullptr ? 0 : SSL_pending(ssl_));
}

Napi::Value SSLObject::JS_isHandshakeDone(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ssl_ != nullptr && SSL_is_init_finished(ssl_));
}

Napi::Value SSLObject::JS_version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr || !SSL_is_init_finished(ssl_)) return env.Undefined();
  return Napi::String::New(env, SSL_get_version(ssl_));
}

Napi::Value SSLObject::JS_cipher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  if (cipher == nullptr) return env.Undefined();
  return CipherTriple(env, cipher);
}

// The server's enabled ciphers that the client also offered (gh-96931).
Napi::Value SSLObject::JS_sharedCiphers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr || !server_) return env.Undefined();
  STACK_OF(SSL_CIPHER)* offered = SSL_get_client_ciphers(ssl_);
  STACK_OF(SSL_CIPHER)* enabled = SSL_get_ciphers(ssl_);
  if (offered == nullptr || enabled == nullptr) return env.Undefined();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(enabled); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(enabled, i);
    if (sk_SSL_CIPHER_find(offered, cipher) >= 0) out.Set(n++, CipherTriple(env, cipher));
  }
  return out;
}

Napi::Value SSLObject::JS_alpnProtocol(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  if (data == nullptr || length == 0) return env.Undefined();
  return Napi::String::New(env, reinterpret_cast<const char*>(data), length);
}

Napi::Value SSLObject::JS_servername(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return env.Undefined();
  return Napi::String::New(env, name);
}

Napi::Value SSLObject::JS_peerCertificate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return env.Undefined();
  Napi::Value der = DerOf(env, cert);
  X509_free(cert);
  return der;
}

// peerMatchesHost(name, isIp) -> boolean: OpenSSL's own identity check of the
// peer certificate (DNS names: whole-label wildcards only; IPs: IP SANs only).
// It accepts a subset of what node:tls's rules accept, so the drop-in uses it
// to skip decoding the certificate when the answer is yes.
Napi::Value SSLObject::JS_peerMatchesHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr || !info[0].IsString()) return Napi::Boolean::New(env, false);
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return Napi::Boolean::New(env, false);
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  ClearErrorOnReturn clear;
  const int matched =
      info[1].ToBoolean().Value()
          ? X509_check_ip_asc(cert, name.c_str(), 0)
          : X509_check_host(cert, name.data(), name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  return Napi::Boolean::New(env, matched == 1);
}

// The chain as the peer sent it (on a client it starts with the leaf).
Napi::Value SSLObject::JS_peerCertificateChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (ssl_ == nullptr) return out;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);
  if (chain == nullptr) return out;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    out.Set(static_cast<uint32_t>(i), DerOf(env, sk_X509_value(chain, i)));
  }
  return out;
}

Napi::Value SSLObject::JS_localCertificate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  X509* cert = SSL_get_certificate(ssl_);
  if (cert == nullptr) return env.Undefined();
  return DerOf(env, cert);
}

// verifyResult() -> [code, message, name] of the peer-chain verification.
Napi::Value SSLObject::JS_verifyResult(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  const long code = SSL_get_verify_result(ssl_);
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(code)));
  out.Set(1u, X509_verify_cert_error_string(code));
  out.Set(2u, X509ErrorCodeName(code));
  return out;
}

// getSession() -> a handle to a copy of the current session (the newest
// ticket on a TLS 1.3 client), or undefined. A copy, not the live session:
// OpenSSL marks the live one not resumable if this connection ends without
// close_notify, and a session handed out must not change after the fact.
Napi::Value SSLObject::JS_getSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  SSL_SESSION* live = SSL_get_session(ssl_);  // borrowed
  if (live == nullptr) return env.Undefined();
  ClearErrorOnReturn clear;
  SSL_SESSION* copy = SSL_SESSION_dup(live);
  if (copy == nullptr) {
    ThrowQueueError(env, "could not copy the session");
    return env.Undefined();
  }
  return WrapSession(env, copy);
}

// sessionTicket() -> the ticket inside the current session (client side), or undefined.
Napi::Value SSLObject::JS_sessionTicket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  SSL_SESSION* session = SSL_get_session(ssl_);  // borrowed
  if (session == nullptr || !SSL_SESSION_has_ticket(session)) return env.Undefined();
  const unsigned char* ticket = nullptr;
  size_t length = 0;
  SSL_SESSION_get0_ticket(session, &ticket, &length);
  if (ticket == nullptr || length == 0) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, ticket, length);
}

// setSession(handle) -> true if OpenSSL accepted the session for resumption.
// Each connection gets its own copy: OpenSSL writes into the session it
// resumes (and marks it not resumable when the connection ends badly), which
// must not reach the other connections resuming from the same handle. The
// copy shares the parsed certificates (reference counts), so it is cheap.
Napi::Value SSLObject::JS_setSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  SSL_SESSION* session = UnwrapSession(info[0]);
  if (session == nullptr) return env.Undefined();
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy == nullptr) {
    ThrowQueueError(env, "could not copy the session");
    return env.Undefined();
  }
  const int ok = SSL_set_session(ssl_, copy);
  SSL_SESSION_free(copy);
  return Napi::Boolean::New(env, ok == 1);
}

Napi::Value SSLObject::JS_sessionReused(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ssl_ != nullptr && SSL_session_reused(ssl_) == 1);
}

Napi::Value SSLObject::JS_finished(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  unsigned char buf[EVP_MAX_MD_SIZE];
  const size_t length = SSL_get_finished(ssl_, buf, sizeof(buf));
  if (length == 0) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, buf, std::min(length, sizeof(buf)));
}

Napi::Value SSLObject::JS_peerFinished(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  unsigned char buf[EVP_MAX_MD_SIZE];
  const size_t length = SSL_get_peer_finished(ssl_, buf, sizeof(buf));
  if (length == 0) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, buf, std::min(length, sizeof(buf)));
}

// exportKeyingMaterial(length, label, context?) -> Buffer (RFC 5705 / 8446).
Napi::Value SSLObject::JS_exportKeyingMaterial(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (!info[0].IsNumber() || !info[1].IsString()) {
    Napi::TypeError::New(env, "exportKeyingMaterial(length, label, context?)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t length = info[0].As<Napi::Number>().Int64Value();
  if (length <= 0 || length > (1 << 20)) {
    Napi::RangeError::New(env, "length must be between 1 and 1048576").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!SSL_is_init_finished(ssl_)) {
    ThrowPlainError(env, "handshake not done yet");
    return env.Undefined();
  }
  std::string label = info[1].As<Napi::String>().Utf8Value();
  Bytes context;
  const bool use_context = GetBytes(info[2], &context);
  ClearErrorOnReturn clear;
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(length));
  if (SSL_export_keying_material(ssl_, out.Data(), out.Length(), label.data(), label.size(),
                                 use_context ? context.data : nullptr,
                                 use_context ? context.length : 0, use_context ? 1 : 0) != 1) {
    ThrowQueueError(env, "Key export failed");
    return env.Undefined();
  }
  return out;
}

// ephemeralKeyInfo() -> {type, name?, size} of the peer's key exchange key.
Napi::Value SSLObject::JS_ephemeralKeyInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if (ssl_ == nullptr) return out;
  EVP_PKEY* key = nullptr;
  if (SSL_get_peer_tmp_key(ssl_, &key) != 1 || key == nullptr) {
    ERR_clear_error();
    return out;
  }
  const int id = EVP_PKEY_get_base_id(key);
  const int bits = EVP_PKEY_get_bits(key);
  if (id == EVP_PKEY_DH) {
    out.Set("type", "DH");
    out.Set("size", Napi::Number::New(env, bits));
  } else if (id == EVP_PKEY_X25519 || id == EVP_PKEY_X448) {
    out.Set("type", "ECDH");
    out.Set("name", id == EVP_PKEY_X25519 ? "X25519" : "X448");
    out.Set("size", Napi::Number::New(env, bits));
  } else if (id == EVP_PKEY_EC) {
    char name[80] = {0};
    size_t name_length = 0;
    out.Set("type", "ECDH");
    if (EVP_PKEY_get_group_name(key, name, sizeof(name), &name_length) == 1) {
      out.Set("name", std::string(name, name_length));
    }
    out.Set("size", Napi::Number::New(env, bits));
  }
  EVP_PKEY_free(key);
  ERR_clear_error();
  return out;
}

Napi::Value SSLObject::JS_setMaxSendFragment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const long size = static_cast<long>(info[0].As<Napi::Number>().Int64Value());
  const int ok = SSL_set_max_send_fragment(ssl_, size);
  ERR_clear_error();
  return Napi::Boolean::New(env, ok == 1);
}

// setContext(context): switches certificates, normally from an SNI callback.
Napi::Value SSLObject::JS_setContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  SSLContext* context = SSLContext::Unwrap(info[0]);
  if (context == nullptr) {
    Napi::TypeError::New(env, "context must be an SSLContext").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (context->server() != server_) {
    ThrowPlainError(env, "the new context must be for the same side of the connection");
    return env.Undefined();
  }
  ClearErrorOnReturn clear;
  if (SSL_set_SSL_CTX(ssl_, context->ctx()) == nullptr) {
    ThrowQueueError(env, "could not switch the SSL context");
    return env.Undefined();
  }
  sni_context_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  return env.Undefined();
}

// sniDone(accept): lets a handshake paused by the certificate hook (SNI,
// OCSP) go on, or fails it.
Napi::Value SSLObject::JS_sniDone(const Napi::CallbackInfo& info) {
  cert_state_ = info[0].ToBoolean().Value() ? HookState::kResolved : HookState::kRefused;
  return info.Env().Undefined();
}

// clientHello() -> {sessionId, hasTicket, servername?, alpn?} as offered by the
// client, while the handshake is paused on the ClientHello hook (or after).
Napi::Value SSLObject::JS_clientHello(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (hello_state_ == HookState::kIdle) return env.Undefined();
  Napi::Object out = Napi::Object::New(env);
  out.Set("sessionId", Napi::Buffer<uint8_t>::Copy(
                           env, reinterpret_cast<const uint8_t*>(hello_session_id_.data()),
                           hello_session_id_.size()));
  out.Set("hasTicket", Napi::Boolean::New(env, hello_has_ticket_));
  if (!hello_servername_.empty()) out.Set("servername", hello_servername_);
  if (hello_has_alpn_) {
    out.Set("alpn", Napi::Buffer<uint8_t>::Copy(
                        env, reinterpret_cast<const uint8_t*>(hello_alpn_.data()), hello_alpn_.size()));
  }
  return out;
}

// clientHelloDone(accept, alpn?, session?): resumes a handshake paused on the
// ClientHello hook. `alpn`: bytes of the protocol to select (one the client
// offered), null to refuse with no_application_protocol, undefined to leave
// it to the context. `session`: DER of a session to resume (an external
// cache's answer); one OpenSSL cannot parse is ignored (full handshake).
Napi::Value SSLObject::JS_clientHelloDone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool accept = info[0].ToBoolean().Value();
  Bytes alpn;
  if (info[1].IsNull()) {
    alpn_mode_ = AlpnMode::kRefuse;
  } else if (GetBytes(info[1], &alpn)) {
    alpn_mode_ = AlpnMode::kSelect;
    alpn_choice_.assign(reinterpret_cast<const char*>(alpn.data), alpn.length);
  } else {
    alpn_mode_ = AlpnMode::kContext;
  }
  Bytes der;
  if (accept && ssl_ != nullptr && GetBytes(info[2], &der) && der.length > 0) {
    ClearErrorOnReturn clear;
    const unsigned char* p = der.data;
    SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der.length));
    if (session != nullptr) {
      if (loaded_session_ != nullptr) SSL_SESSION_free(loaded_session_);
      loaded_session_ = session;
    }
  }
  hello_state_ = accept ? HookState::kResolved : HookState::kRefused;
  return env.Undefined();
}

// requestOcsp(): client, before the handshake: asks the server to staple an
// OCSP response (status_request).
Napi::Value SSLObject::JS_requestOcsp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  SSL_set_tlsext_status_type(ssl_, TLSEXT_STATUSTYPE_ocsp);
  ERR_clear_error();
  return env.Undefined();
}

// ocspRequested() -> true on a server whose client asked for OCSP stapling.
Napi::Value SSLObject::JS_ocspRequested(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ssl_ != nullptr && SSL_get_tlsext_status_type(ssl_) ==
                                                                TLSEXT_STATUSTYPE_ocsp);
}

// ocspResponse() -> the OCSP response the server stapled (client), or undefined.
Napi::Value SSLObject::JS_ocspResponse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr) return env.Undefined();
  const unsigned char* response = nullptr;
  const long length = SSL_get_tlsext_status_ocsp_resp(ssl_, &response);
  ERR_clear_error();
  if (response == nullptr || length <= 0) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, response, static_cast<size_t>(length));
}

// setOcspResponse(bytes | null): server: the response to staple for this
// handshake (set while paused on the certificate hook).
Napi::Value SSLObject::JS_setOcspResponse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes response;
  if (GetBytes(info[0], &response)) {
    ocsp_response_.assign(reinterpret_cast<const char*>(response.data), response.length);
  } else {
    ocsp_response_.clear();
  }
  return env.Undefined();
}

// takeSessions() -> [[id, der], ...]: the sessions a server created since the
// last call (reported by kFlagSession), oldest first.
Napi::Value SSLObject::JS_takeSessions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, server_sessions_.size());
  for (size_t i = 0; i < server_sessions_.size(); ++i) {
    const auto& [id, der] = server_sessions_[i];
    Napi::Array entry = Napi::Array::New(env, 2);
    entry.Set(0u, Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(id.data()), id.size()));
    entry.Set(1u, Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(der.data()), der.size()));
    out.Set(static_cast<uint32_t>(i), entry);
  }
  server_sessions_.clear();
  return out;
}

Napi::Value SSLObject::JS_close(const Napi::CallbackInfo& info) {
  FreeSsl(info.Env());
  keylog_.clear();
  ReleaseHandshakeState();
  context_ref_.Reset();
  sni_context_ref_.Reset();
  incoming_ref_.Reset();
  outgoing_ref_.Reset();
  return info.Env().Undefined();
}

Napi::Value SSLObject::JS_isClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ssl_ == nullptr);
}

// parseSession(der) -> handle. Parsing is the expensive part of resuming (the
// session carries the peer's certificates); a handle is parsed once and reused.
Napi::Value SSLObject::ParseSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes der;
  if (!GetBytes(info[0], &der)) {
    Napi::TypeError::New(env, "session must be DER bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ClearErrorOnReturn clear;
  ClearErrorQueue();
  const unsigned char* p = der.data;
  SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der.length));
  if (session == nullptr) {
    ThrowQueueError(env, "invalid session data");
    return env.Undefined();
  }
  return WrapSession(env, session);
}

// describeSession(handle) -> {id, time, timeout, hasTicket, ticketLifetimeHint, resumable, protocol}
Napi::Value SSLObject::DescribeSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SSL_SESSION* session = UnwrapSession(info[0]);
  if (session == nullptr) return env.Undefined();
  unsigned int id_length = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &id_length);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Buffer<uint8_t>::Copy(env, id, id_length));
  out.Set("time", Napi::Number::New(env, static_cast<double>(SSL_SESSION_get_time(session))));
  out.Set("timeout", Napi::Number::New(env, static_cast<double>(SSL_SESSION_get_timeout(session))));
  out.Set("hasTicket", Napi::Boolean::New(env, SSL_SESSION_has_ticket(session) == 1));
  out.Set("ticketLifetimeHint",
          Napi::Number::New(env, static_cast<double>(SSL_SESSION_get_ticket_lifetime_hint(session))));
  out.Set("resumable", Napi::Boolean::New(env, SSL_SESSION_is_resumable(session) == 1));
  out.Set("protocol", Napi::Number::New(env, SSL_SESSION_get_protocol_version(session)));
  return out;
}

// encodeSession(handle) -> DER (i2d_SSL_SESSION), what node:tls calls a session Buffer.
Napi::Value SSLObject::EncodeSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SSL_SESSION* session = UnwrapSession(info[0]);
  if (session == nullptr) return env.Undefined();
  ClearErrorOnReturn clear;
  const std::string der = SessionDer(session);
  if (der.empty()) {
    ThrowQueueError(env, "could not encode the session");
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(der.data()), der.size());
}

}  // namespace memtls

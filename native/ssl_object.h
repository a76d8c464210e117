// SSLObject: one TLS connection as a bytes-in/bytes-out engine over two
// memory BIOs (Python's ssl.SSLObject).
//
// Theory of operation
// -------------------
// The SSL reads ciphertext from `incoming` and writes ciphertext to
// `outgoing`; neither BIO ever touches a socket. Two families of calls drive it:
//
//  * The Python-style calls (handshake, readInto, write, shutdown) act on
//    whatever the caller put into the BIOs and return a Status; the TS
//    SSLObject turns statuses into SSLWantReadError and friends.
//  * The fast path for the protocol layer moves a whole socket chunk per call:
//    receive() writes a chunk into `incoming`, finishes the handshake if it is
//    still running, and decrypts as many records as fit into a caller-owned
//    buffer; send() coalesces a batch of plaintext chunks into full records and
//    copies the ciphertext into a caller-owned buffer. Lengths come back
//    through the environment's shared Int32Array (addon.h SharedSlot), so no
//    Buffer is created per call and nothing is thrown.
//
// Invariants
//  * No OpenSSL callback calls into JS. The SNI hook pauses the handshake
//    (kStatusWantSni); keylog lines and new sessions are queued and reported by
//    flags on the next returned status.
//  * Every entry point leaves the OpenSSL error queue empty.
//  * After close() (or garbage collection) every call reports kStatusClosed or
//    throws; the SSL is freed exactly once.
//  * A fatal error seen after some plaintext was produced is deferred: the
//    plaintext is returned first, the error on the next call.
#ifndef MEMTLS_SSL_OBJECT_H_
#define MEMTLS_SSL_OBJECT_H_

#include <napi.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "errors.h"

namespace memtls {

class Addon;
class MemoryBIO;

class SSLObject : public Napi::ObjectWrap<SSLObject> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit SSLObject(const Napi::CallbackInfo& info);
  ~SSLObject() override;
  SSLObject(const SSLObject&) = delete;
  SSLObject& operator=(const SSLObject&) = delete;

  // Called from OpenSSL callbacks (see ssl_context.cc); never call JS.
  void QueueKeylog(const char* line);
  void NoteNewSession();
  int SniCertHook();

 private:
  enum class SniState { kIdle, kPending, kResolved, kRefused };

  // Python-style calls.
  Napi::Value JS_handshake(const Napi::CallbackInfo& info);
  Napi::Value JS_readInto(const Napi::CallbackInfo& info);
  Napi::Value JS_write(const Napi::CallbackInfo& info);
  Napi::Value JS_shutdown(const Napi::CallbackInfo& info);
  // Fast path.
  Napi::Value JS_receive(const Napi::CallbackInfo& info);
  Napi::Value JS_send(const Napi::CallbackInfo& info);
  Napi::Value JS_drain(const Napi::CallbackInfo& info);
  Napi::Value JS_shrinkBuffers(const Napi::CallbackInfo& info);
  // State and introspection.
  Napi::Value JS_takeError(const Napi::CallbackInfo& info);
  Napi::Value JS_takeKeylog(const Napi::CallbackInfo& info);
  Napi::Value JS_pending(const Napi::CallbackInfo& info);
  Napi::Value JS_isHandshakeDone(const Napi::CallbackInfo& info);
  Napi::Value JS_version(const Napi::CallbackInfo& info);
  Napi::Value JS_cipher(const Napi::CallbackInfo& info);
  Napi::Value JS_sharedCiphers(const Napi::CallbackInfo& info);
  Napi::Value JS_alpnProtocol(const Napi::CallbackInfo& info);
  Napi::Value JS_servername(const Napi::CallbackInfo& info);
  Napi::Value JS_peerCertificate(const Napi::CallbackInfo& info);
  Napi::Value JS_peerCertificateChain(const Napi::CallbackInfo& info);
  Napi::Value JS_localCertificate(const Napi::CallbackInfo& info);
  Napi::Value JS_verifyResult(const Napi::CallbackInfo& info);
  Napi::Value JS_getSession(const Napi::CallbackInfo& info);
  Napi::Value JS_sessionTicket(const Napi::CallbackInfo& info);
  Napi::Value JS_setSession(const Napi::CallbackInfo& info);
  Napi::Value JS_sessionReused(const Napi::CallbackInfo& info);
  Napi::Value JS_finished(const Napi::CallbackInfo& info);
  Napi::Value JS_peerFinished(const Napi::CallbackInfo& info);
  Napi::Value JS_exportKeyingMaterial(const Napi::CallbackInfo& info);
  Napi::Value JS_ephemeralKeyInfo(const Napi::CallbackInfo& info);
  Napi::Value JS_setMaxSendFragment(const Napi::CallbackInfo& info);
  Napi::Value JS_setContext(const Napi::CallbackInfo& info);
  Napi::Value JS_sniDone(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  Napi::Value JS_isClosed(const Napi::CallbackInfo& info);

  static Napi::Value DescribeSession(const Napi::CallbackInfo& info);

  // Shared-state helpers.
  int TakeFlags();
  int Finish(int status, size_t bytes, size_t out_bytes);
  // Maps SSL_get_error to a status, capturing the error if it is fatal.
  int StatusFromError(int ret);
  int DoHandshake();
  int ReadLoop(uint8_t* out, size_t length, size_t* produced);
  size_t DrainInto(uint8_t* out, size_t length);
  bool CheckOpen(Napi::Env env);

  Addon* addon_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_ (SSL_set_bio took our reference)
  BIO* wbio_ = nullptr;  // owned by ssl_
  MemoryBIO* incoming_ = nullptr;
  MemoryBIO* outgoing_ = nullptr;
  // Keep the JS wrappers (and so the SSL_CTX callbacks' `this`) alive as long
  // as the SSL can call into them.
  Napi::ObjectReference context_ref_;
  Napi::ObjectReference sni_context_ref_;
  Napi::ObjectReference incoming_ref_;
  Napi::ObjectReference outgoing_ref_;

  bool server_ = false;
  bool handshake_reported_ = false;
  std::string server_hostname_;
  SniState sni_state_ = SniState::kIdle;
  int flags_ = 0;             // kFlag* bits raised since the last returned status
  int new_sessions_ = 0;      // sessions noted since the last returned status
  int deferred_status_ = -1;  // a fatal status held back behind plaintext
  ErrorInfo last_error_;
  std::vector<std::string> keylog_;
};

}  // namespace memtls

#endif  // MEMTLS_SSL_OBJECT_H_

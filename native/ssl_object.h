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
//  * No OpenSSL callback calls into JS. Two hooks pause a server handshake so
//    JS can decide outside of OpenSSL: the ClientHello hook (kStatusWantClientHello:
//    ALPN choice, a session from an external cache) and the certificate hook
//    (kStatusWantSni: the SNI context switch, an OCSP response to staple).
//    What JS decided is stored here and handed to OpenSSL by the callbacks
//    when the handshake is driven again. Keylog lines and new sessions are
//    queued and reported by flags on the next returned status.
//  * Every entry point leaves the OpenSSL error queue empty.
//  * After close() (or garbage collection) every call reports kStatusClosed or
//    throws; the SSL is freed exactly once.
//  * A fatal error seen after some plaintext was produced is deferred: the
//    plaintext is returned first, the error on the next call.
//  * A peer may send at most kMaxKeyUpdatesWithoutData TLS 1.3 KeyUpdates in a
//    row without application data (plaintext delivered) between them. OpenSSL
//    sets no limit, and each update_requested makes us derive keys and answer
//    with a record of our own, so an unbounded flood is CPU and output for
//    free. Past the limit the connection fails for good with
//    SSL_R_TOO_MANY_KEY_UPDATES; input already buffered when the limit is
//    crossed is processed first (at most one socket chunk).
#ifndef MEMTLS_SSL_OBJECT_H_
#define MEMTLS_SSL_OBJECT_H_

#include <napi.h>
#include <openssl/ssl.h>

#include <string>
#include <utility>
#include <vector>

#include "errors.h"

namespace memtls {

class Addon;
class MemoryBIO;

class SSLObject : public Napi::ObjectWrap<SSLObject> {
 public:
  // What one SSL costs outside the JS heap, reported to V8 from SSL_new until
  // SSL_free. V8 cannot see OpenSSL's allocations; without this figure it
  // sizes the heap as if thousands of open connections cost nothing and runs
  // too few full collections, so the young generation grows instead. About
  // 16 KiB of handshake and record state stays with an idle endpoint, and two
  // record buffers of about 17 KiB come back whenever records are in flight.
  static constexpr int64_t kReportedNativeSize = 48 * 1024;

  static Napi::Function Init(Napi::Env env);

  explicit SSLObject(const Napi::CallbackInfo& info);
  ~SSLObject() override;
  SSLObject(const SSLObject&) = delete;
  SSLObject& operator=(const SSLObject&) = delete;

  // Called from OpenSSL callbacks (see ssl_context.cc); never call JS.
  void QueueKeylog(const char* line);
  void NoteNewSession(SSL_SESSION* session);
  int CertHook();
  int ClientHelloHook(int* alert);
  // The ALPN answer JS chose at the ClientHello pause: an SSL_TLSEXT_ERR_*
  // value, or -1 when JS left ALPN to the context's protocol list.
  int SelectAlpn(const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen);
  // The session JS loaded from an external cache (ownership moves to the caller).
  SSL_SESSION* TakeLoadedSession();
  // Server: staples the OCSP response JS gave, if any (an SSL_TLSEXT_ERR_* value).
  int StapleOcspResponse();

 private:
  // A pause point of the server handshake: not reached yet, waiting for JS,
  // answered (go on), or refused (fail the handshake).
  enum class HookState { kIdle, kPending, kResolved, kRefused };
  enum class AlpnMode { kContext, kSelect, kRefuse };

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
  Napi::Value JS_peerMatchesHost(const Napi::CallbackInfo& info);
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
  Napi::Value JS_clientHello(const Napi::CallbackInfo& info);
  Napi::Value JS_clientHelloDone(const Napi::CallbackInfo& info);
  Napi::Value JS_requestOcsp(const Napi::CallbackInfo& info);
  Napi::Value JS_ocspRequested(const Napi::CallbackInfo& info);
  Napi::Value JS_ocspResponse(const Napi::CallbackInfo& info);
  Napi::Value JS_setOcspResponse(const Napi::CallbackInfo& info);
  Napi::Value JS_takeSessions(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  Napi::Value JS_isClosed(const Napi::CallbackInfo& info);

  // Session handles (see WrapSession in ssl_object.cc).
  static Napi::Value ParseSession(const Napi::CallbackInfo& info);
  static Napi::Value DescribeSession(const Napi::CallbackInfo& info);
  static Napi::Value EncodeSession(const Napi::CallbackInfo& info);

  // Shared-state helpers.
  int TakeFlags();
  int Finish(int status, size_t bytes, size_t out_bytes);
  // Maps SSL_get_error to a status, capturing the error if it is fatal.
  int StatusFromError(int ret);
  int DoHandshake();
  int ReadLoop(uint8_t* out, size_t length, size_t* produced);
  size_t DrainInto(uint8_t* out, size_t length);
  bool CheckOpen(Napi::Env env);
  void CaptureClientHello();
  void ReleaseHandshakeState();
  // SSL_free, and the end of its report to V8; a no-op once done.
  void FreeSsl(napi_env env);
  // SSL_set_msg_callback: counts the peer's KeyUpdates between application records.
  static void OnRecordMessage(int write_p, int version, int content_type, const void* buf,
                              size_t len, SSL* ssl, void* arg);
  int FailKeyUpdateFlood();

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
  HookState cert_state_ = HookState::kIdle;
  HookState hello_state_ = HookState::kIdle;
  // What the client offered, copied at the ClientHello pause.
  std::string hello_session_id_;
  std::string hello_servername_;
  std::string hello_alpn_;  // ALPN wire list (length-prefixed names)
  bool hello_has_alpn_ = false;
  bool hello_has_ticket_ = false;
  // What JS decided at the ClientHello pause.
  AlpnMode alpn_mode_ = AlpnMode::kContext;
  std::string alpn_choice_;
  SSL_SESSION* loaded_session_ = nullptr;  // owned until OpenSSL asks for it
  std::string ocsp_response_;              // server: bytes to staple
  // Server: sessions created since the last takeSessions(), as (id, DER).
  std::vector<std::pair<std::string, std::string>> server_sessions_;
  int flags_ = 0;             // kFlag* bits raised since the last returned status
  int new_sessions_ = 0;      // sessions noted since the last returned status
  int deferred_status_ = -1;  // a fatal status held back behind plaintext
  int key_updates_in_a_row_ = 0;  // peer KeyUpdates since its last application record
  bool key_update_flood_ = false;  // sticky: the limit was crossed
  // A handshake message came after the handshake (a session ticket, a
  // KeyUpdate): OpenSSL set up a write buffer for it that stays until the
  // next write. JS_receive gives the buffers back once the input is drained.
  bool post_handshake_message_ = false;
  ErrorInfo last_error_;
  std::vector<std::string> keylog_;
};

}  // namespace memtls

#endif  // MEMTLS_SSL_OBJECT_H_

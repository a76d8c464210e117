// SSLContext: one SSL_CTX per configuration, shared by every SSLObject made from
// it. Configuration mirrors Python's ssl.SSLContext (sslproto-spec §1.5) with
// memtls's security defaults (DESIGN.md): TLS 1.2 minimum, renegotiation
// refused, compression off, RELEASE_BUFFERS on.
//
// No OpenSSL callback installed here ever calls into JS. The certificate hook
// (SNI, OCSP) and the ClientHello hook (ALPN callback, external session cache)
// pause the handshake (the SSLObject reports kStatusWantSni /
// kStatusWantClientHello); the keylog and new-session hooks queue on the
// SSLObject; the TS layer acts on all of them after the native call returns.
#ifndef MEMTLS_SSL_CONTEXT_H_
#define MEMTLS_SSL_CONTEXT_H_

#include <napi.h>
#include <openssl/ssl.h>

#include <string>

namespace memtls {

class SSLContext : public Napi::ObjectWrap<SSLContext> {
 public:
  static Napi::Function Init(Napi::Env env);
  static SSLContext* Unwrap(Napi::Value value);

  explicit SSLContext(const Napi::CallbackInfo& info);
  ~SSLContext() override;
  SSLContext(const SSLContext&) = delete;
  SSLContext& operator=(const SSLContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool server() const { return server_; }
  bool check_hostname() const { return check_hostname_; }
  bool sni_hook() const { return sni_hook_; }
  bool ocsp_hook() const { return ocsp_hook_; }

 private:
  Napi::Value JS_loadCertChain(const Napi::CallbackInfo& info);
  Napi::Value JS_loadVerifyLocations(const Napi::CallbackInfo& info);
  Napi::Value JS_loadCaData(const Napi::CallbackInfo& info);
  Napi::Value JS_loadDefaultPaths(const Napi::CallbackInfo& info);
  Napi::Value JS_setVerifyMode(const Napi::CallbackInfo& info);
  Napi::Value JS_getVerifyMode(const Napi::CallbackInfo& info);
  Napi::Value JS_setCheckHostname(const Napi::CallbackInfo& info);
  Napi::Value JS_setProtocolVersions(const Napi::CallbackInfo& info);
  Napi::Value JS_getProtocolVersions(const Napi::CallbackInfo& info);
  Napi::Value JS_setCiphers(const Napi::CallbackInfo& info);
  Napi::Value JS_setCiphersuites(const Napi::CallbackInfo& info);
  Napi::Value JS_getCiphers(const Napi::CallbackInfo& info);
  Napi::Value JS_setAlpnProtocols(const Napi::CallbackInfo& info);
  Napi::Value JS_setSniHook(const Napi::CallbackInfo& info);
  Napi::Value JS_setKeylog(const Napi::CallbackInfo& info);
  Napi::Value JS_setOcspHook(const Napi::CallbackInfo& info);
  Napi::Value JS_setClientHelloHook(const Napi::CallbackInfo& info);
  Napi::Value JS_setExternalSessionCache(const Napi::CallbackInfo& info);
  Napi::Value JS_setOptions(const Napi::CallbackInfo& info);
  Napi::Value JS_getIssuer(const Napi::CallbackInfo& info);
  Napi::Value JS_setNumTickets(const Napi::CallbackInfo& info);
  Napi::Value JS_getNumTickets(const Napi::CallbackInfo& info);
  Napi::Value JS_setSessionCallback(const Napi::CallbackInfo& info);
  Napi::Value JS_setEcdhCurves(const Napi::CallbackInfo& info);
  Napi::Value JS_setTicketKeys(const Napi::CallbackInfo& info);
  Napi::Value JS_getTicketKeys(const Napi::CallbackInfo& info);
  Napi::Value JS_setSessionIdContext(const Napi::CallbackInfo& info);
  Napi::Value JS_setSessionTimeout(const Napi::CallbackInfo& info);
  Napi::Value JS_getCertificate(const Napi::CallbackInfo& info);

  static int AlpnSelect(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                        const unsigned char* in, unsigned int inlen, void* arg);
  void UpdateCertCallback();
  void UpdateSessionCacheMode();

  static int TicketKeyCallback(SSL* ssl, unsigned char* name, unsigned char* iv,
                               EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);

  SSL_CTX* ctx_ = nullptr;
  bool server_ = false;
  bool check_hostname_ = false;
  std::string alpn_wire_;  // server preference list, ALPN wire format
  bool sni_hook_ = false;        // pause for SNI in the certificate callback
  bool ocsp_hook_ = false;       // pause there when the client asks for OCSP
  bool session_callback_ = false;
  bool external_cache_ = false;  // server: sessions live in the application's cache
  bool own_ticket_keys_ = false;
  unsigned char ticket_keys_[48] = {0};  // name(16) | hmac(16) | aes(16), as Node
};

}  // namespace memtls

#endif  // MEMTLS_SSL_CONTEXT_H_

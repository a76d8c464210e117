// DER encoding of certificates into fresh Buffers (only on explicit request:
// never on the data path).
#ifndef MEMTLS_DER_H_
#define MEMTLS_DER_H_

#include <napi.h>
#include <openssl/x509.h>

namespace memtls {

// The DER of `cert` as a new Buffer, or undefined if it cannot be encoded.
inline Napi::Value DerOf(Napi::Env env, X509* cert) {
  const int length = i2d_X509(cert, nullptr);
  if (length <= 0) return env.Undefined();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(length));
  unsigned char* p = out.Data();
  i2d_X509(cert, &p);
  return out;
}

}  // namespace memtls

#endif  // MEMTLS_DER_H_

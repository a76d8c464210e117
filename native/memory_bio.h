// MemoryBIO: a BIO_s_mem buffer shared between JS and an SSL object.
//
// Python's ssl.MemoryBIO semantics (sslproto-spec BIO-1..8): an empty read means
// "retry" (WANT_READ for the SSL layer) until writeEof() marks a real EOF.
// The BIO is reference-counted: an SSLObject that wraps it takes its own
// reference, so either side may be collected first.
#ifndef MEMTLS_MEMORY_BIO_H_
#define MEMTLS_MEMORY_BIO_H_

#include <napi.h>
#include <openssl/bio.h>

namespace memtls {

class MemoryBIO : public Napi::ObjectWrap<MemoryBIO> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Returns the MemoryBIO behind `value`, or nullptr if it is not one.
  static MemoryBIO* Unwrap(Napi::Value value);

  explicit MemoryBIO(const Napi::CallbackInfo& info);
  ~MemoryBIO() override;
  MemoryBIO(const MemoryBIO&) = delete;
  MemoryBIO& operator=(const MemoryBIO&) = delete;

  BIO* bio() const { return bio_; }
  bool eof_written() const { return eof_written_; }

  // Swaps in a fresh, empty BIO with the same EOF state and returns it with one
  // reference for the caller. Used to give back the memory of a BIO_s_mem that
  // grew during a burst (it never shrinks on its own). Only valid while empty.
  BIO* Renew();

 private:
  Napi::Value JS_write(const Napi::CallbackInfo& info);
  Napi::Value JS_read(const Napi::CallbackInfo& info);
  Napi::Value JS_readInto(const Napi::CallbackInfo& info);
  Napi::Value JS_writeEof(const Napi::CallbackInfo& info);
  Napi::Value JS_pending(const Napi::CallbackInfo& info);
  Napi::Value JS_eof(const Napi::CallbackInfo& info);

  BIO* bio_ = nullptr;  // owned reference
  bool eof_written_ = false;
};

}  // namespace memtls

#endif  // MEMTLS_MEMORY_BIO_H_

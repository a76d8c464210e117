#include "memory_bio.h"

#include <climits>

#include "errors.h"

namespace memtls {

namespace {
// Tags MemoryBIO instances so a foreign object passed where a BIO is expected is
// rejected instead of being reinterpreted.
const napi_type_tag kMemoryBioTag = {0x6d656d74'6c73'0001ULL, 0x4d656d6f'72794249ULL};

BIO* NewMemBio(bool eof_written) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return nullptr;
  if (eof_written) {
    BIO_clear_retry_flags(bio);
    BIO_set_mem_eof_return(bio, 0);
  } else {
    // An empty buffer asks the SSL layer to retry, as a socket with no data would.
    BIO_set_retry_read(bio);
    BIO_set_mem_eof_return(bio, -1);
  }
  return bio;
}
}  // namespace

Napi::Function MemoryBIO::Init(Napi::Env env) {
  return DefineClass(env, "MemoryBIO",
                     {
                         InstanceMethod<&MemoryBIO::JS_write>("write"),
                         InstanceMethod<&MemoryBIO::JS_read>("read"),
                         InstanceMethod<&MemoryBIO::JS_readInto>("readInto"),
                         InstanceMethod<&MemoryBIO::JS_writeEof>("writeEof"),
                         InstanceAccessor<&MemoryBIO::JS_pending>("pending"),
                         InstanceAccessor<&MemoryBIO::JS_eof>("eof"),
                     });
}

MemoryBIO* MemoryBIO::Unwrap(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kMemoryBioTag)) return nullptr;
  return Napi::ObjectWrap<MemoryBIO>::Unwrap(object);
}

MemoryBIO::MemoryBIO(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MemoryBIO>(info) {
  info.This().As<Napi::Object>().TypeTag(&kMemoryBioTag);
  bio_ = NewMemBio(false);
  if (bio_ == nullptr) ThrowQueueError(info.Env(), "BIO_new failed");
}


BIO* MemoryBIO::Renew() {
  BIO* fresh = NewMemBio(eof_written_);
  if (fresh == nullptr) return nullptr;
  BIO_up_ref(fresh);
  BIO_free(bio_);
  bio_ = fresh;
  return fresh;
}

MemoryBIO::~MemoryBIO() {
  if (bio_ != nullptr) BIO_free(bio_);
}

Napi::Value MemoryBIO::JS_write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() && !info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "a bytes-like object is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (eof_written_) {
    ThrowPlainError(env, "cannot write() after writeEof()");
    return env.Undefined();
  }
  const uint8_t* data;
  size_t length;
  if (info[0].IsArrayBuffer()) {
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    data = static_cast<const uint8_t*>(ab.Data());
    length = ab.ByteLength();
  } else {
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    length = ta.ByteLength();
  }
  if (length > INT_MAX) {
    Napi::RangeError::New(env, "buffer too large for one write").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (length == 0) return Napi::Number::New(env, 0);
  ClearErrorOnReturn clear;
  const int written = BIO_write(bio_, data, static_cast<int>(length));
  if (written < 0 || static_cast<size_t>(written) != length) {
    ThrowQueueError(env, "BIO_write failed");
    return env.Undefined();
  }
  return Napi::Number::New(env, written);
}

Napi::Value MemoryBIO::JS_read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t pending = BIO_ctrl_pending(bio_);
  size_t wanted = pending;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsNumber()) {
      Napi::TypeError::New(env, "read() size must be a number").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const double n = info[0].As<Napi::Number>().DoubleValue();
    if (n >= 0 && n < static_cast<double>(pending)) wanted = static_cast<size_t>(n);
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, wanted);
  if (wanted > 0) {
    const int got = BIO_read(bio_, out.Data(), static_cast<int>(wanted));
    ERR_clear_error();
    if (got <= 0) return Napi::Buffer<uint8_t>::New(env, 0);
    if (static_cast<size_t>(got) < wanted) {
      return Napi::Buffer<uint8_t>::Copy(env, out.Data(), static_cast<size_t>(got));
    }
  }
  return out;
}

// readInto(target, offset, length) -> bytes copied. The fast way to drain the
// BIO into a buffer the caller owns and reuses.
Napi::Value MemoryBIO::JS_readInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "readInto(target, offset, length)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray target = info[0].As<Napi::TypedArray>();
  const int64_t offset = info[1].As<Napi::Number>().Int64Value();
  const int64_t length = info[2].As<Napi::Number>().Int64Value();
  const int64_t size = static_cast<int64_t>(target.ByteLength());
  if (offset < 0 || length < 0 || offset + length > size || length > INT_MAX) {
    Napi::RangeError::New(env, "readInto range is outside the target").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (length == 0 || BIO_ctrl_pending(bio_) == 0) return Napi::Number::New(env, 0);
  uint8_t* base = static_cast<uint8_t*>(target.ArrayBuffer().Data()) + target.ByteOffset();
  const int got = BIO_read(bio_, base + offset, static_cast<int>(length));
  ERR_clear_error();
  return Napi::Number::New(env, got > 0 ? got : 0);
}

Napi::Value MemoryBIO::JS_writeEof(const Napi::CallbackInfo& info) {
  eof_written_ = true;
  // From now on an empty buffer is a real end of stream for OpenSSL.
  BIO_clear_retry_flags(bio_);
  BIO_set_mem_eof_return(bio_, 0);
  return info.Env().Undefined();
}

Napi::Value MemoryBIO::JS_pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(BIO_ctrl_pending(bio_)));
}

Napi::Value MemoryBIO::JS_eof(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), eof_written_ && BIO_ctrl_pending(bio_) == 0);
}

}  // namespace memtls

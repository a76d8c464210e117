// Zero-copy views of JS byte containers, for the hot path.
#ifndef MEMTLS_BYTES_H_
#define MEMTLS_BYTES_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace memtls {

// A borrowed view into a TypedArray's (usually a Buffer's) memory. Valid only
// for the duration of the native call that produced it.
struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

// Fills `out` from any TypedArray (Buffer, Uint8Array, ...). Returns false if
// `value` is not one.
inline bool GetBytes(napi_env env, napi_value value, Bytes* out) {
  bool is_typed_array = false;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok || !is_typed_array) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) {
    return false;
  }
  size_t element = 1;
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      element = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      element = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      element = 8;
      break;
    default:
      break;
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = length * element;
  return true;
}

inline bool GetBytes(const Napi::Value& value, Bytes* out) {
  return GetBytes(value.Env(), value, out);
}

// Reads (buffer, offset, length) arguments starting at `first` and checks that
// the window lies inside the buffer. Throws a RangeError/TypeError and returns
// false otherwise.
inline bool GetWindow(const Napi::CallbackInfo& info, size_t first, Bytes* out) {
  Napi::Env env = info.Env();
  Bytes whole;
  if (!GetBytes(info[first], &whole) || !info[first + 1].IsNumber() || !info[first + 2].IsNumber()) {
    Napi::TypeError::New(env, "expected (buffer, offset, length)").ThrowAsJavaScriptException();
    return false;
  }
  const int64_t offset = info[first + 1].As<Napi::Number>().Int64Value();
  const int64_t length = info[first + 2].As<Napi::Number>().Int64Value();
  if (offset < 0 || length < 0 || static_cast<uint64_t>(offset + length) > whole.length) {
    Napi::RangeError::New(env, "window is outside the buffer").ThrowAsJavaScriptException();
    return false;
  }
  out->data = whole.data + offset;
  out->length = static_cast<size_t>(length);
  return true;
}

}  // namespace memtls

#endif  // MEMTLS_BYTES_H_

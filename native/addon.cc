#include "addon.h"

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "ceiling_bench.h"
#include "memory_bio.h"
#include "ssl_context.h"
#include "ssl_object.h"

namespace memtls {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  Napi::Int32Array shared_state = Napi::Int32Array::New(env, kSlotCount);
  shared = shared_state.Data();
  shared_state_ref_ = Napi::Persistent(shared_state.As<Napi::Object>());

  memory_bio_ctor = Napi::Persistent(MemoryBIO::Init(env));
  ssl_context_ctor = Napi::Persistent(SSLContext::Init(env));
  ssl_object_ctor = Napi::Persistent(SSLObject::Init(env));

  exports.Set("MemoryBIO", memory_bio_ctor.Value());
  exports.Set("SSLContext", ssl_context_ctor.Value());
  exports.Set("SSLObject", ssl_object_ctor.Value());
  exports.Set("sharedState", shared_state);
  // The runtime version of the OpenSSL we are linked against: the node binary's.
  exports.Set("opensslVersion", Napi::String::New(env, OpenSSL_version(OPENSSL_VERSION_STRING)));
  exports.Set("opensslVersionText", Napi::String::New(env, OpenSSL_version(OPENSSL_VERSION)));
  exports.Set("setErrorFactory",
              Napi::Function::New(env, [this](const Napi::CallbackInfo& info) {
                return JS_setErrorFactory(info);
              }, "setErrorFactory"));
  exports.Set("ceilingBench", Napi::Function::New(env, CeilingBench, "ceilingBench"));
  // For tests of what each SSLObject reports to V8: the size, and V8's running
  // total of reported external memory (every addon's and node's own reports).
  exports.Set("reportedNativeSize",
              Napi::Number::New(env, static_cast<double>(SSLObject::kReportedNativeSize)));
  exports.Set("externalMemoryTotal", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                int64_t total = 0;
                napi_adjust_external_memory(info.Env(), 0, &total);
                return Napi::Number::New(info.Env(), static_cast<double>(total));
              }, "externalMemoryTotal"));
}

Napi::Value Addon::JS_setErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "setErrorFactory expects a function").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}



}  // namespace memtls

using memtls::Addon;
NODE_API_ADDON(Addon)

// Per-environment state of the addon.
//
// The addon is context-aware: everything a JS environment (main thread or a
// worker) needs lives in one Addon instance attached as instance data, never in
// a static. Native objects find it with env.GetInstanceData<Addon>().
#ifndef MEMTLS_ADDON_H_
#define MEMTLS_ADDON_H_

#include <napi.h>

#include <cstdint>
#include <vector>

#include "bytes.h"

namespace memtls {

// Status codes of the non-throwing fast path, mirrored by `Status` in
// lib/native.ts. Low byte: the outcome. High bits: flags that may accompany it.
enum Status : int {
  kStatusOk = 0,
  kStatusWantRead = 1,
  kStatusWantWrite = 2,
  kStatusCloseNotify = 3,  // peer's close_notify seen, ours not sent: reads give EOF
  kStatusZeroReturn = 4,   // the connection is closed both ways
  kStatusError = 5,        // fatal; details from takeError()
  kStatusWantSni = 6,      // server paused on the SNI hook; resolve with sniDone()
  kStatusClosed = 7,       // the SSLObject was closed from JS
  kStatusWantClientHello = 8,  // server paused on the ClientHello hook; clientHelloDone()

  kFlagHandshakeDone = 1 << 8,  // the handshake completed during this call
  kFlagKeylog = 1 << 9,         // keylog lines are queued (takeKeylog)
  kFlagSession = 1 << 10,       // a new session: a ticket arrived (client), or one was
                                // created (server, details from takeSessions())
};

// Indexes into the shared Int32Array through which calls return lengths.
enum SharedSlot : int {
  kSlotBytes = 0,     // plaintext produced (read) or consumed (write)
  kSlotOutBytes = 1,  // ciphertext copied into the caller's output buffer
  kSlotPending = 2,   // ciphertext still waiting in the outgoing BIO
  kSlotSessions = 3,  // new sessions (tickets) that came with kFlagSession
  kSlotCount = 4,
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

  Napi::FunctionReference memory_bio_ctor;
  Napi::FunctionReference ssl_context_ctor;
  Napi::FunctionReference ssl_object_ctor;
  Napi::FunctionReference error_factory;

  // Lengths returned by the fast path. Points into shared_state_ref's buffer,
  // which the reference keeps alive for the life of the environment.
  int32_t* shared = nullptr;

  // Scratch space for coalescing small plaintext writes into full records.
  // Shared by every SSLObject of this environment (JS is single-threaded per
  // environment, and no call re-enters another).
  std::vector<uint8_t> coalesce;
  // Views of the chunks of one send() call, reused across calls.
  std::vector<Bytes> chunk_views;

 private:
  Napi::Value JS_setErrorFactory(const Napi::CallbackInfo& info);
  Napi::ObjectReference shared_state_ref_;
};

}  // namespace memtls

#endif  // MEMTLS_ADDON_H_

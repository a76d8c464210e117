// Benchmark-only: the in-memory client/server loop run entirely in C++, the
// ceiling against which bench/ measures the same loop driven from JS.
#ifndef MEMTLS_CEILING_BENCH_H_
#define MEMTLS_CEILING_BENCH_H_

#include <napi.h>

namespace memtls {

// ceilingBench(clientContext, serverContext, kind, size, count, serverHostname)
//   kind 'bulk': one handshake, then `count` writes of `size` bytes client ->
//                server; returns {seconds, bytes}.
//   kind 'handshake': `count` full handshakes; returns {seconds, handshakes}.
// `seconds` is the CPU time of this thread.
Napi::Value CeilingBench(const Napi::CallbackInfo& info);

}  // namespace memtls

#endif  // MEMTLS_CEILING_BENCH_H_

#include "ceiling_bench.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <time.h>

#include <string>
#include <vector>

#include "ssl_context.h"

namespace memtls {

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Endpoint {
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // borrowed; owned by ssl
  BIO* out = nullptr;  // borrowed; owned by ssl
};

bool MakeEndpoint(SSL_CTX* ctx, bool server, const std::string& host, Endpoint* e) {
  e->ssl = SSL_new(ctx);
  if (e->ssl == nullptr) return false;
  e->in = BIO_new(BIO_s_mem());
  e->out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(e->in, -1);
  BIO_set_mem_eof_return(e->out, -1);
  SSL_set_bio(e->ssl, e->in, e->out);
  if (server) {
    SSL_set_accept_state(e->ssl);
  } else {
    SSL_set_connect_state(e->ssl);
    SSL_set_tlsext_host_name(e->ssl, host.c_str());
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(e->ssl), host.c_str(), 0);
  }
  return true;
}

// Moves everything `from` has written into `to`'s input.
void Shuttle(const Endpoint& from, const Endpoint& to, std::vector<uint8_t>* scratch) {
  for (;;) {
    const int n = BIO_read(from.out, scratch->data(), static_cast<int>(scratch->size()));
    if (n <= 0) break;
    BIO_write(to.in, scratch->data(), n);
  }
}

bool Handshake(Endpoint* client, Endpoint* server, std::vector<uint8_t>* scratch) {
  for (int round = 0; round < 16; ++round) {
    // SSL_get_error must run before the shuttle: writing into a BIO clears
    // the retry flags it reads.
    const int c = SSL_do_handshake(client->ssl);
    if (c <= 0 && SSL_get_error(client->ssl, c) != SSL_ERROR_WANT_READ) return false;
    Shuttle(*client, *server, scratch);
    const int s = SSL_do_handshake(server->ssl);
    if (s <= 0 && SSL_get_error(server->ssl, s) != SSL_ERROR_WANT_READ) return false;
    Shuttle(*server, *client, scratch);
    if (c == 1 && s == 1) return true;
  }
  return false;
}

void Free(Endpoint* e) {
  if (e->ssl != nullptr) SSL_free(e->ssl);
  e->ssl = nullptr;
}

}  // namespace

Napi::Value CeilingBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SSLContext* client_ctx = SSLContext::Unwrap(info[0]);
  SSLContext* server_ctx = SSLContext::Unwrap(info[1]);
  if (client_ctx == nullptr || server_ctx == nullptr || !info[2].IsString() ||
      !info[3].IsNumber() || !info[4].IsNumber() || !info[5].IsString()) {
    Napi::TypeError::New(env, "ceilingBench(clientCtx, serverCtx, kind, size, count, host)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string kind = info[2].As<Napi::String>().Utf8Value();
  const size_t size = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
  const int64_t count = info[4].As<Napi::Number>().Int64Value();
  const std::string host = info[5].As<Napi::String>().Utf8Value();
  std::vector<uint8_t> scratch(256 * 1024);
  Napi::Object result = Napi::Object::New(env);

  if (kind == "handshake") {
    const double start = ThreadCpuSeconds();
    int64_t done = 0;
    for (int64_t i = 0; i < count; ++i) {
      Endpoint client, server;
      MakeEndpoint(client_ctx->ctx(), false, host, &client);
      MakeEndpoint(server_ctx->ctx(), true, host, &server);
      if (Handshake(&client, &server, &scratch)) ++done;
      Free(&client);
      Free(&server);
    }
    result.Set("seconds", Napi::Number::New(env, ThreadCpuSeconds() - start));
    result.Set("handshakes", Napi::Number::New(env, static_cast<double>(done)));
    ERR_clear_error();
    return result;
  }

  Endpoint client, server;
  MakeEndpoint(client_ctx->ctx(), false, host, &client);
  MakeEndpoint(server_ctx->ctx(), true, host, &server);
  if (!Handshake(&client, &server, &scratch)) {
    Free(&client);
    Free(&server);
    ERR_clear_error();
    Napi::Error::New(env, "ceiling handshake failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint8_t> payload(size, 0x61);
  std::vector<uint8_t> sink(std::max<size_t>(size, 64 * 1024));
  double bytes = 0;
  const double start = ThreadCpuSeconds();
  for (int64_t i = 0; i < count; ++i) {
    size_t written = 0;
    SSL_write_ex(client.ssl, payload.data(), payload.size(), &written);
    Shuttle(client, server, &scratch);
    size_t got = 0;
    while (SSL_read_ex(server.ssl, sink.data(), sink.size(), &got) == 1) bytes += got;
  }
  result.Set("seconds", Napi::Number::New(env, ThreadCpuSeconds() - start));
  result.Set("bytes", Napi::Number::New(env, bytes));
  Free(&client);
  Free(&server);
  ERR_clear_error();
  return result;
}

}  // namespace memtls

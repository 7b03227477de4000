// fiber/tls_core.hpp — internal header of fiber/ (not installed).
//
// The OpenSSL side of weft::TlsContext and of a TLS stream:
//
//   TlsContextCore  one SSL_CTX (client or server) and, for a client, its
//                   cache of the last session per "host:port";
//   TlsSession      one SSL object bound to one StreamCore through weft's
//                   BIO (see stream_core.hpp: the core's raw send and recv
//                   carry the records; OpenSSL never sees the fd).
//
// Only fiber/tls.cpp and the stream files include this header; no public
// header names an OpenSSL type.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "weft/fiber/tls.hpp"

namespace weft {
namespace detail {

class StreamCore;

class TlsContextCore {
 public:
  TlsContextCore(SSL_CTX* ctx, bool server, bool verify) noexcept : ctx_(ctx), server_(server), verify_(verify) {}
  TlsContextCore(const TlsContextCore&) = delete;
  TlsContextCore& operator=(const TlsContextCore&) = delete;
  ~TlsContextCore();

  SSL_CTX* native() const noexcept { return ctx_; }
  bool is_server() const noexcept { return server_; }
  bool verifies() const noexcept { return verify_; }

  // The client session cache: the last session a server issued for `key`
  // ("host:port"), with a reference for the caller (SSL_SESSION_free), or
  // null; and the store of a new one (the cache takes the reference).
  SSL_SESSION* take_session(const std::string& key);
  void store_session(const std::string& key, SSL_SESSION* session);

  // A server's ALPN list in wire format, which the select callback reads;
  // owned (a std::string*), freed with the context.
  void set_alpn(std::string* wire) noexcept { alpn_ = wire; }

 private:
  SSL_CTX* ctx_;
  bool server_;
  bool verify_;
  std::mutex sessions_mutex_;  // contexts may be shared between loops
  std::map<std::string, SSL_SESSION*> sessions_;
  std::string* alpn_ = nullptr;
};

// Invariant: ssl_ is bound to the stream's BIO for the stream's life; the
// core owns this object and frees it before itself; the context outlives it.
class TlsSession {
 public:
  // Creates the SSL object for `core`: a client sets SNI (for names, not IP
  // literals), the name or address to verify, and the cached session.
  TlsSession(std::shared_ptr<TlsContextCore> context, StreamCore& core, const std::string& server_hostname,
             uint16_t port);
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  ~TlsSession();

  SSL* ssl() const noexcept { return ssl_; }
  bool is_server() const noexcept { return server_; }
  const std::string& session_key() const noexcept { return session_key_; }

  bool handshake_done = false;
  bool shutdown_sent = false;
  // Set by the BIO: the peer's EOF reached the socket, or a recv failed.
  bool raw_eof = false;
  int raw_errno = 0;

  TlsContextCore& context() const noexcept { return *context_; }

 private:
  // Declared first, destroyed last: the SSL (freed in the destructor's
  // body) and its session callbacks need the context.
  std::shared_ptr<TlsContextCore> context_;
  SSL* ssl_ = nullptr;
  bool server_;
  std::string session_key_;
};

// OpenSSL's error queue as one line ("error:0A000086:SSL routines::certificate
// verify failed"), emptied; `fallback` if it is empty.
std::string take_openssl_errors(const char* fallback);

}  // namespace detail
}  // namespace weft

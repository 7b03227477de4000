// weft/fiber/tls.hpp — public header; includes only public headers and the
// standard library (OpenSSL stays inside fiber/tls.cpp).
//
// TLS for streams, as Python's ssl module serves asyncio:
//
//   Python                                         weft
//   ctx = ssl.create_default_context()             auto ctx = weft::TlsContext::client();
//   ctx = ssl.create_default_context(cafile=f)     TlsOptions o; o.cafile = f; TlsContext::client(o);
//   ctx.check_hostname = False                     o.insecure_no_verify = true;
//   ctx.verify_mode = ssl.CERT_NONE                   (both at once, loudly named)
//   ctx.load_cert_chain(cert, key)                 o.certfile = cert; o.keyfile = key;
//   ctx.set_alpn_protocols(['http/1.1'])           o.alpn = {"http/1.1"};
//   srv = ssl.SSLContext(PROTOCOL_TLS_SERVER)      auto srv = weft::TlsContext::server(o);
//   open_connection(h, p, ssl=ctx)                 ConnectOptions c; c.ssl = ctx; open_connection(h, p, c);
//   start_server(cb, h, p, ssl=srv)                ServerOptions s; s.ssl = srv; start_server(cb, h, p, s);
//
// A TLS stream is an ordinary weft::Stream: read, write, drain and close
// work as on TCP, with the records encrypted and decrypted in between.
// OpenSSL talks to the socket through weft's own BIO, so every send keeps
// MSG_NOSIGNAL and the write buffer, and a read that needs bytes parks the
// task on the socket as a plain read does.
//
// Client defaults (ssl.create_default_context): TLS 1.2 or newer, the
// system's CA store, SNI, and verification of the certificate chain and of
// the host name (or IP address) the connection was made to. A client
// context also keeps the last TLS session of each host and port, and
// offers it on the next connection (resumption, where the server allows).
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/stream_errors.hpp"

namespace weft {

namespace detail {
class TlsContextCore;
}  // namespace detail

// The settings of a TlsContext (an aggregate).
struct TlsOptions {
  // Trust these CAs instead of the system store (a PEM file, or a
  // directory hashed by `openssl rehash`); both empty: the system store.
  std::string cafile;
  std::string capath;
  // A certificate chain and its private key (PEM): the server's own, or a
  // client certificate.
  std::string certfile;
  std::string keyfile;
  // ALPN protocols to offer (client) or accept (server), in preference
  // order; empty: no ALPN.
  std::vector<std::string> alpn;
  // Client only: skip every certificate check (chain and host name). For
  // tests and trusted networks; a connection made so is open to anyone in
  // the middle.
  bool insecure_no_verify = false;
  // Server only: ask for a client certificate and verify it against the CAs
  // above (ssl.CERT_REQUIRED on a server context).
  bool require_client_certificate = false;
};

// An SSL_CTX, shared: copies are handles to one context. An empty context
// (default-constructed) means "no TLS" wherever an option takes one.
// Thread-safe to share between loops (OpenSSL contexts are).
class WEFT_API TlsContext {
 public:
  TlsContext() noexcept = default;

  // ssl.create_default_context(Purpose.SERVER_AUTH), adjusted by `options`.
  // Throws SSLError if a CA, certificate or key file cannot be loaded.
  static TlsContext client(const TlsOptions& options = TlsOptions());
  // A server context: `options.certfile` and `keyfile` are required.
  static TlsContext server(const TlsOptions& options);

  explicit operator bool() const noexcept { return core_ != nullptr; }
  bool is_server() const noexcept;
  // Whether a client context verifies certificates (false only with
  // insecure_no_verify).
  bool verifies() const noexcept;

  friend bool operator==(const TlsContext& a, const TlsContext& b) noexcept { return a.core_ == b.core_; }
  friend bool operator!=(const TlsContext& a, const TlsContext& b) noexcept { return a.core_ != b.core_; }

  // Internal: the core, for fiber/. A TLS stream holds a reference to it
  // for as long as it lives (session tickets arrive after the handshake).
  detail::TlsContextCore* core() const noexcept { return core_.get(); }
  const std::shared_ptr<detail::TlsContextCore>& shared_core() const noexcept { return core_; }

 private:
  std::shared_ptr<detail::TlsContextCore> core_;
};

// ssl.SSLError: a TLS failure (handshake, protocol, or a peer that closed
// the connection without close_notify). err() is an errno-like code:
// EPROTO for protocol errors, ECONNRESET for an unexpected EOF; what()
// carries OpenSSL's reason.
class WEFT_API SSLError : public SocketError {
 public:
  using SocketError::SocketError;
};

// ssl.SSLCertVerificationError: the peer's certificate did not verify.
// verify_code() is OpenSSL's X509_V_ERR_* value, verify_message() its
// text ("certificate has expired", "self-signed certificate", "Hostname
// mismatch", "unable to get local issuer certificate").
class WEFT_API SSLCertVerificationError : public SSLError {
 public:
  SSLCertVerificationError(long verify_code, std::string verify_message, const std::string& what, std::string host,
                           uint16_t port)
      : SSLError(EPROTO, what, std::move(host), port),
        verify_code_(verify_code),
        verify_message_(std::move(verify_message)) {}
  long verify_code() const noexcept { return verify_code_; }
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

}  // namespace weft

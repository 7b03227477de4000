// fiber/tls.cpp — TLS over weft's streams with OpenSSL (see
// weft/fiber/tls.hpp for the contracts, fiber/tls_core.hpp for the parts).
//
// How a TLS stream moves bytes: OpenSSL owns the record layer and reads and
// writes ciphertext through weft's BIO, whose two ends are StreamCore's own
// socket paths: bio_write() is the plain write path (send at once, queue
// the rest, flushed by the loop; never blocks, MSG_NOSIGNAL), bio_read() a
// non-blocking recv() that reports "retry" on EAGAIN. So SSL_write always
// completes at once, and SSL_read and the handshake return WANT_READ
// exactly when the socket is drained, which is when the task parks on the
// socket's readable edge, as a plain read does.
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "fiber/io_wait.hpp"
#include "fiber/loop_context.hpp"
#include "fiber/stream_core.hpp"
#include "fiber/tls_core.hpp"
#include "weft/fiber/exceptions.hpp"

namespace weft {
namespace detail {
namespace {

// --- weft's BIO ----------------------------------------------------------------

StreamCore* bio_core(BIO* bio) { return static_cast<StreamCore*>(BIO_get_data(bio)); }

int bio_write_cb(BIO* bio, const char* data, int n) {
  BIO_clear_retry_flags(bio);
  return bio_core(bio)->bio_write(data, n);
}

int bio_read_cb(BIO* bio, char* out, int n) {
  BIO_clear_retry_flags(bio);
  const int got = bio_core(bio)->bio_read(out, n);
  if (got < 0) BIO_set_retry_read(bio);
  return got;
}

long bio_ctrl_cb(BIO*, int cmd, long, void*) {
  // OpenSSL flushes after each flight of handshake records; our writes are
  // already on their way (or queued for the loop).
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create_cb(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// One BIO_METHOD for the process, made on first use (a function-local
// static: thread-safe in C++11), never freed.
const BIO_METHOD* weft_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft stream");
    if (m == nullptr || BIO_meth_set_write(m, bio_write_cb) != 1 || BIO_meth_set_read(m, bio_read_cb) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl_cb) != 1 || BIO_meth_set_create(m, bio_create_cb) != 1) {
      throw std::bad_alloc();
    }
    return m;
  }();
  return method;
}

// The index of the TlsSession pointer in an SSL's ex_data, for the
// new-session callback.
int session_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// SSL_CTX_sess_set_new_cb: a client got a session (TLS 1.2 at the end of
// the handshake, TLS 1.3 in a ticket after it). Returning 1 keeps the
// reference, which the cache takes.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* tls = static_cast<TlsSession*>(SSL_get_ex_data(ssl, session_index()));
  auto* context = static_cast<TlsContextCore*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), 0));
  if (tls == nullptr || context == nullptr) return 0;
  context->store_session(tls->session_key(), session);
  return 1;
}

// ALPN on a server: the first protocol of the server's list the client
// also offers; none in common is a handshake failure (RFC 7301 section 3.2).
int on_alpn_select(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
                   unsigned int offered_size, void* arg) {
  const auto* wire = static_cast<const std::string*>(arg);
  unsigned char* selected = nullptr;
  const int rc = SSL_select_next_proto(&selected, out_size, reinterpret_cast<const unsigned char*>(wire->data()),
                                       static_cast<unsigned int>(wire->size()), offered, offered_size);
  if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// ALPN's wire format: each protocol prefixed by its length.
std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) throw std::invalid_argument("weft::TlsOptions: bad ALPN protocol '" + p + "'");
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

[[noreturn]] void throw_context_error(const std::string& what) {
  throw SSLError(EPROTO, what + ": " + take_openssl_errors("unknown error"), std::string(), 0);
}

}  // namespace

std::string take_openssl_errors(const char* fallback) {
  std::string text;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char line[256];
    ERR_error_string_n(code, line, sizeof line);
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? fallback : text;
}

// --- TlsContextCore --------------------------------------------------------------

TlsContextCore::~TlsContextCore() {
  for (auto& entry : sessions_) SSL_SESSION_free(entry.second);
  delete alpn_;
  SSL_CTX_free(ctx_);
}

SSL_SESSION* TlsContextCore::take_session(const std::string& key) {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  auto found = sessions_.find(key);
  if (found == sessions_.end()) return nullptr;
  SSL_SESSION_up_ref(found->second);
  return found->second;
}

void TlsContextCore::store_session(const std::string& key, SSL_SESSION* session) {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  SSL_SESSION*& slot = sessions_[key];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = session;
}

// --- TlsSession ------------------------------------------------------------------

TlsSession::TlsSession(std::shared_ptr<TlsContextCore> shared_context, StreamCore& core,
                       const std::string& server_hostname, uint16_t port)
    : context_(std::move(shared_context)), server_(context_->is_server()) {
  TlsContextCore& context = *context_;
  ssl_ = SSL_new(context.native());
  if (ssl_ == nullptr) throw std::bad_alloc();
  BIO* bio = BIO_new(weft_bio_method());
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, &core);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns the BIO from here on
  SSL_set_ex_data(ssl_, session_index(), this);
  if (server_) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  session_key_ = server_hostname + ":" + std::to_string(port);
  const bool ip = is_ip_literal(server_hostname);
  // SNI carries names only (RFC 6066 section 3: "Literal IPv4 and IPv6
  // addresses are not permitted").
  if (!ip && !server_hostname.empty()) {
    // SSL_set_tlsext_host_name, without the macro's C cast.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(server_hostname.c_str()));
  }
  if (context.verifies() && !server_hostname.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_hostname.c_str())
                      : SSL_set1_host(ssl_, server_hostname.c_str());
    if (ok != 1) {
      SSL_free(ssl_);
      throw SSLError(EINVAL, "TLS: cannot verify the host name '" + server_hostname + "'", server_hostname, port);
    }
  }
  if (SSL_SESSION* session = context.take_session(session_key_)) {
    SSL_set_session(ssl_, session);  // takes its own reference
    SSL_SESSION_free(session);
  }
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

// --- StreamCore's TLS half -------------------------------------------------------------

int StreamCore::bio_write(const char* data, int n) noexcept {
  if (fd_ < 0 || write_error_ != nullptr) return -1;
  try {
    send_or_queue(data, static_cast<std::size_t>(n));
  } catch (...) {
    return -1;  // write_error_ is set; write() throws it
  }
  return n;
}

int StreamCore::bio_read(char* out, int n) noexcept {
  if (fd_ < 0) {
    tls_->raw_eof = true;
    return 0;
  }
  for (;;) {
    const ssize_t got = ::recv(fd_, out, static_cast<std::size_t>(n), 0);
    if (got > 0) return static_cast<int>(got);
    if (got == 0) {
      tls_->raw_eof = true;
      return 0;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return -1;
    tls_->raw_errno = err;
    return 0;
  }
}

void StreamCore::start_tls(TaskCore& task, const TlsContext& context, const std::string& server_hostname,
                           Loop::time_point deadline) {
  if (tls_ != nullptr) throw InvalidStateError("weft: the stream already uses TLS");
  tls_ = new TlsSession(context.shared_core(), *this, server_hostname, port_);
  SSL* ssl = tls_->ssl();
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl);
    if (rc == 1) break;
    const int error = SSL_get_error(ssl, rc);
    if (error != SSL_ERROR_WANT_READ) throw_handshake_error(error);
    Loop* loop = live_loop();
    if (loop == nullptr) throw InvalidStateError("weft: the event loop closed during a TLS handshake");
    const WakeReason why =
        park_on_fd(task, *loop, fd_, IoDirection::kRead, deadline, &fd_, &reader_waker_);
    task.check_cancel();
    if (why == WakeReason::kTimeout) {
      throw TimeoutError("TLS handshake with " + describe("") + ": timed out");
    }
  }
  tls_->handshake_done = true;
  // Handshake records may still sit in the write queue; write() keeps order.
  if (write_error_ != nullptr) std::rethrow_exception(write_error_);
}

void StreamCore::throw_handshake_error(int ssl_error) {
  SSL* ssl = tls_->ssl();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    take_openssl_errors("");
    const std::string reason = X509_verify_cert_error_string(verify);
    throw SSLCertVerificationError(verify, reason,
                                   "TLS handshake with " + describe("") + ": certificate verify failed: " + reason,
                                   host_, port_);
  }
  if (write_error_ != nullptr) std::rethrow_exception(write_error_);
  if (tls_->raw_errno != 0) {
    take_openssl_errors("");
    throw_socket_error(tls_->raw_errno, "TLS handshake with " + describe(""), host_, port_);
  }
  const std::string errors = take_openssl_errors("");
  if (tls_->raw_eof && errors.find("unexpected eof") != std::string::npos) {
    throw SSLError(ECONNRESET, "TLS handshake with " + describe("") + ": the peer closed the connection", host_,
                   port_);
  }
  throw SSLError(EPROTO,
                 "TLS handshake with " + describe("") + ": " +
                     (errors.empty() ? "SSL error " + std::to_string(ssl_error) : errors),
                 host_, port_);
}

std::size_t StreamCore::tls_receive(char* out, std::size_t n, TaskCore& task) {
  SSL* ssl = tls_->ssl();
  for (;;) {
    if (read_error_ != nullptr) std::rethrow_exception(read_error_);
    if (eof_) return 0;
    ERR_clear_error();
    const int got = SSL_read(ssl, out, n > INT_MAX ? INT_MAX : static_cast<int>(n));
    if (got > 0) return static_cast<std::size_t>(got);
    const int error = SSL_get_error(ssl, got);
    if (error == SSL_ERROR_WANT_READ) {
      park_on_fd(task, *context_->loop(), fd_, IoDirection::kRead, Loop::time_point::max(), &fd_,
                 &reader_waker_);
      task.check_cancel();
      continue;
    }
    if (error == SSL_ERROR_ZERO_RETURN) {  // close_notify: a clean end
      eof_ = true;
      return 0;
    }
    const std::string errors = take_openssl_errors("");
    if (tls_->raw_errno != 0) {
      read_error_ = socket_error(tls_->raw_errno, "TLS recv from");
    } else if (tls_->raw_eof) {
      // No close_notify: the stream may have been cut (a truncation attack
      // looks the same), so it is an error, not EOF (Python: SSLEOFError).
      read_error_ = std::make_exception_ptr(
          SSLError(ECONNRESET,
                   "TLS recv from " + describe("") + ": EOF occurred in violation of protocol (no close_notify)",
                   host_, port_));
    } else {
      read_error_ = std::make_exception_ptr(
          SSLError(EPROTO, "TLS recv from " + describe("") + ": " + (errors.empty() ? "SSL error" : errors), host_,
                   port_));
    }
  }
}

void StreamCore::tls_write(const char* data, std::size_t n) {
  SSL* ssl = tls_->ssl();
  while (n != 0) {
    ERR_clear_error();
    const int chunk = n > INT_MAX ? INT_MAX : static_cast<int>(n);
    const int wrote = SSL_write(ssl, data, chunk);
    if (wrote <= 0) {
      if (write_error_ != nullptr) return;  // the BIO met a send error: write() throws it
      const std::string errors = take_openssl_errors("SSL_write failed");
      fail_write(EPROTO);
      throw SSLError(EPROTO, "TLS send to " + describe("") + ": " + errors, host_, port_);
    }
    data += wrote;
    n -= static_cast<std::size_t>(wrote);
  }
}

std::string StreamCore::tls_version() const { return tls_ == nullptr ? std::string() : SSL_get_version(tls_->ssl()); }

std::string StreamCore::alpn_protocol() const {
  if (tls_ == nullptr) return std::string();
  const unsigned char* protocol = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(tls_->ssl(), &protocol, &size);
  return protocol == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(protocol), size);
}

bool StreamCore::tls_session_reused() const { return tls_ != nullptr && SSL_session_reused(tls_->ssl()) == 1; }

void StreamCore::send_close_notify() noexcept {
  if (tls_ == nullptr || !tls_->handshake_done || tls_->shutdown_sent || fd_ < 0 || write_error_ != nullptr) {
    return;
  }
  tls_->shutdown_sent = true;
  ERR_clear_error();
  SSL_shutdown(tls_->ssl());  // queues close_notify through the BIO; no waiting for the peer's
  ERR_clear_error();
}

}  // namespace detail

// --- TlsContext ------------------------------------------------------------------------

namespace {

std::shared_ptr<detail::TlsContextCore> make_context(const TlsOptions& options, bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) detail::throw_context_error("TLS: SSL_CTX_new failed");
  const bool verify = server ? options.require_client_certificate : !options.insecure_no_verify;
  std::shared_ptr<detail::TlsContextCore> core;
  try {
    core = std::make_shared<detail::TlsContextCore>(ctx, server, verify);
  } catch (...) {
    SSL_CTX_free(ctx);
    throw;
  }
  SSL_CTX_set_ex_data(ctx, 0, core.get());  // SSL_CTX_set_app_data, without its C cast
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Partial writes never happen (the BIO takes everything); records may be
  // written from a moved buffer when a write is retried.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);

  if (!options.cafile.empty() || !options.capath.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.cafile.empty() ? nullptr : options.cafile.c_str(),
                                      options.capath.empty() ? nullptr : options.capath.c_str()) != 1) {
      detail::throw_context_error("TLS: cannot load the CAs of '" + options.cafile + options.capath + "'");
    }
  } else if (!server && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    detail::throw_context_error("TLS: cannot load the system CA store");
  }
  if (!options.certfile.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.certfile.c_str()) != 1) {
      detail::throw_context_error("TLS: cannot load the certificate '" + options.certfile + "'");
    }
    const std::string& key = options.keyfile.empty() ? options.certfile : options.keyfile;
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      detail::throw_context_error("TLS: cannot load the private key '" + key + "'");
    }
  } else if (server) {
    throw std::invalid_argument("weft::TlsContext::server: a certfile (and keyfile) is required");
  }
  if (verify) {
    SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!options.alpn.empty()) {
    const std::string wire = detail::alpn_wire(options.alpn);
    if (server) {
      auto* kept = new std::string(wire);
      core->set_alpn(kept);
      SSL_CTX_set_alpn_select_cb(ctx, detail::on_alpn_select, kept);
    } else if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                       static_cast<unsigned int>(wire.size())) != 0) {
      detail::throw_context_error("TLS: cannot set ALPN");
    }
  }
  if (server) {
    // A server that verifies clients must name its session context, or
    // OpenSSL refuses to resume any session ("session id context
    // uninitialized"); every weft server gets one, as CPython's do.
    static const unsigned char kSessionContext[] = "weft";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  } else {
    // Sessions are cached by the context per host and port, not by OpenSSL's
    // internal (server-style) cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, detail::on_new_session);
  }
  return core;
}

}  // namespace

TlsContext TlsContext::client(const TlsOptions& options) {
  TlsContext context;
  context.core_ = make_context(options, false);
  return context;
}

TlsContext TlsContext::server(const TlsOptions& options) {
  TlsContext context;
  context.core_ = make_context(options, true);
  return context;
}

bool TlsContext::is_server() const noexcept { return core_ != nullptr && core_->is_server(); }
bool TlsContext::verifies() const noexcept { return core_ != nullptr && core_->verifies(); }

}  // namespace weft

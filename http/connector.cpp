// Connector: the keep-alive connection pool (see connector.hpp).
#include "connector.hpp"

#include <algorithm>
#include <utility>

#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/stream_errors.hpp"
#include "weft/fiber/tls.hpp"
#include "weft/reactor/errors.hpp"

namespace weft {
namespace http {
namespace detail {

constexpr std::size_t Connection::kBufferSize;

namespace {

ParserLimits parser_limits(const ResponseLimits& limits) {
  ParserLimits out;
  out.max_line_size = limits.max_line_size;
  out.max_field_count = limits.max_field_count;
  out.max_chunk_line_size = limits.max_chunk_line_size;
  return out;
}

}  // namespace

Connector::Connector(const ConnectorOptions& options, const ResponseLimits& limits)
    : options_(options), parser_limits_(parser_limits(limits)), loop_(get_running_loop()) {}

Connector::~Connector() { close(); }

bool Connector::has_room(const Host& host) const noexcept {
  return (options_.limit == 0 || in_use_ < options_.limit) &&
         (options_.limit_per_host == 0 || host.in_use < options_.limit_per_host);
}

void Connector::take_slot(Host& host) noexcept {
  ++in_use_;
  ++host.in_use;
}

void Connector::give_slot(Host& host) noexcept {
  --in_use_;
  --host.in_use;
  // Hand the slot to the first waiter that can use it: FIFO, except that a
  // waiter for a host at its own limit lets the ones behind it pass.
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    Waiter& waiter = **it;
    if (!has_room(*waiter.host)) continue;
    take_slot(*waiter.host);
    waiter.has_slot = true;
    waiters_.erase(it);
    waiter.ready.set();
    return;
  }
}

void Connector::wait_for_slot(Host& host) {
  Waiter waiter(&host);
  auto position = waiters_.insert(waiters_.end(), &waiter);
  try {
    waiter.ready.wait();
  } catch (...) {
    // Cancelled or timed out: leave the queue, or pass on a slot handed
    // over meanwhile.
    if (waiter.has_slot) {
      give_slot(host);
    } else if (!closed_) {
      waiters_.erase(position);
    }
    throw;
  }
  if (!waiter.has_slot) throw InvalidStateError("ClientSession: the session was closed while waiting for a connection");
}

std::unique_ptr<Connection> Connector::take_idle(Host& host) {
  const Loop::time_point now = loop_.time();
  while (!host.idle.empty()) {
    std::unique_ptr<Connection> connection = std::move(host.idle.back());
    host.idle.pop_back();
    --idle_;
    // Expired, or the peer's EOF (or junk) already arrived: close it.
    if (now - connection->idle_since >= options_.keepalive_timeout || connection->stream.is_closing() ||
        connection->stream.buffered() != 0) {
      continue;
    }
    return connection;
  }
  return nullptr;
}

std::unique_ptr<Connection> Connector::acquire(const URL& url, std::chrono::milliseconds sock_connect,
                                               const std::string& url_text) {
  if (closed_) throw InvalidStateError("ClientSession: the session is closed");
  Host& host = hosts_[url.origin()];  // std::map: the reference stays valid
  if (has_room(host)) {
    take_slot(host);
  } else {
    wait_for_slot(host);
  }
  // From here on this call holds a slot, which every exit must give back
  // unless a connection carries it out.
  try {
    std::unique_ptr<Connection> connection = take_idle(host);
    if (connection == nullptr) connection = dial(url, sock_connect, url_text);
    return connection;
  } catch (...) {
    give_slot(host);
    throw;
  }
}

std::unique_ptr<Connection> Connector::dial(const URL& url, std::chrono::milliseconds sock_connect,
                                            const std::string& url_text) {
  ConnectOptions options;
  options.connect_timeout = sock_connect > std::chrono::milliseconds::zero() ? sock_connect
                                                                             : std::chrono::milliseconds::max();
  options.dns_cache_ttl = options_.dns_cache_ttl;
  options.tcp_nodelay = true;
  if (url.scheme() == "https") {
    if (!options_.ssl) options_.ssl = TlsContext::client();  // made once, on first use
    options.ssl = options_.ssl;
    options.server_hostname = url.host();
    // The handshake is part of connecting: sock_connect bounds it too.
    options.ssl_handshake_timeout = options.connect_timeout;
  }
  Stream stream;
  try {
    stream = open_connection(url.host(), url.port(), options);
  } catch (const SSLCertVerificationError& e) {
    throw ClientConnectorCertificateError(url.host(), url.port(), e.err(), e.what(), url_text, e.verify_code(),
                                          e.verify_message());
  } catch (const SocketError& e) {  // ResolveError, SSLError and every ConnectionError
    throw ClientConnectorError(url.host(), url.port(), e.err(), e.what(), url_text);
  } catch (const OSError& e) {
    throw ClientConnectorError(url.host(), url.port(), e.err(), e.what(), url_text);
  }
  return std::unique_ptr<Connection>(new Connection(std::move(stream), url.origin(), parser_limits_));
}

void Connector::release(std::unique_ptr<Connection> connection, bool reusable) noexcept {
  if (connection == nullptr) return;
  auto found = hosts_.find(connection->key);
  if (found == hosts_.end()) return;  // cannot happen: a held slot keeps its Host
  Host& host = found->second;
  if (reusable && !closed_ && options_.keepalive_timeout > std::chrono::milliseconds::zero() &&
      !connection->has_unparsed() && !connection->stream.is_closing()) {
    connection->idle_since = loop_.time();
    try {
      host.idle.push_back(std::move(connection));
      ++idle_;
      if (!cleanup_timer_.pending()) schedule_cleanup(host.idle.back()->idle_since + options_.keepalive_timeout);
    } catch (...) {
      // Out of memory: the connection (if not pushed) is closed below.
    }
  }
  if (connection != nullptr) {
    // At a message boundary the connection ends cleanly (over TLS with
    // close_notify, which keeps its session resumable); inside a message
    // it is cut at once.
    if (connection->parser.message_complete() && !connection->has_unparsed()) {
      connection->stream.close();
    } else {
      connection->stream.abort();
    }
  }
  give_slot(host);
}

void Connector::schedule_cleanup(Loop::time_point when) {
  cleanup_at_ = when;
  cleanup_timer_ = loop_.call_at(when, [this] { cleanup(); });
}

void Connector::cleanup() noexcept {
  const Loop::time_point now = loop_.time();
  Loop::time_point next = Loop::time_point::max();
  for (auto& entry : hosts_) {
    auto& idle = entry.second.idle;
    // Least recently used first: the expired ones are a prefix.
    auto fresh = std::find_if(idle.begin(), idle.end(), [&](const std::unique_ptr<Connection>& c) {
      return now - c->idle_since < options_.keepalive_timeout;
    });
    idle_ -= static_cast<std::size_t>(fresh - idle.begin());
    idle.erase(idle.begin(), fresh);
    if (!idle.empty()) next = std::min(next, idle.front()->idle_since + options_.keepalive_timeout);
  }
  if (next != Loop::time_point::max()) {
    try {
      schedule_cleanup(next);
    } catch (...) {
      // Out of memory: idle connections are still checked when taken.
    }
  }
}

void Connector::close() noexcept {
  if (closed_) return;
  closed_ = true;
  cleanup_timer_.cancel();
  for (auto& entry : hosts_) entry.second.idle.clear();  // Stream's destructor closes
  idle_ = 0;
  // Wake every waiter; each finds no slot and throws InvalidStateError.
  std::list<Waiter*> waiters;
  waiters.swap(waiters_);
  for (Waiter* waiter : waiters) waiter->ready.set();
}

}  // namespace detail
}  // namespace http
}  // namespace weft

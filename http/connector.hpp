// connector.hpp — internal header of http/ (not installed).
//
// Connector: the keep-alive connection pool of a ClientSession, aiohttp's
// TCPConnector. It hands out a Connection for an origin, reusing an idle
// one when it can and dialling one otherwise, and takes it back when the
// response that used it is over.
//
// Slots: a connection "in use" holds a slot. At most `limit` slots are
// held at once, and at most `limit_per_host` for one origin; idle pooled
// connections hold none (aiohttp counts only acquired connections). A task
// that finds no free slot waits in one FIFO queue; a freed slot is handed
// straight to the first waiter whose origin has room, so no later arrival
// can take it first. A waiter cancelled (or timed out) after being handed a
// slot passes it on.
//
// Reuse: idle connections of an origin are kept most-recently-used last
// and taken from the back (aiohttp's LIFO), and closed once idle longer
// than keepalive_timeout, either when found so or by a cleanup timer. A
// connection whose peer closed while it sat idle is only found out when a
// request on it fails before the first response byte; the session retries
// an idempotent request once on a new connection (aiohttp 3.10+).
//
// Not thread-safe: a connector belongs to one loop's thread.
#ifndef WEFT_HTTP_CONNECTOR_HPP
#define WEFT_HTTP_CONNECTOR_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "response_parser.hpp"
#include "weft/fiber/locks.hpp"
#include "weft/fiber/streams.hpp"
#include "weft/http/client.hpp"
#include "weft/http/url.hpp"
#include "weft/reactor/handle.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {
namespace http {
namespace detail {

// One HTTP/1.1 connection: the stream, its response parser and the bytes
// read from the socket that the parser has not taken yet.
//
// Invariant: buffer[begin, end) are received bytes not yet fed to the
// parser; begin <= end <= kBufferSize.
struct Connection {
  // aiohttp's read_bufsize: 64 KiB per read from the socket.
  static constexpr std::size_t kBufferSize = 64 * 1024;

  Connection(Stream s, Origin origin, const ParserLimits& limits)
      : stream(std::move(s)), parser(limits), key(std::move(origin)), buffer(new char[kBufferSize]) {}

  bool has_unparsed() const noexcept { return begin < end; }

  Stream stream;
  ResponseParser parser;
  Origin key;
  std::unique_ptr<char[]> buffer;
  std::size_t begin = 0;
  std::size_t end = 0;
  Loop::time_point idle_since;
  unsigned responses = 0;        // responses read to the end on this connection
  std::uint64_t received = 0;    // bytes received for the current request
};

class Connector {
 public:
  Connector(const ConnectorOptions& options, const ResponseLimits& limits);
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;
  // close(); the loop must still be open.
  ~Connector();

  // A connection to url's origin, holding a slot: an idle pooled one
  // (responses > 0) or a new one. Blocks while no slot is free, then while
  // connecting, each address attempt bounded by `sock_connect` (zero: no
  // bound). Throws ClientConnectorError naming `url_text` if the host does
  // not resolve or no address accepts, weft::TimeoutError if every attempt
  // timed out, CancelledError, InvalidStateError once closed. Nothing is
  // held after a throw.
  std::unique_ptr<Connection> acquire(const URL& url, std::chrono::milliseconds sock_connect,
                                      const std::string& url_text);

  // Gives the slot back, and the connection to the pool if `reusable` (and
  // keep-alive is on and the connector open), closing it otherwise.
  void release(std::unique_ptr<Connection> connection, bool reusable) noexcept;

  // Closes every idle connection and refuses later acquires; connections
  // in use are closed as they are released. Waiters get InvalidStateError.
  void close() noexcept;
  bool closed() const noexcept { return closed_; }

  std::size_t in_use() const noexcept { return in_use_; }
  std::size_t idle() const noexcept { return idle_; }

 private:
  struct Host {
    std::vector<std::unique_ptr<Connection>> idle;  // least recently used first
    std::size_t in_use = 0;
  };
  struct Waiter {
    explicit Waiter(Host* h) noexcept : host(h) {}
    Host* host;
    Event ready;             // set when a slot is handed over (or on close)
    bool has_slot = false;
  };

  bool has_room(const Host& host) const noexcept;
  void take_slot(Host& host) noexcept;
  void give_slot(Host& host) noexcept;
  void wait_for_slot(Host& host);
  std::unique_ptr<Connection> take_idle(Host& host);
  std::unique_ptr<Connection> dial(const URL& url, std::chrono::milliseconds sock_connect,
                                   const std::string& url_text);
  void schedule_cleanup(Loop::time_point when);
  void cleanup() noexcept;

  ConnectorOptions options_;
  ParserLimits parser_limits_;
  Loop& loop_;
  std::map<Origin, Host> hosts_;
  std::list<Waiter*> waiters_;  // FIFO
  std::size_t in_use_ = 0;
  std::size_t idle_ = 0;
  bool closed_ = false;
  TimerHandle cleanup_timer_;
  Loop::time_point cleanup_at_;
};

}  // namespace detail
}  // namespace http
}  // namespace weft

#endif  // WEFT_HTTP_CONNECTOR_HPP

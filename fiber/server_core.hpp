// fiber/server_core.hpp — internal header of fiber/ (not installed).
//
// ServerCore is the state behind a weft::Server. It is split over two
// files: fiber/servers.cpp (creation, closing, waiting: asyncio's
// base_events.Server) and fiber/server_accept.cpp (accepting connections
// and running their handlers: selector_events._accept_connection).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <unordered_set>
#include <vector>

#include "fiber/io_wait.hpp"
#include "fiber/stream_core.hpp"
#include "weft/fiber/servers.hpp"

namespace weft {
namespace detail {

class LoopContext;

// A server's state. Reference counted (non-atomic): the Server handle, each
// queued accept callback or retry timer, and each connection not yet over
// hold one.
//
// Invariants:
//   - serving_ until close(); listening sockets are open exactly while
//     serving_, each either armed (an accept callback registered or queued)
//     or paused (a retry timer pending);
//   - active_ counts the connections not yet over: a connection is over
//     once its handler task's body is destroyed and its stream's socket is
//     closed, in either order (see Connection);
//   - connections_ holds the cores of the connection streams still open.
class ServerCore {
 public:
  ServerCore(Loop& loop, ConnectionHandler handler, const ServerOptions& options);

  static Server make_server(ServerCore* core) noexcept { return Server(core); }

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  // Binds and listens on `address`; throws SocketError naming host/port,
  // the address as the caller gave it.
  void listen_on(const SocketAddress& address, const std::string& host, uint16_t port);
  void set_unix_path(const std::string& path);
  void start();

  void close() noexcept;
  void for_each_client(bool abort) noexcept;
  void wait_closed();
  void serve_forever();
  bool is_serving() const noexcept { return serving_; }
  std::vector<SocketAddress> sockets() const;
  std::size_t active() const noexcept { return active_; }

 private:
  struct Listener {
    int fd = -1;
    SocketAddress address;
    TimerHandle retry;        // pending while paused
    bool armed = false;       // an accept callback is registered or queued
    bool reported = false;    // this pause was reported already
  };
  struct AcceptReady;
  class Connection;
  struct ConnectionBody;

  ~ServerCore();
  Loop* live_loop() const noexcept;
  void arm(std::size_t i);
  void on_acceptable(std::size_t i) noexcept;
  void accept_batch(std::size_t i);
  void pause(std::size_t i, int err);
  void resume_paused() noexcept;
  void start_connection(int fd, const SocketAddress& peer);
  void stream_closed(StreamCore& core) noexcept;
  void connection_over() noexcept;
  void report(const std::string& message, std::exception_ptr error) noexcept;

  LoopContext* context_;  // one reference
  ConnectionHandler handler_;
  ServerOptions options_;
  std::vector<Listener> listeners_;
  std::unordered_set<StreamCore*> connections_;
  std::string unix_path_;
  dev_t unix_dev_ = 0;
  ino_t unix_ino_ = 0;
  WaitList closed_waiters_{"server wait_closed"};
  WaitList stop_waiters_{"server serve_forever"};
  std::size_t active_ = 0;
  uint32_t refs_ = 1;
  bool serving_ = true;
  bool serving_forever_ = false;
};

}  // namespace detail
}  // namespace weft

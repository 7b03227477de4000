// fiber/sockets.hpp — internal header of fiber/ (not installed).
//
// Socket plumbing shared by open_connection() (fiber/connections.cpp) and
// the servers (fiber/servers.cpp): making non-blocking sockets, owning an
// fd until it is handed to a stream, and one non-blocking connect.
#pragma once

#include <chrono>
#include <string>

#include "weft/fiber/addresses.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {
namespace detail {

// A new non-blocking, close-on-exec stream socket of `family`. Throws a
// SocketError naming `purpose` (e.g. "connect to example.com:80") and
// host/port on failure (EMFILE: "Too many open files").
int open_socket(AddressFamily family, const std::string& purpose, const std::string& host, uint16_t port);

// Sets TCP_NODELAY (asyncio base_events._set_nodelay); failures are
// ignored, as asyncio ignores them for sockets that do not support it.
void set_nodelay(int fd) noexcept;

// Owns an fd until release(): closes it on destruction, unregistering it
// from the loop first (a connect's wait registers it).
class FdGuard {
 public:
  FdGuard(Loop& loop, int fd) noexcept : loop_(&loop), fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() { reset(); }

  int get() const noexcept { return fd_; }
  const int* live() const noexcept { return &fd_; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() noexcept;

 private:
  Loop* loop_;
  int fd_;
};

// now + timeout on the steady clock, saturating at time_point::max().
Loop::time_point deadline_in(Loop::clock::duration timeout) noexcept;

// One non-blocking connect of `fd` to `address`, parking the task until it
// completes or `deadline` passes. Returns 0 once connected, else the errno
// (ETIMEDOUT when the deadline passed). Throws CancelledError if the task
// is cancelled meanwhile (the caller's FdGuard closes the socket).
int connect_socket(TaskCore& task, Loop& loop, FdGuard& fd, const SocketAddress& address,
                   Loop::time_point deadline);

}  // namespace detail
}  // namespace weft

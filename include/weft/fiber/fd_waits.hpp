// weft/fiber/fd_waits.hpp — public header; includes only public headers and
// the standard library.
//
// Waiting on a file descriptor weft does not own, so that legacy code can
// keep its own non-blocking sockets, pipes or devices and still block only
// its task. asyncio reaches the same place through loop.add_reader() with a
// future (what loop.sock_recv() does inside):
//
//   asyncio                                     weft
//   fut = loop.create_future()                  if (weft::wait_readable(fd, 5s)) { ... }
//   loop.add_reader(fd, fut.set_result, None)
//   await asyncio.wait_for(fut, 5)  (+ remove_reader)
//
// The fd is checked first (poll(2) with a zero timeout): if it is ready the
// call returns true at once, without suspending, as asyncio's sock_recv
// tries the read before it waits. Otherwise the task parks on the loop's
// edge-triggered wait for the fd. When the call returns, the fd is no longer
// registered with the loop (unless the user's add_reader/add_writer or
// another task's wait still needs it), so the caller may close it at once.
//
// Threads: the loop's thread, from a task.
#pragma once

#include <chrono>

#include "weft/export.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {

namespace detail {
// The shared implementation; `timeout` < 0 means none.
WEFT_API bool wait_fd(int fd, bool writable, std::chrono::steady_clock::duration timeout, const char* what);
}  // namespace detail

// Blocks the current task until `fd` is readable (or has hung up or has an
// error pending: the next read will say which). Returns true when it is.
// Throws CancelledError if the task is cancelled; InvalidStateError outside
// a task, or if another task already waits on fd in the same direction, or
// fd has an add_reader callback; OSError if epoll refuses the fd (EBADF,
// EPERM for a regular file). fd must not belong to a weft Stream or Server.
inline bool wait_readable(int fd) {
  return detail::wait_fd(fd, false, std::chrono::steady_clock::duration(-1), "weft::wait_readable");
}

// As wait_readable(fd), giving up after `timeout`: returns false then. A
// timeout of zero or less only checks readiness, without suspending.
template <class Rep, class Period>
bool wait_readable(int fd, std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_fd(fd, false, detail::clock_duration(timeout), "weft::wait_readable");
}

// The same for writability (add_writer's side).
inline bool wait_writable(int fd) {
  return detail::wait_fd(fd, true, std::chrono::steady_clock::duration(-1), "weft::wait_writable");
}
template <class Rep, class Period>
bool wait_writable(int fd, std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_fd(fd, true, detail::clock_duration(timeout), "weft::wait_writable");
}

}  // namespace weft

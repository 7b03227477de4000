// fiber/fd_waits.cpp — wait_readable() / wait_writable() on the user's own
// fds (see weft/fiber/fd_waits.hpp).
#include "weft/fiber/fd_waits.hpp"

#include <poll.h>

#include <cerrno>
#include <vector>

#include "fiber/io_wait.hpp"
#include "fiber/sockets.hpp"

namespace weft {
namespace detail {

namespace {

// How many waits of this thread's tasks are in progress on each fd, so that
// the last one to leave unregisters the fd: the loop's unwatch_fd() would
// also drop a wait of the other direction. One loop runs per thread, so a
// thread-local table is the loop's.
std::vector<unsigned>& waits_per_fd() {
  static thread_local std::vector<unsigned> counts;
  return counts;
}

// poll(2) with a zero timeout: the readiness the edge-triggered wait would
// have missed if it came before this call.
bool ready_now(int fd, bool writable) {
  pollfd p;
  p.fd = fd;
  p.events = static_cast<short>(writable ? POLLOUT : POLLIN);
  p.revents = 0;
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) throw OSError(errno, "poll(fd " + std::to_string(fd) + ")");
  if ((p.revents & POLLNVAL) != 0) throw OSError(EBADF, "wait on fd " + std::to_string(fd));
  return rc > 0;
}

}  // namespace

bool wait_fd(int fd, bool writable, std::chrono::steady_clock::duration timeout, const char* what) {
  TaskCore& task = TaskCore::require_current(what);
  task.check_cancel();
  if (fd < 0) throw std::invalid_argument(std::string(what) + ": invalid file descriptor " + std::to_string(fd));
  if (ready_now(fd, writable)) return true;
  if (timeout == std::chrono::steady_clock::duration::zero()) return false;
  Loop& loop = get_running_loop();
  const Loop::time_point deadline =
      timeout < std::chrono::steady_clock::duration::zero() ? Loop::time_point::max() : deadline_in(timeout);

  std::vector<unsigned>& counts = waits_per_fd();
  const std::size_t slot = static_cast<std::size_t>(fd);
  if (slot >= counts.size()) counts.resize(slot + 1);
  ++counts[slot];
  struct Leave {
    Loop& loop;
    std::vector<unsigned>& counts;
    int fd;
    ~Leave() {
      if (--counts[static_cast<std::size_t>(fd)] == 0 && !loop.is_closed()) loop.impl().unwatch_fd(fd);
    }
  } leave{loop, counts, fd};
  const int live = fd;
  const WakeReason why = park_on_fd(task, loop, fd, writable ? IoDirection::kWrite : IoDirection::kRead, deadline,
                                    &live);
  task.check_cancel();
  return why != WakeReason::kTimeout;
}

}  // namespace detail
}  // namespace weft

// reactor/epoll_poller.hpp — internal header of reactor/ (not installed).
//
// The epoll binding, and the only file of weft that names epoll: like Redis's
// ae_epoll.c, a few thin functions the loop above calls without knowing the
// flags. Every fd is registered once, edge-triggered, for both directions;
// the loop keeps its own reader and writer slots per fd.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <vector>

namespace weft {
namespace detail {

// One readiness report. `token` is whatever add() was given for the fd.
struct PollEvent {
  uint64_t token;
  bool readable;  // data, EOF, hang-up or error: a reader should try now
  bool writable;  // buffer space, hang-up or error: a writer should try now
};

class EpollPoller {
 public:
  // Throws OSError if epoll_create1 fails.
  EpollPoller();
  ~EpollPoller();
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  // Registers fd, edge-triggered for input, output and peer shutdown. If the
  // fd is ready now, the next wait() reports it. Returns 0 or an errno
  // (EBADF, EPERM for a regular file, EEXIST, ENOMEM, ENOSPC).
  int add(int fd, uint64_t token);

  // Re-arms fd: the next wait() reports it again if it is ready now. This is
  // how the loop emulates level-triggered callbacks over an edge-triggered
  // registration. Returns 0 or an errno (ENOENT, EBADF if the fd was closed).
  int rearm(int fd, uint64_t token);

  // Unregisters fd. Closing an fd unregisters it too, so EBADF and ENOENT
  // are not errors here.
  void remove(int fd);

  // Waits up to timeout_ms (-1: forever, 0: just look) and returns the
  // reports, valid until the next call. EINTR returns no reports; any other
  // failure aborts the process, since the loop cannot go on without epoll.
  const std::vector<PollEvent>& wait(int timeout_ms);

 private:
  int epfd_;
  std::vector<epoll_event> raw_;
  std::vector<PollEvent> events_;
};

}  // namespace detail
}  // namespace weft

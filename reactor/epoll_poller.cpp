// reactor/epoll_poller.cpp — the epoll binding (see epoll_poller.hpp).
#include "reactor/epoll_poller.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "weft/reactor/errors.hpp"

namespace weft {
namespace detail {
namespace {

constexpr uint32_t kInterest = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
constexpr std::size_t kInitialEvents = 64;
constexpr std::size_t kMaxEvents = 4096;

int control(int epfd, int op, int fd, uint64_t token) {
  epoll_event ev{};
  ev.events = kInterest;
  ev.data.u64 = token;
  return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : errno;
}

}  // namespace

EpollPoller::EpollPoller() : epfd_(epoll_create1(EPOLL_CLOEXEC)), raw_(kInitialEvents) {
  if (epfd_ < 0) throw OSError(errno, "epoll_create1");
  events_.reserve(kInitialEvents);
}

EpollPoller::~EpollPoller() { ::close(epfd_); }

int EpollPoller::add(int fd, uint64_t token) { return control(epfd_, EPOLL_CTL_ADD, fd, token); }

int EpollPoller::rearm(int fd, uint64_t token) { return control(epfd_, EPOLL_CTL_MOD, fd, token); }

void EpollPoller::remove(int fd) {
  epoll_event ev{};  // ignored, but kernels before 2.6.9 required it
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
}

const std::vector<PollEvent>& EpollPoller::wait(int timeout_ms) {
  events_.clear();
  const int n = epoll_wait(epfd_, raw_.data(), static_cast<int>(raw_.size()), timeout_ms);
  if (n < 0) {
    const int saved_errno = errno;
    if (saved_errno == EINTR) return events_;
    std::fprintf(stderr, "weft: epoll_wait: %s\n", std::strerror(saved_errno));
    std::abort();
  }
  for (int i = 0; i < n; ++i) {
    const uint32_t e = raw_[static_cast<std::size_t>(i)].events;
    PollEvent pe;
    pe.token = raw_[static_cast<std::size_t>(i)].data.u64;
    pe.readable = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    pe.writable = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    events_.push_back(pe);
  }
  // A full batch suggests more are waiting: take more next time (bounded).
  if (static_cast<std::size_t>(n) == raw_.size() && raw_.size() < kMaxEvents) {
    raw_.resize(raw_.size() * 2);
  }
  return events_;
}

}  // namespace detail
}  // namespace weft

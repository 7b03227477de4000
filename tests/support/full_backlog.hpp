// tests/support/full_backlog.hpp — a listener whose connections never
// complete, for tests of connects that hang: the local way to make a connect
// stall, with no outside address involved.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft_test {

// A listening socket on 127.0.0.1 that never accepts and whose accept queue
// is full, so that the kernel drops every further SYN and a client's
// connect() stays in SYN_SENT until it gives up (or is cancelled). With a
// backlog of 0, Linux queues one connection; the constructor fills the
// queue with connections of its own until one of them stalls. (The one
// listening socket here that breaks DESIGN.md's "backlog >= 1,024" on
// purpose.)
class FullBacklogListener {
 public:
  FullBacklogListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0 || ::listen(fd_, 0) != 0) {
      close_all();
      throw std::runtime_error("FullBacklogListener: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    for (int i = 0; i < 16; ++i) {
      if (!connect_filler(address)) return;  // this one stalled: the queue is full
    }
    close_all();
    throw std::runtime_error("FullBacklogListener: 16 connections went through a listen(fd, 0) queue");
  }

  FullBacklogListener(const FullBacklogListener&) = delete;
  FullBacklogListener& operator=(const FullBacklogListener&) = delete;
  ~FullBacklogListener() { close_all(); }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // The queue is full: one filler connection stalled (the constructor
  // throws otherwise).
  bool full() const { return !stalled_filler_.empty(); }

  // Sockets stuck in SYN_SENT towards the listener, this listener's own
  // stalled filler excluded: /proc/net/tcp lists each socket with its
  // local and remote address and its state (02: SYN_SENT).
  std::size_t connecting_clients() const {
    const std::string remote = loopback_entry(port_);
    std::ifstream table("/proc/net/tcp");
    std::string slot, local, peer, state, rest;
    std::getline(table, rest);  // the header line
    std::size_t count = 0;
    while (table >> slot >> local >> peer >> state) {
      if (peer == remote && state == "02" && local != stalled_filler_) ++count;
      std::getline(table, rest);
    }
    return count;
  }

 private:
  // 127.0.0.1:port as /proc/net/tcp writes it.
  static std::string loopback_entry(std::uint16_t port) {
    char text[32];
    std::snprintf(text, sizeof text, "0100007F:%04X", static_cast<unsigned>(port));
    return text;
  }

  // Connects one more socket; false if it stays in SYN_SENT.
  bool connect_filler(const sockaddr_in& address) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw std::runtime_error("FullBacklogListener: socket() failed");
    fillers_.push_back(fd);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) return true;
    pollfd wait = {fd, POLLOUT, 0};
    if (::poll(&wait, 1, 200) == 1) return true;  // connected within 200 ms: the queue had room
    sockaddr_in local = {};
    socklen_t size = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size);
    stalled_filler_ = loopback_entry(ntohs(local.sin_port));
    return false;
  }

  void close_all() noexcept {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
  std::string stalled_filler_;  // its /proc/net/tcp local address
};

}  // namespace weft_test

// Helpers shared by the stream, server and fd-wait tests: an fd-leak check
// around every test, raw socket pairs, and the loopback addresses the tests
// may use (DESIGN.md: tests talk only to 127.0.0.1, ::1 and Unix sockets).
#pragma once

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>

namespace weft_test {

// The number of open file descriptors of this process (/proc/self/fd).
inline int open_fd_count() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own fd
}

// A fixture asserting that a test leaves as many fds open as it found.
class FdLeakCheck : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = open_fd_count(); }
  void TearDown() override { EXPECT_EQ(fds_before_, open_fd_count()) << "the test leaked file descriptors"; }

 private:
  int fds_before_ = 0;
};

// A connected pair of Unix stream sockets: first for a weft Stream, second
// for the test to drive by hand (blocking).
inline std::pair<int, int> socket_pair() {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::perror("socketpair");
  return {fds[0], fds[1]};
}

// Writes all of `data` to a blocking fd.
inline void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// True if this machine can bind to the IPv6 loopback address.
inline bool have_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 address = {};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

// A unique path for a Unix socket of this test process.
inline std::string unix_socket_path(const char* name) {
  return "/tmp/weft-test-" + std::to_string(::getpid()) + "-" + name + ".sock";
}

}  // namespace weft_test

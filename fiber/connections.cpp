// fiber/connections.cpp — making streams: open_connection(),
// open_unix_connection() and Stream::from_socket(), after asyncio's
// base_events.create_connection and selector_events.sock_connect; and the
// socket plumbing of fiber/sockets.hpp.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "fiber/io_wait.hpp"
#include "fiber/sockets.hpp"
#include "fiber/stream_core.hpp"
#include "fiber/tls_core.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/resolver.hpp"
#include "weft/fiber/streams.hpp"

namespace weft {
namespace detail {

int open_socket(AddressFamily family, const std::string& purpose, const std::string& host, uint16_t port) {
  const int native = family == AddressFamily::kIPv6 ? AF_INET6 : family == AddressFamily::kUnix ? AF_UNIX : AF_INET;
  const int fd = ::socket(native, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_socket_error(errno, "socket() for " + purpose, host, port);
  return fd;
}

void set_nodelay(int fd) noexcept {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void FdGuard::reset() noexcept {
  if (fd_ < 0) return;
  if (!loop_->is_closed()) loop_->impl().unwatch_fd(fd_);
  ::close(fd_);
  fd_ = -1;
}

Loop::time_point deadline_in(Loop::clock::duration timeout) noexcept {
  const Loop::time_point now = Loop::clock::now();
  return timeout >= Loop::time_point::max() - now ? Loop::time_point::max() : now + timeout;
}

// asyncio selector_events._sock_connect and _sock_connect_cb: connect; on
// EINPROGRESS wait until writable, then read SO_ERROR.
int connect_socket(TaskCore& task, Loop& loop, FdGuard& fd, const SocketAddress& address,
                   Loop::time_point deadline) {
  if (::connect(fd.get(), static_cast<const sockaddr*>(address.data()), static_cast<socklen_t>(address.size())) ==
      0) {
    return 0;
  }
  const int err = errno;
  // EINTR: the connect goes on in the background, as after EINPROGRESS.
  if (err != EINPROGRESS && err != EINTR) return err;
  const WakeReason why = park_on_fd(task, loop, fd.get(), IoDirection::kWrite, deadline, fd.live());
  task.check_cancel();
  if (why == WakeReason::kTimeout) return ETIMEDOUT;
  int so_error = 0;
  socklen_t size = sizeof so_error;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &size) != 0) return errno;
  return so_error;
}

namespace {

struct Failure {
  SocketAddress address;
  int err;
};

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// asyncio create_connection: "if len(exceptions) == 1: raise exceptions[0]",
// else one error listing them all. weft keeps the last one's type, so that
// a refused connection is a ConnectionRefusedError however many addresses
// were tried; if every attempt timed out, it is a TimeoutError.
[[noreturn]] void throw_connect_failure(const std::string& host, uint16_t port, const std::vector<Failure>& failures,
                                        std::chrono::milliseconds timeout) {
  std::string what = "connect to " + bracketed(host) + ":" + std::to_string(port);
  std::string tried;
  bool all_timed_out = true;
  for (std::size_t i = 0; i < failures.size(); ++i) {
    const std::string numeric = failures[i].address.host();
    if (i + 1 < failures.size()) {
      tried += numeric + ": " + std::strerror(failures[i].err) + ", then ";
    } else if (failures.size() > 1 || numeric != host) {
      tried += numeric;
    }
    all_timed_out = all_timed_out && failures[i].err == ETIMEDOUT;
  }
  if (!tried.empty()) what += " (" + tried + ")";
  if (all_timed_out) {
    throw TimeoutError(what + ": timed out after " + std::to_string(timeout.count()) + " ms");
  }
  throw_socket_error(failures.back().err, what, host, port);
}

}  // namespace
}  // namespace detail

Stream open_connection(const std::string& host, uint16_t port, const ConnectOptions& options) {
  detail::TaskCore& task = detail::TaskCore::require_current("weft::open_connection");
  Loop& loop = get_running_loop();
  ResolveOptions resolve;
  resolve.family = options.family;
  resolve.cache_ttl = options.dns_cache_ttl;
  const std::vector<SocketAddress> addresses = getaddrinfo(host, port, resolve);
  std::vector<detail::Failure> failures;
  const std::string purpose = "connect to " + detail::bracketed(host) + ":" + std::to_string(port);
  for (const SocketAddress& address : addresses) {
    detail::FdGuard fd(loop, detail::open_socket(address.family(), purpose, host, port));
    if (options.tcp_nodelay) detail::set_nodelay(fd.get());
    const Loop::time_point deadline = detail::deadline_in(detail::clock_duration(options.connect_timeout));
    const int err = detail::connect_socket(task, loop, fd, address, deadline);
    if (err == 0) {
      Stream stream = detail::StreamCore::make_stream(
          detail::StreamCore::create(loop, fd.release(), options.stream, host, port, address));
      if (options.ssl) {
        if (options.ssl.is_server()) {
          throw std::invalid_argument("weft::open_connection: ConnectOptions::ssl is a server context");
        }
        detail::StreamCore::of(stream).start_tls(
            task, options.ssl, options.server_hostname.empty() ? host : options.server_hostname,
            detail::deadline_in(detail::clock_duration(options.ssl_handshake_timeout)));
      }
      return stream;
    }
    failures.push_back(detail::Failure{address, err});
  }
  detail::throw_connect_failure(host, port, failures, options.connect_timeout);
}

Stream open_unix_connection(const std::string& path, const StreamOptions& options) {
  detail::TaskCore& task = detail::TaskCore::require_current("weft::open_unix_connection");
  Loop& loop = get_running_loop();
  const SocketAddress address = SocketAddress::from_unix_path(path);
  const std::string purpose = "connect to " + address.to_string();
  detail::FdGuard fd(loop, detail::open_socket(AddressFamily::kUnix, purpose, path, 0));
  const int err = detail::connect_socket(task, loop, fd, address, Loop::time_point::max());
  if (err != 0) throw_socket_error(err, purpose, path, 0);
  return detail::StreamCore::make_stream(detail::StreamCore::create(loop, fd.release(), options, path, 0, address));
}

// asyncio open_connection(sock=sock) -> create_connection(sock=sock), which
// calls sock.setblocking(False) and takes the socket over.
Stream Stream::from_socket(int fd, StreamOptions options) {
  Loop* loop = running_loop();
  if (loop == nullptr) {
    ::close(fd);
    throw InvalidStateError("weft::Stream::from_socket: no event loop is running on this thread");
  }
  int type = 0;
  socklen_t size = sizeof type;
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0 ||
      ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    const int err = errno;
    ::close(fd);
    throw OSError(err, "weft::Stream::from_socket(fd " + std::to_string(fd) + ")");
  }
  if (type != SOCK_STREAM) {
    ::close(fd);
    throw std::invalid_argument("weft::Stream::from_socket(fd " + std::to_string(fd) + "): not a stream socket");
  }
  sockaddr_storage storage;
  size = sizeof storage;
  SocketAddress peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &size) == 0 && size > sizeof(sa_family_t)) {
    peer = SocketAddress::from_native(&storage, size);
  }
  std::string host = peer.empty() || peer.host().empty() ? "socket fd " + std::to_string(fd) : peer.host();
  return detail::StreamCore::make_stream(
      detail::StreamCore::create(*loop, fd, options, std::move(host), peer.port(), peer));
}

}  // namespace weft

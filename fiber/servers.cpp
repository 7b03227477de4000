// fiber/servers.cpp — start_server(), start_unix_server() and Server's
// life cycle: listening, closing and waiting, after asyncio's
// base_events.create_server and Server (see weft/fiber/servers.hpp; the
// accepting is in fiber/server_accept.cpp).
#include "weft/fiber/servers.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "fiber/loop_context.hpp"
#include "fiber/server_core.hpp"
#include "fiber/sockets.hpp"
#include "weft/fiber/resolver.hpp"

namespace weft {
namespace detail {

ServerCore::ServerCore(Loop& loop, ConnectionHandler handler, const ServerOptions& options)
    : context_(&LoopContext::of(loop)), handler_(std::move(handler)), options_(options) {
  context_->add_ref();
}

ServerCore::~ServerCore() { context_->release(); }

Loop* ServerCore::live_loop() const noexcept {
  Loop* loop = context_->loop();
  return loop != nullptr && !loop->is_closed() ? loop : nullptr;
}

void ServerCore::listen_on(const SocketAddress& address, const std::string& host, uint16_t port) {
  Loop& loop = *context_->loop();
  const std::string purpose = "bind to " + address.to_string();
  FdGuard fd(loop, open_socket(address.family(), purpose, host, port));
  const int one = 1;
  if (address.family() != AddressFamily::kUnix) {
    // asyncio create_server: SO_REUSEADDR on POSIX; IPV6_V6ONLY on AF_INET6
    // "to prevent the Unexpected IPv4 mapped address" clash with 0.0.0.0.
    if (options_.reuse_address) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (options_.reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      throw_socket_error(errno, "setsockopt(SO_REUSEPORT) on " + address.to_string(), host, port);
    }
    if (address.family() == AddressFamily::kIPv6) {
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
  }
  if (::bind(fd.get(), static_cast<const sockaddr*>(address.data()), static_cast<socklen_t>(address.size())) != 0) {
    throw_socket_error(errno, purpose, host, port);
  }
  if (::listen(fd.get(), options_.backlog) != 0) {
    throw_socket_error(errno, "listen on " + address.to_string(), host, port);
  }
  Listener listener;
  listener.address = address;
  sockaddr_storage bound;
  socklen_t size = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &size) == 0 && size > sizeof(sa_family_t)) {
    listener.address = SocketAddress::from_native(&bound, size);  // the port the kernel picked
  }
  listeners_.push_back(listener);
  listeners_.back().fd = fd.release();
}

// asyncio 3.13 cleanup_socket: remember the file's identity, so that
// close() removes it only if nobody replaced it meanwhile.
void ServerCore::set_unix_path(const std::string& path) {
  struct stat st;
  if (path.empty() || path[0] == '\0' || ::stat(path.c_str(), &st) != 0) return;
  unix_path_ = path;
  unix_dev_ = st.st_dev;
  unix_ino_ = st.st_ino;
}

// A connection's socket closed, so a descriptor is free.
void ServerCore::stream_closed(StreamCore& core) noexcept {
  connections_.erase(&core);
  resume_paused();
}

void ServerCore::connection_over() noexcept {
  --active_;
  if (!serving_ && active_ == 0) closed_waiters_.wake_all();
}

// asyncio Server.close(): the listening sockets close; connections go on.
void ServerCore::close() noexcept {
  if (!serving_) return;
  serving_ = false;
  add_ref();  // unwatch_fd drops accept callbacks holding references
  Loop* loop = live_loop();
  for (Listener& listener : listeners_) {
    listener.retry.cancel();
    if (loop != nullptr) loop->impl().unwatch_fd(listener.fd);
    ::close(listener.fd);
    listener.fd = -1;
    listener.armed = false;
  }
  struct stat st;
  if (!unix_path_.empty() && ::stat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
      st.st_ino == unix_ino_) {
    ::unlink(unix_path_.c_str());
  }
  stop_waiters_.wake_all();
  if (active_ == 0) closed_waiters_.wake_all();
  release();
}

void ServerCore::for_each_client(bool abort) noexcept {
  std::vector<StreamCore*> open(connections_.begin(), connections_.end());
  for (StreamCore* stream : open) stream->add_ref();
  for (StreamCore* stream : open) {
    if (abort) {
      stream->abort();
    } else {
      stream->close();
    }
  }
  for (StreamCore* stream : open) stream->release();
}

void ServerCore::wait_closed() {
  TaskCore& task = TaskCore::require_current("weft::Server::wait_closed");
  while (serving_ || active_ != 0) {
    closed_waiters_.wait(task);
    task.check_cancel();
  }
}

// asyncio Server.serve_forever: "except exceptions.CancelledError: try:
// self.close(); await self.wait_closed() finally: raise". The waiting is
// done outside the catch block: a fiber must not switch inside one.
void ServerCore::serve_forever() {
  TaskCore& task = TaskCore::require_current("weft::Server::serve_forever");
  if (serving_forever_) {
    throw InvalidStateError("weft::Server::serve_forever: already being awaited by another task");
  }
  if (!serving_) throw InvalidStateError("weft::Server::serve_forever: the server is closed");
  serving_forever_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{serving_forever_};
  bool cancelled = false;
  CancelledError cancellation;
  try {
    while (serving_) {
      stop_waiters_.wait(task);
      task.check_cancel();
    }
  } catch (const CancelledError& error) {
    cancelled = true;
    cancellation = error;
  }
  if (!cancelled) return;
  close();
  wait_closed();
  throw cancellation;
}

std::vector<SocketAddress> ServerCore::sockets() const {
  std::vector<SocketAddress> addresses;
  if (!serving_) return addresses;
  for (const Listener& listener : listeners_) addresses.push_back(listener.address);
  return addresses;
}

void ServerCore::report(const std::string& message, std::exception_ptr error) noexcept {
  Loop* loop = context_->loop();
  if (loop == nullptr) return;
  ExceptionContext context;
  context.message = message;
  context.exception = std::move(error);
  loop->call_exception_handler(context);
}

}  // namespace detail

// --- the handle ---------------------------------------------------------------

Server::Server() noexcept = default;
Server::Server(Server&& other) noexcept : core_(other.core_) { other.core_ = nullptr; }
Server& Server::operator=(Server&& other) noexcept {
  if (this != &other) {
    if (core_ != nullptr) {
      core_->close();
      core_->release();
    }
    core_ = other.core_;
    other.core_ = nullptr;
  }
  return *this;
}
Server::~Server() {
  if (core_ != nullptr) {
    core_->close();
    core_->release();
  }
}

detail::ServerCore& Server::core(const char* what) const {
  if (core_ == nullptr) throw InvalidStateError(std::string(what) + ": the Server is empty");
  return *core_;
}

void Server::close() { core("weft::Server::close").close(); }
void Server::close_clients() { core("weft::Server::close_clients").for_each_client(false); }
void Server::abort_clients() { core("weft::Server::abort_clients").for_each_client(true); }
void Server::wait_closed() { core("weft::Server::wait_closed").wait_closed(); }
void Server::serve_forever() { core("weft::Server::serve_forever").serve_forever(); }
bool Server::is_serving() const noexcept { return core_ != nullptr && core_->is_serving(); }
std::vector<SocketAddress> Server::sockets() const { return core("weft::Server::sockets").sockets(); }
uint16_t Server::port() const {
  const std::vector<SocketAddress> addresses = core("weft::Server::port").sockets();
  return addresses.empty() ? 0 : addresses.front().port();
}
std::size_t Server::active_connections() const noexcept { return core_ == nullptr ? 0 : core_->active(); }

Server start_server(ConnectionHandler handler, const std::string& host, uint16_t port, const ServerOptions& options) {
  Loop& loop = get_running_loop();
  ResolveOptions resolve;
  resolve.family = options.family;
  resolve.passive = true;
  const std::vector<SocketAddress> addresses = getaddrinfo(host, port, resolve);
  auto* core = new detail::ServerCore(loop, std::move(handler), options);
  Server server = detail::ServerCore::make_server(core);  // on a throw below, ~Server closes what is open
  for (const SocketAddress& address : addresses) core->listen_on(address, host, port);
  core->start();
  return server;
}

Server start_unix_server(ConnectionHandler handler, const std::string& path, const ServerOptions& options) {
  Loop& loop = get_running_loop();
  const SocketAddress address = SocketAddress::from_unix_path(path);
  // asyncio create_unix_server: "Check for abstract socket. `str` and
  // `bytes` paths are supported", then remove a stale socket file.
  struct stat st;
  if (path[0] != '\0' && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  auto* core = new detail::ServerCore(loop, std::move(handler), options);
  Server server = detail::ServerCore::make_server(core);
  core->listen_on(address, path, 0);
  core->set_unix_path(path);
  core->start();
  return server;
}

}  // namespace weft

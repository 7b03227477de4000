// fiber/server_accept.cpp — a server's accepting: the loop callback that
// accepts connections, the pause when descriptors run out, and the task
// each connection's handler runs in (asyncio's
// selector_events._accept_connection and StreamReaderProtocol's
// client_connected_cb; see weft/fiber/servers.hpp).
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "fiber/loop_context.hpp"
#include "fiber/server_core.hpp"
#include "fiber/sockets.hpp"
#include "fiber/stream_core.hpp"
#include "fiber/tls_core.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/timeouts.hpp"

namespace weft {
namespace detail {

// The accept callback and the retry timer's: a reference and an index.
struct ServerCore::AcceptReady {
  ServerCore* core;
  std::size_t index;
  AcceptReady(ServerCore* c, std::size_t i) noexcept : core(c), index(i) { core->add_ref(); }
  AcceptReady(AcceptReady&& other) noexcept : core(other.core), index(other.index) { other.core = nullptr; }
  AcceptReady(const AcceptReady&) = delete;
  AcceptReady& operator=(const AcceptReady&) = delete;
  AcceptReady& operator=(AcceptReady&&) = delete;
  ~AcceptReady() {
    if (core != nullptr) core->release();
  }
  void operator()() noexcept { core->on_acceptable(index); }
};

// One accepted connection's bookkeeping: two references, one held by its
// handler task's body, one by its stream (as the stream's observer, until
// the socket closes). The connection is over when both are dropped, in
// whichever order: a handler may return before its stream is flushed and
// closed, or close the stream and carry on.
class ServerCore::Connection final : public StreamObserver {
 public:
  explicit Connection(ServerCore* server) noexcept : server_(server) {
    server_->add_ref();
    ++server_->active_;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void add_ref() noexcept override { ++refs_; }
  void release() noexcept override {
    if (--refs_ != 0) return;
    ServerCore* server = server_;
    delete this;
    server->connection_over();
    server->release();
  }
  void stream_closed(StreamCore& core) noexcept override { server_->stream_closed(core); }

 private:
  ~Connection() = default;

  ServerCore* server_;
  uint32_t refs_ = 0;
};

// A connection task's function: runs the handler on the stream. Its
// destruction (when the task is done, or dropped unstarted) closes the
// stream if the handler left it here, and ends the handler's share of the
// connection.
struct ServerCore::ConnectionBody {
  // The server side of the TLS handshake; false (the stream closed) if it
  // failed: a client that cannot agree on TLS is not the handler's concern.
  bool handshake() {
    try {
      StreamCore::of(stream).start_tls(
          TaskCore::require_current("weft::start_server"), server->options_.ssl, std::string(),
          deadline_in(clock_duration(server->options_.ssl_handshake_timeout)));
      return true;
    } catch (const std::exception&) {
      stream.abort();
      return false;
    }
  }

  ServerCore* server;
  Connection* connection;
  Stream stream;
  ConnectionBody(ServerCore* s, Connection* c, Stream st) noexcept : server(s), connection(c), stream(std::move(st)) {
    connection->add_ref();
  }
  ConnectionBody(ConnectionBody&& other) noexcept
      : server(other.server), connection(other.connection), stream(std::move(other.stream)) {
    other.connection = nullptr;
  }
  ConnectionBody(const ConnectionBody&) = delete;
  ConnectionBody& operator=(const ConnectionBody&) = delete;
  ConnectionBody& operator=(ConnectionBody&&) = delete;
  ~ConnectionBody() {
    if (connection == nullptr) return;
    stream = Stream();
    connection->release();
  }
  // asyncio StreamReaderProtocol.connection_made's done callback: "if exc
  // is not None: call_exception_handler({'message': 'Unhandled exception
  // in client_connected_cb', ...}); transport.close()". Exceptions that are
  // not std::exception (CancelledError) end the task as they are.
  void operator()() {
    if (server->options_.ssl && !handshake()) return;
    try {
      server->handler_(std::move(stream));
    } catch (const std::exception&) {
      server->report("Unhandled exception in client_connected_cb", std::current_exception());
    }
  }
};

void ServerCore::start() {
  for (std::size_t i = 0; i < listeners_.size(); ++i) arm(i);
}

void ServerCore::arm(std::size_t i) {
  Loop* loop = live_loop();
  if (loop == nullptr) return;
  loop->impl().wait_io(listeners_[i].fd, IoDirection::kRead, AcceptReady(this, i));
  listeners_[i].armed = true;
}

void ServerCore::on_acceptable(std::size_t i) noexcept {
  Listener& listener = listeners_[i];
  listener.armed = false;
  listener.retry = TimerHandle();
  if (!serving_) return;
  try {
    accept_batch(i);
  } catch (const std::exception&) {
    report("accept on " + listener.address.to_string() + " failed; the server stops accepting there",
           std::current_exception());
  }
}

// asyncio selector_events._accept_connection: "for _ in range(backlog)".
void ServerCore::accept_batch(std::size_t i) {
  const int lfd = listeners_[i].fd;
  const int batch = options_.backlog > 0 ? options_.backlog : 1;
  for (int accepted = 0; accepted < batch;) {
    sockaddr_storage peer;
    socklen_t size = sizeof peer;
    const int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ++accepted;
      listeners_[i].reported = false;
      start_connection(fd, size > sizeof(sa_family_t) ? SocketAddress::from_native(&peer, size) : SocketAddress());
      if (!serving_) return;  // an exception handler hearing of a failed set-up closed the server
      continue;
    }
    const int err = errno;
    switch (err) {
      case EAGAIN:
#if EWOULDBLOCK != EAGAIN
      case EWOULDBLOCK:
#endif
        arm(i);
        return;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        pause(i, err);
        return;
      // accept(2): "Linux accept() passes already-pending network errors on
      // the new socket as an error code from accept() ... treat them like
      // EAGAIN by retrying." The connection is lost; the server is fine.
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
      case EPERM:
        continue;
      default:
        throw_socket_error(err, "accept on " + listeners_[i].address.to_string(), listeners_[i].address.host(),
                           listeners_[i].address.port());
    }
  }
  // A full batch: let the loop's other work run, then go on.
  Loop* loop = live_loop();
  if (loop == nullptr) return;
  loop->call_soon(AcceptReady(this, i));
  listeners_[i].armed = true;
}

// asyncio: "socket.accept() out of system resource" is reported, the reader
// removed, and _start_serving retried after ACCEPT_RETRY_DELAY. The pending
// connections stay in the backlog: the retry accepts at once, since no new
// edge may come for them.
void ServerCore::pause(std::size_t i, int err) {
  Listener& listener = listeners_[i];
  if (!listener.reported) {
    listener.reported = true;
    report("accept on " + listener.address.to_string() + " out of system resource (" + std::strerror(err) +
               "); accepting pauses until a connection closes or " +
               std::to_string(options_.accept_retry_delay.count()) + " ms have passed",
           make_socket_error(err, "accept on " + listener.address.to_string(), listener.address.host(),
                             listener.address.port()));
  }
  Loop* loop = live_loop();
  if (loop == nullptr) return;
  listener.retry = loop->call_later(options_.accept_retry_delay, AcceptReady(this, i));
}

// A connection closed, so a descriptor is free: paused listeners retry now.
void ServerCore::resume_paused() noexcept {
  Loop* loop = live_loop();
  if (loop == nullptr || !serving_) return;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i].retry.pending() && listeners_[i].retry.cancel()) {
      try {
        loop->call_soon(AcceptReady(this, i));
        listeners_[i].armed = true;
      } catch (...) {
        // The loop refuses work only when closing; nothing is left to serve.
      }
    }
  }
}

void ServerCore::start_connection(int fd, const SocketAddress& peer) {
  Loop& loop = *context_->loop();
  if (options_.tcp_nodelay && peer.family() != AddressFamily::kUnix) set_nodelay(fd);
  StreamCore* stream = nullptr;
  try {
    const std::string host = peer.family() == AddressFamily::kUnix || peer.empty() ? "unix client" : peer.host();
    stream = StreamCore::create(loop, fd, options_.stream, host, peer.port(), peer);  // closes fd on failure
  } catch (const std::exception&) {
    report("could not set up a connection from " + peer.to_string(), std::current_exception());
    return;
  }
  auto* connection = new Connection(this);
  stream->set_observer(connection);
  connections_.insert(stream);
  create_task(loop, ConnectionBody(this, connection, StreamCore::make_stream(stream)));
}

}  // namespace detail
}  // namespace weft

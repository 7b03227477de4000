// weft/fiber/servers.hpp — public header; includes only public headers and
// the standard library.
//
// Stream servers, as asyncio's start_server() and base_events.Server
// (Python 3.13):
//
//   asyncio                                       weft
//   srv = await start_server(cb, host, port)      auto srv = weft::start_server(handler, host, port);
//   srv = await start_unix_server(cb, path)       auto srv = weft::start_unix_server(handler, path);
//   srv.close() ; await srv.wait_closed()         srv.close(); srv.wait_closed();
//   await srv.serve_forever()                     srv.serve_forever();
//   srv.close_clients() / abort_clients()         same names
//   srv.is_serving() / srv.sockets                srv.is_serving() / srv.sockets()
//
// Each accepted connection runs handler(stream) in a task of its own, the
// stream being the connection's; when the handler returns, the stream is
// closed (RAII) unless the handler moved it elsewhere. An exception from a
// handler is reported to the loop's exception handler ("Unhandled exception
// in client_connected_cb", as asyncio) and the connection closed; a
// cancelled handler just ends.
//
// Accepting is a loop callback, as asyncio's _accept_connection: on each
// readable edge of a listening socket, connections are accepted until
// EAGAIN (at most `backlog` per turn, then the loop's other work runs).
// Errors that concern one connection (ECONNABORTED, EPROTO, ...) are
// skipped. When the process or system runs out of file descriptors or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the server reports it once and
// stops accepting until accept_retry_delay has passed or one of its own
// connections has closed, whichever comes first, then carries on: pending
// connections wait in the kernel's backlog meanwhile.
//
// Threads: the loop's thread. start_server() needs a task only when `host`
// is a name to resolve; the blocking calls (wait_closed, serve_forever)
// need one always.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/addresses.hpp"
#include "weft/fiber/streams.hpp"

namespace weft {

namespace detail {
class ServerCore;
}  // namespace detail

// Settings of a server (an aggregate).
struct ServerOptions {
  // Each connection's stream settings (asyncio: limit=).
  StreamOptions stream;
  // listen(2)'s backlog; asyncio's default is 100. Servers that take many
  // connections at once (tests, benchmarks) should pass 1,024 or more.
  int backlog = 100;
  // SO_REUSEADDR, which asyncio sets by default on POSIX.
  bool reuse_address = true;
  // SO_REUSEPORT: several sockets (one loop per core) share the port.
  bool reuse_port = false;
  // Restricts the addresses `host` resolves to (kIPv4, kIPv6).
  AddressFamily family = AddressFamily::kUnspecified;
  // TCP_NODELAY on each accepted TCP connection (asyncio sets it).
  bool tcp_nodelay = true;
  // How long accepting pauses after EMFILE and its kin (asyncio's
  // constants.ACCEPT_RETRY_DELAY is 1 s; weft also resumes as soon as one
  // of the server's connections closes, so a shorter pause is enough).
  std::chrono::milliseconds accept_retry_delay = std::chrono::milliseconds(100);
  // asyncio start_server(ssl=): with a server TlsContext every connection
  // does its TLS handshake in its own task before the handler runs; a
  // connection whose handshake fails or times out is closed and the
  // handler never sees it (asyncio only logs it in debug mode).
  TlsContext ssl;
  std::chrono::milliseconds ssl_handshake_timeout = std::chrono::seconds(60);
};

// The function a connection runs, in its own task.
using ConnectionHandler = std::function<void(Stream)>;

// A listening server. Move-only; destroying it calls close() (connections
// carry on). Invariant: while serving, each listening socket is registered
// with the loop and either armed for its next connection, or paused
// (out of fds) with a retry pending; after close() none is open.
class WEFT_API Server {
 public:
  Server() noexcept;  // an empty server, to be assigned
  Server(Server&& other) noexcept;
  Server& operator=(Server&& other) noexcept;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  explicit operator bool() const noexcept { return core_ != nullptr; }

  // asyncio Server.close(): stops listening (closes the listening sockets,
  // and removes a Unix socket's file if it is still ours); connections in
  // progress carry on. Wakes serve_forever(). Idempotent; never blocks.
  void close();
  // asyncio Server.close_clients() / abort_clients() (3.13): close() or
  // abort() the stream of every connection still open.
  void close_clients();
  void abort_clients();
  // asyncio Server.wait_closed() (3.12+): blocks until the server is closed
  // and every connection is over: its handler has returned and its stream
  // is closed. Returns at once if that is already so. Throws
  // CancelledError.
  void wait_closed();
  // asyncio Server.serve_forever(): blocks until close() is called (then
  // returns; asyncio raises CancelledError there, which in weft would mark
  // a task cancelled that nobody cancelled). If the calling task is
  // cancelled, closes the server, waits as wait_closed() does, and throws
  // CancelledError. Throws InvalidStateError if the server is closed or
  // another task is already in serve_forever().
  void serve_forever();
  // asyncio Server.is_serving().
  bool is_serving() const noexcept;

  // The addresses listened on (asyncio Server.sockets' getsockname()); empty
  // after close(). port() is the first one's port: the one to connect to
  // after asking for port 0.
  std::vector<SocketAddress> sockets() const;
  uint16_t port() const;

  // Connections whose handler runs or whose stream is open (an extra).
  std::size_t active_connections() const noexcept;

 private:
  friend class detail::ServerCore;
  explicit Server(detail::ServerCore* core) noexcept : core_(core) {}
  detail::ServerCore& core(const char* what) const;

  detail::ServerCore* core_ = nullptr;  // one reference, or null
};

// asyncio.start_server(client_connected_cb, host, port): listens on every
// address `host` resolves to (AI_PASSIVE; "" means every interface, IPv4
// and IPv6), each with SO_REUSEADDR (and IPV6_V6ONLY on IPv6 sockets, so
// that both families can share a port). Port 0 picks a free port per
// socket (see port()). Returns once listening. Throws ResolveError, or a
// SocketError naming the address ("bind to 127.0.0.1:80: Permission
// denied"); InvalidStateError if no loop runs, or outside a task for a
// host name.
WEFT_API Server start_server(ConnectionHandler handler, const std::string& host, uint16_t port,
                    const ServerOptions& options = ServerOptions());

// asyncio.start_unix_server(client_connected_cb, path): listens on a Unix
// socket. A stale socket file at `path` is removed first, and close()
// removes the file if it is still the one this server made (3.13's
// cleanup_socket). A path starting with '\0' is in the abstract namespace.
WEFT_API Server start_unix_server(ConnectionHandler handler, const std::string& path,
                         const ServerOptions& options = ServerOptions());

}  // namespace weft

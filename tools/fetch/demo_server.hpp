// tools/fetch/demo_server.hpp — the demo's HTTP/1.1 server: it runs inside
// weft-fetch on weft's own start_server(), parses requests with llhttp, and
// answers every request after a fixed delay, so that a client that overlaps
// its requests is visibly faster than one that does not.
#pragma once

#include <chrono>
#include <cstdint>

#include "weft/fiber/servers.hpp"

namespace weft_fetch {

// Every request, whatever its method and target, is answered after `delay`
// with "200 OK" and a short text body naming the target. Connections are
// kept alive unless the client asks otherwise (HTTP/1.0, "Connection:
// close"); a malformed request gets "400 Bad Request" and the connection
// is closed. Runs on the loop of the task that made it. Move-only.
class DemoServer {
 public:
  // Listens on 127.0.0.1 at a free port. Throws weft::SocketError if it
  // cannot; InvalidStateError if no loop runs.
  explicit DemoServer(std::chrono::milliseconds delay);

  std::uint16_t port() const { return server_.port(); }

  // Stops listening, closes every connection, and waits until each
  // connection's task is done. Must be called from a task.
  void close();

 private:
  // Destroying it stops listening; connections carry on until the loop ends.
  weft::Server server_;
};

}  // namespace weft_fetch

// weft/fiber/resolver.hpp — public header; includes only public headers and
// the standard library.
//
// Name resolution for streams and servers, as asyncio's loop.getaddrinfo()
// (Lib/asyncio/base_events.py), which runs the blocking getaddrinfo(3) in
// the default executor, plus the small TTL cache of aiohttp's TCPConnector
// (ttl_dns_cache):
//
//   asyncio                                         weft
//   await loop.getaddrinfo(host, port,              weft::getaddrinfo(host, port)
//       type=socket.SOCK_STREAM)
//
// Threads: the loop's thread; getaddrinfo() blocks the calling task only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/addresses.hpp"
#include "weft/fiber/stream_errors.hpp"

namespace weft {

// Settings of one lookup (an aggregate).
struct ResolveOptions {
  // Only this family (socket.AF_INET, AF_INET6); kUnspecified: both.
  AddressFamily family = AddressFamily::kUnspecified;
  // AI_PASSIVE, for servers: an empty host then means every local
  // interface (0.0.0.0 and ::) rather than the loopback addresses.
  bool passive = false;
  // How long an answer is reused (aiohttp's default, 10 s); zero neither
  // reads nor fills the cache.
  std::chrono::milliseconds cache_ttl = std::chrono::seconds(10);
};

// The addresses of host:port for TCP, in getaddrinfo's order (the order to
// try them in). A numeric host ("127.0.0.1", "::1") is parsed at once,
// without a thread or the cache; a name is looked up by getaddrinfo(3) on
// a worker thread (weft::to_thread), and the answer is cached per thread
// for options.cache_ttl. Only answers are cached, never failures.
//
// Throws ResolveError (socket.gaierror) naming host and port, e.g.
// "getaddrinfo(example.invalid:80): Name or service not known";
// CancelledError if the task is cancelled while the lookup runs (the
// lookup finishes on its thread and its answer is dropped);
// InvalidStateError outside a task (a name needs one; a numeric host does
// not).
WEFT_API std::vector<SocketAddress> getaddrinfo(const std::string& host, uint16_t port,
                                       const ResolveOptions& options = ResolveOptions());

// Forgets every answer cached on this thread.
WEFT_API void clear_dns_cache();

}  // namespace weft

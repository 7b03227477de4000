// fiber/resolver.cpp — getaddrinfo() off the loop, with a TTL cache (see
// weft/fiber/resolver.hpp).
#include "weft/fiber/resolver.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "weft/fiber/threads.hpp"

namespace weft {

namespace {

using Clock = std::chrono::steady_clock;

// What one getaddrinfo(3) call returned, carried back from the worker.
struct Lookup {
  int status = 0;        // 0 or an EAI_* code
  int system_errno = 0;  // errno, for EAI_SYSTEM
  std::vector<SocketAddress> addresses;
};

int native_family(AddressFamily family) {
  switch (family) {
    case AddressFamily::kIPv4:
      return AF_INET;
    case AddressFamily::kIPv6:
      return AF_INET6;
    case AddressFamily::kUnix:
    case AddressFamily::kUnspecified:
      break;
  }
  return AF_UNSPEC;
}

// Runs getaddrinfo(3) for stream sockets. Touches nothing of weft's loop, so
// that it may run on a worker thread.
Lookup lookup(const std::string& host, uint16_t port, int family, int flags) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = flags | AI_NUMERICSERV;
  const std::string service = std::to_string(port);
  addrinfo* result = nullptr;
  Lookup out;
  out.status = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &result);
  out.system_errno = errno;
  if (out.status != 0) return out;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
      out.addresses.push_back(SocketAddress::from_native(ai->ai_addr, ai->ai_addrlen));
    }
  }
  ::freeaddrinfo(result);
  if (out.addresses.empty()) out.status = EAI_NONAME;
  return out;
}

// The per-thread cache: each loop's thread has its own, so no lock is
// needed. Entries expire at their deadline; when the map is full, expired
// entries are purged, and if that is not enough the whole map is dropped
// (a cache this small is cheaper to refill than to manage as an LRU).
class DnsCache {
 public:
  static DnsCache& local() {
    static thread_local DnsCache cache;
    return cache;
  }

  bool find(const std::string& key, std::vector<SocketAddress>* out) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    if (Clock::now() >= it->second.expires) {
      entries_.erase(it);
      return false;
    }
    *out = it->second.addresses;
    return true;
  }

  void store(std::string key, const std::vector<SocketAddress>& addresses, Clock::duration ttl) {
    if (entries_.size() >= kMaxEntries) purge();
    Entry& entry = entries_[std::move(key)];
    entry.addresses = addresses;
    entry.expires = Clock::now() + ttl;
  }

  void clear() { entries_.clear(); }

 private:
  static constexpr std::size_t kMaxEntries = 1024;
  struct Entry {
    std::vector<SocketAddress> addresses;
    Clock::time_point expires;
  };

  void purge() {
    const Clock::time_point now = Clock::now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = now >= it->second.expires ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= kMaxEntries) entries_.clear();
  }

  std::unordered_map<std::string, Entry> entries_;
};

constexpr std::size_t DnsCache::kMaxEntries;

[[noreturn]] void throw_resolve_error(const Lookup& failed, const std::string& host, uint16_t port) {
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  throw ResolveError(failed.status, "getaddrinfo(" + shown + ":" + std::to_string(port) + ")", host, port,
                     failed.system_errno);
}

}  // namespace

std::vector<SocketAddress> getaddrinfo(const std::string& host, uint16_t port, const ResolveOptions& options) {
  const int family = native_family(options.family);
  const int passive = options.passive ? AI_PASSIVE : 0;
  // A numeric address, or the wildcard of a passive lookup, needs no
  // resolver: getaddrinfo with AI_NUMERICHOST never blocks.
  Lookup numeric = lookup(host, port, family, passive | AI_NUMERICHOST);
  if (numeric.status == 0) return std::move(numeric.addresses);
  if (numeric.status != EAI_NONAME) throw_resolve_error(numeric, host, port);

  const bool cached = options.cache_ttl > std::chrono::milliseconds::zero();
  std::string key;
  if (cached) {
    key = host + '\0' + std::to_string(port) + '\0' + std::to_string(family) + '\0' + std::to_string(passive);
    std::vector<SocketAddress> hit;
    if (DnsCache::local().find(key, &hit)) return hit;
  }
  Lookup answer = to_thread([host, port, family, passive] { return lookup(host, port, family, passive); });
  if (answer.status != 0) throw_resolve_error(answer, host, port);
  if (cached) {
    DnsCache::local().store(std::move(key), answer.addresses,
                            std::chrono::duration_cast<Clock::duration>(options.cache_ttl));
  }
  return std::move(answer.addresses);
}

void clear_dns_cache() { DnsCache::local().clear(); }

}  // namespace weft

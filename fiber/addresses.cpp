// fiber/addresses.cpp — SocketAddress: conversions between the kernel's
// sockaddr structures and text (see weft/fiber/addresses.hpp).
#include "weft/fiber/addresses.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>

namespace weft {

static_assert(sizeof(sockaddr_storage) <= SocketAddress::kCapacity, "SocketAddress storage too small");

namespace {

AddressFamily family_of(int native) {
  switch (native) {
    case AF_INET:
      return AddressFamily::kIPv4;
    case AF_INET6:
      return AddressFamily::kIPv6;
    case AF_UNIX:
      return AddressFamily::kUnix;
    default:
      return AddressFamily::kUnspecified;
  }
}

}  // namespace

SocketAddress SocketAddress::from_native(const void* sockaddr, std::size_t size) {
  SocketAddress address;
  if (size == 0) return address;
  if (size > kCapacity || size < sizeof(sa_family_t)) {
    throw std::invalid_argument("SocketAddress: a native address of " + std::to_string(size) + " bytes");
  }
  std::memcpy(address.storage_, sockaddr, size);
  sa_family_t native;
  std::memcpy(&native, address.storage_, sizeof native);
  address.family_ = family_of(native);
  if (address.family_ == AddressFamily::kUnspecified) {
    throw std::invalid_argument("SocketAddress: unsupported address family " + std::to_string(native));
  }
  address.size_ = static_cast<uint32_t>(size);
  return address;
}

SocketAddress SocketAddress::from_ip(const std::string& host, uint16_t port) {
  // getaddrinfo with AI_NUMERICHOST parses both families and IPv6 scopes
  // ("fe80::1%eth0"), and never touches the network or a resolver.
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    throw std::invalid_argument("SocketAddress::from_ip: '" + host + "' is not a numeric IP address");
  }
  SocketAddress address = from_native(result->ai_addr, result->ai_addrlen);
  ::freeaddrinfo(result);
  return address;
}

SocketAddress SocketAddress::from_unix_path(const std::string& path) {
  sockaddr_un un;
  std::memset(&un, 0, sizeof un);
  if (path.empty() || path.size() > sizeof un.sun_path - 1) {
    throw std::invalid_argument("SocketAddress::from_unix_path: a Unix socket path must have 1 to " +
                                std::to_string(sizeof un.sun_path - 1) + " bytes ('" + path + "')");
  }
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  // An abstract name is exactly as long as given; a path ends at its NUL.
  const std::size_t size = offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1);
  return from_native(&un, size);
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  switch (family_) {
    case AddressFamily::kIPv4:
    case AddressFamily::kIPv6: {
      // NI_NUMERICHOST formats IPv6 scopes as inet_ntop cannot.
      if (::getnameinfo(reinterpret_cast<const sockaddr*>(storage_), size_, text, sizeof text, nullptr, 0,
                        NI_NUMERICHOST) != 0) {
        return std::string();
      }
      return text;
    }
    case AddressFamily::kUnix: {
      const std::size_t offset = offsetof(sockaddr_un, sun_path);
      if (size_ <= offset) return std::string();
      const char* path = reinterpret_cast<const char*>(storage_) + offset;
      std::size_t length = size_ - offset;
      if (path[0] != '\0') length = strnlen(path, length);  // a path: up to its NUL
      return std::string(path, length);
    }
    case AddressFamily::kUnspecified:
      break;
  }
  return std::string();
}

uint16_t SocketAddress::port() const noexcept {
  if (family_ == AddressFamily::kIPv4) {
    sockaddr_in in;
    std::memcpy(&in, storage_, sizeof in);
    return ntohs(in.sin_port);
  }
  if (family_ == AddressFamily::kIPv6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, storage_, sizeof in6);
    return ntohs(in6.sin6_port);
  }
  return 0;
}

std::string SocketAddress::to_string() const {
  switch (family_) {
    case AddressFamily::kIPv4:
      return host() + ":" + std::to_string(port());
    case AddressFamily::kIPv6:
      return "[" + host() + "]:" + std::to_string(port());
    case AddressFamily::kUnix: {
      std::string path = host();
      if (path.empty()) return "<unnamed>";
      if (path[0] == '\0') path[0] = '@';
      return path;
    }
    case AddressFamily::kUnspecified:
      break;
  }
  return std::string();
}

bool SocketAddress::operator==(const SocketAddress& other) const noexcept {
  return size_ == other.size_ && std::memcmp(storage_, other.storage_, size_) == 0;
}

}  // namespace weft

// weft/fiber/addresses.hpp — public header; includes only weft/export.hpp
// and the standard library.
//
// weft::SocketAddress is a socket address of the IPv4, IPv6 or Unix family:
// what asyncio returns as a tuple from get_extra_info('peername') or
// getaddrinfo() ('127.0.0.1', 8080), ('::1', 8080, 0, 0) or '/tmp/sock'.
// The bytes are the kernel's own (a sockaddr_in, sockaddr_in6 or
// sockaddr_un), kept opaque so that this header names no POSIX type; code
// that needs the native form reads data() and size().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "weft/export.hpp"

namespace weft {

// The address families weft's streams speak (socket.AF_*).
enum class AddressFamily : uint8_t {
  kUnspecified,  // AF_UNSPEC: any family, or an empty address
  kIPv4,         // AF_INET
  kIPv6,         // AF_INET6
  kUnix,         // AF_UNIX
};

// A copyable value. Invariant: size() == 0 and family() == kUnspecified for
// an empty address; otherwise the first size() bytes of the storage hold a
// sockaddr of family(). Any thread.
class WEFT_API SocketAddress {
 public:
  // The native storage size: sizeof(struct sockaddr_storage) on Linux.
  static constexpr std::size_t kCapacity = 128;

  // An empty address (family kUnspecified).
  SocketAddress() noexcept = default;

  // Copies a native sockaddr of `size` bytes. Throws std::invalid_argument
  // if size exceeds kCapacity or the family is not one of AddressFamily's.
  static SocketAddress from_native(const void* sockaddr, std::size_t size);

  // A numeric IPv4 or IPv6 address ("127.0.0.1", "::1", "fe80::1%eth0")
  // and a port, with no name resolution. Throws std::invalid_argument if
  // `host` is not a numeric address.
  static SocketAddress from_ip(const std::string& host, uint16_t port);

  // A Unix socket path. A path starting with '\0' names the Linux abstract
  // namespace. Throws std::invalid_argument if the path is empty or longer
  // than sun_path (107 bytes).
  static SocketAddress from_unix_path(const std::string& path);

  AddressFamily family() const noexcept { return family_; }
  bool empty() const noexcept { return size_ == 0; }

  // The numeric host ("127.0.0.1", "::1", with "%scope" when the IPv6
  // address has one); for a Unix address its path; "" when empty.
  std::string host() const;
  // The port of an IP address (host byte order); 0 otherwise.
  uint16_t port() const noexcept;
  // "127.0.0.1:8080", "[::1]:8080", the path of a Unix address ("@name"
  // for an abstract one, "<unnamed>" for an unbound one), "" when empty.
  std::string to_string() const;

  // The native sockaddr, for code that talks to the kernel itself.
  const void* data() const noexcept { return storage_; }
  std::size_t size() const noexcept { return size_; }

  bool operator==(const SocketAddress& other) const noexcept;
  bool operator!=(const SocketAddress& other) const noexcept { return !(*this == other); }

 private:
  alignas(8) unsigned char storage_[kCapacity] = {};
  uint32_t size_ = 0;
  AddressFamily family_ = AddressFamily::kUnspecified;
};

}  // namespace weft

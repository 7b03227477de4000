// weft/fiber/stream_errors.hpp — public header; includes only public headers
// and the standard library.
//
// The errors of streams, servers and the resolver. Two kinds:
//
//   - socket errors, as Python's OSError subclasses (PEP 3151), each
//     carrying the errno and the host and port it concerned:
//
//       OSError (weft/reactor/errors.hpp)
//        └─ SocketError                      any failed socket call
//            ├─ ConnectionError
//            │   ├─ ConnectionRefusedError   ECONNREFUSED
//            │   ├─ ConnectionResetError     ECONNRESET
//            │   ├─ ConnectionAbortedError   ECONNABORTED
//            │   └─ BrokenPipeError          EPIPE, ESHUTDOWN
//            └─ ResolveError                 socket.gaierror (an EAI_* code)
//
//     what() names the operation, the peer and the reason, as in
//     "connect to example.com:80 (93.184.216.34): Connection refused";
//   - the stream-reading errors of asyncio's exceptions.py:
//     IncompleteReadError and LimitOverrunError.
//
// A connect that times out throws weft::TimeoutError (exceptions.hpp), as
// asyncio's does, not a SocketError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "weft/export.hpp"
#include "weft/reactor/errors.hpp"

namespace weft {

// A failed socket call. err() is the errno; host() and port() name the peer
// (or, for a server, the address it listens on) as the caller gave them:
// a host name, a numeric address or a Unix socket path (port 0); either may
// be empty / 0 when unknown.
class WEFT_API SocketError : public OSError {
 public:
  SocketError(int err, const std::string& what, std::string host, uint16_t port)
      : OSError(err, what), host_(std::move(host)), port_(port) {}
  const std::string& host() const noexcept { return host_; }
  uint16_t port() const noexcept { return port_; }

 private:
  std::string host_;
  uint16_t port_;
};

// Python's ConnectionError and its subclasses.
class WEFT_API ConnectionError : public SocketError {
 public:
  using SocketError::SocketError;
};
class WEFT_API ConnectionRefusedError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
class WEFT_API ConnectionResetError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
class WEFT_API ConnectionAbortedError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
class WEFT_API BrokenPipeError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

// socket.gaierror: getaddrinfo() failed. eai_code() is the EAI_* code (err()
// holds it too, as Python's gaierror.errno does); what() ends with
// gai_strerror()'s text, as in "getaddrinfo(example.invalid:80): Name or
// service not known"; for EAI_SYSTEM, the text of `system_errno` (the errno
// getaddrinfo left, saved by the caller).
class WEFT_API ResolveError : public SocketError {
 public:
  ResolveError(int eai_code, const std::string& what, std::string host, uint16_t port, int system_errno = 0);
  int eai_code() const noexcept { return err(); }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// The typed error for an errno, as Python's OSError(errno, ...) picks its
// subclass: ConnectionRefusedError for ECONNREFUSED, and so on; a plain
// SocketError for any other errno. `what` names the operation and peer
// ("connect to example.com:80 (93.184.216.34)"); the errno's text is
// appended. The throw_ form throws it.
WEFT_API std::exception_ptr make_socket_error(int err, const std::string& what, const std::string& host, uint16_t port);
[[noreturn]] WEFT_API void throw_socket_error(int err, const std::string& what, const std::string& host, uint16_t port);

// asyncio.IncompleteReadError (an EOFError): the stream ended before a
// read_exactly() or read_until() was satisfied. partial() holds the bytes
// read before the end, which the stream no longer buffers; expected() is
// the count asked for, or kUndefined for read_until() (asyncio: None).
class WEFT_API IncompleteReadError : public std::runtime_error {
 public:
  static constexpr std::size_t kUndefined = static_cast<std::size_t>(-1);

  IncompleteReadError(std::string partial, std::size_t expected);
  const std::string& partial() const noexcept { return partial_; }
  std::size_t expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::size_t expected_;
};

// asyncio.LimitOverrunError: read_until() or readline() met the stream's
// limit before the separator. consumed() is the number of bytes to consume
// (asyncio's `consumed`): where the separator was found beyond the limit,
// or how far the search got. read_until() leaves the data buffered;
// readline() discards it (see Stream::readline).
class WEFT_API LimitOverrunError : public std::runtime_error {
 public:
  LimitOverrunError(const std::string& message, std::size_t consumed)
      : std::runtime_error(message), consumed_(consumed) {}
  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

}  // namespace weft

// fiber/stream_errors.cpp — errno to exception class, and the messages of
// the stream errors (see weft/fiber/stream_errors.hpp).
#include "weft/fiber/stream_errors.hpp"

#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace weft {

namespace {

std::string gai_message(int eai_code, const std::string& what, int system_errno) {
  // EAI_SYSTEM: "check errno for details".
  const char* reason = eai_code == EAI_SYSTEM ? std::strerror(system_errno) : ::gai_strerror(eai_code);
  return what + ": " + reason;
}

}  // namespace

ResolveError::ResolveError(int eai_code, const std::string& what, std::string host, uint16_t port,
                           int system_errno)
    : SocketError(eai_code, what, std::move(host), port), message_(gai_message(eai_code, what, system_errno)) {}

// Python's OSError.__new__ maps errno to a subclass (Objects/exceptions.c,
// errnomap); these are the codes a stream can meet.
std::exception_ptr make_socket_error(int err, const std::string& what, const std::string& host, uint16_t port) {
  switch (err) {
    case ECONNREFUSED:
      return std::make_exception_ptr(ConnectionRefusedError(err, what, host, port));
    case ECONNRESET:
      return std::make_exception_ptr(ConnectionResetError(err, what, host, port));
    case ECONNABORTED:
      return std::make_exception_ptr(ConnectionAbortedError(err, what, host, port));
    case EPIPE:
    case ESHUTDOWN:
      return std::make_exception_ptr(BrokenPipeError(err, what, host, port));
    default:
      return std::make_exception_ptr(SocketError(err, what, host, port));
  }
}

void throw_socket_error(int err, const std::string& what, const std::string& host, uint16_t port) {
  std::rethrow_exception(make_socket_error(err, what, host, port));
}

// asyncio exceptions.py, IncompleteReadError.__init__:
// f'{len(partial)} bytes read on a total of {expected!r} expected bytes'.
IncompleteReadError::IncompleteReadError(std::string partial, std::size_t expected)
    : std::runtime_error(std::to_string(partial.size()) + " bytes read on a total of " +
                         (expected == kUndefined ? std::string("undefined") : std::to_string(expected)) +
                         " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

constexpr std::size_t IncompleteReadError::kUndefined;

}  // namespace weft

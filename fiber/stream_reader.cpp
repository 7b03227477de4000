// fiber/stream_reader.cpp — the read half of a stream, as asyncio's
// StreamReader (Lib/asyncio/streams.py): read, readexactly, readuntil,
// readline.
//
// asyncio's reader is fed by the transport, which reads whenever the socket
// is readable, and pauses the transport when the buffer passes twice the
// limit. weft's reader pulls instead: a read call receives only when its
// buffer cannot answer, so the buffer never holds more than one receive
// beyond what a call needs, and no flow control is needed on this side.
// When the buffer is empty and the caller gave its own memory, bytes are
// received straight into it; otherwise into rbuf_ and copied out.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "fiber/loop_context.hpp"
#include "fiber/stream_core.hpp"

namespace weft {
namespace detail {

namespace {
// The least room a receive into rbuf_ gets. asyncio's transport receives up
// to 256 KiB at a time; a smaller first block keeps idle line-oriented
// streams cheap, and the buffer doubles when a read needs more.
constexpr std::size_t kReceiveSize = 16 * 1024;
}  // namespace

// One read call at a time, from a task of the stream's loop. asyncio
// streams.py, _wait_for_data: "Running two read coroutines at the same time
// would have an unexpected behaviour. It would not possible to know which
// coroutine would get the next data."
struct StreamCore::ReadScope {
  StreamCore& stream;
  TaskCore& task;
  ReadScope(StreamCore& s, const char* what) : stream(s), task(TaskCore::require_current(what)) {
    if (&task.context() != stream.context_) {
      throw InvalidStateError(std::string(what) + ": the stream belongs to another event loop");
    }
    if (stream.reading_) {
      throw InvalidStateError(std::string(what) +
                              ": called while another task is already waiting for incoming data");
    }
    stream.reading_ = true;
  }
  ~ReadScope() { stream.reading_ = false; }
  ReadScope(const ReadScope&) = delete;
  ReadScope& operator=(const ReadScope&) = delete;
};

std::size_t StreamCore::receive(char* out, std::size_t n, TaskCore& task) {
  if (tls_ != nullptr) return tls_receive(out, n, task);
  for (;;) {
    if (read_error_ != nullptr) std::rethrow_exception(read_error_);
    if (eof_) return 0;
    const ssize_t got = ::recv(fd_, out, n, 0);
    if (got > 0) return static_cast<std::size_t>(got);
    if (got == 0) {
      eof_ = true;  // asyncio: eof_received() -> feed_eof()
      return 0;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // ReadScope checked that the task runs on our loop, which is alive.
      park_on_fd(task, *context_->loop(), fd_, IoDirection::kRead, Loop::time_point::max(), &fd_,
                 &reader_waker_);
      task.check_cancel();
      continue;
    }
    // asyncio: connection_lost(exc) -> reader.set_exception(exc); every
    // later read raises it.
    read_error_ = socket_error(err, "recv from");
  }
}

bool StreamCore::fill(TaskCore& task) {
  char* space = rbuf_.reserve(kReceiveSize);
  const std::size_t got = receive(space, rbuf_.writable(), task);
  rbuf_.commit(got);
  return got != 0;
}

// asyncio StreamReader.read(n) with n > 0.
std::size_t StreamCore::read_some(char* out, std::size_t n) {
  ReadScope scope(*this, "weft::Stream::read");
  if (n == 0) return 0;
  if (!rbuf_.empty()) {
    const std::size_t count = std::min(n, rbuf_.size());
    std::memcpy(out, rbuf_.data(), count);
    rbuf_.consume(count);
    return count;
  }
  return receive(out, n, scope.task);
}

std::string StreamCore::read_string(std::size_t n) {
  ReadScope scope(*this, "weft::Stream::read");
  if (n == 0) return std::string();
  if (rbuf_.empty() && !fill(scope.task)) return std::string();
  return rbuf_.take(std::min(n, rbuf_.size()));
}

// asyncio StreamReader.read(-1): reads until EOF. Bytes received before a
// cancellation stay buffered.
std::string StreamCore::read_all() {
  ReadScope scope(*this, "weft::Stream::read_all");
  while (fill(scope.task)) {
  }
  return rbuf_.take(rbuf_.size());
}

// asyncio StreamReader.readexactly(n). The buffered bytes are copied out
// first, the rest received straight into `out`; if the call ends without
// its n bytes (cancelled, or a read error), what it took goes back into the
// buffer, so a later read sees every byte. At EOF the partial bytes go into
// IncompleteReadError instead, and the buffer is empty, as in asyncio.
void StreamCore::read_exactly(char* out, std::size_t n) {
  ReadScope scope(*this, "weft::Stream::read_exactly");
  read_exactly_into(scope.task, out, n);
}

std::string StreamCore::read_exactly(std::size_t n) {
  ReadScope scope(*this, "weft::Stream::read_exactly");
  if (rbuf_.size() >= n) return rbuf_.take(n);
  std::string out(n, '\0');
  read_exactly_into(scope.task, &out[0], n);
  return out;
}

void StreamCore::read_exactly_into(TaskCore& task, char* out, std::size_t n) {
  std::size_t have = std::min(n, rbuf_.size());
  if (have != 0) std::memcpy(out, rbuf_.data(), have);
  rbuf_.consume(have);
  try {
    while (have < n) {
      const std::size_t got = receive(out + have, n - have, task);
      if (got == 0) throw IncompleteReadError(std::string(out, have), n);
      have += got;
    }
  } catch (const IncompleteReadError&) {
    throw;
  } catch (...) {
    rbuf_.prepend(out, have);  // the buffer is empty: we took all of it
    throw;
  }
}

// asyncio StreamReader.readuntil(separator), as an outcome instead of an
// exception. `offset` is how far the buffer is known not to contain the
// separator: only the last len(separator) - 1 bytes are searched again.
StreamCore::Until StreamCore::find_separator(TaskCore& task, const std::string& separator, std::size_t* position) {
  const std::size_t seplen = separator.size();
  std::size_t offset = 0;
  for (;;) {
    const std::size_t buflen = rbuf_.size();
    if (buflen - offset >= seplen) {
      const char* begin = rbuf_.data();
      const char* found = std::search(begin + offset, begin + buflen, separator.begin(), separator.end());
      if (found != begin + buflen) {
        *position = static_cast<std::size_t>(found - begin);
        return *position > limit_ ? Until::kOverLimitFound : Until::kFound;
      }
      offset = buflen + 1 - seplen;
      if (offset > limit_) {
        *position = offset;
        return Until::kOverLimitNotFound;
      }
    }
    // "Complete message (with full separator) may be present in buffer even
    // when EOF flag is set": the buffer is searched before EOF is checked,
    // and a receive that finds EOF adds nothing, so the next turn ends here.
    if (eof_) {
      *position = rbuf_.size();
      return Until::kEof;
    }
    fill(task);
  }
}

std::string StreamCore::read_until(const std::string& separator) {
  if (separator.empty()) {
    throw std::invalid_argument("weft::Stream::read_until: separator should be at least one-byte string");
  }
  ReadScope scope(*this, "weft::Stream::read_until");
  std::size_t position = 0;
  switch (find_separator(scope.task, separator, &position)) {
    case Until::kFound:
      return rbuf_.take(position + separator.size());
    case Until::kEof:
      throw IncompleteReadError(rbuf_.take(rbuf_.size()), IncompleteReadError::kUndefined);
    case Until::kOverLimitNotFound:
      throw LimitOverrunError("Separator is not found, and chunk exceed the limit", position);
    case Until::kOverLimitFound:
      break;
  }
  throw LimitOverrunError("Separator is found, but chunk is longer than limit", position);
}

// asyncio StreamReader.readline(): readuntil(b'\n'), returning the partial
// line at EOF; past the limit, "if newline was found, complete line
// including newline will be removed from internal buffer. Else, internal
// buffer will be cleared." asyncio then raises ValueError; weft keeps the
// LimitOverrunError, which carries `consumed`.
std::string StreamCore::readline() {
  static const std::string kNewline("\n");
  ReadScope scope(*this, "weft::Stream::readline");
  std::size_t position = 0;
  switch (find_separator(scope.task, kNewline, &position)) {
    case Until::kFound:
      return rbuf_.take(position + 1);
    case Until::kEof:
      return rbuf_.take(rbuf_.size());
    case Until::kOverLimitNotFound:
      rbuf_.clear();
      throw LimitOverrunError("Separator is not found, and chunk exceed the limit", position);
    case Until::kOverLimitFound:
      break;
  }
  rbuf_.consume(position + 1);
  throw LimitOverrunError("Separator is found, but chunk is longer than limit", position);
}

}  // namespace detail
}  // namespace weft

// fiber/stream_writer.cpp — the write half of a stream: asyncio's
// _SelectorSocketTransport.write/_write_ready (Lib/asyncio/selector_events.py)
// with the flow control of _FlowControlMixin (transports.py) and
// StreamWriter.drain (streams.py).
//
// write() never blocks: with nothing queued it sends at once, and queues
// what the kernel did not take; a loop callback, armed on the socket's next
// writable edge, sends the queue and re-arms until it is empty. The queue's
// size drives drain(): past the high-water mark the writer is "paused" and
// drain() blocks; once the queue falls to the low-water mark it resumes and
// the drain waiters wake.
#include <sys/socket.h>

#include <cerrno>

#include "fiber/loop_context.hpp"
#include "fiber/stream_core.hpp"

namespace weft {
namespace detail {

// The loop callback that flushes the queue. It holds a reference to the
// stream while it is registered or queued (see stream_core.hpp).
struct StreamCore::FlushReady {
  StreamCore* core;
  explicit FlushReady(StreamCore* c) noexcept : core(c) { core->add_ref(); }
  FlushReady(FlushReady&& other) noexcept : core(other.core) { other.core = nullptr; }
  FlushReady(const FlushReady&) = delete;
  FlushReady& operator=(const FlushReady&) = delete;
  FlushReady& operator=(FlushReady&&) = delete;
  ~FlushReady() {
    if (core != nullptr) core->release();
  }
  void operator()() noexcept { core->on_writable(); }
};

void StreamCore::check_writable(const char* what) {
  if (write_error_ != nullptr) {
    write_error_seen_ = true;
    std::rethrow_exception(write_error_);
  }
  if (closing_) throw InvalidStateError(std::string(what) + ": the stream is closed");
  if (eof_requested_) throw InvalidStateError(std::string(what) + ": cannot call write() after write_eof()");
}

// asyncio _SelectorSocketTransport.write. On a TLS stream the bytes are
// sealed into records first, which come back through the BIO to
// send_or_queue().
void StreamCore::write(const char* data, std::size_t n) {
  check_writable("weft::Stream::write");
  if (n == 0) return;
  if (tls_ != nullptr) {
    tls_write(data, n);
    check_writable("weft::Stream::write");  // throws a send error the BIO met
    return;
  }
  send_or_queue(data, n);
}

// asyncio _SelectorSocketTransport.write: "Optimization: try to send now."
void StreamCore::send_or_queue(const char* data, std::size_t n) {
  if (wbuf_.empty()) {
    while (n != 0) {
      const ssize_t sent = ::send(fd_, data, n, MSG_NOSIGNAL);
      if (sent >= 0) {
        data += sent;
        n -= static_cast<std::size_t>(sent);
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      fail_write(err);
      check_writable("weft::Stream::write");  // throws the error just stored
    }
    if (n == 0) return;
  }
  wbuf_.append(data, n);
  arm_flush();
  // asyncio _FlowControlMixin._maybe_pause_protocol.
  if (wbuf_.size() > high_water_) paused_ = true;
}

void StreamCore::arm_flush() {
  if (flush_armed_) return;
  Loop* loop = live_loop();
  if (loop == nullptr) throw InvalidStateError("weft::Stream::write: the event loop is closed");
  loop->impl().wait_io(fd_, IoDirection::kWrite, FlushReady(this));
  flush_armed_ = true;
}

// Sends from the queue until it is empty or the kernel's buffer is full.
void StreamCore::flush() noexcept {
  while (!wbuf_.empty()) {
    const ssize_t sent = ::send(fd_, wbuf_.data(), wbuf_.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      wbuf_.consume(static_cast<std::size_t>(sent));
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      try {
        arm_flush();
      } catch (...) {
        fail_write(ESHUTDOWN);  // the loop is closing: nothing will send them
      }
      return;
    }
    fail_write(err);
    return;
  }
}

// asyncio _SelectorSocketTransport._write_ready.
void StreamCore::on_writable() noexcept {
  flush_armed_ = false;
  if (fd_ < 0 || write_error_ != nullptr) return;
  flush();
  after_flush();
}

// What follows a flush that may have emptied the queue: the resumption of
// paused writers, a pending write_eof(), a pending close().
void StreamCore::after_flush() noexcept {
  maybe_resume_writing();
  if (!wbuf_.empty() || fd_ < 0) return;
  wbuf_.shrink_if_idle(high_water_ > 64 * 1024 ? high_water_ : 64 * 1024);
  if (eof_requested_ && !eof_sent_) {
    eof_sent_ = true;
    ::shutdown(fd_, SHUT_WR);  // ENOTCONN: the peer is gone, the next call will say
  }
  if (closing_) finish_close();
}

// asyncio _FlowControlMixin._maybe_resume_protocol and resume_writing().
void StreamCore::maybe_resume_writing() noexcept {
  if (paused_ && wbuf_.size() <= low_water_) {
    paused_ = false;
    drain_waiters_.wake_all();
  }
}

// asyncio _SelectorTransport._fatal_error: the queue is dropped and every
// later write or drain raises. The socket stays open until close(): the
// read half may still hold data.
void StreamCore::fail_write(int err) noexcept {
  try {
    std::string what = describe("send to");
    if (!wbuf_.empty()) what += " (" + std::to_string(wbuf_.size()) + " unsent bytes dropped)";
    write_error_ = make_socket_error(err, what, host_, port_);
  } catch (...) {
    write_error_ = std::current_exception();
  }
  dropped_bytes_ = wbuf_.size();
  wbuf_.clear();
  paused_ = false;
  drain_waiters_.wake_all();
  report_unseen_write_error();
  if (closing_ && fd_ >= 0) finish_close();
}

// asyncio StreamWriter.drain and _FlowControlMixin._drain_helper.
void StreamCore::drain() {
  TaskCore& task = TaskCore::require_current("weft::Stream::drain");
  for (;;) {
    // "if self._reader is not None: exc = self._reader.exception()".
    if (read_error_ != nullptr) std::rethrow_exception(read_error_);
    if (write_error_ != nullptr) {
      write_error_seen_ = true;
      std::rethrow_exception(write_error_);
    }
    if (fd_ < 0) {
      const std::string what = describe("drain to") + " (connection lost: the stream is closed)";
      std::rethrow_exception(make_socket_error(ECONNRESET, what, host_, port_));
    }
    if (!paused_) return;
    drain_waiters_.wait(task);
    task.check_cancel();
  }
}

// asyncio _SelectorSocketTransport.write_eof: shut down now if nothing is
// queued, else once the queue is sent.
void StreamCore::write_eof() {
  if (closing_ || eof_requested_) return;
  send_close_notify();  // TLS: the half-close of the record layer first
  eof_requested_ = true;
  if (wbuf_.empty() && write_error_ == nullptr) {
    eof_sent_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
}

// asyncio WriteTransport.set_write_buffer_limits: the new marks apply now.
void StreamCore::set_write_buffer_limits(std::size_t high, std::size_t low) noexcept {
  high_water_ = high;
  low_water_ = low < high ? low : high;
  if (wbuf_.size() > high_water_) {
    paused_ = true;
  } else {
    maybe_resume_writing();
  }
}

}  // namespace detail
}  // namespace weft

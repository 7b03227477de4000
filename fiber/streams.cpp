// fiber/streams.cpp — weft::Stream's handle, and the life cycle of its
// StreamCore: creation, closing and reporting (see weft/fiber/streams.hpp
// for the contracts, fiber/stream_core.hpp for the invariants).
#include "weft/fiber/streams.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "fiber/loop_context.hpp"
#include "fiber/stream_core.hpp"
#include "fiber/tls_core.hpp"

namespace weft {

// --- the handle -------------------------------------------------------------

Stream::Stream() noexcept = default;

Stream::Stream(Stream&& other) noexcept : core_(other.core_) { other.core_ = nullptr; }

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (core_ != nullptr) core_->drop_handle();
    core_ = other.core_;
    other.core_ = nullptr;
  }
  return *this;
}

Stream::~Stream() {
  if (core_ != nullptr) core_->drop_handle();
}

detail::StreamCore& Stream::core(const char* what) const {
  if (core_ == nullptr) throw InvalidStateError(std::string(what) + ": the Stream is empty");
  return *core_;
}

std::string Stream::read(std::size_t n) { return core("weft::Stream::read").read_string(n); }
std::size_t Stream::read(char* out, std::size_t n) { return core("weft::Stream::read").read_some(out, n); }
std::string Stream::read_all() { return core("weft::Stream::read_all").read_all(); }
std::string Stream::read_exactly(std::size_t n) { return core("weft::Stream::read_exactly").read_exactly(n); }
void Stream::read_exactly(char* out, std::size_t n) { core("weft::Stream::read_exactly").read_exactly(out, n); }
std::string Stream::read_until(const std::string& separator) {
  return core("weft::Stream::read_until").read_until(separator);
}
std::string Stream::readline() { return core("weft::Stream::readline").readline(); }
bool Stream::at_eof() const { return core("weft::Stream::at_eof").at_eof(); }
std::size_t Stream::buffered() const { return core("weft::Stream::buffered").buffered(); }

void Stream::write(const char* data, std::size_t n) { core("weft::Stream::write").write(data, n); }
void Stream::drain() { core("weft::Stream::drain").drain(); }
void Stream::write_eof() { core("weft::Stream::write_eof").write_eof(); }
void Stream::close() { core("weft::Stream::close").close(); }
void Stream::abort() { core("weft::Stream::abort").abort(); }
bool Stream::is_closing() const noexcept { return core_ == nullptr || core_->is_closing(); }
void Stream::wait_closed() { core("weft::Stream::wait_closed").wait_closed(); }

SocketAddress Stream::peername() const { return core("weft::Stream::peername").peername(); }
SocketAddress Stream::sockname() const { return core("weft::Stream::sockname").sockname(); }
std::size_t Stream::write_buffer_size() const {
  return core("weft::Stream::write_buffer_size").write_buffer_size();
}
void Stream::set_write_buffer_limits(std::size_t high, std::size_t low) {
  core("weft::Stream::set_write_buffer_limits").set_write_buffer_limits(high, low);
}
std::size_t Stream::limit() const { return core("weft::Stream::limit").limit(); }
bool Stream::is_tls() const { return core("weft::Stream::is_tls").is_tls(); }
std::string Stream::tls_version() const { return core("weft::Stream::tls_version").tls_version(); }
std::string Stream::alpn_protocol() const { return core("weft::Stream::alpn_protocol").alpn_protocol(); }
bool Stream::tls_session_reused() const { return core("weft::Stream::tls_session_reused").tls_session_reused(); }

namespace detail {

// --- creation ---------------------------------------------------------------

StreamCore* StreamCore::create(Loop& loop, int fd, const StreamOptions& options, std::string host, uint16_t port,
                               const SocketAddress& peer) {
  try {
    if (options.limit == 0) throw std::invalid_argument("weft::StreamOptions: limit must be positive");
    LoopContext& context = LoopContext::of(loop);
    // Registered once, edge-triggered, for the stream's whole life.
    loop.impl().watch_fd(fd, true);
    return new StreamCore(context, fd, options, std::move(host), port, peer);
  } catch (...) {
    if (!loop.is_closed()) loop.impl().unwatch_fd(fd);
    ::close(fd);
    throw;
  }
}

StreamCore::StreamCore(LoopContext& context, int fd, const StreamOptions& options, std::string host, uint16_t port,
                       const SocketAddress& peer)
    : context_(&context),
      fd_(fd),
      host_(std::move(host)),
      port_(port),
      peer_(peer),
      limit_(options.limit),
      high_water_(options.write_high_water),
      low_water_(options.write_low_water < options.write_high_water ? options.write_low_water
                                                                    : options.write_high_water) {
  context_->add_ref();
}

// Reached with the socket still open only if the loop closed while a
// background flush held the last reference (its callback was discarded),
// or if the stream outlived its loop.
StreamCore::~StreamCore() {
  if (fd_ >= 0) {
    if (!wbuf_.empty()) {
      report("weft::Stream: " + std::to_string(wbuf_.size()) + " unsent bytes to " + describe("") +
                 " dropped: the event loop closed first",
             nullptr);
    }
    Loop* loop = live_loop();
    if (loop != nullptr) loop->impl().unwatch_fd(fd_);
    ::close(fd_);
    fd_ = -1;
    if (observer_ != nullptr) {
      observer_->stream_closed(*this);
      observer_->release();
    }
  }
  delete tls_;
  context_->release();
}

Loop* StreamCore::live_loop() const noexcept {
  Loop* loop = context_->loop();
  return loop != nullptr && !loop->is_closed() ? loop : nullptr;
}

// --- messages ---------------------------------------------------------------

std::string StreamCore::describe(const char* operation) const {
  std::string text = operation;
  if (!text.empty()) text += ' ';
  if (port_ == 0) return text + host_;  // a Unix socket path
  text += (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
  const std::string numeric = peer_.host();
  if (!numeric.empty() && numeric != host_) text += " (" + numeric + ")";
  return text;
}

std::exception_ptr StreamCore::socket_error(int err, const char* operation) const {
  return make_socket_error(err, describe(operation), host_, port_);
}

SocketAddress StreamCore::peername() const { return peer_; }

SocketAddress StreamCore::sockname() const {
  if (local_.empty() && fd_ >= 0) {
    sockaddr_storage storage;
    socklen_t size = sizeof storage;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &size) == 0) {
      local_ = SocketAddress::from_native(&storage, size);
    }
  }
  return local_;
}

void StreamCore::set_observer(StreamObserver* observer) noexcept {
  observer->add_ref();
  observer_ = observer;
}

// --- closing ----------------------------------------------------------------

// asyncio _SelectorTransport.close(): stop reading; close now if nothing is
// left to send, else once the flush is done (on_writable calls
// finish_close). StreamReaderProtocol.connection_lost then feeds the
// reader EOF: a task parked in read() wakes and sees it.
void StreamCore::close() noexcept {
  if (closing_) return;
  send_close_notify();  // TLS: a clean end the peer can tell from a cut
  closing_ = true;
  eof_ = true;
  reader_waker_();
  if (fd_ < 0) return;
  if (wbuf_.empty() || write_error_ != nullptr) finish_close();
}

// asyncio _SelectorTransport.abort(): _force_close, dropping the buffer.
void StreamCore::abort() noexcept {
  closing_ = true;
  eof_ = true;
  wbuf_.clear();
  paused_ = false;
  reader_waker_();
  if (fd_ >= 0) finish_close();
}

void StreamCore::finish_close() noexcept {
  add_ref();  // unwatch_fd may drop the flush callback's reference
  const int fd = fd_;
  fd_ = -1;
  if (Loop* loop = live_loop()) loop->impl().unwatch_fd(fd);
  flush_armed_ = false;
  ::close(fd);
  paused_ = false;
  reader_waker_();
  drain_waiters_.wake_all();
  close_waiters_.wake_all();
  if (observer_ != nullptr) {
    StreamObserver* observer = observer_;
    observer_ = nullptr;
    observer->stream_closed(*this);
    observer->release();
  }
  report_unseen_write_error();
  release();  // last: it may delete this
}

// asyncio StreamWriter.wait_closed(): awaits the protocol's _closed future,
// which carries the exception connection_lost() got, if any.
void StreamCore::wait_closed() {
  TaskCore& task = TaskCore::require_current("weft::Stream::wait_closed");
  while (fd_ >= 0) {
    close_waiters_.wait(task);
    task.check_cancel();
  }
  if (write_error_ != nullptr && dropped_bytes_ != 0 && !write_error_seen_) {
    write_error_seen_ = true;
    std::rethrow_exception(write_error_);
  }
}

void StreamCore::drop_handle() noexcept {
  handle_dropped_ = true;
  close();
  report_unseen_write_error();
  release();
}

// Unsent bytes were dropped by a write error that no write(), drain() or
// wait_closed() threw, and no handle is left to throw it: the loop's
// exception handler hears of it (asyncio: "exception was never retrieved").
void StreamCore::report_unseen_write_error() noexcept {
  if (!handle_dropped_ || write_error_ == nullptr || dropped_bytes_ == 0 || write_error_seen_) return;
  write_error_seen_ = true;
  report("weft::Stream closed with " + std::to_string(dropped_bytes_) + " unsent bytes dropped", write_error_);
}

void StreamCore::report(const std::string& message, std::exception_ptr error) noexcept {
  Loop* loop = context_->loop();
  try {
    if (loop != nullptr) {
      ExceptionContext context;
      context.message = message;
      context.exception = std::move(error);
      loop->call_exception_handler(context);
      return;
    }
  } catch (...) {
  }
  std::fprintf(stderr, "weft: %s\n", message.c_str());
}

}  // namespace detail
}  // namespace weft

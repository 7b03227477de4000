// fiber/stream_core.hpp — internal header of fiber/ (not installed).
//
// StreamCore is the state behind a weft::Stream: the socket, its read
// buffer (asyncio's StreamReader) and its write buffer with flow control
// (asyncio's _SelectorSocketTransport and FlowControlMixin). It is split
// over three files: fiber/streams.cpp (life cycle, closing),
// fiber/stream_reader.cpp (the read calls) and fiber/stream_writer.cpp
// (write, the background flush, drain).
//
// Ownership: an intrusive, non-atomic count. The Stream handle holds one
// reference; the loop callback that flushes the write buffer holds another
// while it is registered or queued, so a stream closed with unsent bytes
// stays alive, socket open, until they are out (asyncio's transport lives
// on after close() for the same reason). A server watching its connections
// holds none: the core tells it when it closes.
//
// Invariants:
//   - fd_ >= 0 exactly while the socket is open; it is registered with the
//     loop (watch_fd, owned) for all that time, and unregistered before it
//     is closed;
//   - flush_armed_ exactly while a write-readiness callback of ours is
//     registered or queued; it is armed whenever wbuf_ holds bytes and no
//     write error occurred, and never after the socket is closed;
//   - paused_ (asyncio FlowControlMixin._paused) is set when wbuf_ grows
//     past high_water_ and cleared when it falls to low_water_, and wakes
//     the drain waiters then;
//   - eof_ is set when recv() returned 0 or the stream was closed; bytes in
//     rbuf_ are still returned before EOF shows;
//   - reading_ is set while a task is inside a read call (one reader at a
//     time); reader_waker_ holds its wake-up while it is parked, so that
//     close() can end the wait.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "fiber/byte_buffer.hpp"
#include "fiber/io_wait.hpp"
#include "weft/fiber/addresses.hpp"
#include "weft/fiber/streams.hpp"

namespace weft {
namespace detail {

class LoopContext;
class StreamCore;
class TlsContextCore;
class TlsSession;

// Something told when a stream's socket is closed: a server counting its
// connections. It must outlive the streams it watches, so it is reference
// counted and the core holds a reference while it watches.
class StreamObserver {
 public:
  virtual void add_ref() noexcept = 0;
  virtual void release() noexcept = 0;
  // Called once, right after the stream's fd was closed.
  virtual void stream_closed(StreamCore& core) noexcept = 0;

 protected:
  ~StreamObserver() = default;
};

class StreamCore {
 public:
  // Takes a connected, non-blocking socket and registers it with `loop`
  // (which must run on this thread). host/port name the peer for error
  // messages; `peer` is its address if known. Closes fd and rethrows if
  // the registration fails.
  static StreamCore* create(Loop& loop, int fd, const StreamOptions& options, std::string host, uint16_t port,
                            const SocketAddress& peer);
  // A Stream holding one new reference.
  static Stream make_stream(StreamCore* core) noexcept { return Stream(core); }
  // The core of a non-empty stream.
  static StreamCore& of(const Stream& stream) noexcept { return *stream.core_; }

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  // The Stream handle lets go: close(), and from now on errors that nobody
  // saw are reported to the loop's exception handler.
  void drop_handle() noexcept;

  // --- reading (stream_reader.cpp) ---
  std::size_t read_some(char* out, std::size_t n);
  std::string read_string(std::size_t n);
  std::string read_all();
  void read_exactly(char* out, std::size_t n);
  std::string read_exactly(std::size_t n);
  std::string read_until(const std::string& separator);
  std::string readline();
  bool at_eof() const noexcept { return eof_ && rbuf_.empty(); }
  std::size_t buffered() const noexcept { return rbuf_.size(); }

  // --- writing (stream_writer.cpp) ---
  void write(const char* data, std::size_t n);
  void drain();
  void write_eof();
  std::size_t write_buffer_size() const noexcept { return wbuf_.size(); }
  void set_write_buffer_limits(std::size_t high, std::size_t low) noexcept;
  std::size_t limit() const noexcept { return limit_; }

  // --- closing (streams.cpp) ---
  void close() noexcept;
  void abort() noexcept;
  bool is_closing() const noexcept { return closing_ || write_error_ != nullptr; }
  void wait_closed();
  bool closed() const noexcept { return fd_ < 0; }

  SocketAddress peername() const;
  SocketAddress sockname() const;

  // Servers: `observer` is told when the socket closes (once).
  void set_observer(StreamObserver* observer) noexcept;

  // --- TLS (fiber/tls.cpp) ---
  // Runs the TLS handshake on this connected stream, as a client or a
  // server as `context` is, blocking the task until it is done or `deadline`
  // passes (TimeoutError). From then on reads and writes carry plaintext.
  // Throws SSLCertVerificationError, SSLError, TimeoutError, CancelledError.
  void start_tls(TaskCore& task, const TlsContext& context, const std::string& server_hostname,
                 Loop::time_point deadline);
  bool is_tls() const noexcept { return tls_ != nullptr; }
  std::string tls_version() const;
  std::string alpn_protocol() const;
  bool tls_session_reused() const;
  // The two ends of weft's BIO: ciphertext out through the plain write
  // path (never blocks: what the kernel does not take is queued), and in
  // from the socket (-1 when it would block; 0 at EOF).
  int bio_write(const char* data, int n) noexcept;
  int bio_read(char* out, int n) noexcept;

 private:
  enum class Until : uint8_t { kFound, kEof, kOverLimitNotFound, kOverLimitFound };
  struct ReadScope;
  struct FlushReady;

  StreamCore(LoopContext& context, int fd, const StreamOptions& options, std::string host, uint16_t port,
             const SocketAddress& peer);
  ~StreamCore();

  // The loop, or null once it is closed (callbacks discarded) or gone.
  Loop* live_loop() const noexcept;
  // "recv from example.com:80 (93.184.216.34)": an operation and the peer.
  std::string describe(const char* operation) const;
  std::exception_ptr socket_error(int err, const char* operation) const;

  // Reading: receive at least one byte into out, parking as needed; 0 at
  // EOF. Throws the read error, CancelledError.
  std::size_t receive(char* out, std::size_t n, TaskCore& task);
  // Receives more into rbuf_; false at EOF.
  bool fill(TaskCore& task);
  void read_exactly_into(TaskCore& task, char* out, std::size_t n);
  Until find_separator(TaskCore& task, const std::string& separator, std::size_t* position);

  // TLS: the plaintext read (SSL_read, parking on the socket as needed),
  // the close_notify sent by close() and write_eof().
  std::size_t tls_receive(char* out, std::size_t n, TaskCore& task);
  void send_close_notify() noexcept;
  void tls_write(const char* data, std::size_t n);
  [[noreturn]] void throw_handshake_error(int ssl_error);

  // Writing: sends bytes at once, queueing what the kernel does not take
  // (the plain path under write(), and the BIO's).
  void send_or_queue(const char* data, std::size_t n);
  // Sends from wbuf_ until it is empty or the socket is full.
  void flush() noexcept;
  void on_writable() noexcept;
  void arm_flush();
  void fail_write(int err) noexcept;
  void check_writable(const char* what);
  void maybe_resume_writing() noexcept;
  void after_flush() noexcept;

  // Closing: unregisters and closes the fd, wakes every waiter.
  void finish_close() noexcept;
  void report(const std::string& message, std::exception_ptr error) noexcept;
  void report_unseen_write_error() noexcept;

  LoopContext* context_;  // one reference
  int fd_;
  uint32_t refs_ = 1;
  std::string host_;
  uint16_t port_;
  SocketAddress peer_;
  mutable SocketAddress local_;  // getsockname(), asked once

  // Reading.
  ByteBuffer rbuf_;
  std::size_t limit_;
  std::exception_ptr read_error_;
  Waker reader_waker_;
  bool eof_ = false;
  bool reading_ = false;

  // Writing.
  ByteBuffer wbuf_;
  std::size_t high_water_;
  std::size_t low_water_;
  std::exception_ptr write_error_;
  std::size_t dropped_bytes_ = 0;  // unsent bytes the write error discarded
  WaitList drain_waiters_{"stream drain"};
  bool write_error_seen_ = false;  // thrown to the user at least once
  bool flush_armed_ = false;
  bool paused_ = false;
  bool eof_requested_ = false;  // write_eof() called
  bool eof_sent_ = false;       // shutdown(SHUT_WR) done

  // TLS: null for a plain stream; owned.
  TlsSession* tls_ = nullptr;

  // Closing.
  WaitList close_waiters_{"stream wait_closed"};
  StreamObserver* observer_ = nullptr;  // one reference, until told
  bool closing_ = false;
  bool handle_dropped_ = false;
};

}  // namespace detail
}  // namespace weft

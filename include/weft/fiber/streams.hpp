// weft/fiber/streams.hpp — public header; includes only public headers and
// the standard library.
//
// Streams over TCP and Unix sockets, as asyncio's streams.py. asyncio hands
// out a (StreamReader, StreamWriter) pair over a transport; weft has one
// move-only Stream owning the socket, with both halves:
//
//   asyncio                                      weft
//   r, w = await open_connection(host, port)     auto s = weft::open_connection(host, port);
//   r, w = await open_unix_connection(path)      auto s = weft::open_unix_connection(path);
//   r, w = await open_connection(sock=sock)      auto s = weft::Stream::from_socket(fd);
//   await r.read(n) / r.read()                   s.read(n) / s.read_all()
//   await r.readexactly(n)                       s.read_exactly(n)
//   await r.readuntil(sep) / r.readline()        s.read_until(sep) / s.readline()
//   r.at_eof()                                   s.at_eof()
//   w.write(b) ; await w.drain()                 s.write(b); s.drain();
//   w.write_eof() / w.can_write_eof()            s.write_eof() / s.can_write_eof()
//   w.close() ; await w.wait_closed()            s.close(); s.wait_closed();
//   w.transport.abort()                          s.abort()
//   w.get_extra_info('peername'/'sockname')      s.peername() / s.sockname()
//   w.transport.get_write_buffer_size()          s.write_buffer_size()
//   w.transport.set_write_buffer_limits(h, l)    s.set_write_buffer_limits(h, l)
//
// How it runs (DESIGN.md, "Readiness"): the socket is registered once with
// the loop, edge-triggered. Every read tries recv() first and parks the
// task only on EAGAIN; every write tries send() at once and buffers only
// what the kernel did not take, which a loop callback then flushes as the
// socket becomes writable, with no task involved (asyncio's transport).
// Sends use MSG_NOSIGNAL: a peer that reset the connection is an exception,
// never a SIGPIPE.
//
// Two tasks may use one stream at once, one reading and one writing (or
// draining): the halves are independent. Two tasks reading at once is an
// error (asyncio: "read() called while another coroutine is already waiting
// for incoming data").
//
// Threads: a stream belongs to the loop it was made on; every call belongs
// to that loop's thread. Blocking calls (read*, drain, wait_closed) must be
// made from a task and throw InvalidStateError elsewhere; write, write_eof,
// close and abort may also be called from plain loop callbacks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "weft/export.hpp"
#include "weft/fiber/addresses.hpp"
#include "weft/fiber/stream_errors.hpp"
#include "weft/fiber/tls.hpp"

namespace weft {

namespace detail {
class StreamCore;
}  // namespace detail

// Buffer settings of a stream (an aggregate; the defaults are asyncio's).
struct StreamOptions {
  // asyncio streams._DEFAULT_LIMIT: the longest line or read_until() chunk,
  // separator excluded, before LimitOverrunError.
  std::size_t limit = 64 * 1024;
  // asyncio transports' write-buffer limits (FlowControlMixin): drain()
  // blocks once more than `write_high_water` bytes are unsent, until they
  // fall to `write_low_water`. asyncio's defaults: 64 KiB, and high / 4.
  std::size_t write_high_water = 64 * 1024;
  std::size_t write_low_water = 16 * 1024;
};

// Settings of open_connection() (an aggregate).
struct ConnectOptions {
  StreamOptions stream;
  // Each address the host resolves to is tried in turn, in getaddrinfo's
  // order, and each attempt may take up to this long (aiohttp's
  // sock_connect). For a deadline on the whole call, resolution included,
  // wrap it in weft::timeout().
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(60);
  // Restricts resolution to one family (asyncio: family=socket.AF_INET...).
  AddressFamily family = AddressFamily::kUnspecified;
  // How long a resolved name is reused (aiohttp TCPConnector's
  // ttl_dns_cache, 10 s); zero bypasses the cache. Numeric addresses are
  // never cached: they need no lookup.
  std::chrono::milliseconds dns_cache_ttl = std::chrono::seconds(10);
  // TCP_NODELAY, which asyncio sets on every TCP stream since 3.6.
  bool tcp_nodelay = true;
  // asyncio ssl=: with a client TlsContext the stream speaks TLS, its
  // handshake done before open_connection() returns. Empty: plain TCP.
  TlsContext ssl;
  // asyncio server_hostname: the name sent as SNI and checked against the
  // certificate; empty: the host given to open_connection().
  std::string server_hostname;
  // asyncio ssl_handshake_timeout: 60 s.
  std::chrono::milliseconds ssl_handshake_timeout = std::chrono::seconds(60);
};

// A connected socket and its read and write buffers.
//
// Invariants: a non-empty Stream owns exactly one socket from its creation
// until close() or abort() has closed it; the socket is registered with
// the loop for as long as it is open and unregistered before it is closed.
// Bytes handed to write() are sent in order or reported (see close()).
//
// Closing, and what happens to unsent bytes (asyncio's transport.close()):
// close() stops reading and returns at once; bytes already written but not
// yet sent are still sent by the loop in the background, and the socket is
// closed when they are out. wait_closed() waits for that; if the peer goes
// away first, the unsent bytes are dropped and wait_closed() throws the
// error, which says how many. abort() drops unsent bytes and closes at once.
// The destructor of an open stream is close(): it never blocks; if its
// background flush later fails, nobody is left to throw to, so the error is
// reported to the loop's exception handler (as asyncio logs errors no one
// retrieved); if the loop closes first, the bytes are dropped and reported
// the same way.
class WEFT_API Stream {
 public:
  // An empty stream, to be assigned; every call but the destructor,
  // assignment, operator bool and is_closing() throws InvalidStateError.
  Stream() noexcept;
  Stream(Stream&& other) noexcept;
  // Closes the stream this one held (as the destructor), then takes other's.
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  // asyncio open_connection(sock=...): adopts a connected stream socket
  // (TCP or Unix), making it non-blocking; the Stream owns it from here on,
  // even if this throws (the fd is then closed). Call on the loop's thread
  // while it runs. Throws OSError (EBADF, ENOTSOCK), std::invalid_argument
  // for a socket that is not SOCK_STREAM, InvalidStateError if no loop runs.
  static Stream from_socket(int fd, StreamOptions options = StreamOptions());

  explicit operator bool() const noexcept { return core_ != nullptr; }

  // --- reading ---------------------------------------------------------------

  // asyncio StreamReader.read(n): up to n bytes, as soon as at least one is
  // available; "" at EOF (or for n == 0). Buffered bytes are returned
  // first; otherwise bytes are received straight into the caller's memory
  // (the pointer form) or into the stream's buffer. Throws the read error
  // (ConnectionResetError, ...) once the buffered bytes are out,
  // CancelledError if the task is cancelled while it waits (nothing is
  // lost: bytes not returned stay buffered), InvalidStateError if another
  // task is reading.
  std::string read(std::size_t n);
  std::size_t read(char* out, std::size_t n);

  // asyncio StreamReader.read() / read(-1): everything up to EOF.
  std::string read_all();

  // asyncio StreamReader.readexactly(n): exactly n bytes. At EOF first,
  // throws IncompleteReadError with the bytes received (no longer
  // buffered) and n. If cancelled part-way, the bytes received so far stay
  // buffered for the next read.
  std::string read_exactly(std::size_t n);
  void read_exactly(char* out, std::size_t n);

  // asyncio StreamReader.readuntil(separator): the bytes up to and
  // including the first occurrence of `separator` (non-empty, else
  // std::invalid_argument). Throws LimitOverrunError if the separator is
  // not within limit() bytes, leaving everything buffered; at EOF without
  // the separator, IncompleteReadError with the buffered bytes (cleared)
  // and expected() == kUndefined.
  std::string read_until(const std::string& separator = "\n");

  // asyncio StreamReader.readline(): read_until("\n"), except that at EOF
  // the partial last line is returned ("" if none). Past the limit it
  // throws LimitOverrunError after discarding the overlong line (up to and
  // including its "\n" if seen, else everything buffered), as asyncio does
  // before raising ValueError.
  std::string readline();

  // asyncio StreamReader.at_eof(): EOF was received (or the stream closed)
  // and every buffered byte has been read.
  bool at_eof() const;

  // Bytes received and not yet read (an extra, for tests and protocols).
  std::size_t buffered() const;

  // --- writing ---------------------------------------------------------------

  // asyncio StreamWriter.write(data): never blocks. If nothing is queued,
  // send() is tried at once; what the kernel does not take is buffered and
  // flushed by the loop. Unlike asyncio, which only logs and lets drain()
  // raise, a failed send throws here at once (a ConnectionError for a
  // reset or closed peer), and so does any later write; so does a write
  // after write_eof(), close() or abort() (InvalidStateError, as asyncio's
  // "Cannot call write() after write_eof()").
  void write(const char* data, std::size_t n);
  void write(const std::string& data) { write(data.data(), data.size()); }

  // asyncio StreamWriter.drain(): returns at once while the unsent bytes
  // are at most the high-water mark; above it, blocks until the loop has
  // sent enough to bring them down to the low-water mark. Throws the
  // connection's error if sending or receiving failed (asyncio also raises
  // the reader's exception here), ConnectionResetError ("connection lost")
  // once the stream is closed, CancelledError if cancelled (the bytes stay
  // queued). Several tasks may drain at once.
  void drain();

  // asyncio StreamWriter.write_eof(): shuts the sending side down (the peer
  // reads EOF) once the queued bytes are sent; reading goes on. Idempotent.
  void write_eof();
  bool can_write_eof() const noexcept { return true; }

  // asyncio StreamWriter.close(): see the class comment. Idempotent; never
  // blocks; wakes a task blocked in read() (it then sees EOF). May be
  // called from any task or callback of the loop's thread.
  void close();
  // asyncio transport.abort(): closes at once, dropping unsent bytes.
  void abort();
  // asyncio StreamWriter.is_closing(): close() or abort() was called, or the
  // connection failed; true for an empty Stream.
  bool is_closing() const noexcept;
  // asyncio StreamWriter.wait_closed(): blocks until the socket is closed.
  // Throws the error that made close() drop unsent bytes, if any.
  void wait_closed();

  // --- introspection ----------------------------------------------------------

  // get_extra_info('peername') / ('sockname'); empty once unknown (an
  // unconnected Unix peer, or after close() for an address never asked).
  SocketAddress peername() const;
  SocketAddress sockname() const;
  // Bytes written and not yet sent (transport.get_write_buffer_size()).
  std::size_t write_buffer_size() const;
  // transport.set_write_buffer_limits(high, low): low is clamped to high.
  void set_write_buffer_limits(std::size_t high, std::size_t low);
  std::size_t limit() const;

  // get_extra_info('ssl_object') on a TLS stream: whether it is one, the
  // protocol version ("TLSv1.3"), the ALPN protocol chosen ("" if none),
  // and whether the handshake resumed an earlier session. "" / false on a
  // plain stream.
  bool is_tls() const;
  std::string tls_version() const;
  std::string alpn_protocol() const;
  bool tls_session_reused() const;

 private:
  friend class detail::StreamCore;
  explicit Stream(detail::StreamCore* core) noexcept : core_(core) {}
  detail::StreamCore& core(const char* what) const;

  detail::StreamCore* core_ = nullptr;  // one reference, or null
};

// asyncio.open_connection(host, port): resolves `host` (a name, through
// getaddrinfo() on a worker thread and a TTL cache; a numeric address
// inline), then connects to each address in turn until one accepts, each
// attempt bounded by options.connect_timeout. Blocks the calling task.
// Throws ResolveError if the name does not resolve; a ConnectionError
// subclass or SocketError naming the host, port and address if no address
// accepted (with several addresses, the message lists each failure and the
// type is that of the last); TimeoutError if every attempt timed out;
// CancelledError if cancelled (no socket is left open); InvalidStateError
// outside a task.
WEFT_API Stream open_connection(const std::string& host, uint16_t port,
                                const ConnectOptions& options = ConnectOptions());

// asyncio.open_unix_connection(path): connects to a Unix socket ('\0'
// first: the abstract namespace). Errors as open_connection(), with the
// path as host() and port 0.
WEFT_API Stream open_unix_connection(const std::string& path, const StreamOptions& options = StreamOptions());

}  // namespace weft

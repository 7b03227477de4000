// A scripted raw-bytes HTTP server for the client tests: it runs in-process
// on the current weft loop (weft::start_server on 127.0.0.1, port 0) and
// answers each request it receives — in order, across all its connections —
// with the exact bytes of the next "exchange" of its script, however wrong
// those bytes are. It records every request's raw text for the tests to
// inspect, and counts connections (accepted, open at once, requests in
// flight at once) so that pooling can be checked from the server's side.
//
//   weft::run([] {
//     weft_test::ScriptServer server({
//         weft_test::Exchange("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
//         weft_test::Exchange("HTTP/1.1 200 OK\r\n\r\nbye").then_close(),
//     });
//     ... client requests to server.url("/path") ...
//     EXPECT_EQ(1u, server.connections());
//   });
//
// Send modes: every response is written either whole (one write) or one byte
// at a time (write, drain, weft::yield() per byte), so that every case can
// be run against both a client that gets the response in one read and one
// that gets it in as many reads as there are bytes. The mode is global
// (set_send_mode), read when a server is constructed.
//
// TLS, optional: constructed with a server weft::TlsContext, the server
// does each connection's TLS handshake first (ServerOptions::ssl; a
// connection whose handshake fails never reaches the script and is not
// counted in connections()), and url() says "https".
//
// Threads: construct, use and destroy a ScriptServer inside a task of one
// loop. The destructor closes the listening socket and every connection and
// waits for their handlers, so no fd outlives it.
#pragma once

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "weft/fiber/addresses.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/servers.hpp"
#include "weft/fiber/stream_errors.hpp"
#include "weft/fiber/streams.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/tls.hpp"

namespace weft_test {

// How a ScriptServer writes its responses.
enum class SendMode {
  kWhole,      // one write() per response
  kByteByByte  // write 1 byte, drain, weft::yield(), for each byte
};

inline SendMode& send_mode_setting() {
  static SendMode mode = SendMode::kWhole;
  return mode;
}
// The mode of ScriptServers constructed from now on.
inline void set_send_mode(SendMode mode) { send_mode_setting() = mode; }
inline SendMode send_mode() { return send_mode_setting(); }
inline const char* send_mode_name(SendMode mode) {
  return mode == SendMode::kWhole ? "Whole" : "ByteByByte";
}

// What the server does with one request: after `delay`, send `response`
// (possibly empty, possibly malformed), then, in this order of precedence:
//   reset:  set SO_LINGER {1, 0} and close, so the client gets an RST;
//   abort:  Stream::abort(): close at once; on TLS without close_notify, so
//           the client sees a cut connection rather than a clean end (on
//           plain TCP the same as close);
//   hang:   send nothing more and wait until the client goes away;
//   close:  close the connection (the client reads EOF);
//   else:   wait for the next request on the same connection.
// Build one fluently: Exchange(bytes).after(ms).then_close().
struct Exchange {
  Exchange(std::string bytes = std::string()) : response(std::move(bytes)) {}  // NOLINT: implicit
  Exchange(const char* bytes) : response(bytes) {}                             // NOLINT: implicit

  Exchange& after(std::chrono::milliseconds d) {
    delay = d;
    return *this;
  }
  Exchange& then_close() {
    close_after = true;
    return *this;
  }
  Exchange& then_hang() {
    hang = true;
    return *this;
  }
  Exchange& then_reset() {
    reset = true;
    return *this;
  }
  Exchange& then_abort() {
    abort = true;
    return *this;
  }

  std::string response;
  std::chrono::milliseconds delay{0};
  bool close_after = false;
  bool hang = false;
  bool reset = false;
  bool abort = false;
  // Set by a Script to say there is no exchange left: the server records the
  // request as unexpected and closes the connection without answering.
  bool none = false;
};

// "HTTP/1.1 <status>\r\n<headers>Content-Length: N\r\n\r\n<body>"; each
// header line in `headers` must end with "\r\n".
inline std::string with_length(const std::string& body, const std::string& headers = std::string(),
                               const std::string& status = "200 OK") {
  return "HTTP/1.1 " + status + "\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// ASCII case-insensitive comparison of header names.
inline bool same_name(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// A recorded request, taken apart (parse_request).
struct RecordedRequest {
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;  // wire order
  std::string body;  // as received (de-chunked if it was chunked)

  // The first value of header `name`, or "" if there is none.
  std::string header(const std::string& name) const {
    for (const auto& field : headers) {
      if (same_name(field.first, name)) return field.second;
    }
    return std::string();
  }
  bool has_header(const std::string& name) const { return count(name) != 0; }
  std::size_t count(const std::string& name) const {
    std::size_t n = 0;
    for (const auto& field : headers) {
      if (same_name(field.first, name)) ++n;
    }
    return n;
  }
};

inline std::string trim_ows(const std::string& s) {
  std::size_t begin = 0;
  std::size_t end = s.size();
  while (begin < end && (s[begin] == ' ' || s[begin] == '\t')) ++begin;
  while (end > begin && (s[end - 1] == ' ' || s[end - 1] == '\t')) --end;
  return s.substr(begin, end - begin);
}

// Takes a raw request (head, "\r\n\r\n", body) apart. A chunked body is
// recorded as it came; `body` is then the raw chunked bytes.
inline RecordedRequest parse_request(const std::string& raw) {
  RecordedRequest req;
  const std::size_t head_end = raw.find("\r\n\r\n");
  const std::string head = raw.substr(0, head_end);
  req.body = head_end == std::string::npos ? std::string() : raw.substr(head_end + 4);
  std::size_t pos = 0;
  bool first = true;
  while (pos <= head.size()) {
    std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string::npos) eol = head.size();
    const std::string line = head.substr(pos, eol - pos);
    if (first) {
      const std::size_t sp1 = line.find(' ');
      const std::size_t sp2 = line.find(' ', sp1 == std::string::npos ? line.size() : sp1 + 1);
      req.method = line.substr(0, sp1);
      if (sp1 != std::string::npos) req.target = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
      if (sp2 != std::string::npos) req.version = line.substr(sp2 + 1);
      first = false;
    } else if (!line.empty()) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        req.headers.emplace_back(line.substr(0, colon), trim_ows(line.substr(colon + 1)));
      }
    }
    pos = eol + 2;
  }
  return req;
}

// The fd of `stream`'s socket, found by matching its local and peer
// addresses among this process's sockets (Stream exposes no fd); -1 if none
// matches. The client end of a loopback connection in the same process has
// the two addresses swapped, so only the server end matches.
inline int find_socket_fd(const weft::Stream& stream) {
  weft::SocketAddress local;
  weft::SocketAddress peer;
  try {
    local = stream.sockname();
    peer = stream.peername();
  } catch (const std::exception&) {
    return -1;
  }
  if (local.empty() || peer.empty()) return -1;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  const int dir_fd = ::dirfd(dir);
  int found = -1;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == dir_fd) continue;
    sockaddr_storage address = {};
    socklen_t size = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) continue;
    try {
      if (weft::SocketAddress::from_native(&address, size) != local) continue;
      size = sizeof address;
      if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) continue;
      if (weft::SocketAddress::from_native(&address, size) != peer) continue;
    } catch (const std::invalid_argument&) {
      continue;  // a netlink socket or other family weft does not speak
    }
    found = fd;
    break;
  }
  ::closedir(dir);
  return found;
}

// Closes `stream` with an RST: SO_LINGER {1, 0} on its socket, then
// abort(). If the fd cannot be found, abort() alone (a plain close).
inline void reset_stream(weft::Stream& stream) {
  const int fd = find_socket_fd(stream);
  if (fd >= 0) {
    linger lin = {};
    lin.l_onoff = 1;
    lin.l_linger = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  }
  stream.abort();
}

namespace detail {

struct ScriptState {
  SendMode mode = SendMode::kWhole;
  std::vector<std::string> requests;
  std::vector<std::string> errors;
  std::size_t unexpected = 0;
  std::size_t accepted = 0;
  std::size_t open = 0;
  std::size_t max_open = 0;
  std::size_t in_flight = 0;
  std::size_t max_in_flight = 0;
};

}  // namespace detail

// One connection of a ScriptServer, as a handler-form server sees it.
class ScriptConnection {
 public:
  ScriptConnection(weft::Stream& stream, std::shared_ptr<detail::ScriptState> state, std::size_t index)
      : stream_(stream), state_(std::move(state)), index_(index) {}

  weft::Stream& stream() { return stream_; }
  // 0 for the first connection the server accepted, and so on.
  std::size_t index() const { return index_; }

  // Reads one request: its head up to "\r\n\r\n" and its body (by
  // Content-Length, or chunked). Records it in the server's requests() and
  // stores it in *raw. Returns false if the client closed (or reset) the
  // connection before a complete request.
  bool read_request(std::string* raw = nullptr) {
    std::string text;
    try {
      text = stream_.read_until("\r\n\r\n");
      const RecordedRequest head = parse_request(text);
      const std::string length = head.header("Content-Length");
      if (!length.empty()) {
        const std::size_t n = static_cast<std::size_t>(std::strtoull(length.c_str(), nullptr, 10));
        if (n != 0) text += stream_.read_exactly(n);
      } else if (head.header("Transfer-Encoding").find("chunked") != std::string::npos) {
        for (;;) {
          const std::string size_line = stream_.read_until("\r\n");
          text += size_line;
          const std::size_t n = static_cast<std::size_t>(std::strtoull(size_line.c_str(), nullptr, 16));
          if (n == 0) break;
          text += stream_.read_exactly(n + 2);
        }
        for (;;) {  // trailers, up to the empty line
          const std::string line = stream_.read_until("\r\n");
          text += line;
          if (line == "\r\n") break;
        }
      }
    } catch (const weft::IncompleteReadError&) {
      return false;
    } catch (const weft::ConnectionError&) {
      return false;
    } catch (const weft::SSLError&) {  // TLS: a client that left without close_notify
      return false;
    }
    state_->requests.push_back(text);
    if (raw != nullptr) *raw = std::move(text);
    return true;
  }

  // Writes `bytes` in the server's send mode; throws the stream's error if
  // the client went away.
  void send(const std::string& bytes) {
    if (bytes.empty()) return;
    if (state_->mode == SendMode::kWhole) {
      stream_.write(bytes);
      stream_.drain();
      return;
    }
    for (char c : bytes) {
      stream_.write(&c, 1);
      stream_.drain();
      weft::yield();
    }
  }

  // Blocks until the client closes (or resets) the connection, discarding
  // whatever it sends.
  void wait_for_eof() {
    try {
      while (!stream_.read(65536).empty()) {
      }
    } catch (const weft::ConnectionError&) {
    } catch (const weft::SSLError&) {
    }
  }

  // Closes the connection with an RST.
  void reset() { reset_stream(stream_); }

 private:
  weft::Stream& stream_;
  std::shared_ptr<detail::ScriptState> state_;
  std::size_t index_;
};

class ScriptServer {
 public:
  // The exchange for the request-th request (0-based) whose raw text is
  // `request`; return an Exchange with `none` set when the script is over.
  using Script = std::function<Exchange(const std::string& request, std::size_t index)>;
  // A handler-form server: the function runs each connection itself.
  using Handler = std::function<void(ScriptConnection&)>;

  // Answers the i-th request with exchanges[i]; requests past the end are
  // counted in unexpected_requests() and their connection is closed.
  explicit ScriptServer(std::vector<Exchange> exchanges, SendMode mode = send_mode())
      : ScriptServer(script_of(std::move(exchanges)), mode) {}

  explicit ScriptServer(Script script, SendMode mode = send_mode()) : state_(std::make_shared<detail::ScriptState>()) {
    state_->mode = mode;
    std::shared_ptr<detail::ScriptState> state = state_;
    start([state, script](ScriptConnection& connection) { serve_script(connection, *state, script); });
  }

  explicit ScriptServer(Handler handler, SendMode mode = send_mode()) : state_(std::make_shared<detail::ScriptState>()) {
    state_->mode = mode;
    start(std::move(handler));
  }

  // The same three, over TLS with the server context `tls`.
  ScriptServer(std::vector<Exchange> exchanges, weft::TlsContext tls, SendMode mode = send_mode())
      : ScriptServer(script_of(std::move(exchanges)), std::move(tls), mode) {}

  ScriptServer(Script script, weft::TlsContext tls, SendMode mode = send_mode())
      : state_(std::make_shared<detail::ScriptState>()), tls_(std::move(tls)) {
    state_->mode = mode;
    std::shared_ptr<detail::ScriptState> state = state_;
    start([state, script](ScriptConnection& connection) { serve_script(connection, *state, script); });
  }

  ScriptServer(Handler handler, weft::TlsContext tls, SendMode mode = send_mode())
      : state_(std::make_shared<detail::ScriptState>()), tls_(std::move(tls)) {
    state_->mode = mode;
    start(std::move(handler));
  }

  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  ~ScriptServer() { close(); }

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" + path ('/' added in front if missing);
  // "https://..." for a TLS server.
  std::string url(const std::string& path = "/") const {
    return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_) +
           (path.empty() || path[0] != '/' ? "/" : "") + path;
  }

  // The raw text of every request received, in order.
  const std::vector<std::string>& requests() const { return state_->requests; }
  RecordedRequest request(std::size_t i) const { return parse_request(state_->requests.at(i)); }
  // Connections accepted so far.
  std::size_t connections() const { return state_->accepted; }
  // Connections open now, and the most that were open at once.
  std::size_t open_connections() const { return state_->open; }
  std::size_t max_open_connections() const { return state_->max_open; }
  // Requests read but not yet answered, at most, at once.
  std::size_t max_in_flight() const { return state_->max_in_flight; }
  // Requests that came after the script's end.
  std::size_t unexpected_requests() const { return state_->unexpected; }
  // Exceptions a connection's handler caught (a client that went away
  // mid-response, usually expected).
  const std::vector<std::string>& errors() const { return state_->errors; }

  // Stops listening, closes every connection and, inside a task, waits for
  // their handlers to end. Idempotent.
  void close() noexcept {
    if (!server_) return;
    try {
      server_.close();
      server_.close_clients();
      if (weft::current_task()) server_.wait_closed();
    } catch (...) {  // CancelledError included: this runs in destructors
    }
    server_ = weft::Server();
  }

 private:
  static Script script_of(std::vector<Exchange> exchanges) {
    auto list = std::make_shared<std::vector<Exchange>>(std::move(exchanges));
    return [list](const std::string&, std::size_t index) {
      if (index < list->size()) return (*list)[index];
      Exchange none;
      none.none = true;
      return none;
    };
  }

  static void serve_script(ScriptConnection& connection, detail::ScriptState& state, const Script& script) {
    for (;;) {
      std::string raw;
      if (!connection.read_request(&raw)) return;
      const std::size_t index = state.requests.size() - 1;
      const Exchange exchange = script(raw, index);
      if (exchange.none) {
        ++state.unexpected;
        return;
      }
      ++state.in_flight;
      state.max_in_flight = std::max(state.max_in_flight, state.in_flight);
      struct InFlight {
        detail::ScriptState& s;
        ~InFlight() { --s.in_flight; }
      } in_flight{state};
      if (exchange.delay.count() > 0) weft::sleep(exchange.delay);
      connection.send(exchange.response);
      if (exchange.reset) {
        connection.reset();
        return;
      }
      if (exchange.abort) {
        connection.stream().abort();
        return;
      }
      if (exchange.hang) {
        connection.wait_for_eof();
        return;
      }
      if (exchange.close_after) return;
    }
  }

  void start(Handler handler) {
    std::shared_ptr<detail::ScriptState> state = state_;
    weft::ServerOptions options;
    options.backlog = 1024;  // DESIGN.md: tests opening many sockets
    options.stream.limit = 1024 * 1024;
    options.ssl = tls_;
    server_ = weft::start_server(
        [state, handler](weft::Stream stream) {
          const std::size_t index = state->accepted++;
          ++state->open;
          state->max_open = std::max(state->max_open, state->open);
          struct Open {
            detail::ScriptState& s;
            weft::Stream& stream;
            ~Open() {
              stream.close();
              --s.open;
            }
          } open{*state, stream};
          ScriptConnection connection(stream, state, index);
          try {
            handler(connection);
          } catch (const std::exception& e) {
            state->errors.push_back(e.what());
          }
        },
        "127.0.0.1", 0, options);
    port_ = server_.port();
  }

  std::shared_ptr<detail::ScriptState> state_;
  weft::TlsContext tls_;  // empty: plain TCP
  weft::Server server_;
  std::uint16_t port_ = 0;
};

}  // namespace weft_test

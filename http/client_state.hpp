// client_state.hpp — internal header of http/ (not installed).
//
// The state behind the public ClientSession and Response handles
// (include/weft/http/client.hpp), shared by session.cpp (sending requests,
// following redirects) and response.cpp (reading bodies).
#ifndef WEFT_HTTP_CLIENT_STATE_HPP
#define WEFT_HTTP_CLIENT_STATE_HPP

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connector.hpp"
#include "content_decoder.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/timeouts.hpp"
#include "weft/http/client.hpp"

namespace weft {
namespace http {
namespace detail {

// The deadlines of one request (ClientTimeout resolved against the loop's
// clock at the start of the request). A zero duration means none.
struct Deadlines {
  Loop::time_point total = Loop::time_point::max();
  std::chrono::milliseconds total_timeout{0};
  std::chrono::milliseconds connect{0};
  std::chrono::milliseconds sock_connect{0};
  std::chrono::milliseconds sock_read{0};

  // The deadline of one wait for response bytes, and which timeout sets it.
  Loop::time_point for_read(const char*& which) const;
  // The deadline for taking a connection (slot wait plus connecting).
  Loop::time_point for_connect(const char*& which) const;
};

[[noreturn]] void throw_client_timeout(const char* which, const Deadlines& deadlines, const char* doing,
                                       const std::string& url);

// Runs fn() under `deadline` (none if time_point::max()); if the deadline
// passes, throws weft::TimeoutError saying which timeout of ClientTimeout
// expired while doing `doing`, for `url`. Other exceptions pass unchanged.
template <class F>
auto bounded(Loop::time_point deadline, const char* which, const Deadlines& deadlines, const char* doing,
             const std::string& url, F&& fn) -> decltype(fn()) {
  if (deadline == Loop::time_point::max()) return fn();
  try {
    return timeout_at(deadline, fn);
  } catch (const TimeoutError&) {
    // Only this deadline's expiry is ours; an earlier TimeoutError (an inner
    // connect attempt's) passes through.
    if (get_running_loop().time() < deadline) throw;
    throw_client_timeout(which, deadlines, doing, url);
  }
}

// Reads response bytes: feeds the connection's unparsed bytes to its
// parser, first reading from the socket (bounded by the read deadline) if
// there are none. At EOF tells the parser (which completes a
// close-delimited body or throws). Socket errors become ClientOSError
// before the head and ClientPayloadError after it.
void pump(Connection& connection, const Deadlines& deadlines, const std::string& url);

// A response and, until its body is read to the end, its connection.
//
// Invariants: `connection` is non-null from the head until the parser
// completes the message (or a failure or release() closes it); `coded`
// holds body bytes taken from the parser and not yet decoded or handed out
// (from coded_pos on).
struct ResponseState {
  ResponseState() : content(this) {}
  ResponseState(const ResponseState&) = delete;
  ResponseState& operator=(const ResponseState&) = delete;
  ~ResponseState() { release(false); }

  // Up to n decoded body bytes into out; 0 at the end of the body.
  std::size_t read_body(char* out, std::size_t n);
  // As read_body, appending to `out` (which then grows only by what is
  // read: no zero-filled room, and an identity body that arrived whole is
  // handed over without a copy).
  std::size_t append_body(std::string& out, std::size_t n);
  // Reads until `coded` holds bytes not handed out yet (true) or the
  // message is complete with none left (false). The caller closes the
  // connection if it throws.
  bool await_coded();
  // Called whenever the parser may have produced body bytes or completed:
  // moves the bytes to `coded`, and on completion keeps the trailers and
  // gives the connection back to the pool.
  void collect();
  // Gives the connection back (reusable only if the message is complete
  // and the parser says keep-alive) or closes it.
  void release(bool reusable) noexcept;
  [[noreturn]] void fail_released() const;

  std::shared_ptr<Connector> connector;
  std::unique_ptr<Connection> connection;
  Deadlines deadlines;

  std::string method;
  URL url;
  std::string url_text;
  int status = 0;
  std::string reason;
  int version_major = 1;
  int version_minor = 1;
  Headers headers;
  Headers trailers;
  std::vector<Response> history;

  std::unique_ptr<ContentDecoder> decoder;
  std::string coded;
  std::size_t coded_pos = 0;
  bool message_complete = false;  // the parser saw the whole response
  bool eof = false;               // every decoded byte was handed out
  bool released = false;          // release() ran before the end
  bool streamed = false;          // content() handed out bytes
  bool body_kept = false;         // read() kept the whole body in `body`
  std::string body;
  ResponseContent content;
};

// The state of a ClientSession.
struct SessionState {
  explicit SessionState(SessionOptions options);

  Response request(const std::string& method, const std::string& url, const RequestOptions& options);

  // Builds the ResponseState for one request on one connection: writes the
  // request and reads the response head. Retries once on a new connection
  // when a reused one turns out to be closed (idempotent methods only).
  std::unique_ptr<ResponseState> send(const std::string& method, const URL& url, const std::string& url_text,
                                      const Headers& headers, const std::string& body, bool send_length,
                                      const Deadlines& deadlines);

  SessionOptions options;
  Headers headers;  // the defaults sent with every request
  URL base_url;
  std::shared_ptr<Connector> connector;
};

}  // namespace detail
}  // namespace http
}  // namespace weft

#endif  // WEFT_HTTP_CLIENT_STATE_HPP

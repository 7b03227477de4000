// weft/http/client.hpp — public header; includes public headers, the
// standard library and nlohmann/json_fwd.hpp. Code that calls
// Response::json() or builds a JSON body includes <nlohmann/json.hpp>
// itself (weft/http/json.hpp does both), so translation units that never
// touch JSON do not pay for the whole of nlohmann-json.
//
// The HTTP/1.1 client, as aiohttp's ClientSession:
//
//   aiohttp                                        weft
//   async with aiohttp.ClientSession() as s:       weft::http::ClientSession s;
//     async with s.get(url) as resp:               auto resp = s.get(url);
//       resp.status, resp.headers['ETag']          resp.status(), resp.headers().get("ETag")
//       body = await resp.read()                   std::string body = resp.read();
//       text = await resp.text()                   std::string text = resp.text();
//       data = await resp.json()                   nlohmann::json data = resp.json();
//       chunk = await resp.content.read(n)         std::string chunk = resp.content().read(n);
//   s.post(url, json={...})                        opts.json = {...}; s.post(url, opts);
//   ClientTimeout(total=5)                         ClientTimeout{std::chrono::seconds(5)}
//   TCPConnector(limit=100, limit_per_host=0)      SessionOptions::connector
//
// A request runs in the calling task and blocks only it: request() returns
// once the final response's head is parsed (redirects followed), with the
// connection still attached to the Response for its body. Reading the body
// to its end gives the connection back to the session's pool (or closes it
// when the server asked for that); destroying a Response whose body was not
// read to the end closes its connection, as aiohttp's release() does, so a
// half-read connection can never serve another request.
//
// Errors (errors.hpp): ClientConnectorError (DNS, refused, unreachable),
// ServerDisconnectedError (EOF before the head), ResponseParseError
// (malformed head or framing, a parser limit), ClientPayloadError (body cut
// short, bad chunk, undecodable gzip, body larger than a read's limit),
// ClientOSError (any other socket error), InvalidURL, TooManyRedirects,
// ClientResponseError (raise_for_status). Every timeout is a
// weft::TimeoutError whose message names the URL and the timeout.
// Cancellation (weft::CancelledError) can strike at any blocking point; the
// connection in use is then closed, never pooled.
//
// Threads: a session and its responses belong to the loop that created the
// session; every blocking call must be made from a task of that loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "weft/export.hpp"
#include "weft/fiber/tls.hpp"
#include "weft/http/errors.hpp"
#include "weft/http/headers.hpp"
#include "weft/http/redirects.hpp"
#include "weft/http/url.hpp"

namespace weft {
namespace http {

// "No limit" for the size limits of read(), text() and json().
constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

// aiohttp ClientTimeout. Each field is a duration; zero (or less) means no
// timeout, as aiohttp's None and 0 do. In RequestOptions every field starts
// as kInherit, which means "the session's value for this field".
//   total        the whole request: connecting, sending, redirects and
//                reading the body to its end;
//   connect      taking a connection: waiting for a free pool slot plus
//                connecting, for each request of a redirect chain;
//   sock_connect connecting one socket (each address tried);
//   sock_read    the longest wait for bytes while reading a response.
struct WEFT_API ClientTimeout {
  static constexpr std::chrono::milliseconds kInherit{-1};

  std::chrono::milliseconds total = std::chrono::minutes(5);  // aiohttp: 300 s
  std::chrono::milliseconds connect = std::chrono::milliseconds(0);
  std::chrono::milliseconds sock_connect = std::chrono::seconds(30);  // aiohttp 3.10+
  std::chrono::milliseconds sock_read = std::chrono::milliseconds(0);

  // All four fields kInherit: RequestOptions' default.
  static ClientTimeout inherit() {
    return ClientTimeout{kInherit, kInherit, kInherit, kInherit};
  }
};

// aiohttp TCPConnector's settings.
struct ConnectorOptions {
  // Connections in use at once across all hosts (aiohttp: limit=100);
  // 0 means no limit. Idle pooled connections do not count, as in aiohttp.
  std::size_t limit = 100;
  // Connections in use at once to one (scheme, host, port); 0: no limit.
  std::size_t limit_per_host = 0;
  // How long an idle connection is kept for reuse (aiohttp: 15 s); zero
  // closes every connection after its response (aiohttp force_close).
  std::chrono::milliseconds keepalive_timeout = std::chrono::seconds(15);
  // How long a resolved host name is reused (aiohttp ttl_dns_cache: 10 s);
  // zero resolves every time.
  std::chrono::milliseconds dns_cache_ttl = std::chrono::seconds(10);
  // The TLS settings of https connections (aiohttp TCPConnector ssl=):
  // empty means weft::TlsContext::client(), which verifies certificates
  // and host names against the system CAs; for aiohttp's ssl=False pass
  // TlsContext::client() with insecure_no_verify. Connections are pooled
  // per session, so one made without verification is never handed to a
  // verifying session.
  TlsContext ssl;
};

// Parser limits (DESIGN.md, "HTTP client behaviour"); each exceeded limit
// is a ResponseParseError naming it and the byte offset.
struct ResponseLimits {
  std::size_t max_line_size = 8190;        // status line, each header line
  std::size_t max_field_count = 128;       // header fields (and trailers)
  std::size_t max_chunk_line_size = 8190;  // each chunk-size line
};

// aiohttp ClientSession's arguments.
struct SessionOptions {
  // Relative request URLs ("/a?b") are resolved against it (RFC 3986);
  // empty: every request URL must be absolute.
  std::string base_url;
  // Sent with every request unless the request sets a header of the same
  // name. User-Agent, Accept and Accept-Encoding are added unless present.
  Headers headers;
  ClientTimeout timeout;
  ConnectorOptions connector;
  ResponseLimits limits;
  // aiohttp raise_for_status=True: every response with status >= 400
  // throws ClientResponseError from request() (the body is not read).
  bool raise_for_status = false;
  // Decode gzip and deflate bodies (aiohttp auto_decompress).
  bool auto_decompress = true;
};

// A JSON request body, serialised when it is set: assign any nlohmann::json
// value (`options.json = nlohmann::json{{"a", 1}};`, null included).
// A template, so this header needs nlohmann::json declared only.
class JsonBody {
 public:
  JsonBody() = default;
  template <class Json, class = decltype(std::declval<const Json&>().dump())>
  JsonBody(const Json& value) : text_(value.dump()), set_(true) {}  // NOLINT: implicit on purpose

  bool empty() const noexcept { return !set_; }
  // The serialised value (RFC 8259 text, UTF-8).
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  bool set_ = false;
};

// The optional arguments of one request. Set at most one of data, form and
// json (std::invalid_argument otherwise).
struct RequestOptions {
  // Replace the session's headers of the same names; added to the rest.
  Headers headers;
  // Appended to the URL's query (yarl extend_query).
  QueryParams params;
  // A raw body, sent as is (Content-Type: application/octet-stream unless
  // `headers` sets one). Empty: no body.
  std::string data;
  // A form body (application/x-www-form-urlencoded), as aiohttp's data=dict.
  QueryParams form;
  // A JSON body (application/json); empty: none.
  JsonBody json;
  ClientTimeout timeout = ClientTimeout::inherit();
  // Follow 301/302/303/307/308 (every method, HEAD included: unlike
  // aiohttp's head(), whose default is False, an aggregate cannot tell an
  // unset bool from a set one).
  bool allow_redirects = true;
  unsigned max_redirects = kDefaultMaxRedirects;
};

namespace detail {
struct ResponseState;
struct SessionState;
}  // namespace detail

class Response;

// The streaming body of a Response (aiohttp resp.content, a StreamReader):
// decoded bytes (de-chunked, gunzipped), read in pieces of bounded size.
class WEFT_API ResponseContent {
 public:
  // Up to n bytes of body, as soon as at least one is available; "" at the
  // end of the body (or for n == 0). At most n decoded bytes are produced
  // per call, so memory stays bounded however large the body.
  std::string read(std::size_t n);
  std::size_t read(char* out, std::size_t n);
  // The whole body was read.
  bool at_eof() const;

 private:
  friend struct detail::ResponseState;
  explicit ResponseContent(detail::ResponseState* state) noexcept : state_(state) {}
  detail::ResponseState* state_;
};

// aiohttp ClientResponse. Move-only; owns the connection until the body
// has been read to its end.
class WEFT_API Response {
 public:
  // An empty response, to be assigned; its accessors throw InvalidStateError.
  Response() noexcept;
  Response(Response&&) noexcept;
  Response& operator=(Response&&) noexcept;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  // release().
  ~Response();

  explicit operator bool() const noexcept { return state_ != nullptr; }

  int status() const;
  const std::string& reason() const;
  // Header fields in wire order, names as received, duplicates kept.
  const Headers& headers() const;
  // Trailer fields of a chunked body, once the body was read to its end.
  const Headers& trailers() const;
  // The URL of this response (the final one after redirects).
  const URL& url() const;
  // The request method that produced this response.
  const std::string& method() const;
  // The redirect responses that led here, oldest first (aiohttp history);
  // their bodies are already released.
  const std::vector<Response>& history() const;
  // "HTTP/1.1" as major and minor.
  int version_major() const;
  int version_minor() const;
  // The media type of Content-Type, lower-case, without parameters
  // ("application/json"); "application/octet-stream" when there is none.
  std::string content_type() const;
  // The charset parameter of Content-Type, lower-case; "" when none.
  std::string charset() const;
  // status() < 400 (aiohttp ok).
  bool ok() const { return status() < 400; }

  // aiohttp read(): the whole (decoded) body, read to its end. The body is
  // kept, so read(), text() and json() may be called again. Throws
  // ClientPayloadError if the body is larger than max_size (the connection
  // is then closed, unless the whole response had already arrived), or if
  // content() was already read from.
  std::string read(std::size_t max_size = kNoLimit);
  // aiohttp text(): read(), converted to UTF-8 from the charset of
  // Content-Type (utf-8, us-ascii, iso-8859-1 / latin-1 and any charset
  // iconv knows); without a charset, the bytes unchanged. Throws
  // ClientPayloadError for an unknown charset or undecodable bytes.
  std::string text(std::size_t max_size = kNoLimit);
  // aiohttp json(): text() parsed as JSON. Throws ClientPayloadError naming
  // the byte offset if it is not JSON.
  nlohmann::json json(std::size_t max_size = kNoLimit);
  // aiohttp content: the body as a stream (see ResponseContent).
  ResponseContent& content();

  // aiohttp raise_for_status(): throws ClientResponseError(status, reason,
  // url) when status() >= 400.
  void raise_for_status() const;

  // aiohttp release(): gives the connection back to the pool if the body
  // was read to its end, closes it otherwise. Idempotent; the destructor
  // calls it. Accessors keep working; reading more throws
  // ClientPayloadError ("released").
  void release() noexcept;

 private:
  friend struct detail::SessionState;
  explicit Response(std::unique_ptr<detail::ResponseState> state) noexcept;
  detail::ResponseState& state(const char* what) const;

  std::unique_ptr<detail::ResponseState> state_;
};

// aiohttp ClientSession: a pool of keep-alive connections and the defaults
// of every request made through it. Move-only. Must be created, used and
// destroyed on one loop's thread; requests block the calling task.
class WEFT_API ClientSession {
 public:
  explicit ClientSession(SessionOptions options = SessionOptions());
  ClientSession(ClientSession&&) noexcept;
  ClientSession& operator=(ClientSession&&) noexcept;
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;
  // close().
  ~ClientSession();

  // aiohttp request(method, url, ...): sends the request and follows
  // redirects; returns the final response with its body unread.
  // `method` is sent as given (aiohttp upper-cases it; so do get() etc.).
  Response request(const std::string& method, const std::string& url,
                   const RequestOptions& options = RequestOptions());
  Response get(const std::string& url, const RequestOptions& options = RequestOptions());
  Response post(const std::string& url, const RequestOptions& options = RequestOptions());
  Response put(const std::string& url, const RequestOptions& options = RequestOptions());
  Response delete_(const std::string& url, const RequestOptions& options = RequestOptions());
  Response head(const std::string& url, const RequestOptions& options = RequestOptions());
  Response patch(const std::string& url, const RequestOptions& options = RequestOptions());
  Response options(const std::string& url, const RequestOptions& options = RequestOptions());

  // aiohttp close(): closes every idle pooled connection; connections still
  // held by responses are closed when those are released. Later requests
  // throw InvalidStateError ("Session is closed"). Idempotent.
  void close() noexcept;
  bool closed() const noexcept;

  // The session's default headers (SessionOptions::headers plus the
  // User-Agent, Accept and Accept-Encoding it adds).
  const Headers& headers() const;

  // Pool introspection, for tests and tools: connections in use, and idle
  // connections kept for reuse.
  std::size_t connections_in_use() const noexcept;
  std::size_t connections_idle() const noexcept;

 private:
  std::shared_ptr<detail::SessionState> state_;
};

}  // namespace http
}  // namespace weft

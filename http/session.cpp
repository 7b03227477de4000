// ClientSession: building and sending requests, reading response heads,
// following redirects (see include/weft/http/client.hpp).
#include <cstring>
#include <stdexcept>
#include <utility>

#include "client_state.hpp"
#include "weft/fiber/stream_errors.hpp"
#include "weft/reactor/errors.hpp"

namespace weft {
namespace http {

constexpr std::chrono::milliseconds ClientTimeout::kInherit;

namespace detail {
namespace {

// Durations past this are "no deadline": adding them to the clock could
// overflow, and a century is none in practice.
constexpr std::chrono::hours kForever{24 * 365 * 100};

Loop::time_point deadline_after(Loop::time_point now, std::chrono::milliseconds d) {
  if (d <= std::chrono::milliseconds::zero() || d > kForever) return Loop::time_point::max();
  return now + d;
}

std::chrono::milliseconds pick(std::chrono::milliseconds request, std::chrono::milliseconds session) {
  return request == ClientTimeout::kInherit ? session : request;
}

std::string milliseconds_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// RFC 9110 section 9.2.2: a request that may be repeated without harm
// (aiohttp retries only these on a stale pooled connection).
bool is_idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

// aiohttp sends "Content-Length: 0" for these when there is no body.
bool expects_body(const std::string& method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

// RFC 9110 section 5.6.2: tchar.
bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == 0) return false;
  }
  return true;
}

// A field value may not break the message's framing (RFC 9110 section
// 5.5): no CR, LF or NUL (aiohttp: "Newline or carriage return character
// detected in HTTP status message or header").
void check_field(const std::string& name, const std::string& value) {
  if (!is_token(name)) throw std::invalid_argument("weft::http: invalid header name '" + name + "'");
  if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    throw std::invalid_argument("weft::http: header '" + name + "' contains CR, LF or NUL");
  }
}

std::string base64(const std::string& in) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The request head, RFC 9112 section 3: request line, Host first (unless
// the caller set one), the fields, the framing.
std::string serialize_head(const std::string& method, const URL& url, const Headers& headers,
                           std::size_t body_size, bool send_length) {
  std::string head;
  head.reserve(256);
  head += method;
  head += ' ';
  head += url.request_target();
  head += " HTTP/1.1\r\n";
  if (!headers.contains("Host")) {
    head += "Host: ";
    head += url.host_header();
    head += "\r\n";
  }
  for (const auto& field : headers) {
    head += field.first;
    head += ": ";
    head += field.second;
    head += "\r\n";
  }
  if (send_length) {
    head += "Content-Length: ";
    head += std::to_string(body_size);
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

// Whether a socket error on a reused connection says the peer had closed it
// while it sat in the pool.
bool is_stale_error(int err) { return err == ECONNRESET || err == EPIPE || err == ECONNABORTED; }

// Reads (and drops) a redirect's body so its connection can be reused;
// gives up and closes it past 64 KiB.
void discard_body(ResponseState& state) {
  std::string scratch;
  std::size_t total = 0;
  try {
    while (!state.message_complete && total < 64 * 1024) {
      scratch.clear();
      const std::size_t n = state.append_body(scratch, 16 * 1024);
      if (n == 0) break;
      total += n;
    }
  } catch (const ClientError&) {
    // A broken redirect body does not matter: the connection is closed.
  }
  state.release(state.message_complete);
}

}  // namespace

Loop::time_point Deadlines::for_read(const char*& which) const {
  which = "total";
  if (sock_read <= std::chrono::milliseconds::zero()) return total;
  const Loop::time_point read = deadline_after(get_running_loop().time(), sock_read);
  if (read < total) {
    which = "sock_read";
    return read;
  }
  return total;
}

Loop::time_point Deadlines::for_connect(const char*& which) const {
  which = "total";
  if (connect <= std::chrono::milliseconds::zero()) return total;
  const Loop::time_point at = deadline_after(get_running_loop().time(), connect);
  if (at < total) {
    which = "connect";
    return at;
  }
  return total;
}

void throw_client_timeout(const char* which, const Deadlines& deadlines, const char* doing, const std::string& url) {
  std::chrono::milliseconds value = deadlines.total_timeout;
  if (std::strcmp(which, "sock_read") == 0) value = deadlines.sock_read;
  if (std::strcmp(which, "connect") == 0) value = deadlines.connect;
  if (std::strcmp(which, "sock_connect") == 0) value = deadlines.sock_connect;
  throw TimeoutError(std::string(doing) + ": timed out (ClientTimeout " + which + " = " + milliseconds_text(value) +
                     ") (" + url + ")");
}

void pump(Connection& connection, const Deadlines& deadlines, const std::string& url) {
  if (!connection.has_unparsed()) {
    connection.begin = 0;
    connection.end = 0;
    const char* which = nullptr;
    const Loop::time_point deadline = deadlines.for_read(which);
    std::size_t n = 0;
    try {
      n = bounded(deadline, which, deadlines, "Timeout on reading data from socket", url,
                  [&connection] { return connection.stream.read(connection.buffer.get(), Connection::kBufferSize); });
    } catch (const OSError& e) {
      if (connection.parser.head_complete()) {
        throw ClientPayloadError(std::string("Response payload is not completed: ") + e.what(), url);
      }
      throw ClientOSError(e.err(), std::string("reading the response head: ") + e.what(), url);
    }
    if (n == 0) {
      connection.parser.finish();  // completes a close-delimited body, or throws
      return;
    }
    connection.end = n;
    connection.received += n;
  }
  connection.begin += connection.parser.feed(connection.buffer.get() + connection.begin,
                                             connection.end - connection.begin);
}

SessionState::SessionState(SessionOptions session_options) : options(std::move(session_options)) {
  for (const auto& field : options.headers) check_field(field.first, field.second);
  headers = options.headers;
  // aiohttp's defaults (client_reqrep.py, ClientRequest.update_auto_headers).
  if (!headers.contains("User-Agent")) headers.add("User-Agent", "weft/0.1");
  if (!headers.contains("Accept")) headers.add("Accept", "*/*");
  if (!headers.contains("Accept-Encoding")) headers.add("Accept-Encoding", "gzip, deflate");
  if (!options.base_url.empty()) base_url = URL::parse(options.base_url);
  connector = std::make_shared<Connector>(options.connector, options.limits);
}

std::unique_ptr<ResponseState> SessionState::send(const std::string& method, const URL& url,
                                                  const std::string& url_text, const Headers& request_headers,
                                                  const std::string& body, bool send_length,
                                                  const Deadlines& deadlines) {
  std::string head = serialize_head(method, url, request_headers, body.size(), send_length);
  // One write, one segment, for the common small body.
  const bool body_apart = body.size() > 16 * 1024;
  if (!body_apart) head += body;
  const bool idempotent = is_idempotent(method);

  for (int attempt = 0;; ++attempt) {
    const char* which = nullptr;
    const Loop::time_point connect_deadline = deadlines.for_connect(which);
    std::unique_ptr<Connection> connection =
        bounded(connect_deadline, which, deadlines, "Connection timeout to host", url_text, [&] {
          try {
            return connector->acquire(url, deadlines.sock_connect, url_text);
          } catch (const TimeoutError&) {
            throw_client_timeout("sock_connect", deadlines, "Connection timeout to host", url_text);
          }
        });
    const bool reused = connection->responses > 0;
    connection->received = 0;
    connection->parser.start(method == "HEAD", url_text);
    try {
      try {
        connection->stream.write(head);
        if (body_apart) connection->stream.write(body);
        // A request the kernel took whole (the common case) has nothing to
        // drain, and needs no timer either.
        if (connection->stream.write_buffer_size() != 0) {
          bounded(deadlines.total, "total", deadlines, "Timeout sending the request", url_text,
                  [&connection] { connection->stream.drain(); });
        }
      } catch (const OSError& e) {
        throw ClientOSError(e.err(), std::string("sending the request: ") + e.what(), url_text);
      }
      while (!connection->parser.head_complete()) pump(*connection, deadlines, url_text);
    } catch (const ServerDisconnectedError&) {
      const bool stale = reused && connection->received == 0;
      connector->release(std::move(connection), false);
      if (stale && idempotent && attempt == 0) continue;
      throw;
    } catch (const ClientOSError& e) {
      const bool stale = reused && connection->received == 0 && is_stale_error(e.error());
      connector->release(std::move(connection), false);
      if (stale && idempotent && attempt == 0) continue;
      throw;
    } catch (...) {
      connector->release(std::move(connection), false);
      throw;
    }

    std::unique_ptr<ResponseState> state(new ResponseState());
    state->connector = connector;
    state->deadlines = deadlines;
    state->method = method;
    state->url = url;
    state->url_text = url_text;
    ResponseParser& parser = connection->parser;
    state->status = parser.status();
    state->reason = parser.reason();
    state->version_major = parser.version_major();
    state->version_minor = parser.version_minor();
    state->headers = Headers(parser.take_headers());
    state->connection = std::move(connection);
    ContentDecoder::Coding coding;
    const std::string* encoding = state->headers.find("Content-Encoding");
    if (options.auto_decompress && encoding != nullptr && ContentDecoder::coding_for(*encoding, coding)) {
      state->decoder.reset(new ContentDecoder(coding, url_text));
    }
    state->collect();
    return state;
  }
}

Response SessionState::request(const std::string& method, const std::string& url_text,
                               const RequestOptions& request_options) {
  if (connector->closed()) throw InvalidStateError("ClientSession: the session is closed");
  if (!is_token(method)) throw std::invalid_argument("weft::http: invalid method '" + method + "'");

  // The body, and the Content-Type it implies.
  const int bodies = (request_options.data.empty() ? 0 : 1) + (request_options.form.empty() ? 0 : 1) +
                     (request_options.json.empty() ? 0 : 1);
  if (bodies > 1) throw std::invalid_argument("RequestOptions: set at most one of data, form and json");
  std::string body;
  const char* content_type = nullptr;
  if (!request_options.data.empty()) {
    body = request_options.data;
    content_type = "application/octet-stream";
  } else if (!request_options.form.empty()) {
    body = form_urlencode(request_options.form);
    content_type = "application/x-www-form-urlencoded";
  } else if (!request_options.json.empty()) {
    body = request_options.json.text();
    content_type = "application/json";
  }

  URL url = base_url.empty() ? URL::parse(url_text) : URL::resolve(base_url, url_text);
  if (!request_options.params.empty()) url = url.extend_query(request_options.params);

  // The session's headers, each name the request sets replaced by its.
  Headers fields = headers;
  for (const auto& field : request_options.headers) {
    check_field(field.first, field.second);
    fields.erase(field.first);
  }
  for (const auto& field : request_options.headers) fields.add(field.first, field.second);
  // The client frames the body itself.
  fields.erase("Content-Length");
  fields.erase("Transfer-Encoding");
  if (content_type != nullptr && !fields.contains("Content-Type")) fields.add("Content-Type", content_type);

  const ClientTimeout& session_timeout = options.timeout;
  const ClientTimeout& request_timeout = request_options.timeout;
  Deadlines deadlines;
  deadlines.total_timeout = pick(request_timeout.total, session_timeout.total);
  deadlines.connect = pick(request_timeout.connect, session_timeout.connect);
  deadlines.sock_connect = pick(request_timeout.sock_connect, session_timeout.sock_connect);
  deadlines.sock_read = pick(request_timeout.sock_read, session_timeout.sock_read);
  deadlines.total = deadline_after(get_running_loop().time(), deadlines.total_timeout);

  RedirectPolicy policy(request_options.max_redirects);
  std::vector<Response> history;
  std::string current_method = method;
  bool has_body = !body.empty();
  for (;;) {
    const std::string current_text = url.str();
    const Headers* sent = &fields;
    Headers with_auth;
    if (url.has_userinfo() && !fields.contains("Authorization")) {
      // aiohttp turns URL credentials into BasicAuth.
      with_auth = fields;
      with_auth.add("Authorization", "Basic " + base64(url.user() + ":" + url.password()));
      sent = &with_auth;
    }
    static const std::string kNoBody;
    std::unique_ptr<ResponseState> state =
        send(current_method, url, current_text, *sent, has_body ? body : kNoBody,
             has_body || expects_body(current_method), deadlines);

    RedirectStep step;
    if (request_options.allow_redirects && is_redirect_status(state->status) &&
        policy.next(current_method, has_body, state->status, url, state->headers.find("Location"), step)) {
      discard_body(*state);
      history.push_back(Response(std::move(state)));
      if (!step.has_body) {
        has_body = false;
        fields.erase("Content-Type");
      }
      if (step.drop_credentials) {
        fields.erase("Authorization");
        fields.erase("Cookie");
        fields.erase("Proxy-Authorization");
      }
      current_method = step.method;
      url = step.url;
      continue;
    }
    state->history = std::move(history);
    Response response(std::move(state));
    if (options.raise_for_status) response.raise_for_status();
    return response;
  }
}

}  // namespace detail

// --- ClientSession -------------------------------------------------------------

ClientSession::ClientSession(SessionOptions options)
    : state_(std::make_shared<detail::SessionState>(std::move(options))) {}
ClientSession::ClientSession(ClientSession&&) noexcept = default;
ClientSession& ClientSession::operator=(ClientSession&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}
ClientSession::~ClientSession() { close(); }

namespace {
detail::SessionState& live(const std::shared_ptr<detail::SessionState>& state) {
  if (state == nullptr) throw InvalidStateError("ClientSession: the session was moved from");
  return *state;
}
}  // namespace

Response ClientSession::request(const std::string& method, const std::string& url, const RequestOptions& options) {
  return live(state_).request(method, url, options);
}
Response ClientSession::get(const std::string& url, const RequestOptions& options) {
  return request("GET", url, options);
}
Response ClientSession::post(const std::string& url, const RequestOptions& options) {
  return request("POST", url, options);
}
Response ClientSession::put(const std::string& url, const RequestOptions& options) {
  return request("PUT", url, options);
}
Response ClientSession::delete_(const std::string& url, const RequestOptions& options) {
  return request("DELETE", url, options);
}
Response ClientSession::head(const std::string& url, const RequestOptions& options) {
  return request("HEAD", url, options);
}
Response ClientSession::patch(const std::string& url, const RequestOptions& options) {
  return request("PATCH", url, options);
}
Response ClientSession::options(const std::string& url, const RequestOptions& options) {
  return request("OPTIONS", url, options);
}

void ClientSession::close() noexcept {
  if (state_ != nullptr) state_->connector->close();
}
bool ClientSession::closed() const noexcept { return state_ == nullptr || state_->connector->closed(); }
const Headers& ClientSession::headers() const { return live(state_).headers; }
std::size_t ClientSession::connections_in_use() const noexcept {
  return state_ == nullptr ? 0 : state_->connector->in_use();
}
std::size_t ClientSession::connections_idle() const noexcept {
  return state_ == nullptr ? 0 : state_->connector->idle();
}

}  // namespace http
}  // namespace weft

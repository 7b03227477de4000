// Response: the head of a response and the streaming of its body (see
// include/weft/http/client.hpp).
#include <iconv.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client_state.hpp"
#include "weft/reactor/errors.hpp"

namespace weft {
namespace http {
namespace detail {
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return s;
}

std::string trim(const std::string& s) {
  const std::size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return std::string();
  const std::size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

// RFC 9110 section 8.3.1: type "/" subtype *( ";" parameter ); the charset
// parameter's value may be quoted.
std::string media_type(const std::string& content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';'))));
}

std::string charset_of(const std::string& content_type) {
  std::size_t at = content_type.find(';');
  while (at != std::string::npos) {
    const std::size_t next = content_type.find(';', at + 1);
    const std::string parameter =
        trim(content_type.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1));
    const std::size_t equals = parameter.find('=');
    if (equals != std::string::npos && lower(trim(parameter.substr(0, equals))) == "charset") {
      std::string value = trim(parameter.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return lower(value);
    }
    at = next;
  }
  return std::string();
}

// Converts `bytes` from `charset` to UTF-8 with iconv (glibc), which also
// validates UTF-8 given as UTF-8.
std::string to_utf8(const std::string& bytes, const std::string& charset, const std::string& url) {
  if (charset == "us-ascii" || charset == "ascii") {
    for (unsigned char c : bytes) {
      if (c >= 0x80) throw ClientPayloadError("the body is not valid " + charset, url);
    }
    return bytes;
  }
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    throw ClientPayloadError("unknown charset '" + charset + "' in Content-Type", url);
  }
  std::string out(bytes.size() + bytes.size() / 2 + 16, '\0');
  char* in = const_cast<char*>(bytes.data());  // iconv's API is not const-correct
  std::size_t in_left = bytes.size();
  std::size_t written = 0;
  for (;;) {
    char* out_at = &out[0] + written;
    std::size_t out_left = out.size() - written;
    const std::size_t rc = iconv(cd, &in, &in_left, &out_at, &out_left);
    written = out.size() - out_left;
    if (rc != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
      continue;
    }
    const std::size_t offset = bytes.size() - in_left;
    iconv_close(cd);
    throw ClientPayloadError("the body is not valid " + charset + " at byte " + std::to_string(offset), url);
  }
  iconv_close(cd);
  out.resize(written);
  return out;
}

}  // namespace

void ResponseState::collect() {
  Connection& c = *connection;
  if (coded_pos == coded.size()) {
    coded.clear();
    coded_pos = 0;
  }
  c.parser.take_body(coded);
  if (c.parser.message_complete()) {
    message_complete = true;
    trailers = Headers(c.parser.take_trailers());
    ++c.responses;
    release(c.parser.keep_alive() && !c.parser.upgraded());
  }
}

void ResponseState::release(bool reusable) noexcept {
  if (connection == nullptr) return;
  if (!message_complete) released = true;
  connector->release(std::move(connection), reusable && message_complete);
}

void ResponseState::fail_released() const {
  throw ClientPayloadError("Response payload is not completed: the response was released before its body was read",
                           url_text);
}

bool ResponseState::await_coded() {
  while (coded_pos == coded.size() && !message_complete) {
    if (connection == nullptr) fail_released();
    pump(*connection, deadlines, url_text);
    collect();
  }
  return coded_pos < coded.size();
}

std::size_t ResponseState::read_body(char* out, std::size_t n) {
  if (n == 0 || eof) return 0;
  try {
    if (decoder == nullptr) {
      if (!await_coded()) {
        eof = true;
        return 0;
      }
      const std::size_t k = std::min(n, coded.size() - coded_pos);
      std::memcpy(out, coded.data() + coded_pos, k);
      coded_pos += k;
      return k;
    }
    for (;;) {
      if (!decoder->has_pending_output()) await_coded();
      const std::size_t available = coded.size() - coded_pos;
      if (available == 0 && !decoder->has_pending_output()) {
        decoder->finish();  // the message is complete: so must the stream be
        eof = true;
        return 0;
      }
      std::size_t used = 0;
      const std::size_t produced = decoder->decode(coded.data() + coded_pos, available, used, out, n);
      coded_pos += used;
      if (produced > 0) return produced;
      if (used == 0 && available > 0) {
        throw ClientPayloadError("Can not decode content-encoding: the decoder made no progress", url_text);
      }
    }
  } catch (...) {
    // Whatever broke (a bad chunk, a reset, a timeout, a cancellation), the
    // connection is somewhere inside a message: it can never be reused.
    release(false);
    throw;
  }
}

std::size_t ResponseState::append_body(std::string& out, std::size_t n) {
  if (n == 0 || eof) return 0;
  if (decoder != nullptr) {
    // Decoded bytes need room to be written into: grow, read, trim.
    const std::size_t at = out.size();
    out.resize(at + std::min<std::size_t>(n, 16 * 1024));
    std::size_t k = 0;
    try {
      k = read_body(&out[at], out.size() - at);
    } catch (...) {
      out.resize(at);
      throw;
    }
    out.resize(at + k);
    return k;
  }
  try {
    if (!await_coded()) {
      eof = true;
      return 0;
    }
  } catch (...) {
    release(false);
    throw;
  }
  const std::size_t k = std::min(n, coded.size() - coded_pos);
  if (out.empty() && coded_pos == 0 && k == coded.size()) {
    out.swap(coded);  // the parser's buffer changes hands
    coded.clear();
  } else {
    out.append(coded, coded_pos, k);
    coded_pos += k;
  }
  return k;
}

}  // namespace detail

// --- ResponseContent -----------------------------------------------------------

std::size_t ResponseContent::read(char* out, std::size_t n) {
  if (state_->body_kept) throw ClientPayloadError("content(): the body was already read by read()", state_->url_text);
  state_->streamed = true;
  return state_->read_body(out, n);
}

std::string ResponseContent::read(std::size_t n) {
  std::string out(std::min<std::size_t>(n, 1 << 20), '\0');
  // Fill a bounded buffer; larger requests are served in pieces of 1 MiB,
  // as asyncio's StreamReader.read(n) returns what it has.
  out.resize(read(&out[0], out.size()));
  return out;
}

bool ResponseContent::at_eof() const { return state_->eof || state_->body_kept; }

// --- Response ------------------------------------------------------------------

Response::Response() noexcept = default;
Response::Response(std::unique_ptr<detail::ResponseState> state) noexcept : state_(std::move(state)) {}
Response::Response(Response&&) noexcept = default;
Response& Response::operator=(Response&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
  }
  return *this;
}
Response::~Response() { release(); }

detail::ResponseState& Response::state(const char* what) const {
  if (state_ == nullptr) throw InvalidStateError(std::string("Response::") + what + ": the response is empty");
  return *state_;
}

int Response::status() const { return state("status").status; }
const std::string& Response::reason() const { return state("reason").reason; }
const Headers& Response::headers() const { return state("headers").headers; }
const Headers& Response::trailers() const { return state("trailers").trailers; }
const URL& Response::url() const { return state("url").url; }
const std::string& Response::method() const { return state("method").method; }
const std::vector<Response>& Response::history() const { return state("history").history; }
int Response::version_major() const { return state("version_major").version_major; }
int Response::version_minor() const { return state("version_minor").version_minor; }

std::string Response::content_type() const {
  const std::string* value = state("content_type").headers.find("Content-Type");
  if (value == nullptr) return "application/octet-stream";  // RFC 9110 section 8.3
  return detail::media_type(*value);
}

std::string Response::charset() const {
  const std::string* value = state("charset").headers.find("Content-Type");
  return value == nullptr ? std::string() : detail::charset_of(*value);
}

std::string Response::read(std::size_t max_size) {
  detail::ResponseState& s = state("read");
  if (s.body_kept) {
    if (s.body.size() > max_size) {
      throw ClientPayloadError("the body (" + std::to_string(s.body.size()) + " bytes) exceeds the limit of " +
                                   std::to_string(max_size) + " bytes",
                               s.url_text);
    }
    return s.body;
  }
  if (s.streamed) throw ClientPayloadError("read(): content() was already read from", s.url_text);
  std::string body;
  // Content-Length, when the body is not coded, is the size to expect; it
  // only sizes the first allocation, never beyond the limit.
  const std::string* length = s.headers.find("Content-Length");
  if (s.decoder == nullptr && length != nullptr && !s.message_complete) {
    const unsigned long long expected = std::strtoull(length->c_str(), nullptr, 10);
    body.reserve(static_cast<std::size_t>(std::min<unsigned long long>(
        expected, std::min<std::size_t>(max_size, std::size_t(64) << 20))));
  }
  for (;;) {
    // At most one byte past the limit is asked for: enough to know.
    const std::size_t remaining = max_size - std::min(max_size, body.size());
    const std::size_t n = s.append_body(body, remaining == kNoLimit ? remaining : remaining + 1);
    if (n == 0) break;
    if (body.size() > max_size) {
      s.release(false);
      throw ClientPayloadError("the body exceeds the limit of " + std::to_string(max_size) + " bytes", s.url_text);
    }
  }
  s.body = std::move(body);
  s.body_kept = true;
  return s.body;
}

std::string Response::text(std::size_t max_size) {
  std::string bytes = read(max_size);
  const std::string encoding = charset();
  if (encoding.empty()) return bytes;
  return detail::to_utf8(bytes, encoding, state_->url_text);
}

nlohmann::json Response::json(std::size_t max_size) {
  const std::string body = text(max_size);
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw ClientPayloadError("the body is not JSON: byte " + std::to_string(e.byte) + ": " + e.what(),
                             state_->url_text);
  }
}

ResponseContent& Response::content() { return state("content").content; }

void Response::raise_for_status() const {
  const detail::ResponseState& s = state("raise_for_status");
  if (s.status >= 400) throw ClientResponseError(s.status, s.reason, s.url_text);
}

void Response::release() noexcept {
  if (state_ != nullptr) state_->release(state_->message_complete);
}

}  // namespace http
}  // namespace weft

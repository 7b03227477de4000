// ResponseParser: llhttp in response mode, paused at the boundaries the
// limits and the caller need (see response_parser.hpp).
//
// llhttp reports spans through data callbacks and events through plain
// callbacks that carry no position. Where the parser needs a position — the
// first byte of a response, the end of its status line, the start and end
// of a chunk-size line, the end of a response — the callback returns
// HPE_PAUSED, llhttp_execute stops with llhttp_get_error_pos() at that byte,
// and feed() records it, resumes, and executes the rest of the buffer:
//
//   "HTTP/1.1 200 OK\r\n" "... \r\n\r\n" "3;x=y\r\n" "abc\r\n" "0\r\n" "T: v\r\n\r\n" "HTTP/1.1 ..."
//   ^ kMessageBegin       ^ kStatusComplete                    ^ kChunkLineStart      ^ kMessageComplete
//                                        ^ kChunkLineStart             ^ kChunkHeader (size 0: trailers)
//                                                    ^ kChunkHeader
#include "http/response_parser.hpp"

#include <cstring>

#include "weft/http/errors.hpp"

namespace weft {
namespace http {
namespace detail {

namespace {

// llhttp 8 accepts exactly "HTTP/" DIGIT "." DIGIT SP before the status code
// (RFC 9112 section 4), and nothing before "HTTP/" once it reports a
// message: the code's first digit is this many bytes into the status line.
constexpr std::uint64_t kStatusCodeColumn = 9;

bool ascii_iequal(const std::string& a, const char* b) {
  std::size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// "status line" for "STATUS_LINE_TOO_LONG", and so on.
std::string describe_line(const char* code) {
  if (std::strcmp(code, "STATUS_LINE_TOO_LONG") == 0) return "status line";
  if (std::strcmp(code, "CHUNK_LINE_TOO_LONG") == 0) return "chunk-size line";
  return "header line";
}

// RFC 9110 section 5.6.2: tchar, the bytes of a field name.
bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

}  // namespace

// llhttp's callbacks: each finds its parser through llhttp_t::data. Data
// callbacks copy their span at once, so nothing points into the caller's
// buffer after llhttp_execute returns.
struct ResponseParser::Callbacks {
  static ResponseParser& self(llhttp_t* p) { return *static_cast<ResponseParser*>(p->data); }

  static int on_message_begin(llhttp_t* p) {
    self(p).pause_ = Pause::kMessageBegin;
    return HPE_PAUSED;
  }

  // The reason phrase; the status line is measured from the response's
  // first byte to the end of the phrase (version and code are bounded).
  static int on_status(llhttp_t* p, const char* at, std::size_t n) {
    ResponseParser& r = self(p);
    r.reason_.append(at, n);
    return r.check_line(r.offset_of(at + n), r.limits_.max_line_size,
                        "STATUS_LINE_TOO_LONG");
  }

  // A name span after a completed name starts a new field (header or
  // trailer, by phase); a field with an empty value gets no value span.
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    ResponseParser& r = self(p);
    HeaderList& list = r.fields();
    if (!r.in_field_name_) {
      if (list.size() >= r.limits_.max_field_count) {
        bool trailer = r.phase_ != Phase::kHead;
        return r.fail_limit(trailer ? "TOO_MANY_TRAILERS" : "TOO_MANY_HEADERS",
                            std::string("more than ") +
                                std::to_string(r.limits_.max_field_count) +
                                (trailer ? " trailer fields" : " header fields"),
                            r.offset_of(at));
      }
      list.emplace_back();
      r.open_line(r.offset_of(at), r.limits_.max_line_size, "HEADER_LINE_TOO_LONG");
      r.in_field_name_ = true;
    }
    // llhttp 8 lets a space inside a name through ("Bad Name: x"); a name
    // is a token (RFC 9112 section 5.1), so reject it here.
    for (std::size_t i = 0; i < n; ++i) {
      if (!is_tchar(static_cast<unsigned char>(at[i]))) {
        return r.fail_limit("INVALID_HEADER_NAME", "invalid character in a field name",
                            r.offset_of(at + i));
      }
    }
    list.back().first.append(at, n);
    return r.check_line(r.offset_of(at + n), r.limits_.max_line_size,
                        "HEADER_LINE_TOO_LONG");
  }

  // llhttp 8 takes ": v" for a field with an empty name; a name is a token,
  // one byte at least. Checked here, as a split name arrives in pieces (an
  // empty one among them when a piece ends right before the colon).
  static int on_header_field_complete(llhttp_t* p) {
    ResponseParser& r = self(p);
    r.in_field_name_ = false;
    if (!r.fields().empty() && !r.fields().back().first.empty()) return 0;
    return r.fail_limit("INVALID_HEADER_NAME", "empty field name", r.line_start_);
  }

  static int on_header_value_complete(llhttp_t* p) {
    self(p).open_code_ = nullptr;
    return 0;
  }

  // The status line ended; on_pause() measures it and checks its code.
  static int on_status_complete(llhttp_t* p) {
    self(p).pause_ = Pause::kStatusComplete;
    return HPE_PAUSED;
  }

  // llhttp (8.x, strict) accepts obs-fold and reports the continuation as a
  // further value span starting with its whitespace, CRLF dropped: appending
  // it replaces the fold with SP, as RFC 9112 section 5.2 asks of a user
  // agent.
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    ResponseParser& r = self(p);
    r.fields().back().second.append(at, n);
    return r.check_line(r.offset_of(at + n), r.limits_.max_line_size,
                        "HEADER_LINE_TOO_LONG");
  }

  // Returns 1 ("no body") for HEAD, 1xx, 204 and 304 (RFC 9110 section 6.4.1):
  // llhttp 8 itself would read a Content-Length body after a 204 or 304.
  static int on_headers_complete(llhttp_t* p) {
    ResponseParser& r = self(p);
    r.status_ = p->status_code;
    r.version_major_ = p->http_major;
    r.version_minor_ = p->http_minor;
    r.in_field_name_ = false;
    r.open_code_ = nullptr;
    r.phase_ = Phase::kBody;
    bool informational = r.status_ >= 100 && r.status_ < 200;
    r.interim_ = informational && r.status_ != 101;
    r.head_complete_ = !r.interim_;
    if (r.head_request_ || informational || r.status_ == 204 || r.status_ == 304) return 1;
    if ((p->flags & F_CHUNKED) != 0) {
      r.pause_ = Pause::kChunkLineStart;
      return HPE_PAUSED;
    }
    return 0;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    self(p).body_.append(at, n);
    return 0;
  }

  // Extensions are parsed by llhttp and ignored; their spans only measure
  // the chunk-size line while it grows.
  static int on_chunk_extension(llhttp_t* p, const char* at, std::size_t n) {
    ResponseParser& r = self(p);
    return r.check_line(r.offset_of(at + n), r.limits_.max_chunk_line_size,
                        "CHUNK_LINE_TOO_LONG");
  }

  static int on_chunk_header(llhttp_t* p) {
    self(p).pause_ = Pause::kChunkHeader;
    return HPE_PAUSED;
  }

  // After the last chunk this fires once the trailers are read; no
  // chunk-size line follows then.
  static int on_chunk_complete(llhttp_t* p) {
    ResponseParser& r = self(p);
    if (r.phase_ == Phase::kTrailers) return 0;
    r.pause_ = Pause::kChunkLineStart;
    return HPE_PAUSED;
  }

  // llhttp_should_keep_alive must be asked now: llhttp clears its flags
  // right after this callback.
  static int on_message_complete(llhttp_t* p) {
    ResponseParser& r = self(p);
    r.keep_alive_ = llhttp_should_keep_alive(p) != 0 && r.status_ != 101;
    r.upgraded_ = p->upgrade != 0;
    r.pause_ = Pause::kMessageComplete;
    return HPE_PAUSED;
  }

  static llhttp_settings_t make_settings() {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_status = on_status;
    s.on_header_field = on_header_field;
    s.on_header_field_complete = on_header_field_complete;
    s.on_header_value = on_header_value;
    s.on_header_value_complete = on_header_value_complete;
    s.on_status_complete = on_status_complete;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_chunk_extension_name = on_chunk_extension;
    s.on_chunk_extension_value = on_chunk_extension;
    s.on_chunk_header = on_chunk_header;
    s.on_chunk_complete = on_chunk_complete;
    s.on_message_complete = on_message_complete;
    return s;
  }
};

namespace {

const llhttp_settings_t& settings() {
  static const llhttp_settings_t s = ResponseParser::Callbacks::make_settings();
  return s;
}

}  // namespace

ResponseParser::ResponseParser(ParserLimits limits) : limits_(limits) {
  start(false, std::string());
}

void ResponseParser::reset_llhttp() {
  llhttp_init(&llhttp_, HTTP_RESPONSE, &settings());
  llhttp_.data = this;
  // Every leniency off (llhttp_init's default, stated): ambiguous framing
  // is an error, never a guess.
  llhttp_set_lenient_headers(&llhttp_, 0);
  llhttp_set_lenient_chunked_length(&llhttp_, 0);
  llhttp_set_lenient_keep_alive(&llhttp_, 0);
  llhttp_set_lenient_transfer_encoding(&llhttp_, 0);
}

void ResponseParser::start(bool head_request, std::string url) {
  head_request_ = head_request;
  url_ = std::move(url);
  phase_ = Phase::kIdle;
  pause_ = Pause::kNone;
  failure_ = nullptr;
  consumed_ = 0;
  exec_begin_ = nullptr;
  exec_offset_ = 0;
  line_start_ = 0;
  open_limit_ = 0;
  open_code_ = nullptr;
  in_field_name_ = false;
  limit_reason_.clear();
  limit_offset_ = 0;
  status_code_at_ = 0;
  status_first_digit_ = 0;
  head_complete_ = false;
  interim_ = false;
  status_ = 0;
  reason_.clear();
  version_major_ = version_minor_ = 0;
  headers_.clear();
  trailers_.clear();
  body_.clear();
  keep_alive_ = false;
  upgraded_ = false;
  reset_llhttp();
}

std::size_t ResponseParser::feed(const char* data, std::size_t n) {
  if (phase_ == Phase::kFailed) std::rethrow_exception(failure_);
  if (phase_ == Phase::kComplete) return 0;
  std::size_t used = 0;
  for (;;) {
    exec_begin_ = data + used;
    exec_offset_ = consumed_ + used;
    if (phase_ == Phase::kHead) note_status_digit(n - used);
    pause_ = Pause::kNone;
    llhttp_errno_t err = llhttp_execute(&llhttp_, data + used, n - used);
    if (err == HPE_OK) {
      used = n;
      break;
    }
    const char* pos = llhttp_get_error_pos(&llhttp_);
    if (pos == nullptr) pos = data + n;
    if (err == HPE_PAUSED && pause_ != Pause::kNone) {
      used = static_cast<std::size_t>(pos - data);
      llhttp_resume(&llhttp_);
      on_pause(consumed_ + used);
      if (phase_ == Phase::kComplete) break;
      continue;
    }
    fail_execute(err, pos);
  }
  consumed_ += used;
  check_open_line(consumed_);
  return used;
}

// llhttp stopped with `err` at `pos`: a callback failed (fail_limit: an
// exceeded limit or a bad field name), or llhttp found the response
// malformed. Every limit and every error in the head is a
// ResponseParseError; any other error after the head (a bad chunk, a bad
// trailer) is a ClientPayloadError, as aiohttp reports a bad chunk.
void ResponseParser::fail_execute(llhttp_errno_t err, const char* pos) {
  std::string code, reason;
  std::uint64_t at;
  bool limit = false;
  if (!limit_reason_.empty()) {
    std::size_t colon = limit_reason_.find(':');
    code = limit_reason_.substr(0, colon);
    reason = limit_reason_.substr(colon + 1);
    at = limit_offset_;
    limit = code != "INVALID_HEADER_NAME";
  } else {
    const char* text = llhttp_get_error_reason(&llhttp_);
    code = llhttp_errno_name(err);
    reason = text != nullptr ? text : "";
    at = offset_of(pos);
  }
  if (limit || phase_ == Phase::kHead || phase_ == Phase::kIdle) {
    fail(std::make_exception_ptr(ResponseParseError(code, reason, at, url_)));
  }
  fail(std::make_exception_ptr(ClientPayloadError(
      "Response payload is not completed: " + code + ": " + reason + " at byte " +
          std::to_string(at),
      url_)));
}

// `at` is the offset of the byte llhttp paused at.
void ResponseParser::on_pause(std::uint64_t at) {
  switch (pause_) {
    case Pause::kMessageBegin:
      phase_ = Phase::kHead;
      open_line(at, limits_.max_line_size, "STATUS_LINE_TOO_LONG");
      status_code_at_ = at + kStatusCodeColumn;
      status_first_digit_ = 0;
      break;
    case Pause::kStatusComplete:
      // A status line without a reason phrase gets no span to measure it
      // by: its length is checked here, before its code, so that the error
      // is the one a feed() ending inside the line reports.
      check_open_line(at);
      open_code_ = nullptr;
      check_status_code();
      break;
    case Pause::kChunkLineStart:
      open_line(at, limits_.max_chunk_line_size, "CHUNK_LINE_TOO_LONG");
      break;
    case Pause::kChunkHeader:
      // llhttp requires CRLF after the size and extensions: the line ended
      // with at - 2 - line_start_ bytes; one too many shows as open past
      // its limit plus CRLF.
      if (at - 2 - line_start_ <= limits_.max_chunk_line_size) open_code_ = nullptr;
      check_open_line(at);
      if (llhttp_.content_length == 0) phase_ = Phase::kTrailers;
      break;
    case Pause::kMessageComplete:
      if (interim_) {
        // aiohttp's rule: an interim 1xx is not the response. Parse the next
        // message with a fresh llhttp, so the 1xx's version and Connection
        // header cannot close it.
        interim_ = false;
        status_ = 0;
        reason_.clear();
        headers_.clear();
        phase_ = Phase::kIdle;
        reset_llhttp();
      } else {
        phase_ = Phase::kComplete;
      }
      break;
    case Pause::kNone:
      break;
  }
  pause_ = Pause::kNone;
}

void ResponseParser::open_line(std::uint64_t start, std::size_t limit, const char* code) {
  line_start_ = start;
  open_limit_ = limit;
  open_code_ = code;
}

// A line still open at `end` is too long once it holds more than its limit
// plus a CRLF: llhttp ends a field line only when the byte after its CRLF
// shows it is not folded. Spans catch most long lines
// inside their callbacks (check_line); this catches what llhttp consumes
// without a span: the digits of a chunk size (leading zeros are unbounded)
// and the whitespace before a field value.
void ResponseParser::check_open_line(std::uint64_t end) {
  if (open_code_ == nullptr || end - line_start_ <= open_limit_ + 2) return;
  fail(std::make_exception_ptr(ResponseParseError(
      open_code_, describe_line(open_code_) + " longer than " + std::to_string(open_limit_) + " bytes",
      line_start_ + open_limit_, url_)));
}

// Called before llhttp parses bytes [exec_offset_, exec_offset_ + n) of the
// head: copies the status code's first byte if it is among them.
void ResponseParser::note_status_digit(std::size_t n) {
  if (status_code_at_ >= exec_offset_ && status_code_at_ - exec_offset_ < n) {
    status_first_digit_ = exec_begin_[status_code_at_ - exec_offset_];
  }
}

// llhttp 8 takes any run of digits worth at most 999 for the status code
// ("10", "0", "0200"); RFC 9110 section 15 asks for three digits, 1xx to
// 5xx, and codes up to 999 are kept for the caller to judge. At least 100
// means three digits at least; no leading zero and at most 999 (llhttp's
// own check), three at most.
void ResponseParser::check_status_code() {
  if (llhttp_.status_code >= 100 && status_first_digit_ != '0') return;
  fail(std::make_exception_ptr(ResponseParseError(
      "HPE_INVALID_STATUS", "Invalid response status: not three digits from 100 to 999",
      status_code_at_, url_)));
}

int ResponseParser::check_line(std::uint64_t end, std::size_t limit, const char* code) {
  if (end - line_start_ <= limit) return 0;
  return fail_limit(code,
                    describe_line(code) + " longer than " + std::to_string(limit) + " bytes",
                    line_start_ + limit);
}

int ResponseParser::fail_limit(const char* code, const std::string& reason, std::uint64_t at) {
  limit_reason_ = std::string(code) + ":" + reason;
  limit_offset_ = at;
  return HPE_USER;
}

void ResponseParser::fail(std::exception_ptr error) {
  phase_ = Phase::kFailed;
  failure_ = error;
  std::rethrow_exception(error);
}

void ResponseParser::finish() {
  if (phase_ == Phase::kFailed) std::rethrow_exception(failure_);
  if (phase_ == Phase::kComplete) return;
  if (phase_ == Phase::kIdle || phase_ == Phase::kHead) {
    fail(std::make_exception_ptr(ServerDisconnectedError(
        phase_ == Phase::kIdle ? "no response" : "response head incomplete", url_)));
  }
  // llhttp_finish calls on_message_complete for a close-delimited body
  // (HTTP_FINISH_SAFE_WITH_CB), which pauses; anything else mid-body is
  // HPE_INVALID_EOF_STATE.
  pause_ = Pause::kNone;
  llhttp_errno_t err = llhttp_finish(&llhttp_);
  if (err == HPE_PAUSED && pause_ == Pause::kMessageComplete) {
    llhttp_resume(&llhttp_);
    on_pause(consumed_);
    return;
  }
  fail(std::make_exception_ptr(ClientPayloadError(
      "Response payload is not completed: EOF at byte " + std::to_string(consumed_) +
          (phase_ == Phase::kTrailers ? " inside the trailers" : " inside the body"),
      url_)));
}

std::size_t ResponseParser::take_body(std::string& out) {
  std::size_t n = body_.size();
  if (out.empty()) {
    out.swap(body_);
  } else {
    out.append(body_);
  }
  body_.clear();
  return n;
}

bool ResponseParser::find_header(const char* name, std::string& value) const {
  for (const auto& field : headers_) {
    if (ascii_iequal(field.first, name)) {
      value = field.second;
      return true;
    }
  }
  return false;
}

}  // namespace detail
}  // namespace http
}  // namespace weft

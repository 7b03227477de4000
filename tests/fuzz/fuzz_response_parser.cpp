// tests/fuzz/fuzz_response_parser.cpp — libFuzzer target for the HTTP
// response parser (http/response_parser.hpp): status line, headers,
// Content-Length, chunked and close-delimited framing, trailers, interim 1xx,
// 101, keep-alive pipelining, and the parser's limits.
//
// The payload (fuzz_input.hpp) is a byte stream from a server: it is parsed
// as a sequence of responses, the next one starting where feed() stopped, as
// the client does on a keep-alive connection, with finish() (EOF) at the end.
// It is parsed twice, fed whole and fed in the pieces the input's header
// chooses (or one byte at a time), and both runs must agree on every
// completed response (status, reason, version, headers, trailers, body,
// keep-alive, upgrade, bytes used) and on how parsing ended: without an
// error, or with an error in the head of the same type in both, or with an
// error after the head in both. Each error must have the type that
// response_parser.hpp gives its phase.
//
// Why an error's code and offset are not compared: which of two faults a
// run reports first may depend on the split. A field name or an over-long
// line is checked when llhttp hands over its span, at the end of the span
// or of the piece, while llhttp checks each byte as it comes; for the same
// reason a limit (ResponseParseError) and a malformed body or trailer
// (ClientPayloadError) may stand for each other after the head.
//
// Each piece is handed to feed() in a heap block of its exact size,
// scribbled over once feed() returns, then freed: a span kept into the
// caller's buffer or a read past it is a wrong result or an ASan report.
//
// flags: bit 0  the request was HEAD
//        bit 1  feed one byte at a time instead of the header's pieces
//        bits 2-3  limits: 0 the defaults, 1 small, 2 tiny, 3 no fields at all
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "http/response_parser.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "weft/http/errors.hpp"

namespace {

using weft::http::detail::HeaderList;
using weft::http::detail::ParserLimits;
using weft::http::detail::ResponseParser;

// Pipelined responses parsed per input, at most: enough to cover reuse.
constexpr std::size_t kMaxResponses = 8;

struct Message {
  int status = 0;
  std::string reason;
  int version_major = 0;
  int version_minor = 0;
  HeaderList headers;
  HeaderList trailers;
  std::string body;
  bool keep_alive = false;
  bool upgraded = false;
  std::uint64_t end = 0;  // payload offset just past the response

  bool operator==(const Message& o) const {
    return status == o.status && reason == o.reason && version_major == o.version_major &&
           version_minor == o.version_minor && headers == o.headers && trailers == o.trailers &&
           body == o.body && keep_alive == o.keep_alive && upgraded == o.upgraded && end == o.end;
  }
};

// An error that stopped the parsing: its type's name ("" if there was
// none), its code if it is a ResponseParseError, where it came.
struct Error {
  std::string type;
  std::string code;
  std::uint64_t offset = 0;
  bool in_head = false;  // before the final response's head was complete

  std::string str() const {
    if (type.empty()) return "none";
    return type + (code.empty() ? "" : " " + code + " @" + std::to_string(offset)) +
           (in_head ? " in the head" : " after the head");
  }
  bool operator==(const Error& o) const {
    return type == o.type && code == o.code && offset == o.offset && in_head == o.in_head;
  }
};

// What parsing the payload gave: the completed responses, then the error
// that stopped it.
struct Outcome {
  std::vector<Message> messages;
  Error error;
};

// No line limit is below 16: a status line without a reason phrase is
// measured only when a piece ends inside it (llhttp gives no span for its
// version and code), so a limit shorter than "HTTP/1.1 200" would be
// reported fed in pieces and not fed whole.
ParserLimits limits_for(unsigned flags) {
  ParserLimits limits;
  switch ((flags >> 2) & 3) {
    case 1:
      limits.max_line_size = 64;
      limits.max_field_count = 4;
      limits.max_chunk_line_size = 16;
      break;
    case 2:
      limits.max_line_size = 16;
      limits.max_field_count = 1;
      limits.max_chunk_line_size = 3;
      break;
    case 3:
      limits.max_line_size = 16;
      limits.max_field_count = 0;
      limits.max_chunk_line_size = 1;
      break;
    default:
      break;
  }
  return limits;
}

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// Checks what must hold of any response the parser completes.
void check_message(const Message& m, bool head_request, const ParserLimits& limits) {
  WEFT_FUZZ_CHECK(m.status >= 100 && m.status <= 999, "status code in range");
  WEFT_FUZZ_CHECK(m.status >= 200 || m.status == 101, "interim 1xx responses are skipped");
  WEFT_FUZZ_CHECK(!(m.upgraded && m.keep_alive), "an upgraded connection is not reused");
  WEFT_FUZZ_CHECK(m.headers.size() <= limits.max_field_count, "header count within the limit");
  WEFT_FUZZ_CHECK(m.trailers.size() <= limits.max_field_count, "trailer count within the limit");
  WEFT_FUZZ_CHECK(m.reason.size() <= limits.max_line_size, "status line within the limit");
  for (const HeaderList* list : {&m.headers, &m.trailers}) {
    for (const auto& field : *list) {
      WEFT_FUZZ_CHECK(!field.first.empty(), "field names are not empty");
      for (char c : field.first) WEFT_FUZZ_CHECK(is_tchar(c), "field names are tokens");
      WEFT_FUZZ_CHECK(field.first.size() + field.second.size() <= limits.max_line_size,
                      "field line within the limit");
    }
  }
  const bool no_body = head_request || m.status == 204 || m.status == 304 || m.status == 101;
  if (no_body) WEFT_FUZZ_CHECK(m.body.empty(), "no body after HEAD, 101, 204 or 304");
  // A single Content-Length frames the body exactly (two are an error, and
  // so is one beside Transfer-Encoding).
  const std::string* length = nullptr;
  for (const auto& field : m.headers) {
    std::string lower;
    for (char c : field.first) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == "transfer-encoding") return;
    if (lower == "content-length") length = &field.second;
  }
  if (length != nullptr && !no_body) {
    WEFT_FUZZ_CHECK(std::strtoull(length->c_str(), nullptr, 10) == m.body.size(),
                    "Content-Length frames the body");
  }
}

class Driver {
 public:
  Driver(bool head_request, ParserLimits limits) : head_request_(head_request), parser_(limits) {
    parser_.start(head_request_, std::string());
  }

  // Feeds one piece; false once parsing is over (an error, a 101, or
  // kMaxResponses responses).
  bool feed(const std::string& piece) {
    // The piece in a block of its own size, scribbled over and freed after.
    const std::size_t n = piece.size();
    std::unique_ptr<char[]> block(new char[n == 0 ? 1 : n]);
    if (n != 0) std::memcpy(block.get(), piece.data(), n);
    bool more = true;
    std::size_t at = 0;
    try {
      do {
        const std::size_t used = parser_.feed(block.get() + at, n - at);
        WEFT_FUZZ_CHECK(used <= n - at, "feed() uses at most what it is given");
        WEFT_FUZZ_CHECK(used == n - at || parser_.message_complete(),
                        "feed() stops early only at message complete");
        at += used;
        offset_ += used;
        fed_since_start_ += used;
        parser_.take_body(current_body_);
        if (parser_.message_complete()) more = complete();
      } while (more && at < n);
    } catch (...) {
      more = fail();
    }
    std::memset(block.get(), 0xA5, n == 0 ? 1 : n);
    return more;
  }

  // The peer closed the connection.
  void finish() {
    // EOF right after a complete response is the normal end of a connection.
    if (!outcome_.messages.empty() && fed_since_start_ == 0) return;
    try {
      parser_.finish();
      WEFT_FUZZ_CHECK(parser_.message_complete(), "finish() completes or throws");
      parser_.take_body(current_body_);
      complete();
    } catch (...) {
      fail();
    }
  }

  const Outcome& outcome() const { return outcome_; }

 private:
  bool complete() {
    WEFT_FUZZ_CHECK(parser_.head_complete(), "a complete response has its head");
    Message m;
    m.status = parser_.status();
    m.reason = parser_.reason();
    m.version_major = parser_.version_major();
    m.version_minor = parser_.version_minor();
    m.keep_alive = parser_.keep_alive();
    m.upgraded = parser_.upgraded();
    m.headers = parser_.take_headers();
    m.trailers = parser_.take_trailers();
    m.body.swap(current_body_);
    current_body_.clear();
    m.end = offset_;
    outcome_.messages.push_back(std::move(m));
    if (outcome_.messages.back().status == 101 || outcome_.messages.size() == kMaxResponses) return false;
    parser_.start(head_request_, std::string());
    fed_since_start_ = 0;
    return true;
  }

  // Records the error in flight; a parser that failed fails again the same
  // way until start().
  bool fail() {
    outcome_.error = current_error();
    Error again;
    try {
      parser_.feed("x", 1);
    } catch (...) {
      again = current_error();
    }
    WEFT_FUZZ_CHECK(again == outcome_.error, "feed() after an error rethrows it");
    return false;
  }

  // The exception being handled, which must be one of the parser's three.
  Error current_error() const {
    Error error;
    error.in_head = !parser_.head_complete();
    try {
      throw;
    } catch (const weft::http::ResponseParseError& e) {
      error.type = "ResponseParseError";
      error.code = e.code();
      error.offset = e.offset();
    } catch (const weft::http::ClientPayloadError&) {
      error.type = "ClientPayloadError";
    } catch (const weft::http::ServerDisconnectedError&) {
      error.type = "ServerDisconnectedError";
    }
    // Anything else (std::bad_alloc, a logic_error) escapes: a crash.
    return error;
  }

  bool head_request_;
  ResponseParser parser_;
  Outcome outcome_;
  std::string current_body_;
  std::uint64_t offset_ = 0;
  std::uint64_t fed_since_start_ = 0;
};

Outcome parse(const std::vector<std::string>& pieces, bool head_request, const ParserLimits& limits) {
  Driver driver(head_request, limits);
  for (const std::string& piece : pieces) {
    if (!driver.feed(piece)) return driver.outcome();
  }
  driver.finish();
  return driver.outcome();
}

std::string describe(const Outcome& o) {
  std::string s;
  for (const Message& m : o.messages) {
    s += "  " + std::to_string(m.status) + " '" + m.reason + "' headers " +
         std::to_string(m.headers.size()) + " trailers " + std::to_string(m.trailers.size()) +
         " body " + std::to_string(m.body.size()) + " keep-alive " + std::to_string(m.keep_alive) +
         " end " + std::to_string(m.end) + "\n";
  }
  return s + "  error: " + o.error.str() + "\n";
}

// response_parser.hpp: "An error in the status line or headers, and every
// exceeded limit, throws ResponseParseError(code, reason, offset); an error
// after the head (a bad chunk, bad trailers) or EOF inside the body throws
// ClientPayloadError; EOF before the head is complete throws
// ServerDisconnectedError".
void check_error_type(const Error& e) {
  if (e.type.empty()) return;
  const bool limit = e.code == "TOO_MANY_HEADERS" || e.code == "TOO_MANY_TRAILERS" ||
                     e.code == "STATUS_LINE_TOO_LONG" || e.code == "HEADER_LINE_TOO_LONG" ||
                     e.code == "CHUNK_LINE_TOO_LONG";
  if (e.in_head) {
    WEFT_FUZZ_CHECK(e.type != "ClientPayloadError", "an error in the head is not a ClientPayloadError");
  } else {
    WEFT_FUZZ_CHECK(e.type == "ClientPayloadError" || limit,
                    "an error after the head is a ClientPayloadError, or a limit");
  }
}

// Whether two runs agree on how parsing ended (see the header comment).
bool same_ending(const Error& a, const Error& b) {
  if (a.type.empty() || b.type.empty()) return a.type == b.type;
  return a.in_head == b.in_head && (!a.in_head || a.type == b.type);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const weft_fuzz::FuzzInput in = weft_fuzz::parse_input(data, size);
  const bool head_request = (in.flags & 1) != 0;
  const ParserLimits limits = limits_for(in.flags);

  const Outcome whole = parse({in.payload}, head_request, limits);
  std::vector<std::string> pieces;
  if ((in.flags & 2) != 0) {
    for (char c : in.payload) pieces.push_back(std::string(1, c));
  } else {
    pieces = weft_fuzz::cut(in.payload, in.cuts);
  }
  const Outcome split = parse(pieces, head_request, limits);

  const bool agree = same_ending(whole.error, split.error) && whole.messages == split.messages;
  if (!agree) {
    std::fprintf(stderr, "fed whole:\n%sfed in %zu pieces:\n%s", describe(whole).c_str(),
                 pieces.size(), describe(split).c_str());
  }
  WEFT_FUZZ_CHECK(same_ending(whole.error, split.error), "the same ending fed whole and in pieces");
  WEFT_FUZZ_CHECK(whole.messages == split.messages, "the same responses fed whole and in pieces");
  for (const Outcome* o : {&whole, &split}) check_error_type(o->error);
  for (const Message& m : whole.messages) check_message(m, head_request, limits);
  return 0;
}

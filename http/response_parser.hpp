// response_parser.hpp — internal header of http/ (not installed).
//
// ResponseParser: a push parser for one HTTP/1.1 response at a time, over
// llhttp in response mode. The client feeds it the bytes it reads and asks
// what has been parsed so far:
//
//   parser.start(is_head_request, url);
//   while (!parser.message_complete()) {
//     n = stream.read(buf);                 // 0 at EOF
//     if (n == 0) { parser.finish(); break; }
//     used = parser.feed(buf, n);           // < n only at message complete
//     if (parser.head_complete()) ...       // status, reason, headers ready
//     parser.take_body(out);                // de-chunked body bytes so far
//   }
//   // buf[used, n) belongs to the next response on a keep-alive connection.
//
// Framing (RFC 9112 section 6): Content-Length, chunked (extensions ignored,
// trailers kept apart from headers) and close-delimited bodies; no body for
// a response to HEAD, nor for 1xx, 204 and 304 whatever their headers say.
// Interim 1xx responses (100 Continue, 103 Early Hints) are skipped: the next
// response is the response. 101 Switching Protocols is final: it completes
// with upgraded() true, keep_alive() false, and feed() stops after its head,
// leaving the bytes of the new protocol unconsumed.
//
// Errors, never guesses: llhttp runs with every lenient flag off, so two
// Content-Lengths (equal or not), Content-Length beside Transfer-Encoding,
// bad chunk sizes, a garbage Content-Length, a bad status line (a status
// code other than three digits from 100 to 999 among them) or an empty field
// name are errors.
// An error in the status line or headers, and every exceeded limit, throws
// ResponseParseError(code, reason, offset); an error after the head (a bad
// chunk, bad trailers) or EOF inside the body throws ClientPayloadError; EOF
// before the head is complete throws ServerDisconnectedError (DESIGN.md,
// "weft-fetch": what is a failure, and its type).
//
// Not thread-safe; one parser belongs to one connection.
#ifndef WEFT_HTTP_RESPONSE_PARSER_HPP
#define WEFT_HTTP_RESPONSE_PARSER_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <llhttp.h>

namespace weft {
namespace http {
namespace detail {

// The parser's limits; each exceeded limit is a ResponseParseError naming it
// (its code()) and the byte offset of the first byte past the limit.
struct ParserLimits {
  // The status line, and each header or trailer line: bytes from the line's
  // first byte through the end of its reason phrase or field value, without
  // the line terminator ("HEADER_LINE_TOO_LONG", "STATUS_LINE_TOO_LONG").
  std::size_t max_line_size = 8190;
  // Header fields per response, and trailer fields per response, counted
  // apart ("TOO_MANY_HEADERS", "TOO_MANY_TRAILERS").
  std::size_t max_field_count = 128;
  // Each chunk-size line, size and extensions, without its CRLF
  // ("CHUNK_LINE_TOO_LONG").
  std::size_t max_chunk_line_size = 8190;
};

// Header fields in wire order, names as received, duplicates kept.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Why feed() does not stop at the end of the head: body bytes that follow
// the head in the same buffer go into the body buffer (take_body), so none
// is lost and the caller can hand out the Response as soon as
// head_complete() is true. feed() stops only where bytes stop belonging to
// this response: at message complete.
//
// Invariants: phase_ only moves forward through kIdle → kHead → kBody →
// (kTrailers →) kComplete, or to kFailed, until start() rewinds it to kIdle;
// an interim 1xx response rewinds kBody to kIdle without being reported.
// Nothing the parser holds points into a buffer passed to feed(): every span
// llhttp reports is copied inside its callback (Node's StringPtr::Save, done
// at once rather than at the end of llhttp_execute).
class ResponseParser {
 public:
  explicit ResponseParser(ParserLimits limits = ParserLimits());
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Forgets everything about the previous response and expects a new one,
  // the answer to a request whose method was HEAD if `head_request`. `url`
  // names the request in error messages (may be empty). The constructor
  // leaves the parser as after start(false, "").
  void start(bool head_request, std::string url);

  // Parses up to n bytes of the response and returns how many it consumed:
  // all n, unless the response completed (message_complete()) inside them,
  // in which case the rest belong to the next response (or, after a 101, to
  // the new protocol). Once the response is complete, returns 0.
  // Throws ResponseParseError, ClientPayloadError (see above); after a
  // throw, every later feed() or finish() rethrows the same error until
  // start().
  std::size_t feed(const char* data, std::size_t n);

  // Tells the parser the peer closed the connection (EOF). Completes a
  // close-delimited body; a no-op if the response is complete. Throws
  // ServerDisconnectedError if the head was not complete (or nothing came),
  // ClientPayloadError if the body was cut short.
  void finish();

  // True once the final response's status line and headers are parsed:
  // status(), reason(), version and headers() are then valid.
  bool head_complete() const { return head_complete_; }
  // True once the final response ended (trailers included).
  bool message_complete() const { return phase_ == Phase::kComplete; }

  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  int version_major() const { return version_major_; }
  int version_minor() const { return version_minor_; }
  const HeaderList& headers() const { return headers_; }
  // Trailer fields of a chunked body, valid once message_complete().
  const HeaderList& trailers() const { return trailers_; }
  // Moves the head's fields out (headers() is empty afterwards), so the
  // client hands them to its Response without copying each string.
  HeaderList take_headers() { return std::move(headers_); }
  HeaderList take_trailers() { return std::move(trailers_); }

  // Appends the body bytes parsed since the last call (de-chunked, still
  // content-coded: gzip is decoded above) to `out`; returns their count.
  // When `out` is empty the buffers are swapped, not copied.
  std::size_t take_body(std::string& out);

  // Valid once message_complete(): whether the connection may carry the next
  // request (llhttp_should_keep_alive: HTTP/1.1 without "Connection: close",
  // HTTP/1.0 with "Connection: keep-alive", and a body not delimited by EOF).
  bool keep_alive() const { return keep_alive_; }
  // Valid once message_complete(): the response was a 101 with Upgrade.
  bool upgraded() const { return upgraded_; }

  // The value of the first header named `name` (ASCII case-insensitive), e.g.
  // "Content-Encoding"; false if there is none.
  bool find_header(const char* name, std::string& value) const;

  // Internal: llhttp's callbacks (response_parser.cpp).
  struct Callbacks;

 private:
  enum class Phase { kIdle, kHead, kBody, kTrailers, kComplete, kFailed };
  // Why a callback paused llhttp: the position llhttp_get_error_pos then
  // reports marks a boundary the parser needs to know.
  enum class Pause {
    kNone,
    kMessageBegin,
    kStatusComplete,
    kChunkLineStart,
    kChunkHeader,
    kMessageComplete
  };

  void reset_llhttp();
  void on_pause(std::uint64_t at);
  void open_line(std::uint64_t start, std::size_t limit, const char* code);
  void check_open_line(std::uint64_t end);
  void note_status_digit(std::size_t n);
  void check_status_code();
  int fail_limit(const char* code, const std::string& reason, std::uint64_t at);
  int check_line(std::uint64_t end, std::size_t limit, const char* code);
  [[noreturn]] void fail(std::exception_ptr error);
  [[noreturn]] void fail_execute(llhttp_errno_t err, const char* pos);
  std::uint64_t offset_of(const char* p) const {
    return exec_offset_ + static_cast<std::uint64_t>(p - exec_begin_);
  }
  HeaderList& fields() { return phase_ == Phase::kHead ? headers_ : trailers_; }

  ParserLimits limits_;
  llhttp_t llhttp_;
  bool head_request_ = false;
  std::string url_;
  Phase phase_ = Phase::kIdle;
  Pause pause_ = Pause::kNone;
  std::exception_ptr failure_;

  // Position: offsets count bytes since start(); exec_begin_ is the buffer
  // of the llhttp_execute call in progress, which begins at exec_offset_.
  std::uint64_t consumed_ = 0;
  const char* exec_begin_ = nullptr;
  std::uint64_t exec_offset_ = 0;

  // Limits: the first byte of the line being measured; while that line is
  // open (not yet ended), its limit and the code naming it, else nullptr;
  // whether a field name is open (a name span after a closed name starts a
  // new field).
  std::uint64_t line_start_ = 0;
  std::size_t open_limit_ = 0;
  const char* open_code_ = nullptr;
  bool in_field_name_ = false;
  // A limit exceeded, or a bad field name, found inside a callback: the
  // callback stores "CODE:reason" and the offset, and returns HPE_USER, which
  // llhttp reports as HPE_USER from a data callback but as HPE_CB_* (with a
  // reason of its own) from a *_complete one; fail_execute() reads these.
  std::string limit_reason_;
  std::uint64_t limit_offset_ = 0;

  // The status code's first byte, copied by feed() as it passes (llhttp
  // keeps no trace of a leading zero: "0200" is 200), and its offset.
  std::uint64_t status_code_at_ = 0;
  char status_first_digit_ = 0;

  bool head_complete_ = false;
  bool interim_ = false;
  int status_ = 0;
  std::string reason_;
  int version_major_ = 0;
  int version_minor_ = 0;
  HeaderList headers_;
  HeaderList trailers_;
  std::string body_;
  bool keep_alive_ = false;
  bool upgraded_ = false;
};

}  // namespace detail
}  // namespace http
}  // namespace weft

#endif  // WEFT_HTTP_RESPONSE_PARSER_HPP

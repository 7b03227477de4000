// weft/http/errors.hpp — public header: it includes only weft/export.hpp and
// the standard library.
//
// aiohttp's client exceptions (aiohttp client_exceptions.py), in namespace
// weft::http. Every one derives from std::runtime_error through ClientError,
// so `catch (const weft::http::ClientError&)` catches anything the HTTP
// client throws except weft::TimeoutError and weft::CancelledError:
//
//   ClientError
//   ├── ClientOSError                      (carries errno)
//   │   └── ClientConnectorError           (could not connect to host:port)
//   │       └── ClientConnectorCertificateError
//   ├── ServerDisconnectedError            (EOF before the response head)
//   ├── ClientPayloadError                 (body cut short or malformed)
//   ├── ResponseParseError                 (status line, headers, framing, limits)
//   ├── ClientResponseError                (carries the status)
//   │   └── TooManyRedirects
//   └── InvalidURL
//
// As in aiohttp, ClientConnectorError is a ClientOSError and TooManyRedirects
// a ClientResponseError. Each message names the URL when it is known; the
// `url` parameters may be empty when it is not.
#ifndef WEFT_HTTP_ERRORS_HPP
#define WEFT_HTTP_ERRORS_HPP

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "weft/export.hpp"

namespace weft {
namespace http {

// The base of every HTTP client error (aiohttp ClientError).
class WEFT_API ClientError : public std::runtime_error {
 public:
  // `what` is the complete message; `url` is kept for url() and may be empty.
  ClientError(const std::string& what, std::string url);
  // The URL of the request that failed, or "" if unknown.
  const std::string& url() const noexcept { return url_; }

 private:
  std::string url_;
};

// A socket error after (or while) connecting (aiohttp ClientOSError).
class WEFT_API ClientOSError : public ClientError {
 public:
  // `error` is the errno value (0 if none); `what` describes the failure.
  ClientOSError(int error, const std::string& what, std::string url);
  int error() const noexcept { return error_; }

 private:
  int error_;
};

// DNS failure, refused or unreachable (aiohttp ClientConnectorError).
class WEFT_API ClientConnectorError : public ClientOSError {
 public:
  ClientConnectorError(const std::string& host, int port, int error,
                       const std::string& what, std::string url);
  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }

 private:
  std::string host_;
  int port_;
};

// The TLS peer's certificate failed verification
// (aiohttp ClientConnectorCertificateError). verify_code() is OpenSSL's
// X509_V_ERR_* value and verify_message() its text ("certificate has
// expired", "hostname mismatch", "unable to get local issuer certificate",
// "self-signed certificate"), as ssl.SSLCertVerificationError carries them.
class WEFT_API ClientConnectorCertificateError : public ClientConnectorError {
 public:
  ClientConnectorCertificateError(const std::string& host, int port, int error, const std::string& what,
                                  std::string url, long verify_code = 0, std::string verify_message = std::string())
      : ClientConnectorError(host, port, error, what, std::move(url)),
        verify_code_(verify_code),
        verify_message_(std::move(verify_message)) {}
  long verify_code() const noexcept { return verify_code_; }
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

// The server closed the connection before the response head was complete
// (aiohttp ServerDisconnectedError, "Server disconnected").
class WEFT_API ServerDisconnectedError : public ClientError {
 public:
  // `what` says what was missing; the message is "Server disconnected: " +
  // what + " (url)".
  ServerDisconnectedError(const std::string& what, std::string url);
};

// The body was cut short, badly framed or undecodable
// (aiohttp ClientPayloadError, "Response payload is not completed").
class WEFT_API ClientPayloadError : public ClientError {
 public:
  ClientPayloadError(const std::string& what, std::string url);
};

// The status line, a header or the framing is malformed, or a parser limit
// was exceeded. code() names the limit or llhttp's error ("HPE_INVALID_STATUS",
// "HEADER_LINE_TOO_LONG", ...), reason() says why, offset() is the byte
// offset in the response (counted from its first byte, interim 1xx
// responses included) where the parser stopped.
class WEFT_API ResponseParseError : public ClientError {
 public:
  ResponseParseError(std::string code, std::string reason, std::uint64_t offset,
                     std::string url);
  const std::string& code() const noexcept { return code_; }
  const std::string& reason() const noexcept { return reason_; }
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  std::string code_;
  std::string reason_;
  std::uint64_t offset_;
};

// A response the caller chose to treat as an error, such as
// raise_for_status() on a 4xx (aiohttp ClientResponseError).
class WEFT_API ClientResponseError : public ClientError {
 public:
  ClientResponseError(int status, const std::string& message, std::string url);
  int status() const noexcept { return status_; }

 private:
  int status_;
};

// More redirects than max_redirects (aiohttp TooManyRedirects).
class WEFT_API TooManyRedirects : public ClientResponseError {
 public:
  TooManyRedirects(int status, int max_redirects, std::string url);
};

// A URL that cannot be parsed or whose scheme is not http(s)
// (aiohttp InvalidURL).
class WEFT_API InvalidURL : public ClientError {
 public:
  // `why` may be empty.
  InvalidURL(std::string url, const std::string& why);
};

}  // namespace http
}  // namespace weft

#endif  // WEFT_HTTP_ERRORS_HPP

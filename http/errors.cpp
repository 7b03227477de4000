// aiohttp's client exceptions: messages (see include/weft/http/errors.hpp).
#include "weft/http/errors.hpp"

#include <utility>

namespace weft {
namespace http {
namespace {

// " (url)" when the URL is known, "" otherwise.
std::string for_url(const std::string& url) {
  return url.empty() ? std::string() : " (" + url + ")";
}

}  // namespace

ClientError::ClientError(const std::string& what, std::string url)
    : std::runtime_error(what), url_(std::move(url)) {}

ClientOSError::ClientOSError(int error, const std::string& what, std::string url)
    : ClientError(what + for_url(url), url), error_(error) {}

ClientConnectorError::ClientConnectorError(const std::string& host, int port,
                                           int error, const std::string& what,
                                           std::string url)
    : ClientOSError(error,
                    "Cannot connect to host " + host + ":" + std::to_string(port) +
                        ": " + what,
                    std::move(url)),
      host_(host),
      port_(port) {}

ServerDisconnectedError::ServerDisconnectedError(const std::string& what,
                                                 std::string url)
    : ClientError("Server disconnected: " + what + for_url(url), url) {}

ClientPayloadError::ClientPayloadError(const std::string& what, std::string url)
    : ClientError(what + for_url(url), url) {}

ResponseParseError::ResponseParseError(std::string code, std::string reason,
                                       std::uint64_t offset, std::string url)
    : ClientError("Invalid HTTP response at byte " + std::to_string(offset) + ": " +
                      code + ": " + reason + for_url(url),
                  url),
      code_(std::move(code)),
      reason_(std::move(reason)),
      offset_(offset) {}

ClientResponseError::ClientResponseError(int status, const std::string& message,
                                         std::string url)
    : ClientError(std::to_string(status) + ", message='" + message + "'" + for_url(url),
                  url),
      status_(status) {}

TooManyRedirects::TooManyRedirects(int status, int max_redirects, std::string url)
    : ClientResponseError(status,
                          "Too many redirects (max_redirects=" +
                              std::to_string(max_redirects) + ")",
                          std::move(url)) {}

InvalidURL::InvalidURL(std::string url, const std::string& why)
    : ClientError("Invalid URL '" + url + "'" + (why.empty() ? "" : ": " + why), url) {}

}  // namespace http
}  // namespace weft

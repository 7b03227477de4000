// weft/http/redirects.hpp — public header; includes only public headers and
// the standard library.
//
// What a redirect does, as aiohttp's ClientSession._request decides it
// (aiohttp client.py, the `if resp.status in (301, 302, 303, 307, 308)`
// branch), kept apart from the I/O so that every case is a table row:
//
//   status  method         next method  body     (RFC 9110 section 15.4)
//   301     POST           GET          dropped
//   301     any other      same         kept
//   302     POST           GET          dropped
//   302     any other      same         kept
//   303     HEAD           HEAD         kept
//   303     any other      GET          dropped
//   307     any            same         kept
//   308     any            same         kept
//
// Other statuses, 300, 304 and 305 among them, are never followed; neither
// is a redirect status without a Location header: the response is final.
// When the next URL's origin (scheme, host, port) differs from the current
// one, Authorization, Cookie and Proxy-Authorization are dropped.
#pragma once

#include <string>

#include "weft/export.hpp"
#include "weft/http/errors.hpp"
#include "weft/http/url.hpp"

namespace weft {
namespace http {

// aiohttp ClientSession: max_redirects defaults to 10.
constexpr unsigned kDefaultMaxRedirects = 10;

// Whether `status` is a redirect that is followed when it has a Location:
// 301, 302, 303, 307 or 308.
WEFT_API bool is_redirect_status(int status) noexcept;

// The request to send after a redirect.
struct RedirectStep {
  URL url;                 // the resolved Location
  std::string method;      // the next request's method
  bool has_body = false;   // whether the next request resends the body;
                           // when false it sends no Content-Length,
                           // Content-Type or Transfer-Encoding either
  bool drop_credentials = false;  // drop Authorization, Cookie, Proxy-Authorization
};

// The pure rule of the table above for one followed redirect. `method` is
// the current request's method, upper-case as aiohttp sends it (methods are
// case-sensitive, RFC 9110 section 9.1: "post" is not rewritten);
// `has_body` whether it carried one. Precondition: is_redirect_status(status).
// Never throws except std::bad_alloc.
WEFT_API RedirectStep redirect_step(const std::string& method, bool has_body, int status,
                           const URL& current, const URL& next);

// Follows the redirects of one request and counts them.
//
// Invariant: followed() <= max_redirects(); each next() that returns true
// has incremented followed() by one.
// A RedirectPolicy belongs to one request; it is not safe to share between
// threads.
class WEFT_API RedirectPolicy {
 public:
  explicit RedirectPolicy(unsigned max_redirects = kDefaultMaxRedirects) noexcept
      : max_redirects_(max_redirects) {}

  // Decides what a response to (`method`, `has_body`, `current`) does.
  // Returns false when the response is final: its status is not a redirect
  // status, or `location` is null (no Location header). Otherwise resolves
  // *location against `current` (URL::resolve, which throws InvalidURL for
  // an unparseable Location or a non-http(s) scheme), then, if
  // max_redirects() redirects were already followed, throws
  // TooManyRedirects(status, max_redirects, current.str()); so
  // max_redirects = 0 makes any redirect fail. Otherwise fills `step` and returns true.
  bool next(const std::string& method, bool has_body, int status, const URL& current,
            const std::string* location, RedirectStep& step);

  unsigned followed() const noexcept { return followed_; }
  unsigned max_redirects() const noexcept { return max_redirects_; }

 private:
  unsigned max_redirects_;
  unsigned followed_ = 0;
};

}  // namespace http
}  // namespace weft

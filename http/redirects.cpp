// http/redirects.cpp — the redirect rules of weft/http/redirects.hpp.
#include "weft/http/redirects.hpp"

#include <string>

namespace weft {
namespace http {

bool is_redirect_status(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

RedirectStep redirect_step(const std::string& method, bool has_body, int status,
                           const URL& current, const URL& next) {
  RedirectStep step{next, method, has_body, current.origin() != next.origin()};
  // aiohttp client.py: "if resp.status == 303 and resp.method != METH_HEAD
  // or resp.status in (301, 302) and resp.method == METH_POST", the request
  // becomes a GET and its data is dropped (RFC 9110 sections 15.4.2-15.4.4).
  if ((status == 303 && method != "HEAD") ||
      ((status == 301 || status == 302) && method == "POST")) {
    step.method = "GET";
    step.has_body = false;
  }
  return step;
}

bool RedirectPolicy::next(const std::string& method, bool has_body, int status,
                          const URL& current, const std::string* location,
                          RedirectStep& step) {
  if (!is_redirect_status(status) || location == nullptr) return false;
  // Resolving first reports a bad Location as InvalidURL even when the
  // limit is also reached: the Location is the more specific fault.
  URL next_url = URL::resolve(current, *location);
  if (followed_ >= max_redirects_) {
    throw TooManyRedirects(status, static_cast<int>(max_redirects_), current.str());
  }
  step = redirect_step(method, has_body, status, current, next_url);
  ++followed_;
  return true;
}

}  // namespace http
}  // namespace weft

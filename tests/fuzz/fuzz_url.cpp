// tests/fuzz/fuzz_url.cpp — libFuzzer target for URL parsing, Location
// resolution and the redirect rules (weft/http/url.hpp, redirects.hpp).
//
// The payload (fuzz_input.hpp) is used whole as one URL, parsed, and as one
// Location resolved against a fixed base with userinfo, a port and a query.
// Cut into pieces, it is a redirect chain: the first piece is the starting
// URL (the fixed base if it does not parse), each later piece the Location
// of the next redirect, followed through a RedirectPolicy; pairs of pieces
// are also query parameters for with_query(), extend_query() and
// form_urlencode().
//
// Every URL that parses or resolves must be normalised as url.hpp says
// (scheme http or https, lower-case host, a port in 1..65535, a path that
// starts with '/', no byte that needs an escape) and must re-parse from its
// str() to the same URL, userinfo aside, since str() never shows it. Each
// redirect step must follow the table of redirects.hpp.
//
// flags: bits 0-2  the first redirect's status (the next ones rotate):
//                  301, 302, 303, 307, 308, 300, 304, 200
//        bits 3-4  max_redirects: 0, 1, 3, 10
//        bits 5-7  the method: GET, POST, HEAD, post, PUT, DELETE, OPTIONS, ""
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_input.hpp"
#include "weft/http/errors.hpp"
#include "weft/http/redirects.hpp"
#include "weft/http/url.hpp"

namespace {

using weft::http::InvalidURL;
using weft::http::QueryParams;
using weft::http::RedirectPolicy;
using weft::http::RedirectStep;
using weft::http::URL;

const char kBase[] = "https://user:pw@Example.COM:8443/a/b/c?x=1&y=%20#frag";

// RFC 3986 appendix A: what may stand unescaped in a path or query.
bool allowed_in_target(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("-._~!$&'()*+,;=:@/?%", c) != nullptr);
}

// A URL the library handed out, whatever made it.
void check_url(const URL& url) {
  WEFT_FUZZ_CHECK(!url.empty(), "a parsed URL is not empty");
  WEFT_FUZZ_CHECK(url.scheme() == "http" || url.scheme() == "https", "scheme http or https");
  WEFT_FUZZ_CHECK(!url.host().empty(), "a host");
  for (char c : url.host()) WEFT_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "the host is lower-case");
  WEFT_FUZZ_CHECK(url.port() != 0, "a port in 1..65535");
  WEFT_FUZZ_CHECK(url.is_default_port() == (url.port() == (url.scheme() == "https" ? 443 : 80)),
                  "is_default_port() is the scheme's port");
  WEFT_FUZZ_CHECK(!url.path().empty() && url.path()[0] == '/', "the path starts with '/'");
  for (char c : url.request_target()) {
    WEFT_FUZZ_CHECK(allowed_in_target(c), "the request target holds no byte that needs an escape");
  }
  WEFT_FUZZ_CHECK(url.request_target() == (url.query().empty() ? url.path() : url.path() + "?" + url.query()),
                  "the request target is the path and query");
  WEFT_FUZZ_CHECK(url.str() == url.scheme() + "://" + url.host_header() + url.request_target(),
                  "str() is scheme, Host and target");

  // Normalisation is idempotent: str() re-parses to the same URL.
  URL again;
  try {
    again = URL::parse(url.str());
  } catch (const InvalidURL&) {
    std::fprintf(stderr, "str(): '%s'\n", url.str().c_str());
    WEFT_FUZZ_CHECK(false, "a URL's str() re-parses");
  }
  WEFT_FUZZ_CHECK(again.str() == url.str(), "str() re-parses to the same str()");
  if (!url.has_userinfo()) WEFT_FUZZ_CHECK(again == url, "str() re-parses to an equal URL");
  // Resolving a URL's own text against it gives it back, without userinfo.
  WEFT_FUZZ_CHECK(URL::resolve(url, url.str()).str() == url.str(), "resolve(u, u.str()) is u");
}

// Parses `text`; true with `url` set if it is a valid URL.
bool try_parse(const std::string& text, URL& url) {
  try {
    url = URL::parse(text);
  } catch (const InvalidURL&) {
    return false;
  }
  check_url(url);
  return true;
}

void check_resolve(const URL& base, const std::string& location) {
  URL resolved;
  try {
    resolved = URL::resolve(base, location);
  } catch (const InvalidURL&) {
    return;
  }
  check_url(resolved);
  WEFT_FUZZ_CHECK(!resolved.has_userinfo() || location.find('@') != std::string::npos,
                  "resolve() never copies the base's userinfo");
}

// One redirect through `policy`, checked against the table of redirects.hpp.
// Returns false when the chain ends.
bool follow(RedirectPolicy& policy, const std::string& method, int status, URL& current,
            const std::string& location) {
  const unsigned before = policy.followed();
  RedirectStep step;
  try {
    if (!policy.next(method, true, status, current, &location, step)) {
      WEFT_FUZZ_CHECK(!weft::http::is_redirect_status(status), "a redirect with a Location is followed");
      WEFT_FUZZ_CHECK(policy.followed() == before, "a final response is not counted");
      return false;
    }
  } catch (const InvalidURL&) {
    return false;
  } catch (const weft::http::TooManyRedirects&) {
    WEFT_FUZZ_CHECK(before == policy.max_redirects(), "TooManyRedirects only at the limit");
    return false;
  }
  WEFT_FUZZ_CHECK(policy.followed() == before + 1, "each followed redirect is counted");
  WEFT_FUZZ_CHECK(policy.followed() <= policy.max_redirects(), "never past max_redirects");
  check_url(step.url);
  WEFT_FUZZ_CHECK(step.url == URL::resolve(current, location), "the step goes to the resolved Location");
  WEFT_FUZZ_CHECK(step.drop_credentials == (step.url.origin() != current.origin()),
                  "credentials are dropped exactly when the origin changes");
  const bool to_get = (status == 303 && method != "HEAD") ||
                      ((status == 301 || status == 302) && method == "POST");
  WEFT_FUZZ_CHECK(step.method == (to_get ? std::string("GET") : method), "the method follows the table");
  WEFT_FUZZ_CHECK(step.has_body == !to_get, "the body follows the method");
  current = step.url;
  return true;
}

void check_query(const URL& url, const std::vector<std::string>& pieces) {
  QueryParams params;
  for (std::size_t i = 0; i + 1 < pieces.size(); i += 2) params.emplace_back(pieces[i], pieces[i + 1]);

  const URL replaced = url.with_query(params);
  check_url(replaced);
  WEFT_FUZZ_CHECK(replaced.path() == url.path() && replaced.origin() == url.origin(),
                  "with_query() changes only the query");
  WEFT_FUZZ_CHECK(params.empty() == replaced.query().empty(), "with_query({}) has no query");
  const URL extended = url.extend_query(params);
  check_url(extended);
  std::string expected = url.query();
  if (!expected.empty() && !replaced.query().empty()) expected += '&';
  WEFT_FUZZ_CHECK(extended.query() == expected + replaced.query(), "extend_query() appends with_query()'s pairs");

  for (char c : weft::http::form_urlencode(params)) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::strchr("-._~%+&=", c) != nullptr;
    WEFT_FUZZ_CHECK(safe, "form_urlencode() writes only unreserved bytes, escapes, '+', '&' and '='");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const weft_fuzz::FuzzInput in = weft_fuzz::parse_input(data, size);
  static const int kStatuses[] = {301, 302, 303, 307, 308, 300, 304, 200};
  static const unsigned kMaxRedirects[] = {0, 1, 3, 10};
  static const char* const kMethods[] = {"GET", "POST", "HEAD", "post", "PUT", "DELETE", "OPTIONS", ""};
  const std::string method = kMethods[in.flags >> 5];

  // Whole: one URL, and one Location against the fixed base.
  URL base = URL::parse(kBase);
  URL whole;
  try_parse(in.payload, whole);
  check_resolve(base, in.payload);

  // In pieces: a redirect chain from the first piece.
  const std::vector<std::string> pieces = weft_fuzz::cut(in.payload, in.cuts);
  URL current = base;
  if (!pieces.empty()) try_parse(pieces[0], current);
  RedirectPolicy policy(kMaxRedirects[(in.flags >> 3) & 3]);
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    check_resolve(current, pieces[i]);
    if (!follow(policy, method, kStatuses[(in.flags + i - 1) & 7], current, pieces[i])) break;
  }
  check_query(current, pieces);
  return 0;
}

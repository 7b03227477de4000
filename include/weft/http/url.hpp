// weft/http/url.hpp — public header; includes only public headers and the
// standard library.
//
// weft::http::URL, a parsed absolute http or https URL, the http/ layer's
// counterpart of yarl's URL as aiohttp uses it: parsed once by RFC 3986,
// normalised, and taken apart into what a request needs (the pool key, the
// Host header, the request target).
//
//     http://user:pw@[2001:db8::1]:8080/a/b%20c?x=1#frag
//     └┬─┘   └──┬──┘ └─────┬─────┘ └┬─┘└───┬──┘ └┬┘ └┬─┘
//    scheme  userinfo     host     port  path  query  fragment (dropped)
//
// Normalisation, applied by parse() and resolve() alike:
//   - scheme and host are lower-cased; an IPv6 literal is stored without
//     its brackets (host_bracketed() and host_header() put them back);
//   - bytes no URI may contain (controls, space, '"', '<', '>', '\', '^',
//     '`', '{', '|', '}', '[' and ']' outside the host, and every byte
//     >= 0x80) and a '%' not followed by two hex digits are percent-encoded
//     with upper-case hex after the authority, as yarl encodes a URL given
//     for a request, with two differences: a space in the query becomes
//     %20 (yarl's QUERY_REQUOTER writes '+', which only form decoders read
//     as a space), and escapes already present are kept exactly as written
//     (yarl upper-cases their hex and decodes those of unreserved bytes);
//   - dot segments are removed (RFC 3986 section 5.2.4); an empty path
//     becomes "/";
//   - the port is the explicit one or the scheme's default (80, 443);
//     str() and host_header() omit it when it is the default;
//   - an empty query ("http://a/?") is no query; the fragment is dropped,
//     since it is never sent.
//
// Userinfo ("user:pw@") is kept, as aiohttp does (it turns it into
// BasicAuth): user() and password() return it percent-decoded, and str()
// never shows it, so a URL printed in a log or weft-fetch's JSON carries no
// credential. resolve() never copies the base's userinfo into the result.
//
// Host names are taken as ASCII: a non-ASCII host (IDNA) is InvalidURL.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "weft/export.hpp"
#include "weft/http/errors.hpp"

namespace weft {
namespace http {

// Query parameters in order; duplicates are kept ("a=1&a=2").
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// The part of a URL that decides where a request goes: RFC 6454's origin.
// Connections are pooled per origin (plus TLS settings), and a redirect
// that changes it drops the request's credentials.
struct Origin {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower-case; an IPv6 literal without brackets
  std::uint16_t port;  // never 0

  friend bool operator==(const Origin& a, const Origin& b) {
    return a.port == b.port && a.scheme == b.scheme && a.host == b.host;
  }
  friend bool operator!=(const Origin& a, const Origin& b) { return !(a == b); }
  // A strict weak order (scheme, host, port), for ordered pool maps.
  friend bool operator<(const Origin& a, const Origin& b) {
    return std::tie(a.scheme, a.host, a.port) < std::tie(b.scheme, b.host, b.port);
  }
};

// Invariant: a URL is either empty (default-constructed: empty() is true,
// str() is "", every other accessor returns an empty value and port() 0) or
// an absolute http/https URL normalised as described above, with a
// non-empty host, a port in 1..65535 and a path that starts with '/'.
// Values are immutable; with_query() and extend_query() return new URLs.
// All members may be called from any thread (no shared state).
class WEFT_API URL {
 public:
  URL() = default;

  // Parses an absolute http(s) URL. Throws InvalidURL (errors.hpp; url() is
  // `text`, what() says which check failed) if the
  // text is not an RFC 3986 URI even after the encoding above, its scheme is
  // not http or https, it has no host (or an IPvFuture or non-ASCII one), or
  // its port is not in 1..65535.
  static URL parse(const std::string& text);

  // Resolves a Location header (any RFC 3986 reference: absolute,
  // scheme-relative "//h/p", absolute-path, relative, query- or
  // fragment-only) against `base` by RFC 3986 section 5.2, and validates
  // the result as parse() does. A reference "http:g" whose scheme equals the
  // base's is resolved as "g" (the section 5.4.2 backward-compatible
  // reading, as urllib.parse.urljoin and browsers do); the strict reading
  // would give a URL without a host. Throws InvalidURL whose url() is
  // `location`,
  // e.g. for "ftp://h/x" or "mailto:a@b". Precondition: !base.empty().
  static URL resolve(const URL& base, const std::string& location);

  bool empty() const noexcept { return scheme_.empty(); }
  const std::string& scheme() const noexcept { return scheme_; }
  const std::string& host() const noexcept { return host_; }
  // The host as written in a URL: an IPv6 literal in brackets.
  std::string host_bracketed() const;
  bool is_ipv6() const noexcept { return ipv6_; }
  std::uint16_t port() const noexcept { return port_; }
  bool is_default_port() const noexcept;
  const std::string& path() const noexcept { return path_; }
  // Without the '?'; empty when the URL has none.
  const std::string& query() const noexcept { return query_; }
  bool has_userinfo() const noexcept { return has_userinfo_; }
  // Percent-decoded parts of the userinfo; the password is what follows
  // its first ':' (empty if there is none).
  std::string user() const;
  std::string password() const;

  // "scheme://host[:port]path[?query]": no userinfo, no fragment, the port
  // only when it is not the default.
  std::string str() const;
  Origin origin() const { return Origin{scheme_, host_, port_}; }
  // The Host header's value, RFC 9110 section 7.2: host_bracketed() plus
  // ":port" unless the port is the scheme's default.
  std::string host_header() const;
  // The request line's target, RFC 9112 section 3.2.1 origin-form:
  // path plus "?query" when there is a query.
  std::string request_target() const;

  // yarl URL.with_query: the same URL with its query replaced by `params`
  // (no query at all if `params` is empty), each key and value encoded as
  // yarl's _QUERY_PART_QUOTER does: A-Z a-z 0-9 - . _ ~ ! $ ' ( ) * , ? / : @
  // are kept, a space becomes '+', and every other byte (among them
  // & = + ; # % and each byte of a UTF-8 sequence) becomes %XX.
  URL with_query(const QueryParams& params) const;
  // yarl URL.extend_query, which aiohttp applies to a request's `params`:
  // the pairs are appended to the existing query, encoded as above.
  URL extend_query(const QueryParams& params) const;

  // Equal when every component is (userinfo included); two spellings that
  // normalise alike ("HTTP://A:80/x/../" and "http://a/") are equal.
  friend WEFT_API bool operator==(const URL& a, const URL& b);
  friend bool operator!=(const URL& a, const URL& b) { return !(a == b); }

 private:
  std::string scheme_;
  std::string userinfo_;  // raw, still percent-encoded
  bool has_userinfo_ = false;
  std::string host_;
  bool ipv6_ = false;
  std::uint16_t port_ = 0;
  std::string path_;
  std::string query_;

  friend class UrlBuilder;  // http/url.cpp fills the fields
};

// application/x-www-form-urlencoded, as aiohttp's FormData encodes a dict
// body (urllib.parse.urlencode, i.e. quote_plus): A-Z a-z 0-9 - . _ ~ are
// kept, a space becomes '+', every other byte becomes %XX; pairs are joined
// by '&' in order. Never throws except std::bad_alloc.
WEFT_API std::string form_urlencode(const QueryParams& params);

}  // namespace http
}  // namespace weft

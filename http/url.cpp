// http/url.cpp — weft::http::URL on uriparser (RFC 3986 parsing and
// reference resolution). uriparser splits a URI into text ranges pointing
// into the parsed string; this file encodes what uriparser would reject,
// hands the text to it, and copies the ranges into a URL's own strings.
#include "weft/http/url.hpp"

#include <uriparser/Uri.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace weft {
namespace http {

namespace {

const char kHexDigits[] = "0123456789ABCDEF";

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_unreserved(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

void append_escape(std::string& out, unsigned char byte) {
  out += '%';
  out += kHexDigits[byte >> 4];
  out += kHexDigits[byte & 0xF];
}

std::string to_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Where the authority of a URI reference ends: the index after
// "scheme://authority", after "//authority", or after "scheme:" (or 0) when
// there is no authority. Characters before it are never encoded: a space or
// a non-ASCII byte in a host must fail to parse, not become an escape.
std::size_t authority_end(const std::string& s) {
  std::size_t i = 0;
  if (!s.empty() && is_alpha(s[0])) {
    std::size_t j = 1;
    while (j < s.size() && (is_alpha(s[j]) || is_digit(s[j]) || s[j] == '+' ||
                            s[j] == '-' || s[j] == '.')) {
      ++j;
    }
    if (j < s.size() && s[j] == ':') i = j + 1;
  }
  if (s.compare(i, 2, "//") != 0) return i;
  i += 2;
  while (i < s.size() && s[i] != '/' && s[i] != '?' && s[i] != '#') ++i;
  return i;
}

// Whether a byte may appear as itself in a URI's path, query or fragment:
// unreserved, sub-delims, ':', '@', '/', '?' (RFC 3986 appendix A); the
// first '#', which starts the fragment, is handled by the caller.
bool allowed_after_authority(char c) {
  if (is_unreserved(c)) return true;
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':
    case '+': case ',': case ';': case '=': case ':': case '@': case '/':
    case '?':
      return true;
    default:
      return false;
  }
}

// Percent-encodes, after the authority, every byte no URI may contain, a
// '#' inside the fragment, and every '%' that does not start an escape, as
// yarl's _Quoter does for a URL given to a request; unlike yarl, valid
// escapes stay exactly as written (see weft/http/url.hpp).
std::string encode_disallowed(const std::string& text) {
  const std::size_t start = authority_end(text);
  std::string out(text, 0, start);
  out.reserve(text.size());
  bool in_fragment = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && is_hex(text[i + 1]) && is_hex(text[i + 2])) {
      out += c;
    } else if (c == '#' && !in_fragment) {
      in_fragment = true;
      out += c;
    } else if (c != '%' && c != '#' && allowed_after_authority(c)) {
      out += c;
    } else {
      append_escape(out, static_cast<unsigned char>(c));
    }
  }
  return out;
}

// RFC 3986 section 5.2.4, remove_dot_segments, on a path that has no query.
// Quadratic in the number of segments in the worst case; request paths are
// short, and the RFC's buffer-moving formulation is easy to check.
std::string remove_dot_segments(std::string in) {
  std::string out;
  auto pop_segment = [&out] {
    const std::size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.compare(0, 3, "../") == 0) {
      in.erase(0, 3);
    } else if (in.compare(0, 2, "./") == 0) {
      in.erase(0, 2);
    } else if (in.compare(0, 3, "/./") == 0) {
      in.replace(0, 3, "/");
    } else if (in == "/.") {
      in = "/";
    } else if (in.compare(0, 4, "/../") == 0) {
      in.replace(0, 4, "/");
      pop_segment();
    } else if (in == "/..") {
      in = "/";
      pop_segment();
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      std::size_t end = in.find('/', 1);
      if (end == std::string::npos) end = in.size();
      out.append(in, 0, end);
      in.erase(0, end);
    }
  }
  return out;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Percent-encodes `s` byte by byte, keeping unreserved characters and those
// in `also_safe`; a space becomes '+'.
std::string quote_plus(const std::string& s, const char* also_safe) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (is_unreserved(c) || (c != '\0' && std::strchr(also_safe, c) != nullptr)) {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      append_escape(out, static_cast<unsigned char>(c));
    }
  }
  return out;
}

// yarl _quoting.py: _QUERY_PART_QUOTER = _Quoter(safe="?/:@", qs=True,
// requote=False), whose safe set also holds SUB_DELIMS_WITHOUT_QS "!$'()*,".
const char kQueryPartSafe[] = "!$'()*,?/:@";

std::string encode_pairs(const QueryParams& params, const char* also_safe) {
  std::string out;
  for (const auto& kv : params) {
    if (!out.empty()) out += '&';
    out += quote_plus(kv.first, also_safe);
    out += '=';
    out += quote_plus(kv.second, also_safe);
  }
  return out;
}

std::string range_text(const UriTextRangeA& range) {
  if (range.first == nullptr || range.afterLast == nullptr) return std::string();
  return std::string(range.first, range.afterLast);
}

// Owns a UriUriA for its lifetime (uriparser's structs are plain C).
class ParsedUri {
 public:
  ParsedUri() : uri_() {}
  ~ParsedUri() { uriFreeUriMembersA(&uri_); }
  ParsedUri(const ParsedUri&) = delete;
  ParsedUri& operator=(const ParsedUri&) = delete;

  // Parses `text`, which must outlive this object (ranges point into it).
  bool parse(const std::string& text) {
    const char* error_pos = nullptr;
    return uriParseSingleUriExA(&uri_, text.data(), text.data() + text.size(),
                                &error_pos) == URI_SUCCESS;
  }
  UriUriA* get() { return &uri_; }
  const UriUriA& operator*() const { return uri_; }

 private:
  UriUriA uri_;
};

}  // namespace

// Turns a parsed (absolute, possibly resolved) URI into a URL, checking what
// an http(s) URL needs. `original` is the text the caller gave, for errors.
class UrlBuilder {
 public:
  static URL from_uri(const UriUriA& uri, const std::string& original) {
    URL url;
    url.scheme_ = to_lower(range_text(uri.scheme));
    if (url.scheme_.empty()) throw InvalidURL(original, "missing scheme");
    if (url.scheme_ != "http" && url.scheme_ != "https") {
      throw InvalidURL(original, "scheme '" + url.scheme_ + "' is not http or https");
    }
    if (uri.hostData.ipFuture.first != nullptr) {
      throw InvalidURL(original, "IPvFuture hosts are not supported");
    }
    url.host_ = to_lower(range_text(uri.hostText));
    if (url.host_.empty()) throw InvalidURL(original, "missing host");
    // A reg-name may hold escapes (RFC 3986 section 3.2.2), but no DNS name
    // does; a non-ASCII name would need IDNA, which weft does not do.
    if (url.host_.find('%') != std::string::npos) {
      throw InvalidURL(original, "percent-encoded host names are not supported");
    }
    url.ipv6_ = uri.hostData.ip6 != nullptr;
    url.port_ = parse_port(range_text(uri.portText), url.scheme_, original);
    if (uri.userInfo.first != nullptr) {
      url.has_userinfo_ = true;
      url.userinfo_ = range_text(uri.userInfo);
    }
    std::string path;
    for (const UriPathSegmentA* seg = uri.pathHead; seg != nullptr; seg = seg->next) {
      path += '/';
      path += range_text(seg->text);
    }
    url.path_ = remove_dot_segments(path);
    if (url.path_.empty()) url.path_ = "/";
    url.query_ = range_text(uri.query);
    return url;
  }

  static void set_query(URL& url, std::string query) { url.query_ = std::move(query); }

 private:
  // uriparser's grammar admits only digits in a port; an empty port
  // ("http://a:/") means the default, as RFC 3986 section 3.2.3 allows.
  static std::uint16_t parse_port(const std::string& text, const std::string& scheme,
                                  const std::string& original) {
    if (text.empty()) return scheme == "https" ? 443 : 80;
    unsigned long value = 0;
    for (const char c : text) {
      if (!is_digit(c)) throw InvalidURL(original, "invalid port '" + text + "'");
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535) throw InvalidURL(original, "port '" + text + "' is out of range");
    }
    if (value == 0) throw InvalidURL(original, "port 0 is not allowed");
    return static_cast<std::uint16_t>(value);
  }
};

URL URL::parse(const std::string& text) {
  const std::string encoded = encode_disallowed(text);
  ParsedUri uri;
  if (!uri.parse(encoded)) throw InvalidURL(text, "not a valid URL");
  return UrlBuilder::from_uri(*uri, text);
}

URL URL::resolve(const URL& base, const std::string& location) {
  const std::string encoded = encode_disallowed(location);
  ParsedUri reference;
  if (!reference.parse(encoded)) throw InvalidURL(location, "not a valid URL reference");
  const std::string base_text = base.str();
  ParsedUri base_uri;
  if (!base_uri.parse(base_text)) throw InvalidURL(base_text, "base is not a valid URL");
  ParsedUri resolved;
  if (uriAddBaseUriExA(resolved.get(), reference.get(), base_uri.get(),
                       URI_RESOLVE_IDENTICAL_SCHEME_COMPAT) != URI_SUCCESS) {
    throw InvalidURL(location, "cannot be resolved against " + base_text);
  }
  return UrlBuilder::from_uri(*resolved, location);
}

std::string URL::host_bracketed() const {
  return ipv6_ ? "[" + host_ + "]" : host_;
}

bool URL::is_default_port() const noexcept {
  return (scheme_ == "http" && port_ == 80) || (scheme_ == "https" && port_ == 443);
}

std::string URL::user() const {
  return percent_decode(userinfo_.substr(0, userinfo_.find(':')));
}

std::string URL::password() const {
  const std::size_t colon = userinfo_.find(':');
  return colon == std::string::npos ? std::string() : percent_decode(userinfo_.substr(colon + 1));
}

std::string URL::host_header() const {
  if (empty()) return std::string();
  return is_default_port() ? host_bracketed() : host_bracketed() + ":" + std::to_string(port_);
}

std::string URL::request_target() const {
  return query_.empty() ? path_ : path_ + "?" + query_;
}

std::string URL::str() const {
  if (empty()) return std::string();
  return scheme_ + "://" + host_header() + request_target();
}

URL URL::with_query(const QueryParams& params) const {
  URL url(*this);
  UrlBuilder::set_query(url, encode_pairs(params, kQueryPartSafe));
  return url;
}

URL URL::extend_query(const QueryParams& params) const {
  if (params.empty()) return *this;
  URL url(*this);
  const std::string added = encode_pairs(params, kQueryPartSafe);
  UrlBuilder::set_query(url, query_.empty() ? added : query_ + "&" + added);
  return url;
}

bool operator==(const URL& a, const URL& b) {
  return a.port_ == b.port_ && a.ipv6_ == b.ipv6_ && a.has_userinfo_ == b.has_userinfo_ &&
         a.scheme_ == b.scheme_ && a.host_ == b.host_ && a.path_ == b.path_ &&
         a.query_ == b.query_ && a.userinfo_ == b.userinfo_;
}

// urllib.parse.urlencode with quote_plus, whose safe set is only the
// unreserved characters (Python's always_safe).
std::string form_urlencode(const QueryParams& params) {
  return encode_pairs(params, "");
}

}  // namespace http
}  // namespace weft

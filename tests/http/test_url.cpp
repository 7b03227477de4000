// Tests of weft::http::URL: parsing, normalisation, RFC 3986 reference
// resolution (every example of section 5.4) and query encoding. Each case is
// a table row; a failing row names its input.
#include "weft/http/url.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using weft::http::InvalidURL;
using weft::http::Origin;
using weft::http::QueryParams;
using weft::http::URL;

// ---- parsing valid URLs ----------------------------------------------------

struct ValidCase {
  const char* text;
  const char* scheme;
  const char* host;
  std::uint16_t port;
  const char* path;
  const char* query;
  const char* str;
  const char* host_header;
  const char* target;
};

const ValidCase kValid[] = {
    {"http://example.com", "http", "example.com", 80, "/", "", "http://example.com/",
     "example.com", "/"},
    {"https://example.com/", "https", "example.com", 443, "/", "", "https://example.com/",
     "example.com", "/"},
    {"HTTP://Example.COM/Path", "http", "example.com", 80, "/Path", "",
     "http://example.com/Path", "example.com", "/Path"},
    {"http://example.com:8080/a?b=1", "http", "example.com", 8080, "/a", "b=1",
     "http://example.com:8080/a?b=1", "example.com:8080", "/a?b=1"},
    {"http://example.com:80/", "http", "example.com", 80, "/", "", "http://example.com/",
     "example.com", "/"},
    {"https://example.com:443/x", "https", "example.com", 443, "/x", "",
     "https://example.com/x", "example.com", "/x"},
    {"https://example.com:80/x", "https", "example.com", 80, "/x", "",
     "https://example.com:80/x", "example.com:80", "/x"},
    {"http://example.com:/x", "http", "example.com", 80, "/x", "", "http://example.com/x",
     "example.com", "/x"},
    {"http://example.com:65535/", "http", "example.com", 65535, "/", "",
     "http://example.com:65535/", "example.com:65535", "/"},
    {"http://127.0.0.1:8000/x", "http", "127.0.0.1", 8000, "/x", "",
     "http://127.0.0.1:8000/x", "127.0.0.1:8000", "/x"},
    {"http://[::1]/", "http", "::1", 80, "/", "", "http://[::1]/", "[::1]", "/"},
    {"http://[2001:DB8::1]:8443/p", "http", "2001:db8::1", 8443, "/p", "",
     "http://[2001:db8::1]:8443/p", "[2001:db8::1]:8443", "/p"},
    {"http://a/a/b/c/./../../g", "http", "a", 80, "/a/g", "", "http://a/a/g", "a", "/a/g"},
    {"http://a/b/../..", "http", "a", 80, "/", "", "http://a/", "a", "/"},
    {"http://a/b//c/", "http", "a", 80, "/b//c/", "", "http://a/b//c/", "a", "/b//c/"},
    {"http://a/x#frag", "http", "a", 80, "/x", "", "http://a/x", "a", "/x"},
    {"http://a/x?#frag", "http", "a", 80, "/x", "", "http://a/x", "a", "/x"},
    {"http://a?q", "http", "a", 80, "/", "q", "http://a/?q", "a", "/?q"},
    {"http://a/a b", "http", "a", 80, "/a%20b", "", "http://a/a%20b", "a", "/a%20b"},
    {"http://a/%7Euser/%2f", "http", "a", 80, "/%7Euser/%2f", "", "http://a/%7Euser/%2f", "a",
     "/%7Euser/%2f"},
    {"http://a/100%", "http", "a", 80, "/100%25", "", "http://a/100%25", "a", "/100%25"},
    {"http://a/%zz", "http", "a", 80, "/%25zz", "", "http://a/%25zz", "a", "/%25zz"},
    {"http://a/caf\xc3\xa9", "http", "a", 80, "/caf%C3%A9", "", "http://a/caf%C3%A9", "a",
     "/caf%C3%A9"},
    {"http://a/<x>\"{|}\\^`[]", "http", "a", 80, "/%3Cx%3E%22%7B%7C%7D%5C%5E%60%5B%5D", "",
     "http://a/%3Cx%3E%22%7B%7C%7D%5C%5E%60%5B%5D", "a",
     "/%3Cx%3E%22%7B%7C%7D%5C%5E%60%5B%5D"},
    {"http://a/p?q=a b&r=/?:@", "http", "a", 80, "/p", "q=a%20b&r=/?:@",
     "http://a/p?q=a%20b&r=/?:@", "a", "/p?q=a%20b&r=/?:@"},
    {"http://a/;p=1,2!$'()*+&=:@~", "http", "a", 80, "/;p=1,2!$'()*+&=:@~", "",
     "http://a/;p=1,2!$'()*+&=:@~", "a", "/;p=1,2!$'()*+&=:@~"},
    {"http://a/x#f#g", "http", "a", 80, "/x", "", "http://a/x", "a", "/x"},
    {"http://user:pw@a/", "http", "a", 80, "/", "", "http://a/", "a", "/"},
    {"http://a.com./", "http", "a.com.", 80, "/", "", "http://a.com./", "a.com.", "/"},
    {"http://[::FFFF:1.2.3.4]/", "http", "::ffff:1.2.3.4", 80, "/", "",
     "http://[::ffff:1.2.3.4]/", "[::ffff:1.2.3.4]", "/"},
    {"http://a/b?c d#e f", "http", "a", 80, "/b", "c%20d", "http://a/b?c%20d", "a", "/b?c%20d"},
};

TEST(URL, ParsesValidURLs) {
  for (const ValidCase& c : kValid) {
    SCOPED_TRACE(c.text);
    const URL url = URL::parse(c.text);
    EXPECT_FALSE(url.empty());
    EXPECT_EQ(c.scheme, url.scheme());
    EXPECT_EQ(c.host, url.host());
    EXPECT_EQ(c.port, url.port());
    EXPECT_EQ(c.path, url.path());
    EXPECT_EQ(c.query, url.query());
    EXPECT_EQ(c.str, url.str());
    EXPECT_EQ(c.host_header, url.host_header());
    EXPECT_EQ(c.target, url.request_target());
    // A URL's str() parses back to an equal URL (userinfo aside).
    if (!url.has_userinfo()) {
      EXPECT_EQ(url, URL::parse(url.str()));
    }
  }
}

TEST(URL, IPv6HostIsStoredWithoutBrackets) {
  const URL url = URL::parse("https://[fe80::1]:8443/");
  EXPECT_TRUE(url.is_ipv6());
  EXPECT_EQ("fe80::1", url.host());
  EXPECT_EQ("[fe80::1]", url.host_bracketed());
  EXPECT_FALSE(URL::parse("http://10.0.0.1/").is_ipv6());
  EXPECT_EQ("10.0.0.1", URL::parse("http://10.0.0.1/").host_bracketed());
}

TEST(URL, UserinfoIsKeptDecodedAndNeverPrinted) {
  const URL url = URL::parse("http://us%40er:p%3Aw:x@a:81/");
  EXPECT_TRUE(url.has_userinfo());
  EXPECT_EQ("us@er", url.user());
  EXPECT_EQ("p:w:x", url.password());
  EXPECT_EQ("http://a:81/", url.str());
  EXPECT_NE(url, URL::parse("http://a:81/"));
  const URL user_only = URL::parse("http://bob@a/");
  EXPECT_EQ("bob", user_only.user());
  EXPECT_EQ("", user_only.password());
  EXPECT_FALSE(URL::parse("http://a/").has_userinfo());
}

TEST(URL, EqualityFollowsNormalisation) {
  EXPECT_EQ(URL::parse("HTTP://A:80/x/../"), URL::parse("http://a/"));
  EXPECT_EQ(URL::parse("https://a:443"), URL::parse("https://a/"));
  EXPECT_NE(URL::parse("http://a/"), URL::parse("https://a/"));
  EXPECT_NE(URL::parse("http://a/"), URL::parse("http://a:8080/"));
  EXPECT_NE(URL::parse("http://a/x"), URL::parse("http://a/x?"
                                                 "y"));
  EXPECT_NE(URL::parse("http://a/%41"), URL::parse("http://a/A"));
  EXPECT_EQ(URL(), URL());
  EXPECT_NE(URL(), URL::parse("http://a/"));
}

TEST(URL, DefaultConstructedIsEmpty) {
  const URL url;
  EXPECT_TRUE(url.empty());
  EXPECT_EQ("", url.str());
  EXPECT_EQ("", url.host_header());
  EXPECT_EQ(0, url.port());
}

TEST(URL, OriginComparesSchemeHostPort) {
  const Origin a = URL::parse("http://a/x").origin();
  EXPECT_EQ(a, URL::parse("HTTP://A:80/y?z").origin());
  EXPECT_NE(a, URL::parse("https://a/x").origin());
  EXPECT_NE(a, URL::parse("http://b/x").origin());
  EXPECT_NE(a, URL::parse("http://a:81/x").origin());
  EXPECT_TRUE(a < URL::parse("http://a:81/").origin());
  EXPECT_TRUE(a < URL::parse("https://a/").origin());
  EXPECT_FALSE(a < a);
}

// ---- invalid URLs ----------------------------------------------------------

struct InvalidCase {
  const char* text;
  const char* reason;  // a substring of the description
};

const InvalidCase kInvalid[] = {
    {"", "missing scheme"},
    {"example.com/x", "missing scheme"},
    {"/just/a/path", "missing scheme"},
    {"//example.com/x", "missing scheme"},
    {"ftp://example.com/x", "is not http or https"},
    {"file:///etc/passwd", "is not http or https"},
    {"mailto:someone@example.com", "is not http or https"},
    {"javascript:alert(1)", "is not http or https"},
    {"http:", "missing host"},
    {"http:/x", "missing host"},
    {"http://", "missing host"},
    {"http:///x", "missing host"},
    {"http://:80/x", "missing host"},
    {"http://a:b/", "not a valid URL"},
    {"http://a:-1/", "not a valid URL"},
    {"http://a:65536/", "out of range"},
    {"http://a:99999999999999999999/", "out of range"},
    {"http://a:0/", "port 0"},
    {"http://exa mple.com/", "not a valid URL"},
    {"http://ex\xc3\xa4mple.com/", "not a valid URL"},
    {"http://%65xample.com/", "percent-encoded host"},
    {"http://[::1/", "not a valid URL"},
    {"http://[v1.fe]/", "IPvFuture"},
    {"http://[::g]/", "not a valid URL"},
    {"http://a b@c/", "not a valid URL"},
    {"ht tp://a/", "not a valid URL"},
    {"1http://a/", "not a valid URL"},
};

TEST(URL, RejectsInvalidURLsNamingTheText) {
  for (const InvalidCase& c : kInvalid) {
    const std::string text = c.text;
    SCOPED_TRACE(text);
    try {
      URL::parse(text);
      ADD_FAILURE() << "parsed";
    } catch (const InvalidURL& e) {
      EXPECT_EQ(text, e.url());
      const std::string what = e.what();
      EXPECT_EQ(0u, what.find("Invalid URL '" + text + "': ")) << what;
      EXPECT_NE(std::string::npos, what.find(c.reason)) << what;
    }
  }
}

TEST(URL, InvalidURLIsAClientErrorAndRuntimeError) {
  EXPECT_THROW(URL::parse("ftp://a/"), weft::http::ClientError);
  EXPECT_THROW(URL::parse("ftp://a/"), std::runtime_error);
}

// ---- RFC 3986 section 5.4 --------------------------------------------------

// Expected is the RFC's result with the fragment removed (a URL never keeps
// one), or null when the result is not an http(s) URL (InvalidURL).
struct ResolveCase {
  const char* reference;
  const char* expected;
};

const ResolveCase kRfcNormal[] = {  // section 5.4.1
    {"g:h", nullptr},
    {"g", "http://a/b/c/g"},
    {"./g", "http://a/b/c/g"},
    {"g/", "http://a/b/c/g/"},
    {"/g", "http://a/g"},
    {"//g", "http://g/"},
    {"?y", "http://a/b/c/d;p?y"},
    {"g?y", "http://a/b/c/g?y"},
    {"#s", "http://a/b/c/d;p?q"},
    {"g#s", "http://a/b/c/g"},
    {"g?y#s", "http://a/b/c/g?y"},
    {";x", "http://a/b/c/;x"},
    {"g;x", "http://a/b/c/g;x"},
    {"g;x?y#s", "http://a/b/c/g;x?y"},
    {"", "http://a/b/c/d;p?q"},
    {".", "http://a/b/c/"},
    {"./", "http://a/b/c/"},
    {"..", "http://a/b/"},
    {"../", "http://a/b/"},
    {"../g", "http://a/b/g"},
    {"../..", "http://a/"},
    {"../../", "http://a/"},
    {"../../g", "http://a/g"},
};

const ResolveCase kRfcAbnormal[] = {  // section 5.4.2
    {"../../../g", "http://a/g"},
    {"../../../../g", "http://a/g"},
    {"/./g", "http://a/g"},
    {"/../g", "http://a/g"},
    {"g.", "http://a/b/c/g."},
    {".g", "http://a/b/c/.g"},
    {"g..", "http://a/b/c/g.."},
    {"..g", "http://a/b/c/..g"},
    {"./../g", "http://a/b/g"},
    {"./g/.", "http://a/b/c/g/"},
    {"g/./h", "http://a/b/c/g/h"},
    {"g/../h", "http://a/b/c/h"},
    {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
    {"g;x=1/../y", "http://a/b/c/y"},
    {"g?y/./x", "http://a/b/c/g?y/./x"},
    {"g?y/../x", "http://a/b/c/g?y/../x"},
    {"g#s/./x", "http://a/b/c/g"},
    {"g#s/../x", "http://a/b/c/g"},
    // The backward-compatible reading (see URL::resolve); the strict one
    // gives "http:g", which has no host.
    {"http:g", "http://a/b/c/g"},
};

void check_resolution(const URL& base, const ResolveCase& c) {
  SCOPED_TRACE(c.reference);
  if (c.expected == nullptr) {
    try {
      URL::resolve(base, c.reference);
      ADD_FAILURE() << "resolved";
    } catch (const InvalidURL& e) {
      EXPECT_EQ(c.reference, e.url());
    }
    return;
  }
  const URL url = URL::resolve(base, c.reference);
  EXPECT_EQ(c.expected, url.str());
  EXPECT_EQ(URL::parse(c.expected), url);
}

TEST(URLResolve, Rfc3986NormalExamples) {
  const URL base = URL::parse("http://a/b/c/d;p?q");
  ASSERT_EQ("http://a/b/c/d;p?q", base.str());
  for (const ResolveCase& c : kRfcNormal) check_resolution(base, c);
}

TEST(URLResolve, Rfc3986AbnormalExamples) {
  const URL base = URL::parse("http://a/b/c/d;p?q");
  for (const ResolveCase& c : kRfcAbnormal) check_resolution(base, c);
}

const ResolveCase kLocations[] = {
    {"//other/x", "https://other/x"},
    {"//other:8443", "https://other:8443/"},
    {"http://other/y", "http://other/y"},
    {"HTTPS://Other/Z", "https://other/Z"},
    {"/new path?a b", "https://h:8443/new%20path?a%20b"},
    {"caf\xc3\xa9", "https://h:8443/dir/caf%C3%A9"},
    {"%7E/../x", "https://h:8443/dir/x"},
    {"?", "https://h:8443/dir/file"},
    {"ftp://h/x", nullptr},
    {"mailto:a@b", nullptr},
    {"data:text/plain,x", nullptr},
    {"http://", nullptr},
    {"http://h:70000/", nullptr},
    {"//bad host/", nullptr},
};

TEST(URLResolve, LocationHeaders) {
  const URL base = URL::parse("https://h:8443/dir/file?old");
  for (const ResolveCase& c : kLocations) check_resolution(base, c);
}

TEST(URLResolve, NeverInheritsUserinfo) {
  const URL base = URL::parse("http://u:p@a/b/c");
  const URL url = URL::resolve(base, "d");
  EXPECT_FALSE(url.has_userinfo());
  EXPECT_EQ("http://a/b/d", url.str());
  EXPECT_TRUE(URL::resolve(base, "//v:w@b/").has_userinfo());
}

// ---- query encoding --------------------------------------------------------

struct QueryCase {
  QueryParams params;
  const char* query;  // as yarl's with_query encodes it
  const char* form;   // as urllib.parse.urlencode encodes it
};

const std::vector<QueryCase>& query_cases() {
  static const std::vector<QueryCase> cases = {
      {{}, "", ""},
      {{{"a", "1"}}, "a=1", "a=1"},
      {{{"a", "1"}, {"a", "2"}, {"b", ""}}, "a=1&a=2&b=", "a=1&a=2&b="},
      {{{"q", "a b"}}, "q=a+b", "q=a+b"},
      {{{"q", "a&b=c"}}, "q=a%26b%3Dc", "q=a%26b%3Dc"},
      {{{"q", "1+1"}}, "q=1%2B1", "q=1%2B1"},
      {{{"k y", "v;#%"}}, "k+y=v%3B%23%25", "k+y=v%3B%23%25"},
      {{{"path", "/a/b?c:d@e"}}, "path=/a/b?c:d@e", "path=%2Fa%2Fb%3Fc%3Ad%40e"},
      {{{"s", "!$'()*,"}}, "s=!$'()*,", "s=%21%24%27%28%29%2A%2C"},
      {{{"u", "-._~AZaz09"}}, "u=-._~AZaz09", "u=-._~AZaz09"},
      {{{"caf\xc3\xa9", "\xe2\x82\xac"}}, "caf%C3%A9=%E2%82%AC", "caf%C3%A9=%E2%82%AC"},
      {{{"ctl", std::string("\x01\n\x7f", 3)}}, "ctl=%01%0A%7F", "ctl=%01%0A%7F"},
      {{{"nul", std::string("a\0b", 3)}}, "nul=a%00b", "nul=a%00b"},
      {{{"x", "[]{}|\\^`\"<>"}}, "x=%5B%5D%7B%7D%7C%5C%5E%60%22%3C%3E",
       "x=%5B%5D%7B%7D%7C%5C%5E%60%22%3C%3E"},
  };
  return cases;
}

TEST(URLQuery, WithQueryReplacesAndEncodes) {
  const URL base = URL::parse("http://a/p?old=1");
  for (const QueryCase& c : query_cases()) {
    SCOPED_TRACE(c.query);
    const URL url = base.with_query(c.params);
    EXPECT_EQ(c.query, url.query());
    EXPECT_EQ(std::string("http://a/p") + (*c.query ? "?" : "") + c.query, url.str());
    // The encoded query survives a round trip through the parser unchanged.
    EXPECT_EQ(url, URL::parse(url.str()));
  }
  EXPECT_EQ("old=1", base.query());
}

TEST(URLQuery, ExtendQueryAppends) {
  const URL base = URL::parse("http://a/p?old=1");
  EXPECT_EQ("old=1&q=a+b&r=%26", base.extend_query({{"q", "a b"}, {"r", "&"}}).query());
  EXPECT_EQ("old=1", base.extend_query({}).query());
  EXPECT_EQ("/p?x=1", URL::parse("http://a/p").extend_query({{"x", "1"}}).request_target());
}

TEST(URLQuery, FormUrlencode) {
  for (const QueryCase& c : query_cases()) {
    SCOPED_TRACE(c.form);
    EXPECT_EQ(c.form, weft::http::form_urlencode(c.params));
  }
}

TEST(URLQuery, FormUrlencodeKeepsOnlyUnreservedBytes) {
  const std::string marks = "-._~";
  std::size_t kept = 0;
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string value(1, c);
    const std::string encoded = weft::http::form_urlencode({{"k", value}});
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || (c != '\0' && marks.find(c) != std::string::npos)) {
      EXPECT_EQ("k=" + value, encoded) << b;
      ++kept;
    } else if (c == ' ') {
      EXPECT_EQ("k=+", encoded);
    } else {
      EXPECT_EQ(5u, encoded.size()) << b;
      EXPECT_EQ('%', encoded[2]) << b;
    }
  }
  EXPECT_EQ(66u, kept);  // 62 alphanumerics and "-._~"
}

TEST(URLQuery, WithQueryKeepsYarlsSafeSet) {
  const std::string marks = "-._~!$'()*,?/:@";
  const URL base = URL::parse("http://a/");
  std::size_t kept = 0;
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string value(1, c);
    const std::string query = base.with_query({{"k", value}}).query();
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || (c != '\0' && marks.find(c) != std::string::npos)) {
      EXPECT_EQ("k=" + value, query) << b;
      ++kept;
    } else if (c == ' ') {
      EXPECT_EQ("k=+", query);
    } else {
      EXPECT_EQ(5u, query.size()) << b;
      EXPECT_EQ('%', query[2]) << b;
    }
  }
  EXPECT_EQ(77u, kept);  // 62 alphanumerics and the 15 marks
}

}  // namespace

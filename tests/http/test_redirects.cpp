// Tests of the redirect rules (weft/http/redirects.hpp): the whole
// status × method × origin matrix, the Location cases that end a chain, and
// the max_redirects counting of RedirectPolicy.
#include "weft/http/redirects.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using weft::http::InvalidURL;
using weft::http::RedirectPolicy;
using weft::http::RedirectStep;
using weft::http::TooManyRedirects;
using weft::http::URL;

struct MethodCase {
  int status;
  const char* method;
  const char* next_method;
  bool body_kept;  // when the request had a body
};

// aiohttp client.py's rule, written out row by row rather than recomputed.
const MethodCase kMatrix[] = {
    {301, "GET", "GET", true},       {301, "HEAD", "HEAD", true},
    {301, "POST", "GET", false},     {301, "PUT", "PUT", true},
    {301, "DELETE", "DELETE", true}, {302, "GET", "GET", true},
    {302, "HEAD", "HEAD", true},     {302, "POST", "GET", false},
    {302, "PUT", "PUT", true},       {302, "DELETE", "DELETE", true},
    {303, "GET", "GET", false},      {303, "HEAD", "HEAD", true},
    {303, "POST", "GET", false},     {303, "PUT", "GET", false},
    {303, "DELETE", "GET", false},   {307, "GET", "GET", true},
    {307, "HEAD", "HEAD", true},     {307, "POST", "POST", true},
    {307, "PUT", "PUT", true},       {307, "DELETE", "DELETE", true},
    {308, "GET", "GET", true},       {308, "HEAD", "HEAD", true},
    {308, "POST", "POST", true},     {308, "PUT", "PUT", true},
    {308, "DELETE", "DELETE", true},
};

struct OriginCase {
  const char* location;
  const char* next_url;
  bool cross_origin;
};

// Relative to "http://h/a/b".
const OriginCase kOrigins[] = {
    {"/c", "http://h/c", false},
    {"c?d", "http://h/a/c?d", false},
    {"HTTP://H:80/x", "http://h/x", false},
    {"//h/y", "http://h/y", false},
    {"http://other/", "http://other/", true},
    {"https://h/a/b", "https://h/a/b", true},
    {"http://h:8080/a/b", "http://h:8080/a/b", true},
    {"//sub.h/", "http://sub.h/", true},
};

TEST(Redirects, StatusMethodOriginMatrix) {
  const URL current = URL::parse("http://h/a/b");
  int rows = 0;
  for (const MethodCase& m : kMatrix) {
    for (const OriginCase& o : kOrigins) {
      for (const bool has_body : {true, false}) {
        SCOPED_TRACE(std::to_string(m.status) + " " + m.method + " " + o.location +
                     (has_body ? " with body" : " without body"));
        RedirectPolicy policy;
        RedirectStep step;
        const std::string location = o.location;
        ASSERT_TRUE(policy.next(m.method, has_body, m.status, current, &location, step));
        EXPECT_EQ(m.next_method, step.method);
        EXPECT_EQ(has_body && m.body_kept, step.has_body);
        EXPECT_EQ(o.next_url, step.url.str());
        EXPECT_EQ(o.cross_origin, step.drop_credentials);
        EXPECT_EQ(1u, policy.followed());
        ++rows;
      }
    }
  }
  EXPECT_EQ(5 * 5 * 8 * 2, rows);
}

TEST(Redirects, RedirectStepIsThePureRule) {
  const URL a = URL::parse("https://h/x");
  const URL b = URL::parse("https://h:444/x");
  const RedirectStep step = weft::http::redirect_step("POST", true, 302, a, b);
  EXPECT_EQ("GET", step.method);
  EXPECT_FALSE(step.has_body);
  EXPECT_TRUE(step.drop_credentials);
  EXPECT_EQ(b, step.url);
  // Methods are case-sensitive (RFC 9110 section 9.1), as aiohttp compares
  // them: a lower-case "post" is not rewritten.
  EXPECT_EQ("post", weft::http::redirect_step("post", true, 302, a, a).method);
}

TEST(Redirects, OnlyFiveStatusesAreRedirects) {
  std::vector<int> redirects;
  for (int status = 100; status < 600; ++status) {
    if (weft::http::is_redirect_status(status)) redirects.push_back(status);
  }
  EXPECT_EQ((std::vector<int>{301, 302, 303, 307, 308}), redirects);
}

TEST(Redirects, OtherStatusesAreFinal) {
  const URL current = URL::parse("http://h/");
  const std::string location = "/elsewhere";
  for (const int status : {200, 201, 204, 300, 304, 305, 306, 309, 399, 404, 500}) {
    SCOPED_TRACE(status);
    RedirectPolicy policy;
    RedirectStep step;
    EXPECT_FALSE(policy.next("GET", false, status, current, &location, step));
    EXPECT_EQ(0u, policy.followed());
    EXPECT_TRUE(step.url.empty());
  }
}

TEST(Redirects, RedirectWithoutLocationIsFinal) {
  const URL current = URL::parse("http://h/");
  for (const int status : {301, 302, 303, 307, 308}) {
    RedirectPolicy policy(0);  // not even counted: no TooManyRedirects
    RedirectStep step;
    EXPECT_FALSE(policy.next("POST", true, status, current, nullptr, step));
    EXPECT_EQ(0u, policy.followed());
  }
}

TEST(Redirects, NonHttpLocationIsInvalidURL) {
  const URL current = URL::parse("http://h/");
  for (const char* text : {"ftp://h/x", "mailto:a@b", "file:///etc/passwd", "http://"}) {
    SCOPED_TRACE(text);
    RedirectPolicy policy;
    RedirectStep step;
    const std::string location = text;
    try {
      policy.next("GET", false, 302, current, &location, step);
      ADD_FAILURE() << "followed";
    } catch (const InvalidURL& e) {
      EXPECT_EQ(location, e.url());
    }
    EXPECT_EQ(0u, policy.followed());
  }
}

// Follows a chain of 302s and returns how many were followed before
// TooManyRedirects, or -1 if the chain of `hops` ended without one.
int follow_chain(RedirectPolicy& policy, int hops) {
  URL current = URL::parse("http://h/0");
  for (int i = 1; i <= hops; ++i) {
    const std::string location = "/" + std::to_string(i);
    RedirectStep step;
    try {
      if (!policy.next("GET", false, 302, current, &location, step)) return -2;
    } catch (const TooManyRedirects& e) {
      EXPECT_EQ(current.str(), e.url());
      EXPECT_EQ(302, e.status());
      return i - 1;
    }
    EXPECT_EQ("http://h/" + std::to_string(i), step.url.str());
    current = step.url;
  }
  return -1;
}

TEST(Redirects, MaxRedirectsCounting) {
  struct Case {
    unsigned max_redirects;
    int hops;
    int expected;  // redirects followed before TooManyRedirects, or -1
  };
  const Case cases[] = {
      {0, 1, 0},   {0, 5, 0},   {1, 1, -1},  {1, 2, 1},
      {3, 3, -1},  {3, 4, 3},   {3, 10, 3},  {10, 10, -1},
      {10, 11, 10}, {10, 30, 10},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.max_redirects) + " " + std::to_string(c.hops));
    RedirectPolicy policy(c.max_redirects);
    EXPECT_EQ(c.expected, follow_chain(policy, c.hops));
    EXPECT_EQ(c.expected < 0 ? static_cast<unsigned>(c.hops) : static_cast<unsigned>(c.expected),
              policy.followed());
    EXPECT_LE(policy.followed(), policy.max_redirects());
  }
}

TEST(Redirects, DefaultMaxRedirectsIsTen) {
  RedirectPolicy policy;
  EXPECT_EQ(10u, policy.max_redirects());
  EXPECT_EQ(10, follow_chain(policy, 11));
}

TEST(Redirects, TooManyRedirectsIsAClientResponseError) {
  RedirectPolicy policy(0);
  RedirectStep step;
  const std::string location = "/x";
  const URL current = URL::parse("http://h:81/y");
  try {
    policy.next("GET", false, 301, current, &location, step);
    ADD_FAILURE() << "followed";
  } catch (const weft::http::ClientResponseError& e) {
    EXPECT_NE(nullptr, dynamic_cast<const TooManyRedirects*>(&e));
    EXPECT_EQ(301, e.status());
    EXPECT_EQ("http://h:81/y", e.url());
    EXPECT_NE(std::string::npos, std::string(e.what()).find("max_redirects=0"));
  }
}

TEST(Redirects, BadLocationAtTheLimitIsInvalidURL) {
  RedirectPolicy policy(0);
  RedirectStep step;
  const std::string location = "ftp://h/";
  EXPECT_THROW(policy.next("GET", false, 302, URL::parse("http://h/"), &location, step),
               InvalidURL);
}

}  // namespace

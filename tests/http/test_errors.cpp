// Tests of weft/http/errors.hpp: aiohttp's exception hierarchy (aiohttp
// client_exceptions.py) and the messages, which name the URL when known.
#include "weft/http/errors.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace weft::http;

bool contains(const std::exception& e, const std::string& fragment) {
  return std::string(e.what()).find(fragment) != std::string::npos;
}

TEST(HttpErrors, EveryErrorIsAClientErrorAndARuntimeError) {
  const ClientError* errors[] = {
      new ClientOSError(104, "Connection reset by peer", "http://h/"),
      new ClientConnectorError("h", 80, 111, "Connection refused", "http://h/"),
      new ClientConnectorCertificateError("h", 443, 0, "certificate has expired", "https://h/"),
      new ServerDisconnectedError("no response", "http://h/"),
      new ClientPayloadError("Response payload is not completed", "http://h/"),
      new ResponseParseError("HPE_INVALID_STATUS", "Invalid status code", 9, "http://h/"),
      new ClientResponseError(404, "Not Found", "http://h/"),
      new TooManyRedirects(302, 10, "http://h/"),
      new InvalidURL("ftp://h/", "scheme 'ftp' is not http or https"),
  };
  for (const ClientError* e : errors) {
    EXPECT_NE(nullptr, dynamic_cast<const std::runtime_error*>(e));
    EXPECT_TRUE(contains(*e, "h/")) << e->what();
    EXPECT_FALSE(e->url().empty());
    delete e;
  }
}

// As in aiohttp: ClientConnectorError is a ClientOSError, and
// TooManyRedirects a ClientResponseError.
TEST(HttpErrors, HierarchyFollowsAiohttp) {
  try {
    throw ClientConnectorCertificateError("h", 443, 0, "certificate has expired", "https://h/");
  } catch (const ClientOSError& e) {
    EXPECT_NE(nullptr, dynamic_cast<const ClientConnectorError*>(&e));
    EXPECT_EQ("Cannot connect to host h:443: certificate has expired (https://h/)",
              std::string(e.what()));
  }
  try {
    throw TooManyRedirects(301, 0, "http://h/");
  } catch (const ClientResponseError& e) {
    EXPECT_EQ(301, e.status());
    EXPECT_TRUE(contains(e, "max_redirects=0"));
  }
}

TEST(HttpErrors, ResponseParseErrorCarriesCodeReasonAndOffset) {
  ResponseParseError e("HEADER_LINE_TOO_LONG", "header line longer than 8190 bytes", 8207,
                       "http://h/x");
  EXPECT_EQ("HEADER_LINE_TOO_LONG", e.code());
  EXPECT_EQ("header line longer than 8190 bytes", e.reason());
  EXPECT_EQ(8207u, e.offset());
  EXPECT_EQ("http://h/x", e.url());
  EXPECT_EQ(
      "Invalid HTTP response at byte 8207: HEADER_LINE_TOO_LONG: header line longer than 8190 "
      "bytes (http://h/x)",
      std::string(e.what()));
}

TEST(HttpErrors, UnknownUrlIsLeftOut) {
  ServerDisconnectedError e("no response", "");
  EXPECT_EQ("Server disconnected: no response", std::string(e.what()));
  EXPECT_EQ("", e.url());
}

}  // namespace

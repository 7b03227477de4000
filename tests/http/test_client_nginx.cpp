// End-to-end tests of weft::http::ClientSession against a real nginx
// (nginx_server.hpp: Debian's nginx-light, a declared test dependency,
// started once for the suite on a free port of 127.0.0.1): plain files,
// keep-alive reuse, a thousand concurrent requests through one session, a
// large body streamed in bounded pieces, gzip, and a 404.
#include "weft/http/client.hpp"
#include "weft/http/json.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/http/nginx_server.hpp"
#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/waiting.hpp"

#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

namespace {

using weft::http::ClientResponseError;
using weft::http::ClientSession;
using weft::http::RequestOptions;
using weft::http::Response;
using weft::http::SessionOptions;

class ClientNginx : public weft_test::FdLeakCheck {
 protected:
  // nginx is started once for the suite; if it cannot start, every test
  // fails with the reason (nginx-light is a dependency: no skipping).
  static void SetUpTestSuite() {
    try {
      nginx_.reset(new weft_test::NginxServer());
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  static void TearDownTestSuite() { nginx_.reset(); }

  void SetUp() override {
    FdLeakCheck::SetUp();
    ASSERT_TRUE(nginx_ != nullptr) << "cannot start nginx: " << error_;
    ASSERT_TRUE(weft_test::raise_nofile_limit());
  }

  static weft_test::NginxServer& nginx() { return *nginx_; }

 private:
  static std::unique_ptr<weft_test::NginxServer> nginx_;
  static std::string error_;
};

std::unique_ptr<weft_test::NginxServer> ClientNginx::nginx_;
std::string ClientNginx::error_;

RequestOptions identity() {
  RequestOptions options;
  options.headers.set("Accept-Encoding", "identity");
  return options;
}

TEST_F(ClientNginx, SmallFile) {
  weft::run([] {
    ClientSession session;
    Response response = session.get(nginx().url("/small.txt"), identity());
    EXPECT_EQ(200, response.status());
    EXPECT_EQ("OK", response.reason());
    EXPECT_EQ("text/plain", response.content_type());
    const std::string& expected = nginx().content("small.txt");
    EXPECT_EQ(std::to_string(expected.size()), response.headers().get("Content-Length"));
    EXPECT_TRUE(response.headers().get("Server").find("nginx") == 0) << response.headers().get("Server");
    EXPECT_EQ(expected, response.read());
  });
}

TEST_F(ClientNginx, Json) {
  weft::run([] {
    ClientSession session;
    Response response = session.get(nginx().url("/data.json"));
    EXPECT_EQ("application/json", response.content_type());
    const nlohmann::json value = response.json();
    EXPECT_EQ("weft", value["name"].get<std::string>());
    EXPECT_EQ(3u, value["values"].size());
    EXPECT_TRUE(value["nested"]["ok"].get<bool>());
  });
}

TEST_F(ClientNginx, KeepAliveReusesOneConnection) {
  weft::run([] {
    ClientSession session;
    const std::string& expected = nginx().content("small.txt");
    for (int i = 0; i < 100; ++i) {
      Response response = session.get(nginx().url("/small.txt"));
      ASSERT_EQ(200, response.status());
      ASSERT_EQ(expected, response.read());
    }
    EXPECT_EQ(1u, session.connections_idle());
    EXPECT_EQ(0u, session.connections_in_use());
  });
}

TEST_F(ClientNginx, ThousandConcurrentGetsThroughOneSession) {
  const int n = RUNNING_ON_VALGRIND ? 200 : nginx().file_count();
  weft::run([n] {
    SessionOptions options;
    options.connector.limit = 100;
    ClientSession session(options);
    std::vector<weft::Task<std::string>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const std::string url = nginx().url("/f/" + std::to_string(i) + ".txt");
      tasks.push_back(weft::create_task([&session, url] {
        Response response = session.get(url);
        response.raise_for_status();
        return response.read();
      }));
    }
    const std::vector<std::string> bodies = weft::gather(tasks);
    ASSERT_EQ(static_cast<std::size_t>(n), bodies.size());
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
      const std::string& body = bodies[static_cast<std::size_t>(i)];
      const std::string& expected = nginx().content("f/" + std::to_string(i) + ".txt");
      if (body != expected) {
        if (++wrong <= 5) ADD_FAILURE() << "f/" << i << ".txt: got \"" << body.substr(0, 40) << "\"";
      }
      EXPECT_EQ(std::to_string(i) + " ", body.substr(0, std::to_string(i).size() + 1));
    }
    EXPECT_EQ(0, wrong);
    EXPECT_EQ(0u, session.connections_in_use());
    EXPECT_LE(session.connections_idle(), 100u);
    EXPECT_GE(session.connections_idle(), 1u);
  });
}

TEST_F(ClientNginx, LargeBodyStreamedInBoundedPieces) {
  weft::run([] {
    ClientSession session;
    const std::string& expected = nginx().content("large.bin");
    Response response = session.get(nginx().url("/large.bin"));
    EXPECT_EQ(200, response.status());
    EXPECT_EQ(std::to_string(expected.size()), response.headers().get("Content-Length"));
    EXPECT_FALSE(response.headers().contains("Content-Encoding"));
    std::size_t total = 0;
    std::size_t mismatches = 0;
    std::uint64_t hash = weft_test::NginxServer::fnv1a("");
    for (;;) {
      const std::string piece = response.content().read(65536);
      ASSERT_LE(piece.size(), 65536u);
      if (piece.empty()) break;
      if (expected.compare(total, piece.size(), piece) != 0) ++mismatches;
      hash = weft_test::NginxServer::fnv1a(piece, hash);
      total += piece.size();
    }
    EXPECT_EQ(expected.size(), total);
    EXPECT_EQ(0u, mismatches);
    EXPECT_EQ(weft_test::NginxServer::fnv1a(expected), hash);
    EXPECT_TRUE(response.content().at_eof());
    // Read to the end: the connection went back to the pool.
    response.release();
    EXPECT_EQ(1u, session.connections_idle());
  });
}

TEST_F(ClientNginx, GzipIsDecoded) {
  weft::run([] {
    ClientSession session;
    const std::string& expected = nginx().content("text.txt");
    Response response = session.get(nginx().url("/text.txt"));
    EXPECT_EQ(200, response.status());
    EXPECT_EQ("gzip", response.headers().get("Content-Encoding"));
    // nginx compresses on the fly: no Content-Length, a chunked body.
    EXPECT_FALSE(response.headers().contains("Content-Length"));
    const std::string body = response.read();
    EXPECT_EQ(expected.size(), body.size());
    EXPECT_TRUE(body == expected);
  });
}

TEST_F(ClientNginx, GzipOffWithAutoDecompressFalse) {
  weft::run([] {
    SessionOptions options;
    options.auto_decompress = false;
    ClientSession session(options);
    const std::string& expected = nginx().content("text.txt");
    Response response = session.get(nginx().url("/text.txt"));
    EXPECT_EQ("gzip", response.headers().get("Content-Encoding"));
    const std::string body = response.read();
    EXPECT_LT(body.size(), expected.size() / 4);  // still compressed
    ASSERT_GE(body.size(), 2u);
    EXPECT_EQ('\x1f', body[0]);
    EXPECT_EQ('\x8b', body[1]);
  });
}

TEST_F(ClientNginx, MissingFileIs404) {
  weft::run([] {
    ClientSession session;
    Response response = session.get(nginx().url("/no/such/file.txt"));
    EXPECT_EQ(404, response.status());
    EXPECT_FALSE(response.ok());
    try {
      response.raise_for_status();
      ADD_FAILURE() << "no exception";
    } catch (const ClientResponseError& e) {
      EXPECT_EQ(404, e.status());
    }
    EXPECT_THROW(response.raise_for_status(), ClientResponseError);
    EXPECT_FALSE(response.read().empty());  // nginx's error page
  });
}

}  // namespace

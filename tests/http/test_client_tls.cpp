// Tests of weft::http::ClientSession over https: against a real nginx with
// a TLS listener (nginx_server.hpp, started once for the suite with the
// throwaway PKI of tests/support/tls_certs.hpp), and against weft's own TLS
// server scripted byte by byte (script_server.hpp): plain GETs, keep-alive
// and session resumption over TLS, a large body, many concurrent requests,
// every certificate failure as ClientConnectorCertificateError, insecure
// sessions, the system CA store, an http → https redirect, and bodies cut
// without close_notify (a truncation the client must not take for the end).
#include "weft/http/client.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <nlohmann/json.hpp>

#include "tests/http/nginx_server.hpp"
#include "tests/http/script_server.hpp"
#include "tests/support/socket_helpers.hpp"
#include "tests/support/tls_certs.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/tls.hpp"
#include "weft/fiber/waiting.hpp"

#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

namespace {

using weft::http::ClientConnectorCertificateError;
using weft::http::ClientConnectorError;
using weft::http::ClientPayloadError;
using weft::http::ClientSession;
using weft::http::RequestOptions;
using weft::http::Response;
using weft::http::SessionOptions;
using weft_test::CertFiles;
using weft_test::Exchange;
using weft_test::ScriptServer;
using weft_test::SendMode;

class ClientTls : public weft_test::FdLeakCheck {
 protected:
  // The PKI and nginx (with TLS, the test CA's server certificate) are made
  // once for the suite; if either fails, every test fails saying why.
  static void SetUpTestSuite() {
    try {
      certs_.reset(new weft_test::TlsCerts());
      weft_test::NginxTls tls;
      tls.certfile = certs_->server.cert;
      tls.keyfile = certs_->server.key;
      nginx_.reset(new weft_test::NginxServer(4 * 1024 * 1024, 200, tls));
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    nginx_.reset();
    certs_.reset();
  }

  void SetUp() override {
    FdLeakCheck::SetUp();
    ASSERT_TRUE(nginx_ != nullptr) << "cannot start nginx with TLS: " << error_;
    ASSERT_TRUE(weft_test::raise_nofile_limit());
  }

  static weft_test::NginxServer& nginx() { return *nginx_; }
  static const weft_test::TlsCerts& certs() { return *certs_; }

 private:
  static std::unique_ptr<weft_test::TlsCerts> certs_;
  static std::unique_ptr<weft_test::NginxServer> nginx_;
  static std::string error_;
};

std::unique_ptr<weft_test::TlsCerts> ClientTls::certs_;
std::unique_ptr<weft_test::NginxServer> ClientTls::nginx_;
std::string ClientTls::error_;

// A session trusting the test CA only (TlsOptions::cafile).
SessionOptions trusting(const weft_test::TlsCerts& certs) {
  weft::TlsOptions tls;
  tls.cafile = certs.ca.cert;
  SessionOptions options;
  options.connector.ssl = weft::TlsContext::client(tls);
  return options;
}

SessionOptions insecure() {
  weft::TlsOptions tls;
  tls.insecure_no_verify = true;
  SessionOptions options;
  options.connector.ssl = weft::TlsContext::client(tls);
  return options;
}

weft::TlsContext server_context(const CertFiles& files) {
  weft::TlsOptions options;
  options.certfile = files.cert;
  options.keyfile = files.key;
  return weft::TlsContext::server(options);
}

RequestOptions identity() {
  RequestOptions options;
  options.headers.set("Accept-Encoding", "identity");
  return options;
}

// --- against nginx ---------------------------------------------------------------

TEST_F(ClientTls, GetOverHttps) {
  weft::run([] {
    ClientSession session(trusting(certs()));
    Response response = session.get(nginx().https_url("/small.txt"), identity());
    EXPECT_EQ(200, response.status());
    EXPECT_EQ("https", response.url().scheme());
    EXPECT_EQ(nginx().content("small.txt"), response.read());
    // By name: the certificate's DNS name is checked instead of its address.
    Response by_name = session.get(nginx().https_url("/data.json", "localhost"));
    EXPECT_EQ(200, by_name.status());
    EXPECT_EQ("weft", by_name.json()["name"].get<std::string>());
  });
}

TEST_F(ClientTls, GzipOverHttps) {
  weft::run([] {
    ClientSession session(trusting(certs()));
    Response response = session.get(nginx().https_url("/text.txt"));
    EXPECT_EQ("gzip", response.headers().get("Content-Encoding"));
    EXPECT_TRUE(response.read() == nginx().content("text.txt"));
  });
}

TEST_F(ClientTls, KeepAliveReusesOneTlsConnection) {
  weft::run([] {
    ClientSession session(trusting(certs()));
    const std::string& expected = nginx().content("small.txt");
    std::string first_connection;
    for (int i = 0; i < 20; ++i) {
      Response response = session.get(nginx().https_url("/small.txt"), identity());
      ASSERT_EQ(200, response.status());
      ASSERT_EQ(expected, response.read());
      // nginx's connection serial number: the same connection every time.
      const std::string connection = response.headers().get("X-Connection");
      ASSERT_FALSE(connection.empty());
      if (i == 0) first_connection = connection;
      EXPECT_EQ(first_connection, connection) << "request " << i;
    }
    EXPECT_EQ(1u, session.connections_idle());
    EXPECT_EQ(0u, session.connections_in_use());
  });
}

TEST_F(ClientTls, NewConnectionsResumeTheTlsSession) {
  weft::run([] {
    ClientSession session(trusting(certs()));
    Response first = session.get(nginx().https_url("/small.txt"), identity());
    EXPECT_EQ(".", first.headers().get("X-Session-Reused"));
    first.read();  // the TLS 1.3 tickets came with (or before) the response
    // A response whose body is not read holds its connection (the pooled
    // one), so the next request needs a new connection: it resumes the
    // session of the first.
    Response held = session.get(nginx().https_url("/large.bin"), identity());
    EXPECT_EQ(first.headers().get("X-Connection"), held.headers().get("X-Connection"));
    Response second = session.get(nginx().https_url("/small.txt"), identity());
    EXPECT_NE(held.headers().get("X-Connection"), second.headers().get("X-Connection"));
    EXPECT_EQ("r", second.headers().get("X-Session-Reused"));
    EXPECT_EQ(nginx().content("small.txt"), second.read());
    held.release();  // unread: closed, not pooled
    EXPECT_EQ(1u, session.connections_idle());
  });
}

// A connection that is not pooled but whose response was read to its end
// (keepalive_timeout 0 here; also Connection: close, idle expiry) is closed
// with close_notify, so its TLS session stays resumable: nginx reports
// X-Session-Reused "r" on every later connection. (Closing with abort()
// made OpenSSL drop the cached session as "bad": a full handshake each time.)
TEST_F(ClientTls, ConnectionsClosedAfterEachResponseStillResume) {
  weft::run([] {
    SessionOptions options = trusting(certs());
    options.connector.keepalive_timeout = std::chrono::milliseconds(0);  // aiohttp force_close
    ClientSession session(options);
    std::vector<std::string> connections;
    std::vector<std::string> reused;
    for (int i = 0; i < 3; ++i) {
      Response response = session.get(nginx().https_url("/small.txt"), identity());
      EXPECT_EQ(nginx().content("small.txt"), response.read());
      connections.push_back(response.headers().get("X-Connection"));
      reused.push_back(response.headers().get("X-Session-Reused"));
      EXPECT_EQ(0u, session.connections_idle());
    }
    EXPECT_NE(connections[0], connections[1]);
    EXPECT_NE(connections[1], connections[2]);
    EXPECT_EQ(".", reused[0]);
    EXPECT_EQ("r", reused[1]);
    EXPECT_EQ("r", reused[2]);
  });
}

TEST_F(ClientTls, LargeBodyStreamedWithChecksum) {
  weft::run([] {
    ClientSession session(trusting(certs()));
    const std::string& expected = nginx().content("large.bin");
    Response response = session.get(nginx().https_url("/large.bin"));
    EXPECT_EQ(200, response.status());
    EXPECT_EQ(std::to_string(expected.size()), response.headers().get("Content-Length"));
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
    response.release();
    EXPECT_EQ(1u, session.connections_idle());
  });
}

TEST_F(ClientTls, TwoHundredConcurrentGets) {
  const int n = RUNNING_ON_VALGRIND ? 50 : 200;
  weft::run([n] {
    SessionOptions options = trusting(certs());
    options.connector.limit = 0;  // every request at once, each on its own connection
    ClientSession session(options);
    std::vector<weft::Task<std::string>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const std::string url = nginx().https_url("/f/" + std::to_string(i) + ".txt");
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
      if (bodies[static_cast<std::size_t>(i)] != nginx().content("f/" + std::to_string(i) + ".txt")) {
        if (++wrong <= 5) ADD_FAILURE() << "f/" << i << ".txt: got \"" << bodies[static_cast<std::size_t>(i)] << "\"";
      }
    }
    EXPECT_EQ(0, wrong);
    EXPECT_EQ(0u, session.connections_in_use());
    EXPECT_GE(session.connections_idle(), 1u);
  });
}

TEST_F(ClientTls, DefaultSessionUsesTheSystemCas) {
  weft::run([] {
    ClientSession session;  // TlsContext::client(): the system store, not the test CA
    try {
      session.get(nginx().https_url("/small.txt"));
      ADD_FAILURE() << "a certificate of the throwaway CA verified against the system CAs";
    } catch (const ClientConnectorCertificateError& e) {
      EXPECT_EQ("127.0.0.1", e.host());
      EXPECT_EQ(nginx().tls_port(), e.port());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("unable to get local issuer certificate")) << e.what();
      EXPECT_EQ(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, e.verify_code());
      EXPECT_EQ("unable to get local issuer certificate", e.verify_message());
    }
  });
}

TEST_F(ClientTls, InsecureSessionAcceptsTheUnknownCa) {
  weft::run([] {
    ClientSession session(insecure());
    Response response = session.get(nginx().https_url("/small.txt"), identity());
    EXPECT_EQ(nginx().content("small.txt"), response.read());
  });
}

TEST_F(ClientTls, RedirectFromHttpToHttps) {
  weft::run([] {
    const std::string target = nginx().https_url("/small.txt");
    ScriptServer plain({Exchange("HTTP/1.1 302 Found\r\nLocation: " + target + "\r\nContent-Length: 0\r\n\r\n")});
    ClientSession session(trusting(certs()));
    Response response = session.get(plain.url("/old"), identity());
    EXPECT_EQ(200, response.status());
    EXPECT_EQ("https", response.url().scheme());
    EXPECT_EQ(target, response.url().str());
    ASSERT_EQ(1u, response.history().size());
    EXPECT_EQ(302, response.history()[0].status());
    EXPECT_EQ("http", response.history()[0].url().scheme());
    EXPECT_EQ(nginx().content("small.txt"), response.read());
    EXPECT_EQ(1u, plain.requests().size());
  });
}

// --- certificate failures, against weft's own TLS server --------------------------

// The error a GET of `url` throws, checked to be a ClientConnectorError too.
std::string certificate_error(SessionOptions options, const std::string& url) {
  ClientSession session(std::move(options));
  try {
    Response response = session.get(url);
    ADD_FAILURE() << "GET " << url << " succeeded (status " << response.status() << ")";
  } catch (const ClientConnectorCertificateError& e) {
    const ClientConnectorError* base = &e;  // aiohttp: a ClientConnectorError
    EXPECT_EQ(url, base->url());
    EXPECT_EQ(EPROTO, base->error());
    return e.what();
  }
  return std::string();
}

TEST_F(ClientTls, ExpiredCertificate) {
  weft::run([] {
    ScriptServer server({Exchange(weft_test::with_length("never sent"))}, server_context(certs().expired));
    const std::string what = certificate_error(trusting(certs()), server.url("/"));
    EXPECT_NE(std::string::npos, what.find("certificate has expired")) << what;
    EXPECT_EQ(0u, server.connections());  // the handshake failed on both sides
    EXPECT_EQ(0u, server.requests().size());
  });
}

TEST_F(ClientTls, WrongHost) {
  weft::run([] {
    ScriptServer server({Exchange(weft_test::with_length("never sent"))}, server_context(certs().wrong_host));
    std::string what = certificate_error(trusting(certs()), server.url("/"));
    EXPECT_NE(std::string::npos, what.find("IP address mismatch")) << what;
    // By name: the IP-only certificate has no DNS name.
    ScriptServer ip_only({Exchange(weft_test::with_length("never sent"))}, server_context(certs().ip_only));
    what = certificate_error(trusting(certs()), "https://localhost:" + std::to_string(ip_only.port()) + "/");
    EXPECT_NE(std::string::npos, what.find("hostname mismatch")) << what;
    EXPECT_EQ(0u, server.requests().size() + ip_only.requests().size());
  });
}

TEST_F(ClientTls, UnknownCa) {
  weft::run([] {
    ScriptServer server({Exchange(weft_test::with_length("never sent"))}, server_context(certs().unknown_ca));
    const std::string what = certificate_error(trusting(certs()), server.url("/"));
    EXPECT_NE(std::string::npos, what.find("unable to get local issuer certificate")) << what;
  });
}

TEST_F(ClientTls, SelfSigned) {
  weft::run([] {
    ScriptServer server({Exchange(weft_test::with_length("never sent"))}, server_context(certs().self_signed));
    const std::string what = certificate_error(trusting(certs()), server.url("/"));
    EXPECT_NE(std::string::npos, what.find("self-signed certificate")) << what;
  });
}

TEST_F(ClientTls, InsecureSessionAcceptsEveryBadCertificate) {
  weft::run([] {
    const CertFiles* bad[] = {&certs().expired, &certs().wrong_host, &certs().unknown_ca, &certs().self_signed};
    for (const CertFiles* files : bad) {
      ScriptServer server({Exchange(weft_test::with_length("accepted anyway"))}, server_context(*files));
      ClientSession session(insecure());
      Response response = session.get(server.url("/"));
      EXPECT_EQ("accepted anyway", response.read()) << files->cert;
    }
  });
}

TEST_F(ClientTls, HttpsToAPlainServerIsAConnectorErrorButNotACertificateError) {
  weft::run([] {
    ScriptServer plain([](weft_test::ScriptConnection& connection) {
      connection.stream().read(4096);  // the ClientHello
      connection.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    ClientSession session(trusting(certs()));
    const std::string url = "https://127.0.0.1:" + std::to_string(plain.port()) + "/";
    try {
      session.get(url);
      ADD_FAILURE() << "a TLS handshake with a plain HTTP server succeeded";
    } catch (const ClientConnectorCertificateError& e) {
      ADD_FAILURE() << "not a certificate problem: " << e.what();
    } catch (const ClientConnectorError& e) {
      EXPECT_EQ(url, e.url());
    }
  });
}

TEST_F(ClientTls, StalledHandshakeIsBoundedBySockConnect) {
  weft::run([] {
    // A plain server that takes the ClientHello and never answers.
    ScriptServer silent([](weft_test::ScriptConnection& connection) { connection.wait_for_eof(); });
    SessionOptions options = trusting(certs());
    options.timeout.sock_connect = std::chrono::milliseconds(300);
    ClientSession session(options);
    EXPECT_THROW(session.get("https://127.0.0.1:" + std::to_string(silent.port()) + "/"), weft::TimeoutError);
  });
}

// --- bodies cut without close_notify ---------------------------------------------

// These need the certificates only, not nginx; each test runs with the
// server writing its response whole and byte by byte (one TLS record each).
class ClientTlsCut : public weft_test::FdLeakCheck, public ::testing::WithParamInterface<SendMode> {
 protected:
  static void SetUpTestSuite() {
    try {
      certs_.reset(new weft_test::TlsCerts());
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  static void TearDownTestSuite() { certs_.reset(); }

  void SetUp() override {
    FdLeakCheck::SetUp();
    ASSERT_TRUE(certs_ != nullptr) << "cannot make the test certificates: " << error_;
  }

  static const weft_test::TlsCerts& certs() { return *certs_; }

 private:
  static std::unique_ptr<weft_test::TlsCerts> certs_;
  static std::string error_;
};

std::unique_ptr<weft_test::TlsCerts> ClientTlsCut::certs_;
std::string ClientTlsCut::error_;

TEST_P(ClientTlsCut, ContentLengthBodyCutByAbortIsAPayloadError) {
  const SendMode mode = GetParam();
  weft::run([mode] {
    ScriptServer server({Exchange("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly forty bytes of the hundred promised")
                             .then_abort()},
                        server_context(certs().server), mode);
    ClientSession session(trusting(certs()));
    Response response = session.get(server.url("/"));
    EXPECT_EQ(200, response.status());
    EXPECT_THROW(response.read(), ClientPayloadError);
  });
}

TEST_P(ClientTlsCut, ContentLengthBodyEndedByCloseNotifyIsStillShort) {
  const SendMode mode = GetParam();
  weft::run([mode] {
    ScriptServer server({Exchange("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly forty bytes of the hundred promised")
                             .then_close()},
                        server_context(certs().server), mode);
    ClientSession session(trusting(certs()));
    Response response = session.get(server.url("/"));
    EXPECT_THROW(response.read(), ClientPayloadError);
  });
}

const char kCloseDelimited[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    "a body with no length, ended by the end of the connection";
const char kCloseDelimitedBody[] = "a body with no length, ended by the end of the connection";

TEST_P(ClientTlsCut, CloseDelimitedBodyCutByAbortIsAPayloadError) {
  const SendMode mode = GetParam();
  weft::run([mode] {
    // Without close_notify the client cannot tell the end of the body from
    // a truncation (an attacker's FIN): over TLS that is an error.
    ScriptServer server({Exchange(kCloseDelimited).then_abort()}, server_context(certs().server), mode);
    ClientSession session(trusting(certs()));
    Response response = session.get(server.url("/"));
    EXPECT_EQ(200, response.status());
    EXPECT_THROW(response.read(), ClientPayloadError);
  });
}

TEST_P(ClientTlsCut, CloseDelimitedBodyEndedByCloseNotifySucceeds) {
  const SendMode mode = GetParam();
  weft::run([mode] {
    ScriptServer server({Exchange(kCloseDelimited).then_close()}, server_context(certs().server), mode);
    ClientSession session(trusting(certs()));
    Response response = session.get(server.url("/"));
    EXPECT_EQ(200, response.status());
    EXPECT_EQ(kCloseDelimitedBody, response.read());
    EXPECT_EQ(0u, session.connections_idle());  // Connection: close
  });
}

TEST_P(ClientTlsCut, CloseDelimitedBodyStreamedThenCutIsAPayloadError) {
  const SendMode mode = GetParam();
  weft::run([mode] {
    ScriptServer server({Exchange(kCloseDelimited).then_abort()}, server_context(certs().server), mode);
    ClientSession session(trusting(certs()));
    Response response = session.get(server.url("/"));
    std::string got;
    try {
      for (;;) {
        const std::string piece = response.content().read(7);
        if (piece.empty()) break;
        got += piece;
      }
      ADD_FAILURE() << "the cut body read to a clean end: \"" << got << "\"";
    } catch (const ClientPayloadError&) {
    }
    // What arrived before the cut was handed out first.
    EXPECT_EQ(std::string(kCloseDelimitedBody).substr(0, got.size()), got);
  });
}

// On plain TCP there is no close_notify: the same abort ends the body.
TEST_P(ClientTlsCut, CloseDelimitedBodyOverPlainTcpEndsAtTheFin) {
  const SendMode mode = GetParam();
  weft::run([mode] {
    ScriptServer server({Exchange(kCloseDelimited).then_abort()}, mode);
    ClientSession session;
    Response response = session.get(server.url("/"));
    EXPECT_EQ(kCloseDelimitedBody, response.read());
  });
}

INSTANTIATE_TEST_SUITE_P(SendModes, ClientTlsCut, ::testing::Values(SendMode::kWhole, SendMode::kByteByByte),
                         [](const ::testing::TestParamInfo<SendMode>& param) {
                           return std::string(weft_test::send_mode_name(param.param));
                         });

}  // namespace

// Tests of TLS streams (weft/fiber/tls.hpp): a weft TLS server
// (start_server with ServerOptions::ssl) and a weft TLS client
// (open_connection with ConnectOptions::ssl) in one weft::run, over
// 127.0.0.1, with the throwaway PKI of tests/support/tls_certs.hpp. As
// CPython's test_asyncio/test_ssl.py and test_ssl.py: echo round trips,
// every certificate verification outcome (with OpenSSL's X509_V_ERR_*
// code), host names against IP and DNS SANs, ALPN, client certificates,
// large transfers, many connections, session resumption, close_notify
// versus a cut connection, handshake timeouts and cancellation, and a
// server surviving clients that do not speak TLS. Every test checks that
// no fd leaks.
#include "weft/fiber/tls.hpp"

#include <openssl/x509_vfy.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/socket_helpers.hpp"
#include "tests/support/tls_certs.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/locks.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/servers.hpp"
#include "weft/fiber/streams.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/waiting.hpp"

#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

namespace {

using std::chrono::milliseconds;
using weft_test::CertFiles;

class Tls : public weft_test::FdLeakCheck {
 protected:
  // One PKI for the suite; if it cannot be made, every test fails saying why.
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

std::unique_ptr<weft_test::TlsCerts> Tls::certs_;
std::string Tls::error_;

// --- helpers -------------------------------------------------------------------

weft::TlsContext server_context(const CertFiles& files, std::vector<std::string> alpn = {}) {
  weft::TlsOptions options;
  options.certfile = files.cert;
  options.keyfile = files.key;
  options.alpn = std::move(alpn);
  return weft::TlsContext::server(options);
}

// A client trusting the test CA only.
weft::TlsContext trusting_client(const weft_test::TlsCerts& certs, std::vector<std::string> alpn = {}) {
  weft::TlsOptions options;
  options.cafile = certs.ca.cert;
  options.alpn = std::move(alpn);
  return weft::TlsContext::client(options);
}

weft::TlsContext insecure_client() {
  weft::TlsOptions options;
  options.insecure_no_verify = true;
  return weft::TlsContext::client(options);
}

weft::ServerOptions server_options(const weft::TlsContext& context) {
  weft::ServerOptions options;
  options.backlog = 1024;  // DESIGN.md: tests opening many sockets
  options.ssl = context;
  return options;
}

weft::ConnectOptions connect_options(const weft::TlsContext& context, const std::string& server_hostname = "") {
  weft::ConnectOptions options;
  options.ssl = context;
  options.server_hostname = server_hostname;
  options.family = weft::AddressFamily::kIPv4;  // "localhost" → 127.0.0.1, where the servers listen
  return options;
}

// Echoes everything until EOF; a connection error ends it quietly.
void echo(weft::Stream stream) {
  std::vector<char> buffer(256 * 1024);
  try {
    for (;;) {
      const std::size_t n = stream.read(buffer.data(), buffer.size());
      if (n == 0) return;
      stream.write(buffer.data(), n);
      stream.drain();
    }
  } catch (const weft::SocketError&) {
  }
}

// An echo server counting the connections its handler saw.
struct EchoServer {
  explicit EchoServer(const weft::TlsContext& context) {
    std::shared_ptr<int> count = handled;
    server = weft::start_server(
        [count](weft::Stream stream) {
          ++*count;
          echo(std::move(stream));
        },
        "127.0.0.1", 0, server_options(context));
  }
  ~EchoServer() {
    server.close();
    server.close_clients();
    if (weft::current_task()) server.wait_closed();
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  std::uint16_t port() const { return server.port(); }

  std::shared_ptr<int> handled = std::make_shared<int>(0);
  weft::Server server;
};

// One line there and back.
void expect_echo(weft::Stream& stream, const std::string& line = "hello over TLS\n") {
  stream.write(line);
  stream.drain();
  EXPECT_EQ(line, stream.read_exactly(line.size()));
}

// The outcome of one connection attempt: code 0 if the handshake succeeded
// (and an echo worked), else the X509_V_ERR_* code and text of the
// SSLCertVerificationError, caught as the SSLError it also is; -2 for an
// SSLError of another kind (its what() in `message`).
struct Verdict {
  long code = -1;
  std::string message;
};

Verdict connect_verdict(const CertFiles& server_cert, const weft::TlsContext& client, const std::string& host,
                        const std::string& server_hostname = "") {
  Verdict verdict;
  EchoServer server(server_context(server_cert));
  try {
    weft::Stream stream = weft::open_connection(host, server.port(), connect_options(client, server_hostname));
    expect_echo(stream);
    verdict.code = 0;
  } catch (const weft::SSLError& e) {
    const auto* cert_error = dynamic_cast<const weft::SSLCertVerificationError*>(&e);
    if (cert_error != nullptr) {
      verdict.code = cert_error->verify_code();
      verdict.message = cert_error->verify_message();
      EXPECT_EQ(EPROTO, e.err());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("certificate verify failed")) << e.what();
    } else {
      verdict.code = -2;
      verdict.message = e.what();
    }
  }
  // The server's handshake failed too: its handler never ran.
  if (verdict.code != 0) {
    EXPECT_EQ(0, *server.handled);
  }
  return verdict;
}

// 64-bit FNV-1a.
std::uint64_t fnv1a(const char* data, std::size_t n, std::uint64_t hash = 1469598103934665603ull) {
  for (std::size_t i = 0; i < n; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 1099511628211ull;
  }
  return hash;
}

// Pseudo-random bytes (xorshift64) continuing from *state.
void fill(std::string& out, std::uint64_t* state) {
  std::uint64_t x = *state;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 56);
  }
  *state = x;
}

::testing::AssertionResult raise_nofile_limit(rlim_t needed) {
  rlimit limit = {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return ::testing::AssertionFailure() << "getrlimit failed";
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < needed) {
    return ::testing::AssertionFailure() << "RLIMIT_NOFILE is " << limit.rlim_cur << ", below the " << needed
                                         << " file descriptors this test needs (raise the hard limit)";
  }
  return ::testing::AssertionSuccess();
}

// --- round trips ---------------------------------------------------------------

TEST_F(Tls, EchoRoundTrip) {
  weft::run([] {
    auto server_side = std::make_shared<std::vector<std::string>>();
    weft::Server server = weft::start_server(
        [server_side](weft::Stream stream) {
          server_side->push_back(stream.is_tls() ? "tls" : "plain");
          server_side->push_back(stream.tls_version());
          echo(std::move(stream));
        },
        "127.0.0.1", 0, server_options(server_context(certs().server)));
    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    EXPECT_TRUE(stream.is_tls());
    const std::string version = stream.tls_version();
    EXPECT_TRUE(version == "TLSv1.3" || version == "TLSv1.2") << version;
    EXPECT_EQ("", stream.alpn_protocol());
    EXPECT_FALSE(stream.tls_session_reused());
    expect_echo(stream);
    expect_echo(stream, std::string(100000, 'x'));  // several records
    stream.close();
    stream.wait_closed();
    server.close();
    server.wait_closed();
    ASSERT_EQ(2u, server_side->size());
    EXPECT_EQ("tls", (*server_side)[0]);
    EXPECT_EQ(version, (*server_side)[1]);
  });
}

TEST_F(Tls, PlainStreamsSayTheyAreNotTls) {
  weft::run([] {
    weft::Server server = weft::start_server(echo, "127.0.0.1", 0);
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port());
    EXPECT_FALSE(stream.is_tls());
    EXPECT_EQ("", stream.tls_version());
    EXPECT_EQ("", stream.alpn_protocol());
    EXPECT_FALSE(stream.tls_session_reused());
    expect_echo(stream);
    stream.close();
    server.close();
    server.wait_closed();
  });
}

TEST_F(Tls, WriteEofSendsCloseNotifyAndThePeerSeesACleanEnd) {
  weft::run([] {
    EchoServer server(server_context(certs().server));
    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    stream.write("last words");
    stream.write_eof();
    // The echo server reads "last words", then a clean EOF, and closes.
    EXPECT_EQ("last words", stream.read_all());
    EXPECT_TRUE(stream.at_eof());
  });
}

// --- certificate verification --------------------------------------------------

TEST_F(Tls, ValidCertificateVerifiesByIpAndByName) {
  weft::run([] {
    EXPECT_EQ(0, connect_verdict(certs().server, trusting_client(certs()), "127.0.0.1").code);
    EXPECT_EQ(0, connect_verdict(certs().server, trusting_client(certs()), "localhost").code);
  });
}

TEST_F(Tls, ExpiredCertificateIsRejected) {
  weft::run([] {
    const Verdict v = connect_verdict(certs().expired, trusting_client(certs()), "127.0.0.1");
    EXPECT_EQ(X509_V_ERR_CERT_HAS_EXPIRED, v.code);
    EXPECT_EQ("certificate has expired", v.message);
  });
}

TEST_F(Tls, WrongHostIsRejected) {
  weft::run([] {
    // By name: the DNS SAN (wrong.example) does not match "localhost".
    Verdict v = connect_verdict(certs().wrong_host, trusting_client(certs()), "localhost");
    EXPECT_EQ(X509_V_ERR_HOSTNAME_MISMATCH, v.code);
    EXPECT_EQ("hostname mismatch", v.message);
    // By address: the certificate has no IP SAN for 127.0.0.1.
    v = connect_verdict(certs().wrong_host, trusting_client(certs()), "127.0.0.1");
    EXPECT_EQ(X509_V_ERR_IP_ADDRESS_MISMATCH, v.code);
  });
}

TEST_F(Tls, UnknownCaIsRejected) {
  weft::run([] {
    const Verdict v = connect_verdict(certs().unknown_ca, trusting_client(certs()), "127.0.0.1");
    // OpenSSL 3.0: the leaf's issuer is neither sent nor trusted.
    EXPECT_EQ(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, v.code);
    EXPECT_EQ("unable to get local issuer certificate", v.message);
  });
}

TEST_F(Tls, SelfSignedIsRejected) {
  weft::run([] {
    const Verdict v = connect_verdict(certs().self_signed, trusting_client(certs()), "127.0.0.1");
    EXPECT_EQ(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, v.code);
    EXPECT_EQ("self-signed certificate", v.message);
  });
}

TEST_F(Tls, DefaultContextUsesTheSystemCasWhichDoNotKnowTheTestCa) {
  weft::run([] {
    const weft::TlsContext client = weft::TlsContext::client();
    EXPECT_TRUE(client.verifies());
    EXPECT_FALSE(client.is_server());
    const Verdict v = connect_verdict(certs().server, client, "127.0.0.1");
    EXPECT_EQ(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, v.code);
  });
}

TEST_F(Tls, InsecureNoVerifyAcceptsEveryBadCertificate) {
  weft::run([] {
    const weft::TlsContext client = insecure_client();
    EXPECT_FALSE(client.verifies());
    const CertFiles* bad[] = {&certs().expired, &certs().wrong_host, &certs().unknown_ca, &certs().self_signed};
    for (const CertFiles* files : bad) {
      EXPECT_EQ(0, connect_verdict(*files, client, "127.0.0.1").code) << files->cert;
      EXPECT_EQ(0, connect_verdict(*files, client, "localhost").code) << files->cert;
    }
  });
}

TEST_F(Tls, AnIpAddressIsCheckedAgainstTheIpSanAndANameAgainstTheDnsSan) {
  weft::run([] {
    const weft::TlsContext client = trusting_client(certs());
    EXPECT_EQ(0, connect_verdict(certs().ip_only, client, "127.0.0.1").code);
    EXPECT_EQ(X509_V_ERR_HOSTNAME_MISMATCH, connect_verdict(certs().ip_only, client, "localhost").code);
    EXPECT_EQ(0, connect_verdict(certs().dns_only, client, "localhost").code);
    EXPECT_EQ(X509_V_ERR_IP_ADDRESS_MISMATCH, connect_verdict(certs().dns_only, client, "127.0.0.1").code);
  });
}

TEST_F(Tls, ServerHostnameOverridesTheNameChecked) {
  weft::run([] {
    const weft::TlsContext client = trusting_client(certs());
    // Connected to 127.0.0.1, but "localhost" is what is checked.
    EXPECT_EQ(0, connect_verdict(certs().dns_only, client, "127.0.0.1", "localhost").code);
    EXPECT_EQ(X509_V_ERR_HOSTNAME_MISMATCH, connect_verdict(certs().ip_only, client, "127.0.0.1", "localhost").code);
    // And the other way round: connected by name, an address checked.
    EXPECT_EQ(0, connect_verdict(certs().ip_only, client, "localhost", "127.0.0.1").code);
    EXPECT_EQ(X509_V_ERR_HOSTNAME_MISMATCH,
              connect_verdict(certs().server, client, "127.0.0.1", "wrong.example.org").code);
  });
}

TEST_F(Tls, ContextErrors) {
  weft::TlsOptions no_cert;
  EXPECT_THROW(weft::TlsContext::server(no_cert), std::invalid_argument);
  weft::TlsOptions missing_ca;
  missing_ca.cafile = certs().dir + "/no-such-file.pem";
  EXPECT_THROW(weft::TlsContext::client(missing_ca), weft::SSLError);
  weft::TlsOptions wrong_key;
  wrong_key.certfile = certs().server.cert;
  wrong_key.keyfile = certs().client.key;
  EXPECT_THROW(weft::TlsContext::server(wrong_key), weft::SSLError);
  weft::TlsOptions bad_alpn;
  bad_alpn.alpn = {""};
  EXPECT_THROW(weft::TlsContext::client(bad_alpn), std::invalid_argument);
  EXPECT_FALSE(weft::TlsContext());
  weft::run([] {
    EchoServer server(server_context(certs().server));
    // A server context where a client one belongs.
    EXPECT_THROW(weft::open_connection("127.0.0.1", server.port(), connect_options(server_context(certs().server))),
                 std::invalid_argument);
  });
}

// --- ALPN ----------------------------------------------------------------------

TEST_F(Tls, AlpnPicksTheProtocolBothSidesSpeak) {
  weft::run([] {
    auto server_alpn = std::make_shared<std::string>("unset");
    weft::Server server = weft::start_server(
        [server_alpn](weft::Stream stream) {
          *server_alpn = stream.alpn_protocol();
          echo(std::move(stream));
        },
        "127.0.0.1", 0, server_options(server_context(certs().server, {"http/1.1"})));
    const weft::TlsContext client = trusting_client(certs(), {"h2", "http/1.1"});
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    EXPECT_EQ("http/1.1", stream.alpn_protocol());
    expect_echo(stream);
    stream.close();
    server.close();
    server.wait_closed();
    EXPECT_EQ("http/1.1", *server_alpn);
  });
}

TEST_F(Tls, AlpnOfferedToAServerWithoutAlpnSelectsNothing) {
  weft::run([] {
    EchoServer server(server_context(certs().server));
    const weft::TlsContext client = trusting_client(certs(), {"h2", "http/1.1"});
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    EXPECT_EQ("", stream.alpn_protocol());
    expect_echo(stream);
  });
}

TEST_F(Tls, AlpnWithNothingInCommonFailsTheHandshake) {
  weft::run([] {
    EchoServer server(server_context(certs().server, {"http/1.1"}));
    try {
      const weft::TlsContext client = trusting_client(certs(), {"h2"});
      weft::open_connection("127.0.0.1", server.port(), connect_options(client));
      ADD_FAILURE() << "the handshake succeeded without a common ALPN protocol";
    } catch (const weft::SSLCertVerificationError& e) {
      ADD_FAILURE() << "not a certificate problem: " << e.what();
    } catch (const weft::SSLError& e) {
      EXPECT_EQ(EPROTO, e.err()) << e.what();
    }
    EXPECT_EQ(0, *server.handled);
  });
}

// --- client certificates -------------------------------------------------------

weft::TlsContext client_cert_server(const weft_test::TlsCerts& certs) {
  weft::TlsOptions options;
  options.certfile = certs.server.cert;
  options.keyfile = certs.server.key;
  options.cafile = certs.ca.cert;
  options.require_client_certificate = true;
  return weft::TlsContext::server(options);
}

TEST_F(Tls, RequiredClientCertificateMissing) {
  weft::run([] {
    EchoServer server(client_cert_server(certs()));
    // TLS 1.3: the client's handshake is over before the server has seen
    // its (empty) certificate, so the refusal (a certificate_required alert)
    // reaches the client at its first read; TLS 1.2: the handshake fails.
    const weft::TlsContext client = trusting_client(certs());
    bool failed = false;
    try {
      weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
      const std::string got = stream.read(100);
      ADD_FAILURE() << "read " << got.size() << " bytes from a server that requires a client certificate";
    } catch (const weft::SSLError& e) {
      failed = true;
      EXPECT_EQ(EPROTO, e.err()) << e.what();
    }
    EXPECT_TRUE(failed);
    EXPECT_EQ(0, *server.handled);
  });
}

TEST_F(Tls, RequiredClientCertificatePresented) {
  weft::run([] {
    EchoServer server(client_cert_server(certs()));
    weft::TlsOptions options;
    options.cafile = certs().ca.cert;
    options.certfile = certs().client.cert;
    options.keyfile = certs().client.key;
    const weft::TlsContext client = weft::TlsContext::client(options);
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    expect_echo(stream);
    EXPECT_EQ(1, *server.handled);
  });
}

TEST_F(Tls, ClientCertificateFromAnUnknownCaIsRefused) {
  weft::run([] {
    EchoServer server(client_cert_server(certs()));
    weft::TlsOptions options;
    options.cafile = certs().ca.cert;
    options.certfile = certs().unknown_ca.cert;  // signed by the untrusted CA
    options.keyfile = certs().unknown_ca.key;
    const weft::TlsContext client = weft::TlsContext::client(options);
    bool failed = false;
    try {
      weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
      stream.read(100);
    } catch (const weft::SSLError& e) {
      failed = true;
      EXPECT_EQ(EPROTO, e.err()) << e.what();
    }
    EXPECT_TRUE(failed);
    EXPECT_EQ(0, *server.handled);
  });
}

// --- volume --------------------------------------------------------------------

TEST_F(Tls, LargeTransferBothWays) {
  const std::size_t total = RUNNING_ON_VALGRIND ? 4u << 20 : 32u << 20;
  weft::run([total] {
    // The server checksums what it receives and sends as much back, of its
    // own making, at the same time.
    struct Seen {
      std::size_t received = 0;
      std::uint64_t hash = fnv1a(nullptr, 0);
    };
    auto seen = std::make_shared<Seen>();
    weft::Server server = weft::start_server(
        [seen, total](weft::Stream stream) {
          weft::Task<void> sender = weft::create_task([&stream, total] {
            std::uint64_t state = 0xC0FFEEull;
            std::string chunk(300 * 1000, '\0');  // not a multiple of the record size
            for (std::size_t sent = 0; sent < total;) {
              chunk.resize(std::min(chunk.size(), total - sent));
              fill(chunk, &state);
              stream.write(chunk);
              stream.drain();
              sent += chunk.size();
            }
          });
          std::vector<char> buffer(128 * 1024);
          for (;;) {
            const std::size_t n = stream.read(buffer.data(), buffer.size());
            if (n == 0) break;
            seen->received += n;
            seen->hash = fnv1a(buffer.data(), n, seen->hash);
          }
          sender.get();
        },
        "127.0.0.1", 0, server_options(server_context(certs().server)));

    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    std::uint64_t sent_hash = fnv1a(nullptr, 0);
    weft::Task<void> sender = weft::create_task([&stream, &sent_hash, total] {
      std::uint64_t state = 0xBADC0DEull;
      std::string chunk(256 * 1024, '\0');
      for (std::size_t sent = 0; sent < total;) {
        chunk.resize(std::min(chunk.size(), total - sent));
        fill(chunk, &state);
        sent_hash = fnv1a(chunk.data(), chunk.size(), sent_hash);
        stream.write(chunk);
        stream.drain();
        sent += chunk.size();
      }
      stream.write_eof();  // close_notify: the server's read loop ends cleanly
    });
    std::uint64_t expected_state = 0xC0FFEEull;
    std::string expected(300 * 1000, '\0');
    std::size_t expected_pos = expected.size();  // refill on first use
    std::size_t received = 0;
    std::size_t mismatches = 0;
    std::vector<char> buffer(100 * 1000);
    for (;;) {
      const std::size_t n = stream.read(buffer.data(), buffer.size());
      if (n == 0) break;
      for (std::size_t i = 0; i < n; ++i) {
        if (expected_pos == expected.size()) {
          fill(expected, &expected_state);
          expected_pos = 0;
        }
        if (buffer[i] != expected[expected_pos++]) ++mismatches;
      }
      received += n;
    }
    sender.get();
    server.close();
    server.wait_closed();
    EXPECT_EQ(total, received);
    EXPECT_EQ(0u, mismatches);
    EXPECT_EQ(total, seen->received);
    EXPECT_EQ(sent_hash, seen->hash);
  });
}

TEST_F(Tls, TwoHundredConcurrentConnections) {
  ASSERT_TRUE(raise_nofile_limit(1024));
  const int n = RUNNING_ON_VALGRIND ? 50 : 200;
  weft::run([n] {
    EchoServer server(server_context(certs().server));
    const weft::TlsContext client = trusting_client(certs());
    std::vector<weft::Task<std::string>> tasks;
    for (int i = 0; i < n; ++i) {
      tasks.push_back(weft::create_task([i, &server, &client] {
        weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
        const std::string line = "connection " + std::to_string(i) + "\n";
        stream.write(line);
        stream.drain();
        std::string got = stream.readline();
        stream.close();
        stream.wait_closed();
        return got;
      }));
    }
    const std::vector<std::string> lines = weft::gather(tasks);
    ASSERT_EQ(static_cast<std::size_t>(n), lines.size());
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ("connection " + std::to_string(i) + "\n", lines[static_cast<std::size_t>(i)]);
    }
    EXPECT_EQ(n, *server.handled);
  });
}

// --- session resumption --------------------------------------------------------

TEST_F(Tls, SecondConnectionResumesTheSession) {
  weft::run([] {
    auto reused = std::make_shared<std::vector<bool>>();
    weft::Server server = weft::start_server(
        [reused](weft::Stream stream) {
          reused->push_back(stream.tls_session_reused());
          echo(std::move(stream));
        },
        "127.0.0.1", 0, server_options(server_context(certs().server)));
    const weft::TlsContext client = trusting_client(certs());
    {
      weft::Stream first = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
      EXPECT_FALSE(first.tls_session_reused());
      // TLS 1.3 sends session tickets after the handshake: the client takes
      // them in (and the context caches the session) only when it reads, so
      // the first connection must read at least once before it closes.
      expect_echo(first);
    }
    weft::Stream second = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    EXPECT_TRUE(second.tls_session_reused()) << second.tls_version();
    expect_echo(second);
    // Another context has a cache of its own: nothing to resume.
    const weft::TlsContext other = trusting_client(certs());
    weft::Stream third = weft::open_connection("127.0.0.1", server.port(), connect_options(other));
    EXPECT_FALSE(third.tls_session_reused());
    expect_echo(third);
    // The cache is per host and port: the same server by name is another key.
    weft::Stream fourth = weft::open_connection("localhost", server.port(), connect_options(client));
    EXPECT_FALSE(fourth.tls_session_reused());
    expect_echo(fourth);
    second.close();
    third.close();
    fourth.close();
    server.close();
    server.wait_closed();
    ASSERT_EQ(4u, reused->size());
    EXPECT_FALSE((*reused)[0]);
    EXPECT_TRUE((*reused)[1]);
    EXPECT_FALSE((*reused)[2]);
    EXPECT_FALSE((*reused)[3]);
  });
}

// A server that verifies client certificates must name a session id
// context, or OpenSSL refuses every resumption offer with "session id
// context uninitialized" (an internal-error alert): every second connection
// of a caching client failed before weft's server contexts set one.
TEST_F(Tls, ResumptionWithAClientCertificate) {
  weft::run([] {
    EchoServer server(client_cert_server(certs()));
    weft::TlsOptions options;
    options.cafile = certs().ca.cert;
    options.certfile = certs().client.cert;
    options.keyfile = certs().client.key;
    const weft::TlsContext client = weft::TlsContext::client(options);
    {
      weft::Stream first = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
      expect_echo(first);
    }
    // Whether or not the server resumes, the second connection must work.
    weft::Stream second = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    expect_echo(second);
    EXPECT_EQ(2, *server.handled);
  });
}

// A TLS stream keeps its TlsContext's core alive: here the only handle is
// a ConnectOptions temporary, and the TLS 1.3 session tickets that the
// first read takes in are stored into the context's cache afterwards (a
// heap-use-after-free under ASan before the stream held a reference).
TEST_F(Tls, StreamOutlivesItsClientContext) {
  weft::run([] {
    EchoServer server(server_context(certs().server));
    weft::Stream stream =
        weft::open_connection("127.0.0.1", server.port(), connect_options(trusting_client(certs())));
    expect_echo(stream);  // the session tickets arrive here
  });
}

// --- ends of a connection ------------------------------------------------------

TEST_F(Tls, AbortWithoutCloseNotifyIsAnErrorNotEof) {
  weft::run([] {
    weft::Server server = weft::start_server(
        [](weft::Stream stream) {
          stream.readline();
          stream.write("partial");
          stream.drain();
          stream.abort();  // FIN without close_notify: a cut connection
        },
        "127.0.0.1", 0, server_options(server_context(certs().server)));
    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    stream.write("go\n");
    EXPECT_EQ("partial", stream.read_exactly(7));
    try {
      const std::string more = stream.read(100);
      ADD_FAILURE() << "a cut TLS connection read as " << (more.empty() ? "a clean EOF" : "more bytes");
    } catch (const weft::SSLError& e) {
      EXPECT_EQ(ECONNRESET, e.err()) << e.what();
    }
    // The error stays.
    EXPECT_THROW(stream.read(100), weft::SSLError);
    stream.close();
    server.close();
    server.wait_closed();
  });
}

TEST_F(Tls, ReadAllOfACutConnectionThrows) {
  weft::run([] {
    weft::Server server = weft::start_server(
        [](weft::Stream stream) {
          stream.readline();
          stream.write(std::string(50000, 'z'));
          stream.drain();
          stream.abort();
        },
        "127.0.0.1", 0, server_options(server_context(certs().server)));
    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    stream.write("go\n");
    EXPECT_THROW(stream.read_all(), weft::SSLError);
    stream.close();
    server.close();
    server.wait_closed();
  });
}

TEST_F(Tls, CloseSendsCloseNotifyAndTheReaderSeesACleanEof) {
  weft::run([] {
    weft::Server server = weft::start_server(
        [](weft::Stream stream) {
          stream.readline();
          stream.write("complete");
          stream.close();
        },
        "127.0.0.1", 0, server_options(server_context(certs().server)));
    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    stream.write("go\n");
    EXPECT_EQ("complete", stream.read_exactly(8));
    EXPECT_EQ("", stream.read(100));
    EXPECT_TRUE(stream.at_eof());
    stream.close();
    server.close();
    server.wait_closed();
  });
}

// --- handshakes that do not finish -----------------------------------------------

// A plain TCP server that never answers; `seen` is set once it has
// received the first bytes (the ClientHello).
struct SilentServer {
  SilentServer() {
    std::shared_ptr<weft::Event> event = seen;
    weft::ServerOptions options;
    options.backlog = 1024;
    server = weft::start_server(
        [event](weft::Stream stream) {
          try {
            while (!stream.read(4096).empty()) event->set();
          } catch (const weft::SocketError&) {
          }
        },
        "127.0.0.1", 0, options);
  }
  ~SilentServer() {
    server.close();
    server.close_clients();
    if (weft::current_task()) server.wait_closed();
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  std::shared_ptr<weft::Event> seen = std::make_shared<weft::Event>();
  weft::Server server;
};

TEST_F(Tls, StalledHandshakeTimesOut) {
  weft::run([] {
    SilentServer silent;
    const weft::TlsContext client = trusting_client(certs());
    weft::ConnectOptions options = connect_options(client);
    options.ssl_handshake_timeout = milliseconds(200);
    EXPECT_THROW(weft::open_connection("127.0.0.1", silent.server.port(), options), weft::TimeoutError);
    EXPECT_TRUE(silent.seen->is_set());
  });
}

TEST_F(Tls, CancelledDuringTheHandshakeLeavesNoSocket) {
  weft::run([] {
    SilentServer silent;
    const std::uint16_t port = silent.server.port();
    const weft::TlsContext client = trusting_client(certs());
    weft::Task<void> task = weft::create_task([port, client] {
      weft::open_connection("127.0.0.1", port, connect_options(client));
      ADD_FAILURE() << "the handshake with a silent server finished";
    });
    silent.seen->wait();  // the ClientHello is out: the task waits for the answer
    weft::yield();
    EXPECT_FALSE(task.done());
    EXPECT_TRUE(task.cancel());
    EXPECT_THROW(task.get(), weft::CancelledError);
    EXPECT_TRUE(task.cancelled());
  });
}

TEST_F(Tls, ServerHandshakeTimeoutDropsASilentClient) {
  weft::run([] {
    weft::ServerOptions options = server_options(server_context(certs().server));
    options.ssl_handshake_timeout = milliseconds(200);
    auto handled = std::make_shared<int>(0);
    weft::Server server = weft::start_server([handled](weft::Stream) { ++*handled; }, "127.0.0.1", 0, options);
    // A plain client that connects and says nothing: the server gives up
    // and closes the connection, which the client reads as EOF.
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port());
    std::string got;
    try {
      got = weft::timeout(std::chrono::seconds(30), [&stream] { return stream.read_all(); });
    } catch (const weft::ConnectionError&) {
    }
    EXPECT_EQ("", got);
    EXPECT_EQ(0, *handled);
    server.close();
    server.wait_closed();
  });
}

// --- peers that do not speak TLS -------------------------------------------------

TEST_F(Tls, PlainClientsDoNotReachTheHandlerAndTheServerKeepsServing) {
  weft::run([] {
    EchoServer server(server_context(certs().server));
    const std::string attempts[] = {
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        std::string("\x16\x03\x01\x00\x05garbage-after-a-record-header", 34),
        std::string(64 * 1024, '\0'),
        "",  // connects and closes at once
    };
    for (const std::string& bytes : attempts) {
      weft::Stream plain = weft::open_connection("127.0.0.1", server.port());
      try {
        if (!bytes.empty()) {
          plain.write(bytes);
          plain.drain();
          // Whatever the server says (perhaps an alert), it then closes.
          weft::timeout(std::chrono::seconds(30), [&plain] { plain.read_all(); });
        }
      } catch (const weft::ConnectionError&) {  // a reset: bytes left unread
      }
      plain.close();
    }
    EXPECT_EQ(0, *server.handled);
    const weft::TlsContext client = trusting_client(certs());
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port(), connect_options(client));
    expect_echo(stream);
    EXPECT_EQ(1, *server.handled);
  });
}

TEST_F(Tls, TlsClientToAPlainServerFailsTheHandshake) {
  weft::run([] {
    weft::Server server = weft::start_server(
        [](weft::Stream stream) {
          try {
            stream.read(4096);
            stream.write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
          } catch (const weft::SocketError&) {
          }
        },
        "127.0.0.1", 0);
    try {
      const weft::TlsContext client = trusting_client(certs());
      weft::open_connection("127.0.0.1", server.port(), connect_options(client));
      ADD_FAILURE() << "a TLS handshake with an HTTP server succeeded";
    } catch (const weft::SSLCertVerificationError& e) {
      ADD_FAILURE() << "not a certificate problem: " << e.what();
    } catch (const weft::SSLError& e) {
      EXPECT_EQ(EPROTO, e.err()) << e.what();
    }
    server.close();
    server.wait_closed();
  });
}

}  // namespace

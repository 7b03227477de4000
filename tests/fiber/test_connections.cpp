// Tests of open_connection() and open_unix_connection(), after CPython's
// test_streams.py (test_open_connection*, test_open_unix_connection*) and
// test_base_events.py (create_connection errors): round trips over IPv4,
// IPv6 and Unix sockets, typed errors naming host and port, the connect
// timeout, cancellation, and no fd left open on any path. Only 127.0.0.1,
// ::1 and Unix sockets are ever contacted.
#include "weft/fiber/streams.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <string>

#include "tests/support/full_backlog.hpp"
#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/servers.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/timeouts.hpp"

namespace {

using std::chrono::milliseconds;

using Connections = weft_test::FdLeakCheck;
using weft_test::FullBacklogListener;

// Echoes every line back until EOF.
void echo_lines(weft::Stream stream) {
  for (;;) {
    std::string line = stream.readline();
    if (line.empty()) return;
    stream.write(line);
    stream.drain();
  }
}

// A socket bound to 127.0.0.1 but not listening: connecting to its port is
// refused at once (the kernel answers the SYN with an RST), and the port
// cannot be taken by anyone else meanwhile.
struct RefusingPort {
  int fd = -1;
  uint16_t port = 0;
  RefusingPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), size);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    port = ntohs(address.sin_port);
  }
  ~RefusingPort() { ::close(fd); }
};

TEST_F(Connections, EchoOverTcp) {  // test_open_connection
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port());
    stream.write("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ("GET / HTTP/1.0\r\n", stream.readline());
    EXPECT_EQ("\r\n", stream.readline());
    EXPECT_EQ("127.0.0.1", stream.peername().host());
    EXPECT_EQ(server.port(), stream.peername().port());
    stream.close();
    stream.wait_closed();
    server.close();
    server.wait_closed();
  });
}

TEST_F(Connections, EchoThroughAHostName) {
  // "localhost" comes from /etc/hosts: resolved on a worker thread, no DNS.
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
    weft::Stream stream = weft::open_connection("localhost", server.port());
    stream.write("ping\n");
    EXPECT_EQ("ping\n", stream.readline());
  });
}

TEST_F(Connections, EchoOverIpv6Loopback) {
  if (!weft_test::have_ipv6_loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "::1", 0);
    ASSERT_EQ(weft::AddressFamily::kIPv6, server.sockets().at(0).family());
    weft::Stream stream = weft::open_connection("::1", server.port());
    stream.write("six\n");
    EXPECT_EQ("six\n", stream.readline());
    EXPECT_EQ("::1", stream.peername().host());
    EXPECT_EQ("[::1]:" + std::to_string(server.port()), stream.peername().to_string());
  });
}

TEST_F(Connections, EchoOverUnixSocket) {  // test_open_unix_connection
  const std::string path = weft_test::unix_socket_path("echo");
  weft::run([&] {
    weft::Server server = weft::start_unix_server(echo_lines, path);
    weft::Stream stream = weft::open_unix_connection(path);
    stream.write("unix\n");
    EXPECT_EQ("unix\n", stream.readline());
    EXPECT_EQ(path, stream.peername().host());
  });
  EXPECT_NE(0, ::access(path.c_str(), F_OK)) << "close() removes the socket file";
}

TEST_F(Connections, RefusedConnectionIsTypedAndNamesTheAddress) {
  RefusingPort refusing;
  weft::run([&] {
    try {
      weft::open_connection("127.0.0.1", refusing.port);
      ADD_FAILURE() << "no ConnectionRefusedError";
    } catch (const weft::ConnectionRefusedError& e) {
      EXPECT_EQ(ECONNREFUSED, e.err());
      EXPECT_EQ("127.0.0.1", e.host());
      EXPECT_EQ(refusing.port, e.port());
      EXPECT_EQ("connect to 127.0.0.1:" + std::to_string(refusing.port) + ": Connection refused",
                std::string(e.what()));
    }
  });
}

TEST_F(Connections, RefusedThroughANameShowsTheAddressTried) {
  RefusingPort refusing;
  weft::run([&] {
    try {
      weft::open_connection("localhost", refusing.port);
      ADD_FAILURE() << "no ConnectionRefusedError";
    } catch (const weft::ConnectionRefusedError& e) {
      EXPECT_EQ("localhost", e.host());
      EXPECT_EQ("connect to localhost:" + std::to_string(refusing.port) + " (127.0.0.1): Connection refused",
                std::string(e.what()));
    }
  });
}

TEST_F(Connections, ConnectTimesOut) {
  FullBacklogListener backlog;
  ASSERT_TRUE(backlog.full()) << "could not fill the accept queue";
  weft::run([&] {
    weft::ConnectOptions options;
    options.connect_timeout = milliseconds(200);
    const auto start = std::chrono::steady_clock::now();
    try {
      weft::open_connection("127.0.0.1", backlog.port(), options);
      ADD_FAILURE() << "no TimeoutError";
    } catch (const weft::TimeoutError& e) {
      EXPECT_EQ("connect to 127.0.0.1:" + std::to_string(backlog.port()) + ": timed out after 200 ms",
                std::string(e.what()));
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, milliseconds(200));
    EXPECT_LT(waited, std::chrono::seconds(20));
  });
}

TEST_F(Connections, CancelledConnectLeavesNoSocket) {
  FullBacklogListener backlog;
  ASSERT_TRUE(backlog.full()) << "could not fill the accept queue";
  weft::run([&] {
    auto connecting = weft::create_task([&] { return weft::open_connection("127.0.0.1", backlog.port()); });
    weft::sleep(milliseconds(20));
    EXPECT_FALSE(connecting.done());
    connecting.cancel();
    EXPECT_THROW(connecting.get(), weft::CancelledError);
  });
}

TEST_F(Connections, TimeoutAroundTheWholeConnect) {
  FullBacklogListener backlog;
  ASSERT_TRUE(backlog.full()) << "could not fill the accept queue";
  weft::run([&] {
    EXPECT_THROW(weft::timeout(milliseconds(50), [&] { weft::open_connection("127.0.0.1", backlog.port()); }),
                 weft::TimeoutError);
  });
}

TEST_F(Connections, UnresolvableNameIsAResolveError) {
  // A label longer than 63 bytes is not a valid DNS name: glibc rejects it
  // without sending a query, so the test stays on this machine.
  const std::string name = std::string(70, 'a') + ".invalid";
  weft::run([&] {
    try {
      weft::open_connection(name, 80);
      ADD_FAILURE() << "no ResolveError";
    } catch (const weft::ResolveError& e) {
      EXPECT_NE(0, e.eai_code());
      EXPECT_EQ(name, e.host());
      EXPECT_EQ(80, e.port());
      EXPECT_EQ(0u, std::string(e.what()).find("getaddrinfo(" + name + ":80): ")) << e.what();
    }
  });
}

TEST_F(Connections, UnixConnectErrors) {
  const std::string path = weft_test::unix_socket_path("missing");
  weft::run([&] {
    try {
      weft::open_unix_connection(path);
      ADD_FAILURE() << "no SocketError";
    } catch (const weft::SocketError& e) {
      EXPECT_EQ(ENOENT, e.err());
      EXPECT_EQ(path, e.host());
      EXPECT_EQ("connect to " + path + ": No such file or directory", std::string(e.what()));
    }
    // A socket file nobody listens on: refused.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const weft::SocketAddress address = weft::SocketAddress::from_unix_path(path);
    ASSERT_EQ(0, ::bind(fd, static_cast<const sockaddr*>(address.data()), static_cast<socklen_t>(address.size())));
    EXPECT_THROW(weft::open_unix_connection(path), weft::ConnectionRefusedError);
    ::close(fd);
    ::unlink(path.c_str());
    EXPECT_THROW(weft::open_unix_connection(""), std::invalid_argument);
  });
}

TEST_F(Connections, OpenConnectionOutsideATaskIsRefused) {
  EXPECT_THROW(weft::open_connection("127.0.0.1", 1), weft::InvalidStateError);
}

}  // namespace

// Tests of start_server(), start_unix_server() and Server, after CPython's
// test_streams.py (test_start_server, test_start_unix_server) and
// test_server.py (serve_forever, wait_closed, close_clients): one task per
// connection, many connections at once, closing and waiting, handler
// errors, and surviving EMFILE. Only 127.0.0.1 and Unix sockets are used;
// every test checks that no fd leaks.
#include "weft/fiber/servers.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

namespace {

using std::chrono::milliseconds;

using Servers = weft_test::FdLeakCheck;

void echo_lines(weft::Stream stream) {
  for (;;) {
    std::string line = stream.readline();
    if (line.empty()) return;
    stream.write(line);
    stream.drain();
  }
}

weft::ServerOptions big_backlog() {
  weft::ServerOptions options;
  options.backlog = 1024;  // DESIGN.md: tests opening many sockets
  return options;
}

TEST_F(Servers, PortZeroPicksAFreePort) {
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
    EXPECT_TRUE(server.is_serving());
    ASSERT_EQ(1u, server.sockets().size());
    EXPECT_EQ("127.0.0.1", server.sockets()[0].host());
    EXPECT_NE(0, server.port());
    EXPECT_EQ(server.port(), server.sockets()[0].port());
    server.close();
    EXPECT_FALSE(server.is_serving());
    EXPECT_TRUE(server.sockets().empty());
  });
}

TEST_F(Servers, EachConnectionRunsInItsOwnTask) {
  std::set<std::string> handler_tasks;
  weft::run([&] {
    weft::Server server = weft::start_server(
        [&](weft::Stream stream) {
          handler_tasks.insert(weft::current_task().get_name());
          echo_lines(std::move(stream));
        },
        "127.0.0.1", 0);
    std::vector<weft::Stream> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(weft::open_connection("127.0.0.1", server.port()));
    for (int i = 0; i < 3; ++i) clients[static_cast<std::size_t>(i)].write(std::to_string(i) + "\n");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(std::to_string(i) + "\n", clients[static_cast<std::size_t>(i)].readline());
    EXPECT_EQ(3u, server.active_connections());
  });
  EXPECT_EQ(3u, handler_tasks.size());
}

TEST_F(Servers, ManyConcurrentConnections) {
  const int kClients = 200;
  int answered = 0;
  weft::run([&] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0, big_backlog());
    std::vector<weft::Task<void>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(weft::create_task([&, i] {
        weft::Stream stream = weft::open_connection("127.0.0.1", server.port());
        for (int round = 0; round < 5; ++round) {
          const std::string line = std::to_string(i) + ":" + std::to_string(round) + "\n";
          stream.write(line);
          EXPECT_EQ(line, stream.readline());
        }
        ++answered;
      }));
    }
    for (auto& client : clients) client.get();
    server.close();
    server.wait_closed();
    EXPECT_EQ(0u, server.active_connections());
  });
  EXPECT_EQ(kClients, answered);
}

TEST_F(Servers, HandlerExceptionIsReportedAndTheConnectionClosed) {
  std::vector<std::string> reports;
  weft::run([&] {
    weft::get_running_loop().set_exception_handler(
        [&](weft::Loop&, const weft::ExceptionContext& context) { reports.push_back(context.message); });
    weft::Server server = weft::start_server(
        [](weft::Stream stream) {
          stream.readline();
          throw std::runtime_error("handler failed");
        },
        "127.0.0.1", 0);
    weft::Stream client = weft::open_connection("127.0.0.1", server.port());
    client.write("boom\n");
    EXPECT_EQ("", client.read_all());  // EOF: the server closed its end
  });
  ASSERT_EQ(1u, reports.size());
  EXPECT_EQ("Unhandled exception in client_connected_cb", reports[0]);
}

TEST_F(Servers, CloseStopsListeningWhileConnectionsCarryOn) {
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
    const uint16_t port = server.port();
    weft::Stream client = weft::open_connection("127.0.0.1", port);
    client.write("before\n");
    EXPECT_EQ("before\n", client.readline());
    server.close();
    server.close();  // idempotent
    EXPECT_THROW(weft::open_connection("127.0.0.1", port), weft::ConnectionRefusedError);
    client.write("after\n");
    EXPECT_EQ("after\n", client.readline());
    // wait_closed() waits for the connection (asyncio 3.12+).
    bool waited = false;
    auto waiter = weft::create_task([&] {
      server.wait_closed();
      waited = true;
    });
    weft::sleep(milliseconds(10));
    EXPECT_FALSE(waited);
    client.close();
    waiter.get();
    EXPECT_TRUE(waited);
  });
}

TEST_F(Servers, WaitClosedWaitsForHandlersStillRunning) {
  weft::run([] {
    bool handler_done = false;
    weft::Server server = weft::start_server(
        [&](weft::Stream stream) {
          stream.close();  // the stream goes first; the handler lingers
          weft::sleep(milliseconds(20));
          handler_done = true;
        },
        "127.0.0.1", 0);
    weft::Stream client = weft::open_connection("127.0.0.1", server.port());
    EXPECT_EQ("", client.read_all());
    server.close();
    server.wait_closed();
    EXPECT_TRUE(handler_done);
  });
}

TEST_F(Servers, ServeForeverReturnsWhenClosed) {
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
    auto serving = weft::create_task([&] { server.serve_forever(); });
    weft::yield();
    EXPECT_THROW(server.serve_forever(), weft::InvalidStateError);  // one at a time
    weft::Stream client = weft::open_connection("127.0.0.1", server.port());
    client.write("x\n");
    EXPECT_EQ("x\n", client.readline());
    server.close();
    serving.get();
    EXPECT_THROW(server.serve_forever(), weft::InvalidStateError);  // closed
  });
}

TEST_F(Servers, CancelledServeForeverClosesAndWaits) {
  weft::run([] {
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
    auto serving = weft::create_task([&] { server.serve_forever(); });
    weft::Stream client = weft::open_connection("127.0.0.1", server.port());
    client.write("x\n");
    EXPECT_EQ("x\n", client.readline());
    serving.cancel();
    weft::sleep(milliseconds(5));
    EXPECT_FALSE(server.is_serving());
    EXPECT_FALSE(serving.done());  // waits for the open connection
    client.close();
    EXPECT_THROW(serving.get(), weft::CancelledError);
  });
}

TEST_F(Servers, CloseClientsAndAbortClients) {
  weft::run([] {
    int eofs = 0;
    weft::Server server = weft::start_server(
        [&](weft::Stream stream) {
          if (stream.readline().empty()) ++eofs;  // close_clients: the blocked read sees EOF
        },
        "127.0.0.1", 0);
    weft::Stream a = weft::open_connection("127.0.0.1", server.port());
    weft::Stream b = weft::open_connection("127.0.0.1", server.port());
    while (server.active_connections() < 2) weft::sleep(milliseconds(1));
    server.close();
    server.close_clients();
    server.wait_closed();
    EXPECT_EQ(2, eofs);
    EXPECT_EQ("", a.read_all());
    EXPECT_EQ("", b.read_all());

    weft::Server second = weft::start_server([](weft::Stream stream) { stream.readline(); }, "127.0.0.1", 0);
    weft::Stream c = weft::open_connection("127.0.0.1", second.port());
    while (second.active_connections() < 1) weft::sleep(milliseconds(1));
    second.abort_clients();
    second.close();
    second.wait_closed();
    EXPECT_EQ("", c.read_all());
  });
}

TEST_F(Servers, DestroyingTheServerClosesIt) {
  weft::run([] {
    uint16_t port = 0;
    {
      weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0);
      port = server.port();
    }
    EXPECT_THROW(weft::open_connection("127.0.0.1", port), weft::ConnectionRefusedError);
  });
}

TEST_F(Servers, BindErrorNamesTheAddress) {
  weft::run([] {
    weft::Server first = weft::start_server(echo_lines, "127.0.0.1", 0);
    const std::string port = std::to_string(first.port());
    try {
      weft::start_server(echo_lines, "127.0.0.1", first.port());
      ADD_FAILURE() << "no SocketError";
    } catch (const weft::SocketError& e) {
      EXPECT_EQ(EADDRINUSE, e.err());
      EXPECT_EQ("bind to 127.0.0.1:" + port + ": Address already in use", std::string(e.what()));
    }
  });
}

TEST_F(Servers, UnixServerReplacesAStaleFileAndRemovesItsOwn) {  // test_start_unix_server
  const std::string path = weft_test::unix_socket_path("server");
  weft::run([&] {
    {
      weft::Server stale = weft::start_unix_server(echo_lines, path);
    }
    // Leave a stale socket file behind, as a crashed server would.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const weft::SocketAddress address = weft::SocketAddress::from_unix_path(path);
    ASSERT_EQ(0, ::bind(fd, static_cast<const sockaddr*>(address.data()), static_cast<socklen_t>(address.size())));
    ::close(fd);
    weft::Server server = weft::start_unix_server(echo_lines, path);
    EXPECT_EQ(path, server.sockets().at(0).host());
    EXPECT_EQ(0, server.port());
    weft::Stream client = weft::open_unix_connection(path);
    client.write("hi\n");
    EXPECT_EQ("hi\n", client.readline());
    server.close();
    struct stat st;
    EXPECT_NE(0, ::stat(path.c_str(), &st)) << "close() removes the socket file";
  });
}

// The process runs out of descriptors while clients keep connecting: the
// server reports it, pauses, and serves every client once descriptors are
// free again. RLIMIT_NOFILE is lowered for the test and restored.
TEST_F(Servers, SurvivesRunningOutOfFileDescriptors) {
  if (RUNNING_ON_VALGRIND) {
    GTEST_SKIP() << "Valgrind keeps its own descriptor limit: a lowered RLIMIT_NOFILE does not make accept fail";
  }
  const int kClients = 6;
  int served = 0;
  int resource_reports = 0;
  rlimit saved;
  ASSERT_EQ(0, ::getrlimit(RLIMIT_NOFILE, &saved));
  weft::run([&] {
    weft::get_running_loop().set_exception_handler([&](weft::Loop&, const weft::ExceptionContext& context) {
      if (context.message.find("out of system resource") != std::string::npos) ++resource_reports;
    });
    weft::ServerOptions options = big_backlog();
    options.accept_retry_delay = milliseconds(20);
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0, options);
    // The client sockets exist before the limit drops; connecting them
    // needs no new descriptor, accepting them does.
    std::vector<int> raw;
    for (int i = 0; i < kClients; ++i) raw.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(weft_test::open_fd_count() + 2);  // room for two accepts
    ASSERT_EQ(0, ::setrlimit(RLIMIT_NOFILE, &low));
    const weft::SocketAddress address = weft::SocketAddress::from_ip("127.0.0.1", server.port());
    std::vector<weft::Stream> clients;
    for (int fd : raw) {
      ASSERT_EQ(0, ::connect(fd, static_cast<const sockaddr*>(address.data()), static_cast<socklen_t>(address.size())));
      clients.push_back(weft::Stream::from_socket(fd));
    }
    for (weft::Stream& client : clients) client.write("hello\n");
    weft::sleep(milliseconds(50));
    EXPECT_GE(resource_reports, 1);
    // Each client finishes in turn; its connection's descriptor frees the
    // next accept.
    for (weft::Stream& client : clients) {
      EXPECT_EQ("hello\n", client.readline());
      client.close();
      client.wait_closed();
      ++served;
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
    server.close();
    server.wait_closed();
  });
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(kClients, served);
}

}  // namespace

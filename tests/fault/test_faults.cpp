// Tests of weft under the faults that are not transparent (issue 11, "Fault
// injection"), driven through libweft_fault (fault_shim.h), which this
// program is linked with:
//   - accept failing with EMFILE: the server reports it once, pauses, and
//     serves the pending connection when the retry delay has passed or, at
//     once, when one of its connections closes (weft/fiber/servers.hpp);
//   - getaddrinfo failing: ResolveError naming host and port, and, through
//     the HTTP client, ClientConnectorError naming the URL; failures are not
//     cached, and the pool slot is given back;
//   - getaddrinfo stalling: bounded by the client's connect timeout, or
//     cancelled, without waiting for the resolver, and the late answer is
//     dropped harmlessly;
// and, first, that the transparent faults the preloaded suite runs inject
// (short counts, EINTR, EAGAIN with its edge) really happen and leave the
// bytes intact: the check that the shim is in the way at all.
//
// Every test runs its own loop, starts and ends with no fault configured,
// and checks that no fd and no task is left behind.
#include <netdb.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "tests/fault/fault_shim.h"
#include "tests/http/script_server.hpp"
#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/resolver.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/servers.hpp"
#include "weft/fiber/streams.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/timeouts.hpp"
#include "weft/http/client.hpp"
#include "weft/reactor/loop.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Far longer than anything here takes, even on a loaded machine: only a
// broken behaviour reaches it.
constexpr seconds kPatience(20);

class Faults : public weft_test::FdLeakCheck {
 protected:
  void SetUp() override {
    weft_fault_configure("");
    weft::clear_dns_cache();  // per thread, and kept across loops: a cached "localhost" skips the resolver
    FdLeakCheck::SetUp();
  }
  void TearDown() override {
    weft_fault_configure("");
    FdLeakCheck::TearDown();
  }
};

// Waits, inside a task, until `condition` holds; false if kPatience passed.
bool eventually(const std::function<bool()>& condition) {
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    weft::sleep(milliseconds(5));
  }
  return true;
}

// Echoes every line back until EOF.
void echo_lines(weft::Stream stream) {
  for (;;) {
    const std::string line = stream.readline();
    if (line.empty()) return;
    stream.write(line);
    stream.drain();
  }
}

// Echoes every byte back until EOF, then ends its side too.
void echo_bytes(weft::Stream stream) {
  for (;;) {
    const std::string chunk = stream.read(64 * 1024);
    if (chunk.empty()) break;
    stream.write(chunk);
    stream.drain();
  }
  stream.write_eof();
  stream.drain();
}

// The loop's exception reports, collected instead of printed.
std::vector<std::string>& collect_reports() {
  static std::vector<std::string> reports;
  reports.clear();
  weft::get_running_loop().set_exception_handler(
      [](weft::Loop&, const weft::ExceptionContext& context) { reports.push_back(context.message); });
  return reports;
}

std::string localhost_url(uint16_t port) { return "http://localhost:" + std::to_string(port) + "/"; }

// --- transparent faults ----------------------------------------------------------------

TEST_F(Faults, ShortCountsEintrAndEagainLeaveAnEchoIntact) {
  const char* const kinds[] = {"recv.short", "recv.eintr", "recv.eagain", "send.short", "send.eintr", "send.eagain"};
  std::vector<unsigned long> before;
  for (const char* kind : kinds) before.push_back(weft_fault_count(kind));

  std::string payload(1 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);

  weft::run([&] {
    weft::Server server = weft::start_server(echo_bytes, "127.0.0.1", 0);
    weft_fault_configure("short=0.5,eintr=0.2,eagain=0.2");
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port());
    auto writer = weft::create_task([&] {
      for (std::size_t at = 0; at < payload.size(); at += 16 * 1024) {
        stream.write(payload.substr(at, 16 * 1024));
        stream.drain();
      }
      stream.write_eof();
    });
    const std::string echoed = weft::wait_for([&] { return stream.read_exactly(payload.size()); }, kPatience);
    EXPECT_TRUE(echoed == payload) << "the echo differs from what was sent";
    EXPECT_EQ("", stream.read(1));  // then EOF
    writer.get();
    weft_fault_configure("");
    stream.close();
    stream.wait_closed();
    server.close();
    server.wait_closed();
    EXPECT_EQ(1u, weft::all_tasks().size());
  });
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_LT(before[i], weft_fault_count(kinds[i])) << "no " << kinds[i] << " was injected";
  }
}

// --- accept: EMFILE ---------------------------------------------------------------------

TEST_F(Faults, AcceptOutOfDescriptorsIsReportedOncePausesAndServesLater) {
  const unsigned long emfile_before = weft_fault_count("accept.emfile");
  weft::run([&] {
    std::vector<std::string>& reports = collect_reports();
    weft::ServerOptions options;
    options.accept_retry_delay = milliseconds(20);
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0, options);
    weft_fault_configure("emfile=1");
    // The kernel completes the connection in the backlog; only accepting it fails.
    weft::Stream stream = weft::open_connection("127.0.0.1", server.port());
    stream.write("ping\n");
    ASSERT_TRUE(eventually([&] { return weft_fault_count("accept.emfile") >= emfile_before + 3; }))
        << "the server did not retry accepting";
    weft_fault_configure("");
    EXPECT_EQ("ping\n", weft::wait_for([&] { return stream.readline(); }, kPatience));

    ASSERT_EQ(1u, reports.size()) << "the pause is reported once, not at every retry";
    EXPECT_NE(std::string::npos, reports[0].find("out of system resource (Too many open files)")) << reports[0];
    EXPECT_NE(std::string::npos, reports[0].find("accept on 127.0.0.1:" + std::to_string(server.port())))
        << reports[0];
    stream.close();
    stream.wait_closed();
    server.close();
    server.wait_closed();
    EXPECT_EQ(1u, weft::all_tasks().size());
  });
}

TEST_F(Faults, AcceptResumesAsSoonAsOneOfTheServersConnectionsCloses) {
  const unsigned long emfile_before = weft_fault_count("accept.emfile");
  weft::run([&] {
    std::vector<std::string>& reports = collect_reports();
    weft::ServerOptions options;
    options.accept_retry_delay = std::chrono::hours(1);  // only a closing connection can resume it
    weft::Server server = weft::start_server(echo_lines, "127.0.0.1", 0, options);
    weft::Stream first = weft::open_connection("127.0.0.1", server.port());
    first.write("one\n");
    EXPECT_EQ("one\n", first.readline());

    weft_fault_configure("emfile=1");
    weft::Stream second = weft::open_connection("127.0.0.1", server.port());
    second.write("two\n");
    ASSERT_TRUE(eventually([&] { return weft_fault_count("accept.emfile") > emfile_before; }));
    weft_fault_configure("");
    // The server's end of `first` sees EOF, its handler returns, its socket
    // closes: a descriptor is free, so the paused listener accepts again.
    first.close();
    first.wait_closed();
    EXPECT_EQ("two\n", weft::wait_for([&] { return second.readline(); }, kPatience));
    EXPECT_EQ(emfile_before + 1, weft_fault_count("accept.emfile")) << "a paused listener does not retry by itself";
    EXPECT_EQ(1u, reports.size());

    second.close();
    second.wait_closed();
    server.close();
    server.wait_closed();
    EXPECT_EQ(1u, weft::all_tasks().size());
  });
}

// --- getaddrinfo: failures ---------------------------------------------------------------

TEST_F(Faults, FailedLookupIsAResolveErrorNamingHostAndPortAndIsNotCached) {
  weft::run([] {
    weft_fault_configure("gai_fail=1");
    try {
      weft::getaddrinfo("localhost", 8080);
      ADD_FAILURE() << "no ResolveError";
    } catch (const weft::ResolveError& e) {
      EXPECT_EQ(EAI_AGAIN, e.eai_code());
      EXPECT_EQ("localhost", e.host());
      EXPECT_EQ(8080, e.port());
      EXPECT_STREQ("getaddrinfo(localhost:8080): Temporary failure in name resolution", e.what());
    }
    weft_fault_configure("");
    EXPECT_FALSE(weft::getaddrinfo("localhost", 8080).empty());
  });
}

TEST_F(Faults, FailedLookupInTheClientIsAClientConnectorErrorAndGivesTheSlotBack) {
  weft::run([] {
    weft_test::ScriptServer server({weft_test::Exchange("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")});
    const std::string url = localhost_url(server.port());
    weft::http::SessionOptions options;
    options.connector.limit = 1;  // a slot kept by the failed request would block the next one
    options.timeout.connect = seconds(10);
    weft::http::ClientSession session(options);

    weft_fault_configure("gai_fail=1");
    try {
      session.get(url);
      ADD_FAILURE() << "no ClientConnectorError";
    } catch (const weft::http::ClientConnectorError& e) {
      EXPECT_EQ("localhost", e.host());
      EXPECT_EQ(server.port(), e.port());
      EXPECT_EQ(EAI_AGAIN, e.error());
      EXPECT_EQ(url, e.url());
      EXPECT_NE(std::string::npos,
                std::string(e.what()).find("getaddrinfo(localhost:" + std::to_string(server.port()) +
                                           "): Temporary failure in name resolution"))
          << e.what();
    }
    EXPECT_EQ(1u, weft::all_tasks().size());
    weft_fault_configure("");
    weft::http::Response response = session.get(url);
    EXPECT_EQ(200, response.status());
    EXPECT_EQ("ok", response.read());
    EXPECT_EQ(1u, server.connections());
  });
}

// --- getaddrinfo: stalls -----------------------------------------------------------------

TEST_F(Faults, StalledLookupIsBoundedByTheClientsConnectTimeout) {
  weft::run([] {
    weft_test::ScriptServer server({weft_test::Exchange("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")});
    const std::string url = localhost_url(server.port());
    weft::http::SessionOptions options;
    options.connector.limit = 1;
    options.timeout.connect = milliseconds(100);
    weft::http::ClientSession session(options);

    weft_fault_configure("gai_stall=1,gai_stall_ms=3000");
    try {
      session.get(url);
      ADD_FAILURE() << "no TimeoutError";
    } catch (const weft::TimeoutError& e) {
      EXPECT_NE(std::string::npos, std::string(e.what()).find("ClientTimeout connect = 100 ms")) << e.what();
    }
    EXPECT_EQ(1, weft_fault_stalls_in_progress()) << "the timeout waited for the resolver";
    EXPECT_EQ(1u, weft::all_tasks().size());
    weft_fault_configure("");

    // The lookup ends on its worker and its answer is dropped; the slot is
    // free and nothing was cached from it.
    ASSERT_TRUE(eventually([] { return weft_fault_stalls_in_progress() == 0; }));
    weft::sleep(milliseconds(50));  // time for a wrongly delivered late answer to do harm
    weft::http::Response response = session.get(url);
    EXPECT_EQ(200, response.status());
    EXPECT_EQ("ok", response.read());
  });
}

TEST_F(Faults, CancellingAStalledLookupReturnsAtOnceAndLeavesNothingBehind) {
  weft::run([] {
    weft_fault_configure("gai_stall=1,gai_stall_ms=3000");
    auto lookup = weft::create_task([] { return weft::getaddrinfo("localhost", 80); });
    ASSERT_TRUE(eventually([] { return weft_fault_stalls_in_progress() == 1; }));
    lookup.cancel();
    EXPECT_THROW(lookup.get(), weft::CancelledError);
    EXPECT_EQ(1, weft_fault_stalls_in_progress()) << "the cancellation waited for the resolver";
    EXPECT_EQ(1u, weft::all_tasks().size());
    weft_fault_configure("");

    ASSERT_TRUE(eventually([] { return weft_fault_stalls_in_progress() == 0; }));
    weft::sleep(milliseconds(50));
    EXPECT_FALSE(weft::getaddrinfo("localhost", 80).empty());
    EXPECT_EQ(1u, weft::all_tasks().size());
  });
}

}  // namespace

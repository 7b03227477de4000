// Soak test of weft::http::ClientSession (issue 11): 10,000 tasks, each
// holding its own keep-alive connection to a local nginx (tests/http/nginx_server.hpp)
// and sending GETs on it in a loop for a bounded time, every response
// checked (status and body, and each body names the file asked for, so a
// response delivered to the wrong request fails too).
//
// While the load runs, the process is sampled at regular intervals —
// resident memory (/proc/self/statm), open fds (/proc/self/fd), live tasks
// (weft::all_tasks()), the pool's connections, requests done — and each
// sample is printed as a table row on stdout, so the test log shows them.
// After a warm-up (every connection made, and a quarter of the run gone),
// the samples must stay flat: tasks and pooled connections exactly, fds
// within 1 %, memory within a generous bound. At the end, with the session
// closed, fds and tasks are back at their baseline exactly and the pool is
// empty. Nothing here asserts a time or a rate.
//
// Knobs (environment):
//   WEFT_SOAK_SECONDS       how long the load runs; default 20 (the CI entry
//                           of tests/reliability/meson.build sets 20 too).
//                           The long run: WEFT_SOAK_SECONDS=300.
//   WEFT_SOAK_CONNECTIONS   connections (= tasks) held at once; default
//                           10,000, or 2,000 under AddressSanitizer, whose
//                           larger frames and shadow memory make 10,000 fibers
//                           slow on a 2-core machine for no added coverage.
//
//   WEFT_SOAK_SECONDS=300 build/release/tests/reliability/test_soak
//
// Resident memory depends on how the test is run: each pooled connection
// owns a 64 KiB read buffer of which a plain run touches a page or so
// (about 155 MiB in all for 10,000 connections), while `meson test` sets
// MALLOC_PERTURB_, which fills every allocation and so makes those buffers
// resident (about 740 MiB). Either figure must stay flat.
//
// 10,000 connections need more than 10,000 fds in this process (and in
// nginx, which sets its own limit): RLIMIT_NOFILE is raised to the hard
// limit, the test fails if that is below 4,096 (DESIGN.md, "Tests on this
// machine"), and it holds fewer connections, saying so, if the hard limit
// leaves no room for all of them.
#include "weft/http/client.hpp"

#include <sys/resource.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/http/nginx_server.hpp"  // raise_nofile_limit()
#include "tests/reliability/process_probes.hpp"
#include "tests/http/nginx_server.hpp"
#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using weft::http::ClientSession;
using weft::http::Response;
using weft::http::SessionOptions;

constexpr double kMiB = 1024.0 * 1024.0;

// Fds this process needs besides its connections: stdio, the loop's epoll
// and wake-up fds, the resolver's threads, the status requests, gtest.
constexpr std::size_t kFdHeadroom = 256;

// How long, how many, how often.
struct Plan {
  std::chrono::seconds duration;
  std::size_t connections;
  std::chrono::milliseconds interval;  // between samples
  std::chrono::milliseconds warm_up;   // at least; and until every connection is made
};

// The plan from the environment and the fd limit (already raised).
Plan make_plan() {
  Plan plan;
  plan.duration = std::chrono::seconds(weft_test::env_number("WEFT_SOAK_SECONDS", 20));
  plan.connections = weft_test::env_number("WEFT_SOAK_CONNECTIONS", weft_test::kUnderAsan ? 2000 : 10000);
  rlimit limit = {};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (plan.connections + kFdHeadroom > limit.rlim_cur) {
    const std::size_t fit = static_cast<std::size_t>(limit.rlim_cur) - kFdHeadroom;
    std::printf("[soak] RLIMIT_NOFILE is %lu: holding %zu connections instead of %zu\n",
                static_cast<unsigned long>(limit.rlim_cur), fit, plan.connections);
    plan.connections = fit;
  }
  // About twenty rows whatever the length, never more than one a second.
  plan.interval = std::max<std::chrono::milliseconds>(std::chrono::seconds(1), plan.duration / 20);
  plan.warm_up = std::max<std::chrono::milliseconds>(std::chrono::seconds(3), plan.duration / 4);
  return plan;
}

// One row of the table.
struct Sample {
  double seconds = 0;
  std::size_t rss = 0;
  int fds = 0;
  std::size_t tasks = 0;
  std::size_t connections = 0;  // the pool's, in use and idle
  std::uint64_t requests = 0;
};

// What the workers did, checked at the end.
struct Tally {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::size_t connected = 0;  // workers whose first request succeeded
  std::vector<std::string> first_failures;

  void fail(const std::string& what) {
    ++failures;
    if (first_failures.size() < 5) first_failures.push_back(what);
  }
  std::string describe() const {
    std::string all;
    for (const auto& failure : first_failures) all += "  " + failure + "\n";
    return all;
  }
};

Sample take_sample(Clock::time_point start, const ClientSession& session, const Tally& tally) {
  Sample s;
  s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  s.rss = weft_test::resident_bytes();
  s.fds = weft_test::open_fd_count();
  s.tasks = weft::all_tasks().size();
  s.connections = session.connections_in_use() + session.connections_idle();
  s.requests = tally.requests;
  return s;
}

void print_header() {
  std::printf("[soak] %8s %9s %7s %7s %7s %11s %9s\n", "t_s", "rss_mib", "fds", "tasks", "conns", "requests",
              "req_per_s");
}

void print_row(const Sample& s, const Sample& previous, const char* note) {
  const double span = s.seconds - previous.seconds;
  const double rate = span > 0 ? static_cast<double>(s.requests - previous.requests) / span : 0.0;
  std::printf("[soak] %8.1f %9.1f %7d %7zu %7zu %11llu %9.0f%s\n", s.seconds, static_cast<double>(s.rss) / kMiB,
              s.fds, s.tasks, s.connections, static_cast<unsigned long long>(s.requests), rate, note);
  std::fflush(stdout);
}

// nginx's own count of open connections (its stub_status), through a
// session of its own that is closed before returning.
long nginx_active_connections(const weft_test::NginxServer& nginx) {
  ClientSession status_session;
  Response response = status_session.get(nginx.url("/status"));
  return weft_test::NginxServer::active_connections(response.read());
}

// How much resident memory may grow after the warm-up without counting as a
// leak: a quarter of the warm-up's figure plus 64 MiB (allocator caches, a
// busier moment); under ASan also its quarantine of freed blocks (256 MiB
// by default), which fills gradually at this allocation rate.
std::size_t rss_tolerance(std::size_t reference) {
  const std::size_t quarantine = weft_test::kUnderAsan ? std::size_t{320} << 20 : 0;
  return reference / 4 + (std::size_t{64} << 20) + quarantine;
}

class Soak : public weft_test::FdLeakCheck {};

TEST_F(Soak, KeepAliveConnectionsStayFlat) {
  ASSERT_TRUE(weft_test::raise_nofile_limit(4096));
  const Plan plan = make_plan();
  // 100 small files f/<i>.txt, no large one; room for every connection.
  weft_test::NginxServer nginx(0, 100, weft_test::NginxTls(), plan.connections + 1024);
  std::printf("[soak] %zu connections for %lld s, a sample every %lld ms, warm-up at least %lld ms%s\n",
              plan.connections, static_cast<long long>(plan.duration.count()),
              static_cast<long long>(plan.interval.count()), static_cast<long long>(plan.warm_up.count()),
              weft_test::kUnderAsan ? " (AddressSanitizer)" : "");

  weft::run([&] {
    const std::size_t base_tasks = weft::all_tasks().size();
    const int base_fds = weft_test::open_fd_count();

    SessionOptions options;
    options.connector.limit = 0;  // no limit: every worker holds its own connection
    options.connector.limit_per_host = 0;
    options.connector.keepalive_timeout = std::chrono::minutes(10);
    options.timeout.total = std::chrono::minutes(2);  // a stuck request fails rather than hangs
    ClientSession session(options);

    Tally tally;
    bool stop = false;
    const int files = nginx.file_count();
    // `stop` is set by the main task while the workers are parked.
    auto worker = [&](std::size_t index) {
      for (std::size_t k = 0;; ++k) {
        if (stop) return;
        const int file = static_cast<int>((index + k) % static_cast<std::size_t>(files));
        try {
          const std::string name = "f/" + std::to_string(file) + ".txt";
          Response response = session.get(nginx.url(name));
          const std::string body = response.read();
          if (response.status() != 200 || body != nginx.content(name)) {
            tally.fail("GET f/" + std::to_string(file) + ".txt: status " + std::to_string(response.status()) +
                       ", body \"" + body.substr(0, 60) + "\"");
          } else if (k == 0) {
            ++tally.connected;
          }
        } catch (const std::exception& e) {
          tally.fail(std::string("GET f/") + std::to_string(file) + ".txt: " + e.what());
        }
        ++tally.requests;
      }
    };
    std::vector<weft::Task<void>> workers;
    workers.reserve(plan.connections);
    for (std::size_t i = 0; i < plan.connections; ++i) {
      workers.push_back(weft::create_task([&worker, i] { worker(i); }));
    }

    // Sample until the end; the first sample past the warm-up is the
    // reference the later ones are held to.
    const Clock::time_point start = Clock::now();
    std::vector<Sample> samples;
    bool warm = false;
    std::size_t reference = 0;  // index into samples, once warm
    Sample previous;
    print_header();
    for (Clock::duration left = plan.duration; left > Clock::duration::zero();
         left = plan.duration - (Clock::now() - start)) {
      weft::sleep(std::min<Clock::duration>(plan.interval, left));
      samples.push_back(take_sample(start, session, tally));
      const bool is_reference =
          !warm && tally.connected == plan.connections && Clock::now() - start >= plan.warm_up;
      if (is_reference) {
        warm = true;
        reference = samples.size() - 1;
      }
      print_row(samples.back(), previous, is_reference ? "  <- reference (warm)" : "");
      previous = samples.back();
      if (is_reference) {
        // The server's side of "every connection is held": nginx counts the
        // workers' connections plus the status request's own.
        EXPECT_EQ(static_cast<long>(plan.connections) + 1, nginx_active_connections(nginx));
      }
    }

    stop = true;
    for (auto& task : workers) task.get();
    const Sample last = take_sample(start, session, tally);
    std::printf("[soak] done: %llu requests in %.1f s (%.0f/s), %llu failures\n",
                static_cast<unsigned long long>(tally.requests), last.seconds,
                static_cast<double>(tally.requests) / last.seconds, static_cast<unsigned long long>(tally.failures));

    EXPECT_EQ(0u, tally.failures) << "first failures:\n" << tally.describe();
    ASSERT_TRUE(warm) << "never warm: " << tally.connected << " of " << plan.connections << " connections made in "
                      << plan.duration.count() << " s";

    // Flat after the warm-up.
    const Sample& ref = samples[reference];
    const int fd_slack = static_cast<int>(std::max<std::size_t>(16, plan.connections / 100));
    for (std::size_t i = reference; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      EXPECT_EQ(ref.tasks, s.tasks) << "at " << s.seconds << " s";
      EXPECT_EQ(plan.connections, s.connections) << "at " << s.seconds << " s";
      EXPECT_NEAR(ref.fds, s.fds, fd_slack) << "at " << s.seconds << " s";
      EXPECT_LE(s.rss, ref.rss + rss_tolerance(ref.rss))
          << "at " << s.seconds << " s: " << static_cast<double>(s.rss) / kMiB << " MiB, reference "
          << static_cast<double>(ref.rss) / kMiB << " MiB";
    }
    EXPECT_GT(last.requests, ref.requests) << "no request completed after the warm-up";

    // Back to the baseline: every connection back in the pool, then none.
    EXPECT_EQ(0u, session.connections_in_use());
    EXPECT_EQ(plan.connections, session.connections_idle());
    session.close();
    EXPECT_EQ(0u, session.connections_idle());
    EXPECT_EQ(base_fds, weft_test::open_fd_count());
    EXPECT_EQ(base_tasks, weft::all_tasks().size());
    std::printf("[soak] after close: rss %.1f MiB, fds %d (baseline %d), tasks %zu (baseline %zu)\n",
                static_cast<double>(weft_test::resident_bytes()) / kMiB, weft_test::open_fd_count(), base_fds,
                weft::all_tasks().size(), base_tasks);
  });
}

}  // namespace

// Cancellation storms against weft::http::ClientSession (issue 11): two
// thousand requests at a time, each held at one point of its life by a
// server that stalls it there (stall_servers.hpp) — connecting, in the TLS
// handshake, waiting for the head, inside the body, waiting for a pool slot
// — then cancelled in random order at random moments, half of them by
// task.cancel() and half by a wait_for() whose timeout expires. A last
// storm cancels requests at random moments of their whole life against a
// server that does answer, so cancels also land between the points. The
// pool storm also plays connector.hpp's race on purpose: a waiter cancelled
// in the iteration in which it is handed a slot must pass the slot on.
//
// After each storm:
//   - every cancelled request ended in weft::CancelledError, every wait_for
//     in weft::TimeoutError (and its request in CancelledError): nothing
//     else, no hang;
//   - the session's pool holds no connection in use and none idle (a
//     request cancelled mid-response never returns its connection);
//   - a fresh request on the same session succeeds;
//   - once the session is closed and the servers have seen every
//     connection close, this process has exactly the fds and tasks
//     (weft::all_tasks()) it had before the storm, and the fixture checks
//     the fds once more after the loop is gone.
// Each storm prints a line with its counts and wall time.
//
// Knobs (environment):
//   WEFT_STORM_SEED       the random seed (printed by every test; set it to
//                         replay a run), default: from std::random_device
//   WEFT_STORM_REQUESTS   requests per storm, default 2,000, under
//                         AddressSanitizer too (the whole run takes about
//                         10 s in either build on a loaded 2-core machine)
#include "weft/http/client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tests/http/nginx_server.hpp"
#include "tests/reliability/process_probes.hpp"
#include "tests/reliability/stall_servers.hpp"
#include "tests/support/socket_helpers.hpp"
#include "tests/support/tls_certs.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/timeouts.hpp"
#include "weft/fiber/tls.hpp"
#include "weft/fiber/waiting.hpp"

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using weft::http::ClientSession;
using weft::http::Response;
using weft::http::SessionOptions;
using weft_test::FullBacklogListener;
using weft_test::kAnswerBody;
using weft_test::Stall;
using weft_test::StallServer;

// The cancels of a storm land within this long after every request reached
// its point.
constexpr milliseconds kCancelWindow{200};

// A storm still running this long after its cancels has hung.
constexpr std::chrono::seconds kHangLimit{60};

std::size_t storm_size() { return weft_test::env_number("WEFT_STORM_REQUESTS", 2000); }

// One seed for the whole run, printed by each test.
unsigned storm_seed() {
  static const unsigned seed =
      static_cast<unsigned>(weft_test::env_number("WEFT_STORM_SEED", std::random_device()()));
  return seed;
}

// How a request is brought to an end.
enum class Aim {
  kUntouched,     // left alone: must complete
  kCancel,        // task.cancel(): must end in CancelledError
  kWaitFor,       // another task's wait_for(request, t): TimeoutError there, CancelledError here
  kInnerWaitFor,  // the request runs inside wait_for(fn, t) itself: TimeoutError
};

const char* aim_name(Aim aim) {
  switch (aim) {
    case Aim::kUntouched: return "untouched";
    case Aim::kCancel: return "cancel()";
    case Aim::kWaitFor: return "wait_for(task)";
    case Aim::kInnerWaitFor: return "wait_for(fn)";
  }
  return "?";
}

// How a task ended.
enum class End { kCompleted, kCancelled, kTimedOut, kOther };

// What the requests of a storm came to.
struct Tally {
  std::size_t by_cancel = 0;    // ended in CancelledError through cancel()
  std::size_t by_wait_for = 0;  // ended in TimeoutError through either wait_for
  std::size_t completed = 0;    // completed with the expected body
  std::vector<std::string> failures;

  std::string describe_failures() const {
    std::string text;
    for (std::size_t i = 0; i < failures.size() && i < 10; ++i) text += "  " + failures[i] + "\n";
    if (failures.size() > 10) text += "  ... and " + std::to_string(failures.size() - 10) + " more\n";
    return text;
  }
};

// A storm: `n` requests launched at once, each a task running request(i),
// and the cancels aimed at them. Create, use and finish it in one task.
class Storm {
 public:
  using Request = std::function<std::string(std::size_t index)>;

  Storm(std::mt19937& random, std::size_t n, Request request)
      : random_(random), request_(std::move(request)), aims_(n, Aim::kUntouched), start_(Clock::now()) {
    requests_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      requests_.push_back(weft::create_task([this, i] {
        ++started_;
        return request_(i);
      }));
    }
  }

  Storm(const Storm&) = delete;
  Storm& operator=(const Storm&) = delete;

  // A test that stops early (a failed ASSERT) leaves requests running that
  // use this storm and the session: cancel them and wait for them here,
  // before those go away. (A cancellation of this task while waiting is
  // dropped: a destructor cannot throw it.)
  ~Storm() {
    for (auto& watcher : watchers_) watcher.second.cancel();
    for (auto& request : requests_) request.cancel();
    try {
      for (auto& watcher : watchers_) weft::TaskRef(watcher.second).wait();
      for (auto& request : requests_) weft::TaskRef(request).wait();
    } catch (...) {
    }
  }

  // Requests whose task has begun.
  std::size_t started() const { return started_; }

  // Cancels requests [first, last) in random order at random moments within
  // `window` from now: each by cancel() or, as a coin decides, by a
  // wait_for() with a timeout in that window. Returns once every cancel()
  // was made (the wait_for timeouts fall within the same window).
  void cancel(std::size_t first, std::size_t last, milliseconds window) {
    std::vector<std::size_t> order;
    for (std::size_t i = first; i < last; ++i) order.push_back(i);
    cancel(std::move(order), window);
  }

  // The same for the requests listed.
  void cancel(std::vector<std::size_t> which, milliseconds window) {
    std::shuffle(which.begin(), which.end(), random_);
    std::uniform_int_distribution<long> moment(1, static_cast<long>(window.count()));
    std::bernoulli_distribution use_wait_for(0.5);
    std::vector<std::pair<milliseconds, std::size_t>> cancels;
    for (std::size_t i : which) {
      const milliseconds at(moment(random_));
      if (use_wait_for(random_)) {
        aims_[i] = Aim::kWaitFor;
        const weft::Task<std::string> request = requests_[i];
        watchers_.emplace_back(i, weft::create_task([request, at] { return weft::wait_for(request, at); }));
      } else {
        cancels.emplace_back(at, i);
      }
    }
    cancel_at(std::move(cancels));
  }

  // Cancels the given requests by cancel(), each at its moment from now.
  // The cancels whose moment has come are made together, without yielding
  // in between, so that several land in one loop iteration, as they do
  // when a real program tears down many requests at once.
  void cancel_at(std::vector<std::pair<milliseconds, std::size_t>> cancels) {
    std::sort(cancels.begin(), cancels.end());
    const Clock::time_point from = Clock::now();
    for (const auto& c : cancels) {
      const Clock::time_point due = from + c.first;
      if (due > Clock::now()) weft::sleep(due - Clock::now());
      cancel_now(c.second);
    }
  }

  // Cancels request i by cancel(), at once.
  void cancel_now(std::size_t i) {
    aims_[i] = Aim::kCancel;
    requests_[i].cancel();
  }

  // Marks request i as one that runs inside its own wait_for(fn, t).
  void set_inner_wait_for(std::size_t i) { aims_[i] = Aim::kInnerWaitFor; }

  // Waits for every request and wait_for of the storm and tallies how they
  // ended against their aims. A completion must carry `expected_body`, and
  // counts as a failure for an aimed request unless `may_complete` (a
  // request that finished before its cancel came).
  Tally finish(const std::string& expected_body, bool may_complete) {
    Tally tally;
    // A hang is a failure too, not a test that never ends.
    std::vector<weft::Task<std::string>> everything = requests_;
    for (const auto& watcher : watchers_) everything.push_back(watcher.second);
    const std::size_t hung = weft::wait(everything, kHangLimit).pending.size();
    if (hung != 0) {
      tally.failures.push_back(std::to_string(hung) + " requests and wait_fors still running after " +
                               std::to_string(kHangLimit.count()) + " s");
      return tally;
    }
    std::vector<bool> timed_out_outside(requests_.size(), false);
    for (auto& watcher : watchers_) {
      std::string what;
      const End end = end_of(watcher.second, expected_body, &what);
      if (end == End::kTimedOut) {
        timed_out_outside[watcher.first] = true;
      } else if (!(end == End::kCompleted && may_complete)) {
        tally.failures.push_back("wait_for(request " + std::to_string(watcher.first) + ") ended with " + what);
      }
    }
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      std::string what;
      const End end = end_of(requests_[i], expected_body, &what);
      const Aim aim = aims_[i];
      if (end == End::kCompleted && (aim == Aim::kUntouched || may_complete)) {
        ++tally.completed;
      } else if (end == End::kCancelled && aim == Aim::kCancel) {
        ++tally.by_cancel;
      } else if (end == End::kCancelled && aim == Aim::kWaitFor && timed_out_outside[i]) {
        ++tally.by_wait_for;
      } else if (end == End::kTimedOut && aim == Aim::kInnerWaitFor) {
        ++tally.by_wait_for;
      } else if (!(aim == Aim::kWaitFor && !timed_out_outside[i])) {  // that failure is already counted
        tally.failures.push_back("request " + std::to_string(i) + " (" + aim_name(aim) + ") ended with " + what);
      }
    }
    seconds_ = std::chrono::duration<double>(Clock::now() - start_).count();
    return tally;
  }

  // From launch to the end of finish().
  double seconds() const { return seconds_; }

 private:
  // Waits for `task` and says how it ended (*what: in words).
  static End end_of(weft::Task<std::string>& task, const std::string& expected_body, std::string* what) {
    try {
      const std::string body = task.get();
      *what = "a body of " + std::to_string(body.size()) + " bytes";
      return body == expected_body ? End::kCompleted : End::kOther;
    } catch (const weft::CancelledError&) {
      *what = "CancelledError";
      return End::kCancelled;
    } catch (const weft::TimeoutError& e) {
      *what = std::string("TimeoutError: ") + e.what();
      return End::kTimedOut;
    } catch (const std::exception& e) {
      *what = std::string(typeid(e).name()) + ": " + e.what();
      return End::kOther;
    }
  }

  std::mt19937& random_;
  Request request_;
  std::vector<weft::Task<std::string>> requests_;
  std::vector<std::pair<std::size_t, weft::Task<std::string>>> watchers_;  // (request, its wait_for)
  std::vector<Aim> aims_;
  std::size_t started_ = 0;
  Clock::time_point start_;
  double seconds_ = 0;
};

// The whole body of a GET.
std::string get_body(ClientSession& session, const std::string& url) {
  Response response = session.get(url);
  return response.read();
}

// Blocks this task until `reached()` holds; fails after a minute (a loaded
// machine can take long to open a thousand connections).
::testing::AssertionResult wait_until(const std::function<bool()>& reached, const char* what) {
  const Clock::time_point give_up = Clock::now() + std::chrono::minutes(1);
  while (!reached()) {
    if (Clock::now() > give_up) return ::testing::AssertionFailure() << "not reached within a minute: " << what;
    weft::sleep(milliseconds(5));
  }
  return ::testing::AssertionSuccess();
}

// The session of a storm: no connection limit, so that every request
// dials, and a total timeout that turns a request hung by a bug (a slot
// never given back, say) into a failure within the hang limit.
SessionOptions storm_options() {
  SessionOptions options;
  options.connector.limit = 0;
  options.connector.limit_per_host = 0;
  options.timeout.total = kHangLimit;
  return options;
}

void report(const char* point, std::size_t n, const Tally& tally, double seconds) {
  std::printf("[storm] %-12s %5zu requests: %5zu cancel(), %5zu wait_for, %5zu completed, %zu wrong; %.2f s\n",
              point, n, tally.by_cancel, tally.by_wait_for, tally.completed, tally.failures.size(), seconds);
  std::fflush(stdout);
}

// Every request was cancelled, in the expected way.
void expect_all_cancelled(std::size_t n, const Tally& tally) {
  EXPECT_TRUE(tally.failures.empty()) << tally.failures.size() << " requests ended wrongly:\n"
                                      << tally.describe_failures();
  EXPECT_EQ(n, tally.by_cancel + tally.by_wait_for);
}

void expect_pool_empty(const ClientSession& session) {
  EXPECT_EQ(0u, session.connections_in_use());
  EXPECT_EQ(0u, session.connections_idle());
}

// A fresh request through `session` gets the whole answer.
void expect_fresh_get(ClientSession& session, const std::string& url) {
  try {
    Response response = session.get(url);
    EXPECT_EQ(200, response.status()) << url;
    EXPECT_EQ(kAnswerBody, response.read()) << url;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a fresh GET " << url << " after the storm failed: " << e.what();
  }
}

// This process's fds and live tasks.
struct Baseline {
  int fds;
  std::size_t tasks;
};

// Takes the baseline once everything that exists for the whole test (the
// servers, the resolver and TLS machinery a first request sets up) is in
// place: one request through a throwaway session, then the snapshot.
Baseline settle(StallServer& answering, const SessionOptions& options = SessionOptions()) {
  {
    ClientSession session(options);
    expect_fresh_get(session, answering.url());
  }
  EXPECT_TRUE(answering.wait_idle());
  return Baseline{weft_test::open_fd_count(), weft::all_tasks().size()};
}

// Once every server has closed its side of the storm's connections, fds
// and tasks are back to `base`.
void expect_back_to(const Baseline& base, std::initializer_list<const StallServer*> servers) {
  for (const StallServer* server : servers) {
    EXPECT_TRUE(server->wait_idle()) << server->open_connections() << " connections still open at " << server->url();
  }
  EXPECT_EQ(base.fds, weft_test::open_fd_count()) << "fds leaked";
  EXPECT_EQ(base.tasks, weft::all_tasks().size()) << "tasks left behind";
}

class CancellationStorms : public weft_test::FdLeakCheck {
 protected:
  void SetUp() override {
    FdLeakCheck::SetUp();
    // A storm holds both ends of up to n_ connections in this process.
    ASSERT_TRUE(weft_test::raise_nofile_limit(std::max<rlim_t>(4096, 2 * n_ + 256)));
    std::printf("[storm] seed %u (WEFT_STORM_SEED=%u repeats this run)\n", storm_seed(), storm_seed());
    random_.seed(storm_seed());
  }

  std::mt19937 random_;
  const std::size_t n_ = storm_size();
};

TEST_F(CancellationStorms, WhileConnecting) {
  weft::run([&] {
    StallServer answering(Stall::kAnswer);
    FullBacklogListener listener;
    const Baseline base = settle(answering);
    {
      ClientSession session(storm_options());
      Storm storm(random_, n_, [&](std::size_t) { return get_body(session, listener.url()); });
      ASSERT_TRUE(wait_until([&] { return listener.connecting_clients() == n_; }, "every request in connect()"));
      storm.cancel(0, n_, kCancelWindow);
      const Tally tally = storm.finish(kAnswerBody, false);
      report("connect", n_, tally, storm.seconds());
      expect_all_cancelled(n_, tally);
      EXPECT_EQ(0u, listener.connecting_clients()) << "sockets of cancelled connects are still open";
      expect_pool_empty(session);
      expect_fresh_get(session, answering.url());
    }
    expect_back_to(base, {&answering});
  });
}

TEST_F(CancellationStorms, InTheTlsHandshake) {
  weft_test::TlsCerts certs;
  weft::TlsOptions server_tls;
  server_tls.certfile = certs.server.cert;
  server_tls.keyfile = certs.server.key;
  weft::TlsOptions client_tls;
  client_tls.cafile = certs.ca.cert;
  weft::run([&] {
    StallServer silent(Stall::kSilent);
    StallServer answering(Stall::kAnswer, 0, weft::TlsContext::server(server_tls));
    SessionOptions options = storm_options();
    options.connector.ssl = weft::TlsContext::client(client_tls);
    const Baseline base = settle(answering, options);  // over TLS: OpenSSL is set up before the snapshot
    {
      ClientSession session(options);
      // Plain TCP that never answers: each client sends its ClientHello and waits.
      Storm storm(random_, n_, [&](std::size_t) { return get_body(session, silent.https_url()); });
      ASSERT_TRUE(wait_until([&] { return silent.greeted() == n_; }, "every ClientHello sent"));
      storm.cancel(0, n_, kCancelWindow);
      const Tally tally = storm.finish(kAnswerBody, false);
      report("tls", n_, tally, storm.seconds());
      expect_all_cancelled(n_, tally);
      expect_pool_empty(session);
      expect_fresh_get(session, answering.url());
    }
    expect_back_to(base, {&silent, &answering});
  });
}

TEST_F(CancellationStorms, WaitingForTheHead) {
  weft::run([&] {
    StallServer silent(Stall::kSilent);
    StallServer answering(Stall::kAnswer);
    const Baseline base = settle(answering);
    {
      ClientSession session(storm_options());
      Storm storm(random_, n_, [&](std::size_t) { return get_body(session, silent.url()); });
      ASSERT_TRUE(wait_until([&] { return silent.requests() == n_; }, "every request sent"));
      storm.cancel(0, n_, kCancelWindow);
      const Tally tally = storm.finish(kAnswerBody, false);
      report("head", n_, tally, storm.seconds());
      expect_all_cancelled(n_, tally);
      expect_pool_empty(session);
      // The same origin, answering now: no connection of the storm is reused.
      silent.set_mode(Stall::kAnswer);
      expect_fresh_get(session, silent.url());
      EXPECT_EQ(n_ + 1, silent.requests());
    }
    expect_back_to(base, {&silent, &answering});
  });
}

TEST_F(CancellationStorms, InTheBody) {
  weft::run([&] {
    StallServer stalling(Stall::kBody);
    StallServer answering(Stall::kAnswer);
    const Baseline base = settle(answering);
    {
      ClientSession session(storm_options());
      std::size_t heads = 0;
      Storm storm(random_, n_, [&](std::size_t) {
        Response response = session.get(stalling.url());
        ++heads;
        return response.read();  // kStallBodySent of kStallBodySize bytes come, then nothing
      });
      ASSERT_TRUE(wait_until([&] { return heads == n_; }, "every head received"));
      storm.cancel(0, n_, kCancelWindow);
      const Tally tally = storm.finish(kAnswerBody, false);
      report("body", n_, tally, storm.seconds());
      expect_all_cancelled(n_, tally);
      expect_pool_empty(session);  // a half-read connection is never pooled
      stalling.set_mode(Stall::kAnswer);
      expect_fresh_get(session, stalling.url());
    }
    expect_back_to(base, {&stalling, &answering});
  });
}

TEST_F(CancellationStorms, WaitingForAPoolSlot) {
  constexpr std::size_t kSlots = 2;
  weft::run([&] {
    StallServer silent(Stall::kSilent);
    StallServer answering(Stall::kAnswer);
    const Baseline base = settle(answering);
    {
      SessionOptions options = storm_options();
      options.connector.limit_per_host = kSlots;
      ClientSession session(options);
      Storm storm(random_, n_, [&](std::size_t) { return get_body(session, silent.url()); });
      // Tasks start in creation order: requests 0 and 1 take the slots and
      // wait for their heads; every other one waits for a slot, in order.
      auto all_placed = [&] {
        return storm.started() == n_ && silent.requests() == kSlots && session.connections_in_use() == kSlots;
      };
      ASSERT_TRUE(wait_until(all_placed, "two requests sent, the rest waiting for a slot"));

      // The race of connector.hpp's "a waiter cancelled after being handed a
      // slot passes it on": cancel holder 0, then the first waiter (2) in the
      // same iteration. Holder 0 unwinds first and hands its slot to waiter
      // 2, which then finds itself cancelled while holding it: the slot must
      // go on to waiter 3, whose request then reaches the server.
      storm.cancel_now(0);
      storm.cancel_now(2);
      ASSERT_TRUE(wait_until([&] { return silent.requests() == kSlots + 1; },
                             "the slot of a cancelled holder passed on by a cancelled waiter"));

      // The other waiters (4 on) at random moments: none may take a slot.
      storm.cancel(kSlots + 2, n_, kCancelWindow);
      weft::sleep(milliseconds(20));  // a slot wrongly handed on would show as a request
      EXPECT_EQ(kSlots + 1, silent.requests()) << "a cancelled waiter took a slot";
      EXPECT_EQ(kSlots, session.connections_in_use());
      storm.cancel(std::vector<std::size_t>{1, 3}, kCancelWindow);  // the holders, waiting for heads
      const Tally tally = storm.finish(kAnswerBody, false);
      report("pool wait", n_, tally, storm.seconds());
      expect_all_cancelled(n_, tally);
      expect_pool_empty(session);
      // Both slots are free: three requests to the same origin, one of
      // them waiting for a slot, all succeed.
      silent.set_mode(Stall::kAnswer);
      std::vector<weft::Task<std::string>> fresh;
      for (int i = 0; i < 3; ++i) fresh.push_back(weft::create_task([&] { return get_body(session, silent.url()); }));
      for (auto& task : fresh) EXPECT_EQ(kAnswerBody, task.get());
      EXPECT_EQ(0u, session.connections_in_use());
    }
    expect_back_to(base, {&silent, &answering});
  });
}

// The stage a request of the random storm had reached.
enum class Stage { kBeforeHead, kInBody, kDone };

TEST_F(CancellationStorms, AtRandomPoints) {
  // Sixteen slots for a thousand requests answered in 0-30 ms (15 on
  // average): requests wait for slots, connect, wait for heads and read
  // bodies in two parts while the cancels and timeouts fall across a window
  // about as long as the whole storm would take unhindered.
  constexpr std::size_t kSlots = 16;
  const milliseconds window(n_ * 15 / kSlots);
  weft::run([&] {
    StallServer answering(Stall::kAnswerLater, storm_seed());
    const Baseline base = settle(answering);
    std::vector<Stage> stages(n_, Stage::kBeforeHead);
    {
      SessionOptions options = storm_options();
      options.connector.limit_per_host = kSlots;
      ClientSession session(options);
      // A third each: cancel() at a random moment, a wait_for(fn, t) with a
      // random timeout, untouched (must complete).
      std::uniform_int_distribution<int> third(0, 2);
      std::uniform_int_distribution<long> moment(1, static_cast<long>(window.count()));
      std::vector<int> aims(n_);
      std::vector<milliseconds> moments(n_);
      for (std::size_t i = 0; i < n_; ++i) {
        aims[i] = third(random_);
        moments[i] = milliseconds(moment(random_));
      }
      auto request = [&](std::size_t i) {
        Response response = session.get(answering.url());
        stages[i] = Stage::kInBody;
        std::string body = response.read();
        stages[i] = Stage::kDone;
        return body;
      };
      Storm storm(random_, n_, [&](std::size_t i) {
        if (aims[i] != 1) return request(i);
        return weft::wait_for([&] { return request(i); }, moments[i]);
      });
      std::vector<std::pair<milliseconds, std::size_t>> cancels;
      for (std::size_t i = 0; i < n_; ++i) {
        if (aims[i] == 0) cancels.emplace_back(moments[i], i);
        if (aims[i] == 1) storm.set_inner_wait_for(i);
      }
      storm.cancel_at(std::move(cancels));
      const Tally tally = storm.finish(kAnswerBody, true);
      report("random", n_, tally, storm.seconds());
      std::size_t before_head = 0;
      std::size_t in_body = 0;
      for (std::size_t i = 0; i < n_; ++i) {
        if (stages[i] == Stage::kBeforeHead) ++before_head;
        if (stages[i] == Stage::kInBody) ++in_body;
      }
      std::printf("[storm] random: ended before the head %zu (slot wait, connect, head), inside the body %zu\n",
                  before_head, in_body);
      EXPECT_TRUE(tally.failures.empty()) << tally.failures.size() << " requests ended wrongly:\n"
                                          << tally.describe_failures();
      EXPECT_EQ(n_, tally.by_cancel + tally.by_wait_for + tally.completed);
      EXPECT_EQ(0u, session.connections_in_use());
      EXPECT_LE(session.connections_idle(), kSlots);
      expect_fresh_get(session, answering.url());
    }
    expect_back_to(base, {&answering});
  });
}

}  // namespace

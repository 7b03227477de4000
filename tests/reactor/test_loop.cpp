// Tests of weft::Loop's scheduling: call_soon, timers, running, stopping,
// closing and the exception handler. Modelled on CPython's
// test_asyncio/test_base_events.py and libuv's test-timer.c.
#include "weft/reactor/loop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "reactor/loop_impl.hpp"
#include "tests/support/loop_helpers.hpp"

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using weft_test::run_until;

TEST(Loop, CallSoonRunsInFifoOrder) {
  weft::Loop loop;
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) loop.call_soon([&order, i] { order.push_back(i); });
  loop.run_once();
  ASSERT_EQ(100u, order.size());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(i, order[static_cast<std::size_t>(i)]);
}

TEST(Loop, CallbacksScheduledDuringAnIterationRunInTheNext) {
  weft::Loop loop;
  std::vector<std::string> order;
  loop.call_soon([&] {
    order.push_back("a");
    loop.call_soon([&] { order.push_back("c"); });
  });
  loop.call_soon([&] { order.push_back("b"); });
  loop.run_once();
  EXPECT_EQ((std::vector<std::string>{"a", "b"}), order);
  loop.run_once();
  EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}), order);
}

TEST(Loop, CancelledCallSoonNeverRuns) {
  weft::Loop loop;
  int ran = 0;
  weft::Handle h = loop.call_soon([&] { ++ran; });
  EXPECT_TRUE(h.pending());
  EXPECT_TRUE(h.cancel());
  EXPECT_FALSE(h.pending());
  EXPECT_FALSE(h.cancel());
  loop.run_once();
  EXPECT_EQ(0, ran);
}

TEST(Loop, HandleOfRunCallbackIsInertEvenAfterNodeReuse) {
  weft::Loop loop;
  int first = 0;
  int second = 0;
  weft::Handle h = loop.call_soon([&] { ++first; });
  loop.run_once();
  EXPECT_FALSE(h.pending());
  loop.call_soon([&] { ++second; });  // likely reuses the same node
  EXPECT_FALSE(h.cancel());
  loop.run_once();
  EXPECT_EQ(1, first);
  EXPECT_EQ(1, second);
}

TEST(Loop, CallbackCanCancelALaterOneInTheSameBatch) {
  weft::Loop loop;
  int ran = 0;
  weft::Handle later;
  loop.call_soon([&] { EXPECT_TRUE(later.cancel()); });
  later = loop.call_soon([&] { ++ran; });
  loop.run_once();
  EXPECT_EQ(0, ran);
}

TEST(Loop, CancelDestroysTheCallbackAtOnce) {
  weft::Loop loop;
  auto token = std::make_shared<int>(0);
  weft::Handle h = loop.call_soon([token] {});
  weft::TimerHandle t = loop.call_later(milliseconds(100), [token] {});
  EXPECT_EQ(3, token.use_count());
  h.cancel();
  t.cancel();
  EXPECT_EQ(1, token.use_count());
}

// --- timers ---

TEST(LoopTimers, PastDeadlinesFireInTheNextIterationInDeadlineOrder) {
  weft::Loop loop;
  std::vector<int> order;
  const auto base = Clock::now() - milliseconds(50);
  // Scheduled out of order, with deadlines microseconds apart and a tie.
  loop.call_at(base + std::chrono::microseconds(30), [&] { order.push_back(3); });
  loop.call_at(base + std::chrono::microseconds(10), [&] { order.push_back(1); });
  loop.call_at(base + std::chrono::microseconds(20), [&] { order.push_back(2); });
  loop.call_at(base + std::chrono::microseconds(10), [&] { order.push_back(11); });  // tie: after 1
  loop.call_at(Clock::time_point::min(), [&] { order.push_back(0); });
  loop.run_once(false);
  EXPECT_EQ((std::vector<int>{0, 1, 11, 2, 3}), order);
}

TEST(LoopTimers, TimersWithinOneTickFireInExactDeadlineOrderTiesFifo) {
  weft::Loop loop;
  std::vector<int> order;
  const auto base = Clock::now() + milliseconds(20);
  const int offsets_us[] = {900, 100, 500, 100, 700, 300, 500, 0};
  for (int i = 0; i < 8; ++i) {
    loop.call_at(base + std::chrono::microseconds(offsets_us[i]), [&order, i] { order.push_back(i); });
  }
  ASSERT_TRUE(run_until(loop, [&] { return order.size() == 8; }));
  // Sorted by offset, equal offsets in scheduling order.
  EXPECT_EQ((std::vector<int>{7, 1, 3, 5, 2, 6, 4, 0}), order);
}

TEST(LoopTimers, NoTimerFiresEarly) {
  weft::Loop loop;
  std::mt19937 rng(7);
  int fired = 0;
  int early = 0;
  for (int i = 0; i < 300; ++i) {
    const auto delay = std::chrono::microseconds(rng() % 60000);
    const auto when = Clock::now() + delay;
    loop.call_at(when, [&, when] {
      if (Clock::now() < when) ++early;
      ++fired;
    });
  }
  ASSERT_TRUE(run_until(loop, [&] { return fired == 300; }));
  EXPECT_EQ(0, early);
}

TEST(LoopTimers, CallLaterWaitsAtLeastItsDelay) {
  weft::Loop loop;
  const auto start = Clock::now();
  Clock::time_point fired_at{};
  loop.call_later(milliseconds(30), [&] { fired_at = Clock::now(); });
  ASSERT_TRUE(run_until(loop, [&] { return fired_at != Clock::time_point{}; }));
  EXPECT_GE(fired_at - start, milliseconds(30));
}

TEST(LoopTimers, BlockingRunOnceSleepsUntilTheTimer) {
  weft::Loop loop;
  bool fired = false;
  const auto start = Clock::now();
  loop.call_later(milliseconds(40), [&] { fired = true; });
  // One blocking iteration may wake at the deadline's tick; at most a couple
  // are needed, and none of them may busy-spin through the wait.
  int iterations = 0;
  while (!fired && iterations < 10) {
    loop.run_once();
    ++iterations;
  }
  EXPECT_TRUE(fired);
  EXPECT_LE(iterations, 3);
  EXPECT_GE(Clock::now() - start, milliseconds(40));
}

TEST(LoopTimers, CancelledTimerNeverFires) {
  weft::Loop loop;
  int fired = 0;
  bool done = false;
  weft::TimerHandle t = loop.call_later(milliseconds(5), [&] { ++fired; });
  loop.call_later(milliseconds(20), [&] { done = true; });
  EXPECT_TRUE(t.pending());
  EXPECT_TRUE(t.cancel());
  ASSERT_TRUE(run_until(loop, [&] { return done; }));
  EXPECT_EQ(0, fired);
  EXPECT_EQ(0u, loop.impl().timer_count());
}

TEST(LoopTimers, TimerCanCancelAnotherDueInTheSameIteration) {
  weft::Loop loop;
  int fired = 0;
  const auto past = Clock::now() - milliseconds(1);
  weft::TimerHandle second;
  loop.call_at(past, [&] { EXPECT_TRUE(second.cancel()); });
  second = loop.call_at(past + std::chrono::microseconds(1), [&] { ++fired; });
  loop.run_once(false);
  loop.run_once(false);
  EXPECT_EQ(0, fired);
}

TEST(LoopTimers, MillionTimersOverTenMinutesInsertAndCancel) {
  weft::Loop loop;
  const std::size_t n = 1000000;
  std::vector<weft::TimerHandle> handles;
  handles.reserve(n);
  uint64_t x = 42;
  int fired = 0;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto delay = milliseconds(1000 + static_cast<long>((x >> 33) % 599001));
    handles.push_back(loop.call_later(delay, [&fired] { ++fired; }));
  }
  EXPECT_EQ(n, loop.impl().timer_count());
  // Cancel every other one, check the rest are intact, then cancel those.
  for (std::size_t i = 0; i < n; i += 2) ASSERT_TRUE(handles[i].cancel());
  EXPECT_EQ(n / 2, loop.impl().timer_count());
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(i % 2 == 1, handles[i].pending());
  for (std::size_t i = 1; i < n; i += 2) ASSERT_TRUE(handles[i].cancel());
  EXPECT_EQ(0u, loop.impl().timer_count());
  loop.run_once(false);
  EXPECT_EQ(0, fired);
}

TEST(LoopTimers, FarDeadlinesDoNotOverflow) {
  weft::Loop loop;
  int fired = 0;
  weft::TimerHandle days = loop.call_later(std::chrono::hours(24 * 3), [&] { ++fired; });
  weft::TimerHandle years = loop.call_later(std::chrono::hours(24 * 365 * 50), [&] { ++fired; });
  weft::TimerHandle never = loop.call_at(Clock::time_point::max(), [&] { ++fired; });
  weft::TimerHandle huge = loop.call_later(std::chrono::hours::max(), [&] { ++fired; });
  weft::TimerHandle huge_double =
      loop.call_later(std::chrono::duration<double>(1e300), [&] { ++fired; });
  EXPECT_EQ(Clock::time_point::max(), never.when());
  EXPECT_EQ(Clock::time_point::max(), huge.when());
  EXPECT_EQ(Clock::time_point::max(), huge_double.when());
  EXPECT_GT(days.when(), Clock::now() + std::chrono::hours(71));
  // A near timer still fires on time with the far ones pending.
  bool near = false;
  loop.call_later(milliseconds(5), [&] { near = true; });
  ASSERT_TRUE(run_until(loop, [&] { return near; }));
  EXPECT_EQ(0, fired);
  EXPECT_EQ(5u, loop.impl().timer_count());
  for (weft::TimerHandle* t : {&days, &years, &never, &huge, &huge_double}) EXPECT_TRUE(t->cancel());
  EXPECT_EQ(0u, loop.impl().timer_count());
}

TEST(LoopTimers, NegativeDelayFiresInTheNextIteration) {
  weft::Loop loop;
  bool fired = false;
  loop.call_later(milliseconds(-5), [&] { fired = true; });
  loop.run_once(false);
  EXPECT_TRUE(fired);
}

// --- running, stopping, closing ---

TEST(LoopRun, StopEndsRunForeverAfterTheCurrentBatch) {
  weft::Loop loop;
  std::vector<int> order;
  loop.call_soon([&] {
    order.push_back(1);
    loop.stop();
    loop.call_soon([&] { order.push_back(3); });  // next iteration: not run
  });
  loop.call_soon([&] { order.push_back(2); });  // same batch: runs
  loop.run_forever();
  EXPECT_EQ((std::vector<int>{1, 2}), order);
  EXPECT_FALSE(loop.is_running());
  loop.run_once(false);  // the leftover still runs later
  EXPECT_EQ((std::vector<int>{1, 2, 3}), order);
}

TEST(LoopRun, StopBeforeRunForeverRunsOneIteration) {
  weft::Loop loop;
  int ran = 0;
  loop.call_soon([&] { ++ran; });
  loop.stop();
  loop.run_forever();  // must not block
  EXPECT_EQ(1, ran);
  // The stop request was consumed: a later run_forever runs until stopped again.
  loop.call_later(milliseconds(5), [&] { loop.stop(); });
  loop.run_forever();
}

TEST(LoopRun, IsRunningInsideCallbacks) {
  weft::Loop loop;
  bool inside = false;
  loop.call_soon([&] {
    inside = loop.is_running();
    EXPECT_EQ(&loop, &weft::get_running_loop());
    loop.stop();
  });
  EXPECT_FALSE(loop.is_running());
  EXPECT_THROW(weft::get_running_loop(), weft::InvalidStateError);
  loop.run_forever();
  EXPECT_TRUE(inside);
  EXPECT_EQ(nullptr, weft::running_loop());
}

TEST(LoopRun, RunForeverInsideRunForeverThrows) {
  weft::Loop loop;
  bool threw = false;
  loop.call_soon([&] {
    try {
      loop.run_forever();
    } catch (const weft::InvalidStateError&) {
      threw = true;
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(threw);
}

TEST(LoopRun, SecondLoopCannotRunOnTheSameThread) {
  weft::Loop a;
  weft::Loop b;
  std::string message;
  a.call_soon([&] {
    try {
      b.run_once(false);
    } catch (const weft::InvalidStateError& e) {
      message = e.what();
    }
    a.stop();
  });
  a.run_forever();
  EXPECT_NE(std::string::npos, message.find("another event loop")) << message;
}

TEST(LoopRun, RunningLoopRefusesCallsFromOtherThreads) {
  weft::Loop loop;
  std::string message;
  loop.call_soon([&] {
    std::thread t([&] {
      try {
        loop.call_soon([] {});
      } catch (const weft::InvalidStateError& e) {
        message = e.what();
      }
      try {
        loop.run_forever();  // a loop run from two threads
      } catch (const weft::InvalidStateError& e) {
        message += std::string(" | ") + e.what();
      }
    });
    t.join();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_NE(std::string::npos, message.find("call_soon_threadsafe")) << message;
  EXPECT_NE(std::string::npos, message.find("already running")) << message;
}

TEST(LoopClose, CloseDiscardsPendingAndRefusesNewWork) {
  auto token = std::make_shared<int>(0);
  weft::Loop loop;
  loop.call_soon([token] {});
  loop.call_later(milliseconds(50), [token] {});
  loop.call_soon_threadsafe([token] {});
  EXPECT_EQ(4, token.use_count());
  loop.close();
  EXPECT_TRUE(loop.is_closed());
  EXPECT_EQ(1, token.use_count());
  loop.close();  // idempotent
  EXPECT_THROW(loop.call_soon([] {}), weft::InvalidStateError);
  EXPECT_THROW(loop.call_later(milliseconds(1), [] {}), weft::InvalidStateError);
  EXPECT_THROW(loop.call_soon_threadsafe([] {}), weft::InvalidStateError);
  EXPECT_THROW(loop.run_forever(), weft::InvalidStateError);
  EXPECT_THROW(loop.add_reader(0, [] {}), weft::InvalidStateError);
  try {
    loop.call_soon([] {});
  } catch (const weft::InvalidStateError& e) {
    EXPECT_NE(std::string::npos, std::string(e.what()).find("closed"));
  }
}

TEST(LoopClose, CloseWhileRunningThrows) {
  weft::Loop loop;
  bool threw = false;
  loop.call_soon([&] {
    try {
      loop.close();
    } catch (const weft::InvalidStateError&) {
      threw = true;
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(threw);
  EXPECT_FALSE(loop.is_closed());
}

// --- the exception handler ---

TEST(LoopErrors, ThrowingCallbackGoesToTheHandlerAndTheLoopGoesOn) {
  weft::Loop loop;
  std::vector<std::string> seen;
  loop.set_exception_handler([&](weft::Loop& l, const weft::ExceptionContext& ctx) {
    EXPECT_EQ(&loop, &l);
    try {
      std::rethrow_exception(ctx.exception);
    } catch (const std::exception& e) {
      seen.push_back(ctx.message + ": " + e.what());
    }
  });
  bool after = false;
  loop.call_soon([] { throw std::runtime_error("boom"); });
  loop.call_soon([&] { after = true; });
  loop.run_once();
  ASSERT_EQ(1u, seen.size());
  EXPECT_EQ("exception in callback: boom", seen[0]);
  EXPECT_TRUE(after);
}

TEST(LoopErrors, DefaultHandlerPrintsAndContinues) {
  weft::Loop loop;
  bool after = false;
  loop.call_soon([] { throw std::runtime_error("printed-not-fatal"); });
  loop.call_soon([&] { after = true; });
  testing::internal::CaptureStderr();
  loop.run_once();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(std::string::npos, err.find("printed-not-fatal")) << err;
  EXPECT_TRUE(after);
}

TEST(LoopErrors, FailingHandlerIsReportedNotPropagated) {
  weft::Loop loop;
  loop.set_exception_handler([](weft::Loop&, const weft::ExceptionContext&) {
    throw std::runtime_error("handler broke");
  });
  loop.call_soon([] { throw 42; });
  testing::internal::CaptureStderr();
  loop.run_once();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(std::string::npos, err.find("handler broke")) << err;
  loop.set_exception_handler(nullptr);  // restores the default
}

}  // namespace

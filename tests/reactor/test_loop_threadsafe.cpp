// Tests of call_soon_threadsafe and stop() from other threads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/support/loop_helpers.hpp"
#include "weft/reactor/loop.hpp"

namespace {

constexpr int kThreads = 4;
constexpr int kPerThread = 100000;

TEST(LoopThreadsafe, FourThreadsLoseNothingAndKeepEachThreadsOrder) {
  weft::Loop loop;
  std::vector<int> next(kThreads, 0);  // touched on the loop thread only
  int out_of_order = 0;
  int received = 0;
  std::vector<std::thread> producers;
  loop.call_soon([&] {
    for (int t = 0; t < kThreads; ++t) {
      producers.emplace_back([&loop, &next, &out_of_order, &received, t] {
        for (int i = 0; i < kPerThread; ++i) {
          loop.call_soon_threadsafe([&, t, i] {
            if (next[static_cast<std::size_t>(t)] != i) ++out_of_order;
            next[static_cast<std::size_t>(t)] = i + 1;
            if (++received == kThreads * kPerThread) loop.stop();
          });
        }
      });
    }
  });
  loop.run_forever();  // blocks in epoll_wait between batches: woken by the eventfd
  for (auto& p : producers) p.join();
  EXPECT_EQ(kThreads * kPerThread, received);
  EXPECT_EQ(0, out_of_order);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(kPerThread, next[static_cast<std::size_t>(t)]);
}

TEST(LoopThreadsafe, WakesALoopBlockedWithNothingToDo) {
  weft::Loop loop;
  std::atomic<bool> ran{false};
  std::thread t([&] {
    // Wait until the loop runs (and is, very likely, blocked in epoll_wait).
    while (!loop.is_running()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.call_soon_threadsafe([&] {
      ran = true;
      loop.stop();
    });
  });
  loop.run_forever();  // no timers, no fds: would block forever without the wake-up
  t.join();
  EXPECT_TRUE(ran.load());
}

TEST(LoopThreadsafe, StopFromAnotherThreadWakesTheLoop) {
  weft::Loop loop;
  std::thread t([&] {
    while (!loop.is_running()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.stop();
  });
  loop.run_forever();
  t.join();
  EXPECT_FALSE(loop.is_running());
}

TEST(LoopThreadsafe, SubmissionsBeforeTheLoopRunsAreKept) {
  weft::Loop loop;
  int ran = 0;
  std::thread t([&] {
    for (int i = 0; i < 10; ++i) loop.call_soon_threadsafe([&] { ++ran; });
  });
  t.join();
  ASSERT_TRUE(weft_test::run_until(loop, [&] { return ran == 10; }));
}

}  // namespace

// Tests of add_signal_handler: a signal sent to a multi-threaded process runs
// its handler inside the loop, on the loop's thread.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "tests/support/loop_helpers.hpp"
#include "weft/reactor/loop.hpp"

namespace {

using weft_test::run_until;

TEST(LoopSignals, SignalToMultiThreadedProcessRunsHandlerOnTheLoopThread) {
  weft::Loop loop;
  std::atomic<bool> quit{false};
  // Other threads that do not block the signal: the kernel may deliver it to
  // any of them, and the handler must still reach the loop.
  std::thread a([&] {
    while (!quit) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  std::thread b([&] {
    while (!quit) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const std::thread::id loop_thread = std::this_thread::get_id();
  int calls = 0;
  bool on_loop_thread = false;
  loop.add_signal_handler(SIGUSR1, [&] {
    ++calls;
    on_loop_thread = std::this_thread::get_id() == loop_thread;
  });
  loop.call_later(std::chrono::milliseconds(5), [] { kill(getpid(), SIGUSR1); });
  const bool ok = run_until(loop, [&] { return calls == 1; });
  quit = true;
  a.join();
  b.join();
  ASSERT_TRUE(ok);
  EXPECT_TRUE(on_loop_thread);
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
}

TEST(LoopSignals, SignalWakesABlockedLoop) {
  weft::Loop loop;
  bool got = false;
  loop.add_signal_handler(SIGUSR2, [&] {
    got = true;
    loop.stop();
  });
  std::thread t([&] {
    while (!loop.is_running()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kill(getpid(), SIGUSR2);
  });
  loop.run_forever();  // nothing else to do: only the signal can end this
  t.join();
  EXPECT_TRUE(got);
  loop.remove_signal_handler(SIGUSR2);
}

TEST(LoopSignals, RemovingRestoresThePreviousDisposition) {
  struct sigaction before {};
  sigaction(SIGUSR1, nullptr, &before);
  {
    weft::Loop loop;
    loop.add_signal_handler(SIGUSR1, [] {});
    struct sigaction during {};
    sigaction(SIGUSR1, nullptr, &during);
    EXPECT_NE(before.sa_handler, during.sa_handler);
    loop.remove_signal_handler(SIGUSR1);
  }
  struct sigaction after {};
  sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(before.sa_handler, after.sa_handler);
  // close() restores too.
  weft::Loop loop;
  loop.add_signal_handler(SIGUSR1, [] {});
  loop.close();
  sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(before.sa_handler, after.sa_handler);
}

TEST(LoopSignals, BadSignalsAndConflictsAreClearErrors) {
  weft::Loop loop;
  EXPECT_THROW(loop.add_signal_handler(SIGKILL, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(0, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(100000, [] {}), std::invalid_argument);
  weft::Loop other;
  loop.add_signal_handler(SIGUSR1, [] {});
  EXPECT_THROW(other.add_signal_handler(SIGUSR1, [] {}), weft::InvalidStateError);
  loop.remove_signal_handler(SIGUSR1);
  other.add_signal_handler(SIGUSR1, [] {});  // free again
  other.remove_signal_handler(SIGUSR1);
}

TEST(LoopSignals, SecondAddReplacesTheHandler) {
  weft::Loop loop;
  int first = 0;
  int second = 0;
  loop.add_signal_handler(SIGUSR1, [&] { ++first; });
  loop.add_signal_handler(SIGUSR1, [&] { ++second; });
  kill(getpid(), SIGUSR1);
  ASSERT_TRUE(run_until(loop, [&] { return second == 1; }));
  EXPECT_EQ(0, first);
  loop.remove_signal_handler(SIGUSR1);
}

}  // namespace

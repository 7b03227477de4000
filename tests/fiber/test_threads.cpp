// Tests of to_thread(), run_coroutine_threadsafe() and LoopThread. Modelled
// on CPython's Lib/test/test_asyncio/test_threads.py (ToThreadTests) and the
// RunCoroutineThreadsafeTests of test_tasks.py.
#include "weft/fiber/threads.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fiber/thread_pool.hpp"
#include "weft/fiber/runners.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A gate that functions on other threads wait on until the test opens it.
class Gate {
 public:
  void open() { opened_.set_value(); }
  void wait() { shared_.wait(); }

 private:
  std::promise<void> opened_;
  std::shared_future<void> shared_ = opened_.get_future().share();
};

// Inside a task: sleeps until `done` holds or a generous limit passes.
template <class Pred>
bool wait_until(Pred done, seconds limit = seconds(30)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    weft::sleep(milliseconds(1));
  }
  return true;
}

// Outside any loop: polls `done` the same way.
template <class Pred>
bool eventually(Pred done, seconds limit = seconds(30)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// A value that counts its own destruction, to see a dropped result die.
struct Tracked {
  Tracked(std::atomic<int>* counter, int v) : destroyed(counter), value(v) {}
  Tracked(Tracked&& other) noexcept : destroyed(other.destroyed), value(other.value) { other.destroyed = nullptr; }
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() {
    if (destroyed != nullptr) ++*destroyed;
  }
  std::atomic<int>* destroyed;
  int value;
};

// Runs the loop's RAII counter for the LoopThread tests.
struct Guard {
  std::atomic<int>* counter;
  ~Guard() { ++*counter; }
};

// --- to_thread ---------------------------------------------------------------------

TEST(ToThread, ReturnsTheFunctionsValue) {  // test_to_thread
  EXPECT_EQ(42, weft::run([] { return weft::to_thread([] { return 40 + 2; }); }));
  EXPECT_EQ("abc", weft::run([] { return weft::to_thread([] { return std::string("abc"); }); }));
  weft::run([] {
    int side = 0;
    weft::to_thread([&] { side = 1; });
    EXPECT_EQ(1, side);
    std::unique_ptr<int> p = weft::to_thread([] { return std::unique_ptr<int>(new int(5)); });
    ASSERT_TRUE(p);
    EXPECT_EQ(5, *p);
    // A function returning a reference gives a copy, made on the worker.
    std::string kept = "kept";
    std::string copy = weft::to_thread([&]() -> const std::string& { return kept; });
    EXPECT_EQ("kept", copy);
  });
}

TEST(ToThread, RethrowsTheFunctionsException) {  // test_to_thread_exception
  weft::run([] {
    try {
      weft::to_thread([]() -> int { throw std::runtime_error("test"); });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ("test", e.what());
    }
    EXPECT_THROW(weft::to_thread([] { throw 7; }), int);
    // The task goes on normally afterwards.
    EXPECT_EQ(1, weft::to_thread([] { return 1; }));
  });
}

TEST(ToThread, CallsTheFunctionOnce) {  // test_to_thread_once
  std::atomic<int> calls{0};
  weft::run([&] { weft::to_thread([&] { ++calls; }); });
  EXPECT_EQ(1, calls.load());
}

TEST(ToThread, RunsOnAnotherThread) {
  weft::run([] {
    const std::thread::id worker = weft::to_thread([] { return std::this_thread::get_id(); });
    EXPECT_NE(std::this_thread::get_id(), worker);
  });
}

TEST(ToThread, ManyConcurrentCallsAllComplete) {  // test_to_thread_concurrent
  constexpr int kCalls = 200;
  std::mutex mutex;
  std::set<std::thread::id> workers;
  std::atomic<int> calls{0};
  const long sum = weft::run([&] {
    std::vector<weft::Task<int>> tasks;
    for (int i = 0; i < kCalls; ++i) {
      tasks.push_back(weft::create_task([&, i] {
        return weft::to_thread([&, i] {
          std::this_thread::sleep_for(milliseconds(1));
          {
            std::lock_guard<std::mutex> lock(mutex);
            workers.insert(std::this_thread::get_id());
          }
          ++calls;
          return i * i;
        });
      }));
    }
    long total = 0;
    for (auto& t : tasks) total += t.get();
    return total;
  });
  long expected = 0;
  for (int i = 0; i < kCalls; ++i) expected += i * i;
  EXPECT_EQ(expected, sum);
  EXPECT_EQ(kCalls, calls.load());
  EXPECT_LE(workers.size(), weft::detail::ThreadPool::default_max_workers());
}

TEST(ToThread, ParksOnlyTheCallingTask) {
  std::vector<std::string> order;
  int ticks = 0;
  weft::run([&] {
    Gate gate;
    auto waiter = weft::create_task([&] {
      weft::to_thread([&] { gate.wait(); });
      order.push_back("waiter");
    });
    auto ticker = weft::create_task([&] {
      for (int i = 0; i < 10; ++i) {
        ++ticks;
        weft::sleep(milliseconds(1));
      }
      order.push_back("ticker");
      gate.open();
    });
    waiter.get();
    ticker.get();
  });
  EXPECT_EQ(10, ticks);
  EXPECT_EQ((std::vector<std::string>{"ticker", "waiter"}), order);
}

TEST(ToThread, OutsideATaskThrowsInvalidStateError) {
  EXPECT_THROW(weft::to_thread([] { return 1; }), weft::InvalidStateError);
  // From a plain loop callback: non-blocking context, no task to park.
  weft::Loop loop;
  bool refused = false;
  loop.call_soon([&] {
    try {
      weft::to_thread([] { return 1; });
    } catch (const weft::InvalidStateError&) {
      refused = true;
    }
  });
  loop.run_once();
  loop.close();
  EXPECT_TRUE(refused);
}

TEST(ToThread, WorkersMayRunTheirOwnLoop) {
  // One loop per thread: a worker has none, so a function may run one.
  EXPECT_EQ(5, weft::run([] { return weft::to_thread([] { return weft::run([] { return 5; }); }); }));
}

// --- to_thread and cancellation ---------------------------------------------------------

TEST(ToThread, CancelledWaiterGetsCancelledErrorAtOnce) {
  Gate gate;
  std::atomic<bool> started{false};
  std::atomic<bool> returned{false};
  std::atomic<int> destroyed{0};
  weft::run([&] {
    auto t = weft::create_task([&] {
      return weft::to_thread([&] {
        started = true;
        gate.wait();
        returned = true;
        return Tracked(&destroyed, 1);
      }).value;
    });
    ASSERT_TRUE(wait_until([&] { return started.load(); }));
    EXPECT_TRUE(t.cancel("stop"));
    try {
      t.get();
      ADD_FAILURE() << "no CancelledError";
    } catch (const weft::CancelledError& e) {
      EXPECT_EQ("stop", e.message());
    }
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(returned.load());  // the function runs on
    gate.open();
    // Its value is dropped on the worker once it returns.
    EXPECT_TRUE(wait_until([&] { return destroyed == 1; }));
  });
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(1, destroyed.load());
}

TEST(ToThread, CancelledBeforeAWorkerTookItNeverRuns) {
  // concurrent.futures: a cancelled work item is skipped by the worker.
  const int workers = static_cast<int>(weft::detail::ThreadPool::default_max_workers());
  Gate gate;
  std::atomic<int> started{0};
  bool ran = false;
  auto probe = std::make_shared<int>(0);
  weft::run([&] {
    std::vector<weft::Task<void>> blockers;
    for (int i = 0; i < workers; ++i) {
      blockers.push_back(weft::create_task([&] {
        weft::to_thread([&] {
          ++started;
          gate.wait();
        });
      }));
    }
    ASSERT_TRUE(wait_until([&] { return started == workers; }));
    auto victim = weft::create_task([&, probe] { weft::to_thread([&ran, probe] { ran = true; }); });
    weft::yield();  // the victim submits and parks behind the blockers
    victim.cancel();
    EXPECT_THROW(victim.get(), weft::CancelledError);
    gate.open();
    for (auto& b : blockers) b.get();
    // The skipped job still releases its function, on the worker.
    EXPECT_TRUE(wait_until([&] { return probe.use_count() == 1; }));
  });
  EXPECT_FALSE(ran);
}

TEST(ToThread, PendingCancellationSubmitsNothing) {
  bool ran = false;
  weft::run([&] {
    auto t = weft::create_task([&] {
      weft::current_task().cancel();
      weft::to_thread([&] { ran = true; });
    });
    EXPECT_THROW(t.get(), weft::CancelledError);
  });
  EXPECT_FALSE(ran);
}

TEST(ToThread, WokenThenCancelledDropsTheValue) {
  // asyncio Task.__step: the awaited future completed, but the task was
  // cancelled before it resumed: CancelledError, and the value is dropped.
  Gate gate;
  std::atomic<bool> started{false};
  std::atomic<int> destroyed{0};
  auto probe = std::make_shared<int>(0);
  weft::run([&] {
    weft::Loop& loop = weft::get_running_loop();
    auto t = weft::create_task([&, probe] {
      return weft::to_thread([&started, &gate, &destroyed, probe] {
        started = true;
        gate.wait();
        return Tracked(&destroyed, 1);
      }).value;
    });
    ASSERT_TRUE(wait_until([&] { return started.load(); }));
    // Block the loop while the worker finishes and posts its completion;
    // then queue the cancellation behind it, so that one iteration wakes the
    // task and cancels it before it resumes.
    std::weak_ptr<int> watch = probe;
    loop.call_soon([&] {
      gate.open();
      // The function (holding one of the three references to the probe) is
      // destroyed on the worker just before the completion is posted.
      EXPECT_TRUE(eventually([&] { return watch.use_count() == 2; }));
      std::this_thread::sleep_for(milliseconds(100));
      loop.call_soon_threadsafe([&] { t.cancel(); });
    });
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_TRUE(wait_until([&] { return destroyed == 1; }));
  });
  EXPECT_EQ(1, destroyed.load());
}

TEST(ToThread, RunEndsWhileAWorkerStillRuns) {
  Gate gate;
  std::atomic<bool> started{false};
  std::atomic<int> destroyed{0};
  std::atomic<int> unwound{0};
  weft::run([&] {
    weft::create_task([&] {
      Guard guard{&unwound};
      return weft::to_thread([&] {
        started = true;
        gate.wait();
        return Tracked(&destroyed, 1);
      }).value;
    });
    ASSERT_TRUE(wait_until([&] { return started.load(); }));
    // main returns: weft::run cancels the waiting task and closes the loop.
  });
  EXPECT_EQ(1, unwound.load());
  EXPECT_EQ(0, destroyed.load());
  gate.open();  // the worker finishes after its loop is gone
  EXPECT_TRUE(eventually([&] { return destroyed == 1; }));
}

// --- run_coroutine_threadsafe ---------------------------------------------------------

TEST(RunCoroutineThreadsafe, ReturnsTheTasksValueToAnotherThread) {  // test_run_coroutine_threadsafe
  const int value = weft::run([] {
    weft::Loop& loop = weft::get_running_loop();
    return weft::to_thread([&loop] {
      return weft::run_coroutine_threadsafe(loop, [] {
               weft::sleep(milliseconds(1));
               return 3;
             }).get();
    });
  });
  EXPECT_EQ(3, value);
}

TEST(RunCoroutineThreadsafe, PassesTheTasksException) {  // ..._with_exception
  weft::run([] {
    weft::Loop& loop = weft::get_running_loop();
    const std::string message = weft::to_thread([&loop] {
      auto f = weft::run_coroutine_threadsafe(loop, []() -> int { throw std::invalid_argument("Oops!"); });
      try {
        f.get();
      } catch (const std::invalid_argument& e) {
        return std::string(e.what());
      }
      return std::string("no exception");
    });
    EXPECT_EQ("Oops!", message);
  });
}

TEST(RunCoroutineThreadsafe, CancelledTaskGivesCancelledError) {  // ..._task_cancelled
  weft::run([] {
    weft::Loop& loop = weft::get_running_loop();
    const int cancelled = weft::to_thread([&loop] {
      int count = 0;
      // Cancelled at a suspension point.
      auto a = weft::run_coroutine_threadsafe(loop, [] {
        weft::current_task().cancel();
        weft::sleep(seconds(10));
      });
      // Returns normally with a cancellation pending: still cancelled, as
      // the future copies the task's final state.
      auto b = weft::run_coroutine_threadsafe(loop, [] {
        weft::current_task().cancel();
        return 1;
      });
      try {
        a.get();
      } catch (const weft::CancelledError&) {
        ++count;
      }
      try {
        b.get();
      } catch (const weft::CancelledError&) {
        ++count;
      }
      return count;
    });
    EXPECT_EQ(2, cancelled);
  });
}

TEST(RunCoroutineThreadsafe, TaskStartsInsideTheLoop) {
  weft::run([] {
    weft::Loop& loop = weft::get_running_loop();
    const std::thread::id loop_thread = std::this_thread::get_id();
    const bool ok = weft::to_thread([&] {
      return weft::run_coroutine_threadsafe(loop, [&] {
               return weft::current_task() && std::this_thread::get_id() == loop_thread &&
                      &weft::get_running_loop() == &loop;
             }).get();
    });
    EXPECT_TRUE(ok);
  });
}

TEST(RunCoroutineThreadsafe, LoopClosedBeforeTheTaskStarts) {
  weft::Loop loop;
  bool ran = false;
  auto f = weft::run_coroutine_threadsafe(loop, [&] { ran = true; });
  loop.close();  // discards the queued submission
  EXPECT_THROW(f.get(), weft::CancelledError);
  EXPECT_FALSE(ran);
  EXPECT_THROW(weft::run_coroutine_threadsafe(loop, [] {}), weft::InvalidStateError);
}

TEST(RunCoroutineThreadsafe, ManyThreadsManyCalls) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 100;
  int counter = 0;  // touched on the loop's thread only
  std::atomic<int> wrong{0};
  weft::run([&] {
    weft::Loop& loop = weft::get_running_loop();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCalls; ++i) {
          const int v = weft::run_coroutine_threadsafe(loop, [&, t, i] {
                          ++counter;
                          weft::yield();
                          return t * 1000 + i;
                        }).get();
          if (v != t * 1000 + i) ++wrong;
        }
      });
    }
    // Join without blocking the loop the threads need.
    weft::to_thread([&] {
      for (auto& th : threads) th.join();
    });
  });
  EXPECT_EQ(kThreads * kCalls, counter);
  EXPECT_EQ(0, wrong.load());
}

TEST(RunCoroutineThreadsafe, TasksFromOneThreadStartInOrder) {
  std::vector<int> order;
  weft::run([&] {
    weft::Loop& loop = weft::get_running_loop();
    weft::to_thread([&] {
      std::vector<std::future<void>> futures;
      for (int i = 0; i < 50; ++i) {
        futures.push_back(weft::run_coroutine_threadsafe(loop, [&order, i] { order.push_back(i); }));
      }
      for (auto& f : futures) f.get();
    });
  });
  ASSERT_EQ(50u, order.size());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(i, order[static_cast<std::size_t>(i)]);
}

TEST(RunCoroutineThreadsafe, FromTheLoopThreadWithoutWaiting) {
  weft::run([] {
    auto f = weft::run_coroutine_threadsafe(weft::get_running_loop(), [] { return 9; });
    // Blocking on f here would block the loop; polling lets it run the task.
    ASSERT_TRUE(wait_until([&] { return f.wait_for(milliseconds(0)) == std::future_status::ready; }));
    EXPECT_EQ(9, f.get());
  });
}

// --- LoopThread ---------------------------------------------------------------------

TEST(LoopThread, SubmitFromSeveralThreads) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 50;
  int counter = 0;  // the loop thread's
  std::atomic<int> wrong{0};
  {
    weft::LoopThread lt;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCalls; ++i) {
          auto f = lt.submit([&counter, t, i] {
            ++counter;
            weft::sleep(milliseconds(0));
            return t * 1000 + i;
          });
          if (f.get() != t * 1000 + i) ++wrong;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(kThreads * kCalls, lt.submit([&] { return counter; }).get());
  }
  EXPECT_EQ(0, wrong.load());
}

TEST(LoopThread, ExceptionsAndCancellationReachTheFuture) {
  weft::LoopThread lt;
  auto failing = lt.submit([]() -> int { throw std::runtime_error("boom"); });
  auto cancelled = lt.submit([] { weft::current_task().cancel("bye"); weft::yield(); });
  EXPECT_THROW(failing.get(), std::runtime_error);
  try {
    cancelled.get();
    ADD_FAILURE() << "no CancelledError";
  } catch (const weft::CancelledError& e) {
    EXPECT_EQ("bye", e.message());
  }
}

TEST(LoopThread, TasksUseTheWholeFiberLayer) {
  weft::LoopThread lt;
  auto f = lt.submit([] {
    auto child = weft::create_task([] {
      weft::sleep(milliseconds(2));
      return 20;
    });
    const int from_worker = weft::to_thread([] { return 22; });
    return child.get() + from_worker;
  });
  EXPECT_EQ(42, f.get());
}

TEST(LoopThread, DestroyedWithPendingTasksCancelsThem) {
  constexpr int kTasks = 5;
  std::atomic<int> started{0};
  std::atomic<int> unwound{0};
  std::atomic<int> cleaned{0};
  std::vector<std::future<int>> futures;
  {
    weft::LoopThread lt;
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(lt.submit([&] {
        Guard guard{&unwound};
        ++started;
        try {
          weft::sleep(std::chrono::hours(1));
        } catch (const weft::CancelledError&) {
          // As under asyncio.run, a cancelled task may still clean up
          // asynchronously before it ends.
          weft::sleep(milliseconds(1));
          ++cleaned;
          throw;
        }
        return 1;
      }));
    }
    ASSERT_TRUE(eventually([&] { return started == kTasks; }));
  }
  EXPECT_EQ(kTasks, unwound.load());
  EXPECT_EQ(kTasks, cleaned.load());
  for (auto& f : futures) EXPECT_THROW(f.get(), weft::CancelledError);
}

TEST(LoopThread, StopIsIdempotentAndClosesTheLoop) {
  weft::LoopThread lt;
  EXPECT_EQ(1, lt.submit([] { return 1; }).get());
  lt.stop();
  lt.stop();
  EXPECT_TRUE(lt.loop().is_closed());
  EXPECT_THROW(lt.submit([] { return 1; }), weft::InvalidStateError);
}  // and the destructor stops it a third time

TEST(LoopThread, IdleLoopThreadStopsPromptly) {
  const auto begin = std::chrono::steady_clock::now();
  { weft::LoopThread lt; }
  {
    weft::LoopThread lt;
    std::this_thread::sleep_for(milliseconds(20));  // blocked in epoll_wait
    lt.stop();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - begin, seconds(10));
}

TEST(LoopThread, StopFromTheLoopThreadThrows) {
  weft::LoopThread lt;
  auto f = lt.submit([&] { lt.stop(); });
  EXPECT_THROW(f.get(), weft::InvalidStateError);
  EXPECT_EQ(2, lt.submit([] { return 2; }).get());  // still running
}

TEST(LoopThread, ALoopStopFromATaskDoesNotEndTheThread) {
  weft::LoopThread lt;
  lt.submit([] { weft::get_running_loop().stop(); }).get();
  EXPECT_EQ(3, lt.submit([] { return 3; }).get());
}

TEST(LoopThread, StopsWhileSubmittersRace) {
  // Submissions racing with stop(): each future is settled one way or the
  // other (a value or CancelledError), or submit() refuses a closed loop.
  std::atomic<int> settled{0};
  std::atomic<int> refused{0};
  weft::LoopThread lt;
  std::thread submitter([&] {
    for (int i = 0; i < 200; ++i) {
      try {
        auto f = lt.submit([] {
          weft::yield();
          return 1;
        });
        try {
          f.get();
        } catch (const weft::CancelledError&) {
        }
        ++settled;
      } catch (const weft::InvalidStateError&) {
        ++refused;
      }
    }
  });
  std::this_thread::sleep_for(milliseconds(5));
  lt.stop();
  submitter.join();
  EXPECT_EQ(200, settled + refused);
}

// --- the process's exit -------------------------------------------------------------

// Re-executes the binary for each death test: a fork would copy a process
// whose pool threads do not exist in the child.
class ProcessExit : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(ProcessExit, WaitsForRunningFunctionsAndExitsCleanly) {
  EXPECT_EXIT(
      {
        weft::run([] {
          weft::to_thread([] { return 1; });
          weft::create_task([] {
            weft::to_thread([] {
              std::this_thread::sleep_for(milliseconds(100));
              std::fputs("worker finished\n", stderr);
            });
          });
          weft::sleep(milliseconds(10));
        });
        std::exit(0);  // static destruction joins the workers
      },
      ::testing::ExitedWithCode(0), "worker finished");
}

TEST_F(ProcessExit, ToThreadAfterShutdownIsRefused) {
  EXPECT_EXIT(
      {
        const bool refused = weft::run([] {
          weft::to_thread([] {});
          weft::detail::shutdown_default_executor();
          try {
            weft::to_thread([] {});
          } catch (const weft::InvalidStateError&) {
            return true;
          }
          return false;
        });
        std::fputs(refused ? "refused\n" : "accepted\n", stderr);
        std::exit(refused ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "refused");
}

}  // namespace

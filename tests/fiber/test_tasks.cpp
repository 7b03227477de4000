// Tests of tasks on fibers: creation, results, sleep/yield ordering and
// cancellation at suspension points. Modelled on CPython's
// Lib/test/test_asyncio/test_tasks.py.
#include "weft/fiber/tasks.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "weft/fiber/runners.hpp"

namespace {

using std::chrono::milliseconds;

static_assert(!std::is_base_of<std::exception, weft::CancelledError>::value,
              "CancelledError must not be caught by catch (const std::exception&)");

TEST(Run, ReturnsMainsResult) {
  EXPECT_EQ(42, weft::run([] { return 42; }));
  EXPECT_EQ("abc", weft::run([] { return std::string("abc"); }));
  bool ran = false;
  weft::run([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Run, PropagatesMainsException) {
  EXPECT_THROW(weft::run([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
}

TEST(Run, RefusesToNestInARunningLoop) {
  weft::run([] { EXPECT_THROW(weft::run([] {}), weft::InvalidStateError); });
}

TEST(Tasks, GetReturnsTheTasksValue) {
  weft::run([] {
    auto t = weft::create_task([] { return 7; });
    EXPECT_FALSE(t.done());
    EXPECT_EQ(7, t.get());
    EXPECT_TRUE(t.done());
    EXPECT_EQ(7, t.result());
    EXPECT_EQ(7, t.get());  // again: the result stays
  });
}

TEST(Tasks, VoidTaskAndMoveOnlyResult) {
  weft::run([] {
    int side = 0;
    auto v = weft::create_task([&] { side = 1; });
    v.get();
    EXPECT_EQ(1, side);
    auto m = weft::create_task([] { return std::unique_ptr<int>(new int(5)); });
    std::unique_ptr<int> p = m.get();
    ASSERT_TRUE(p);
    EXPECT_EQ(5, *p);
  });
}

TEST(Tasks, ExceptionIsRethrownByGetAndResult) {
  weft::run([] {
    auto t = weft::create_task([]() -> int { throw std::logic_error("bad"); });
    EXPECT_THROW(t.get(), std::logic_error);
    EXPECT_THROW(t.result(), std::logic_error);
    EXPECT_TRUE(t.exception() != nullptr);
  });
}

TEST(Tasks, ResultOfPendingTaskIsInvalidState) {
  weft::run([] {
    auto t = weft::create_task([] { return 1; });
    EXPECT_THROW(t.result(), weft::InvalidStateError);
    EXPECT_THROW(t.exception(), weft::InvalidStateError);
    t.get();
  });
}

TEST(Tasks, TasksStartInCreationOrderOnTheNextIteration) {
  std::vector<int> order;
  weft::run([&] {
    auto a = weft::create_task([&] { order.push_back(1); });
    auto b = weft::create_task([&] { order.push_back(2); });
    order.push_back(0);  // creation does not run anything
    a.get();
    b.get();
  });
  EXPECT_EQ((std::vector<int>{0, 1, 2}), order);
}

TEST(Tasks, YieldInterleavesTasks) {
  std::vector<std::string> order;
  weft::run([&] {
    auto a = weft::create_task([&] {
      for (int i = 0; i < 3; ++i) {
        order.push_back("a" + std::to_string(i));
        weft::yield();
      }
    });
    auto b = weft::create_task([&] {
      for (int i = 0; i < 3; ++i) {
        order.push_back("b" + std::to_string(i));
        weft::yield();
      }
    });
    a.get();
    b.get();
  });
  EXPECT_EQ((std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}), order);
}

// Tasks hand control to each other directly while the loop has nothing else
// to do; anything else pending must still get its turn.
TEST(Tasks, YieldingTasksDoNotStarveTimersOrThreadsOrCallbacks) {
  weft::run([] {
    bool stop = false;
    auto spin = [&stop] {
      long n = 0;
      while (!stop) {
        weft::yield();
        ++n;
      }
      return n;
    };
    // A timer.
    auto a = weft::create_task(spin);
    auto b = weft::create_task(spin);
    weft::get_running_loop().call_later(milliseconds(5), [&] { stop = true; });
    EXPECT_GT(a.get() + b.get(), 0);
    // A submission from another thread.
    stop = false;
    auto c = weft::create_task(spin);
    auto d = weft::create_task(spin);
    weft::Loop& loop = weft::get_running_loop();
    std::thread t([&] {
      std::this_thread::sleep_for(milliseconds(5));
      loop.call_soon_threadsafe([&] { stop = true; });
    });
    c.get();
    d.get();
    t.join();
    // A plain callback queued between two tasks' steps keeps its place.
    std::vector<std::string> order;
    auto e = weft::create_task([&] {
      order.push_back("e1");
      weft::get_running_loop().call_soon([&] { order.push_back("callback"); });
      weft::yield();
      order.push_back("e2");
    });
    auto f = weft::create_task([&] {
      order.push_back("f1");
      weft::yield();
      order.push_back("f2");
    });
    e.get();
    f.get();
    EXPECT_EQ((std::vector<std::string>{"e1", "f1", "callback", "e2", "f2"}), order);
  });
}

TEST(Tasks, SleepOrdersByDeadline) {
  std::vector<int> order;
  weft::run([&] {
    auto slow = weft::create_task([&] {
      weft::sleep(milliseconds(30));
      order.push_back(30);
    });
    auto fast = weft::create_task([&] {
      weft::sleep(milliseconds(10));
      order.push_back(10);
    });
    slow.get();
    fast.get();
  });
  EXPECT_EQ((std::vector<int>{10, 30}), order);
}

TEST(Tasks, SleepWaitsAtLeastItsDuration) {
  weft::run([] {
    const auto start = std::chrono::steady_clock::now();
    weft::sleep(milliseconds(20));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(20));
  });
}

TEST(Tasks, NamesAndCurrentTask) {
  weft::run([] {
    weft::TaskRef main = weft::current_task();
    ASSERT_TRUE(main);
    auto t = weft::create_task([] { return weft::current_task().get_name(); }, weft::TaskOptions{"worker", 0});
    EXPECT_EQ("worker", t.get_name());
    EXPECT_EQ("worker", t.get());
    auto unnamed = weft::create_task([] {});
    EXPECT_EQ(0u, unnamed.get_name().find("Task-"));
    unnamed.set_name("renamed");
    EXPECT_EQ("renamed", unnamed.get_name());
    unnamed.get();
  });
  EXPECT_FALSE(weft::current_task());
}

// asyncio numbers unnamed tasks Task-1, Task-2... across the process: one
// thread's tasks are numbered in increasing order (consecutively, in a
// program with one loop), and no two tasks share a number, whichever
// threads made them.
TEST(Tasks, DefaultNamesIncreaseInAThreadAndAreUniqueAcrossThreads) {
  auto numbers = [](int count) {
    std::vector<unsigned long> result;
    weft::run([&] {
      for (int i = 0; i < count; ++i) {
        auto t = weft::create_task([] {});
        result.push_back(std::stoul(t.get_name().substr(5)));
        t.get();
      }
    });
    return result;
  };
  std::vector<unsigned long> a;
  std::vector<unsigned long> b;
  std::thread other([&] { b = numbers(3000); });
  a = numbers(3000);
  other.join();
  for (std::size_t i = 1; i < a.size(); ++i) EXPECT_LT(a[i - 1], a[i]) << "not in order at " << i;
  std::set<unsigned long> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), a.size() + b.size());
}

TEST(Tasks, AllTasksListsTheLiveOnes) {
  weft::run([] {
    auto a = weft::create_task([] { weft::sleep(milliseconds(5)); });
    auto b = weft::create_task([] { weft::sleep(milliseconds(5)); });
    std::vector<weft::TaskRef> live = weft::all_tasks();
    EXPECT_EQ(3u, live.size());  // main, a, b
    a.get();
    b.get();
    EXPECT_EQ(1u, weft::all_tasks().size());
  });
}

TEST(Tasks, BlockingCallsOutsideATaskThrow) {
  weft::Loop loop;
  std::string message;
  loop.call_soon([&] {
    try {
      weft::sleep(milliseconds(1));
    } catch (const weft::InvalidStateError& e) {
      message = e.what();
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_NE(std::string::npos, message.find("inside a task")) << message;
  EXPECT_THROW(weft::yield(), weft::InvalidStateError);
}

TEST(Tasks, DroppedHandleDoesNotLoseTheTask) {
  int finished = 0;
  weft::run([&] {
    weft::create_task([&] {
      weft::sleep(milliseconds(5));
      ++finished;
    });
    weft::sleep(milliseconds(30));
  });
  EXPECT_EQ(1, finished);
}

// --- cancellation ---

struct Flag {
  bool* set;
  ~Flag() { *set = true; }
};

TEST(Cancel, CancelledBeforeStartNeverRuns) {
  weft::run([] {
    bool ran = false;
    auto t = weft::create_task([&] { ran = true; });
    EXPECT_TRUE(t.cancel());
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(ran);
  });
}

TEST(Cancel, SleepingTaskGetsCancelledErrorAndRaiiRuns) {
  weft::run([] {
    bool unwound = false;
    bool after_sleep = false;
    auto t = weft::create_task([&] {
      Flag f{&unwound};
      weft::sleep(std::chrono::hours(1));
      after_sleep = true;
    });
    weft::yield();  // let it start and park
    EXPECT_TRUE(t.cancel("stop now"));
    try {
      t.get();
      ADD_FAILURE() << "no CancelledError";
    } catch (const weft::CancelledError& e) {
      EXPECT_EQ("stop now", e.message());
    }
    EXPECT_TRUE(unwound);
    EXPECT_FALSE(after_sleep);
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.cancel());  // done
  });
}

TEST(Cancel, CancelledErrorIsNotCaughtAsStdException) {
  weft::run([] {
    bool swallowed = false;
    auto t = weft::create_task([&] {
      try {
        weft::sleep(std::chrono::hours(1));
      } catch (const std::exception&) {
        swallowed = true;
      }
    });
    weft::yield();
    t.cancel();
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_FALSE(swallowed);
  });
}

TEST(Cancel, TaskThatCatchesCancellationAndReturnsIsFinished) {
  weft::run([] {
    auto t = weft::create_task([] {
      try {
        weft::sleep(std::chrono::hours(1));
      } catch (const weft::CancelledError&) {
        return 5;  // swallowed: asyncio then finishes the task normally
      }
      return 0;
    });
    weft::yield();
    t.cancel();
    EXPECT_EQ(5, t.get());
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(1, t.cancelling());
  });
}

TEST(Cancel, TaskReturningWithACancelPendingEndsCancelled) {
  weft::run([] {
    auto t = weft::create_task([] {
      weft::current_task().cancel("self");  // pending: no suspension follows
      return 1;
    });
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_TRUE(t.cancelled());
  });
}

TEST(Cancel, SelfCancelThrowsAtTheNextSuspensionPoint) {
  weft::run([] {
    int reached = 0;
    auto t = weft::create_task([&] {
      weft::current_task().cancel();
      reached = 1;
      weft::yield();
      reached = 2;
    });
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_EQ(1, reached);
  });
}

TEST(Cancel, CancelWhileWokenButNotYetResumedStillThrows) {
  // asyncio: a task whose wait completed but which has not resumed yet
  // still gets CancelledError at that suspension point.
  weft::run([] {
    weft::Future<int> f;
    int got = 0;
    auto t = weft::create_task([&] { got = f.get(); });
    weft::yield();  // t parks on f
    f.set_result(3);  // t is scheduled to resume...
    t.cancel();       // ...and cancelled before it does
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_EQ(0, got);
  });
}

TEST(Cancel, UncancelAndCancelling) {
  weft::run([] {
    auto t = weft::create_task([] {
      try {
        weft::sleep(std::chrono::hours(1));
      } catch (const weft::CancelledError&) {
        EXPECT_EQ(2, weft::current_task().cancelling());
        EXPECT_EQ(1, weft::current_task().uncancel());
        EXPECT_EQ(0, weft::current_task().uncancel());
      }
      weft::sleep(milliseconds(1));  // no longer cancelled
      return 9;
    });
    weft::yield();
    t.cancel();
    t.cancel();
    EXPECT_EQ(9, t.get());
  });
}

TEST(Cancel, WaitingTaskPassesItsCancellationToTheAwaitedTask) {
  weft::run([] {
    auto inner = weft::create_task([] { weft::sleep(std::chrono::hours(1)); });
    auto outer = weft::create_task([&] { inner.get(); });
    weft::yield();
    weft::yield();
    outer.cancel();
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_TRUE(inner.cancelled());  // asyncio: awaiting a task shares its fate
  });
}

TEST(Cancel, AwaitedTaskThatIgnoresCancellationGivesItsValue) {
  weft::run([] {
    auto inner = weft::create_task([] {
      try {
        weft::sleep(std::chrono::hours(1));
      } catch (const weft::CancelledError&) {
      }
      return 11;
    });
    auto outer = weft::create_task([&] { return inner.get(); });
    weft::yield();
    weft::yield();
    outer.cancel();
    EXPECT_EQ(11, outer.get());
    EXPECT_FALSE(outer.cancelled());
  });
}

TEST(Cancel, RunCancelsTasksStillAliveWhenMainReturns) {
  bool unwound = false;
  weft::run([&] {
    weft::create_task([&] {
      Flag f{&unwound};
      weft::sleep(std::chrono::hours(1));
    });
    weft::yield();
  });
  EXPECT_TRUE(unwound);
}

TEST(Cancel, ClosingALoopByHandUnwindsItsTasks) {
  bool unwound = false;
  {
    weft::Loop loop;
    weft::create_task(loop, [&] {
      Flag f{&unwound};
      weft::sleep(std::chrono::hours(1));
    });
    loop.run_once(false);  // start it: it parks
    EXPECT_FALSE(unwound);
    loop.close();
    EXPECT_TRUE(unwound);
  }
}

// A task's clean-up may start another task while its loop closes; that
// one is unwound too (cancelled before it ever runs), not left behind in a
// second, never-closed state of the loop.
TEST(Cancel, ATaskStartedWhileTheLoopClosesIsUnwoundToo) {
  weft::Task<void> late;
  bool late_ran = false;
  struct StartsATask {
    weft::Loop* loop;
    weft::Task<void>* late;
    bool* late_ran;
    ~StartsATask() {
      bool* ran = late_ran;
      *late = weft::create_task(*loop, [ran] { *ran = true; });
    }
  };
  {
    weft::Loop loop;
    weft::create_task(loop, [&] {
      StartsATask s{&loop, &late, &late_ran};
      weft::sleep(std::chrono::hours(1));
    });
    loop.run_once(false);  // start it: it parks
    loop.close();
    ASSERT_TRUE(late);
    EXPECT_TRUE(late.done());
    EXPECT_TRUE(late.cancelled());
  }
  EXPECT_FALSE(late_ran);
}

// --- futures ---

TEST(Futures, SetByACallbackWakesTheWaiter) {
  weft::run([] {
    weft::Future<std::string> f;
    weft::get_running_loop().call_later(milliseconds(5), [f]() mutable { f.set_result("done"); });
    EXPECT_EQ("done", f.get());
    EXPECT_THROW(f.set_result("again"), weft::InvalidStateError);
  });
}

TEST(Futures, CancelledFutureRaisesAndRunsCallbacks) {
  weft::run([] {
    weft::Future<int> f;
    int callbacks = 0;
    f.add_done_callback([&](weft::Future<int> g) {
      EXPECT_TRUE(g.cancelled());
      ++callbacks;
    });
    EXPECT_TRUE(f.cancel("nope"));
    EXPECT_FALSE(f.cancel());
    EXPECT_EQ(0, callbacks);  // scheduled, not called synchronously
    weft::yield();
    EXPECT_EQ(1, callbacks);
    EXPECT_THROW(f.get(), weft::CancelledError);
  });
}

TEST(Futures, NeverRetrievedExceptionIsReported) {
  std::vector<std::string> reports;
  weft::run([&] {
    weft::get_running_loop().set_exception_handler(
        [&](weft::Loop&, const weft::ExceptionContext& ctx) { reports.push_back(ctx.message); });
    {
      auto t = weft::create_task([]() -> int { throw std::runtime_error("lost"); }, weft::TaskOptions{"loser", 0});
      weft::yield();
      weft::yield();
      EXPECT_TRUE(t.done());
    }  // last handle dropped: nobody looked at the exception
    {
      auto t = weft::create_task([]() -> int { throw std::runtime_error("seen"); });
      EXPECT_THROW(t.get(), std::runtime_error);
    }
  });
  ASSERT_EQ(1u, reports.size());
  EXPECT_NE(std::string::npos, reports[0].find("never retrieved")) << reports[0];
  EXPECT_NE(std::string::npos, reports[0].find("loser")) << reports[0];
}

}  // namespace

namespace {

// asyncio passes a cancellation to the awaited task, which passes it on in
// turn; round a cycle of tasks awaiting each other that recurses without
// end (RecursionError in Python). weft's chain stops where it started: the
// first task takes the cancellation itself, and every task of the cycle
// ends cancelled.
TEST(Tasks, CancellingACycleOfAwaitingTasksEndsThemAll) {
  weft::run([] {
    weft::Task<void> a, b, c;
    a = weft::create_task([&] { weft::yield(); b.get(); });
    b = weft::create_task([&] { weft::yield(); c.get(); });
    c = weft::create_task([&] { weft::yield(); a.get(); });
    weft::sleep(std::chrono::milliseconds(1));
    EXPECT_TRUE(b.cancel());
    EXPECT_THROW(a.get(), weft::CancelledError);
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
    EXPECT_TRUE(c.cancelled());
  });
}

}  // namespace

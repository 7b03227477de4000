// Tests of Lock and Event (weft/fiber/locks.hpp), ported from CPython's
// Lib/test/test_asyncio/test_locks.py (LockTests, EventTests; Python 3.13) and
// named after its cases, plus weft's own: FIFO without barging, the "woken
// then cancelled before it resumed" races created deterministically in one
// task step, and where calls may come from (loop binding, threads, a closing
// loop). Condition is tested in test_conditions.cpp.
// weft::yield() is asyncio.sleep(0); both requeue the task behind everything
// ready, so the orderings asserted are asyncio's.
#include "weft/fiber/locks.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using weft::CancelledError;
using weft::Condition;
using weft::Event;
using weft::InvalidStateError;
using weft::Lock;

// asyncio.get_running_loop().call_soon(task.cancel).
template <class T>
void call_soon_cancel(weft::Task<T> task) {
  weft::get_running_loop().call_soon([task]() mutable { task.cancel(); });
}

// --- Lock (LockTests) ------------------------------------------------------------

TEST(LockTests, test_acquire) {
  weft::run([] {
    Lock lock;
    std::vector<int> result;
    lock.acquire();
    auto c = [&](int n) {
      return [&, n] {
        lock.acquire();
        result.push_back(n);
      };
    };
    auto t1 = weft::create_task(c(1));
    auto t2 = weft::create_task(c(2));
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);

    lock.release();
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);

    auto t3 = weft::create_task(c(3));
    lock.release();
    weft::yield();
    EXPECT_EQ((std::vector<int>{1, 2}), result);
    lock.release();
    weft::yield();
    EXPECT_EQ((std::vector<int>{1, 2, 3}), result);
    EXPECT_TRUE(t1.done() && t2.done() && t3.done());
  });
}

TEST(LockTests, test_acquire_cancel) {
  weft::run([] {
    Lock lock;
    lock.acquire();
    auto task = weft::create_task([&] { lock.acquire(); });
    call_soon_cancel(task);
    EXPECT_THROW(task.get(), CancelledError);
    // Nothing was left queued: once released, the lock is free for anyone.
    lock.release();
    EXPECT_FALSE(lock.locked());
    lock.acquire();
    EXPECT_TRUE(lock.locked());
  });
}

TEST(LockTests, test_cancel_race) {
  // A holds the lock, B and C wait; in one step B is cancelled and A is
  // allowed to release. A's release must not wake the cancelled B and stop
  // there: B passes the lock on to C when it resumes.
  weft::run([] {
    Lock lock;
    weft::Future<void> fa;
    auto lockit = [&](bool blocked) {
      return [&lock, fa, blocked]() mutable {
        std::lock_guard<Lock> guard(lock);
        if (blocked) fa.get();
      };
    };
    auto ta = weft::create_task(lockit(true));
    weft::yield();
    EXPECT_TRUE(lock.locked());
    auto tb = weft::create_task(lockit(false));
    weft::yield();
    auto tc = weft::create_task(lockit(false));
    weft::yield();

    fa.set_result();
    tb.cancel();
    weft::yield();
    EXPECT_FALSE(lock.locked());  // C is woken but has not run yet
    EXPECT_TRUE(ta.done());
    EXPECT_TRUE(tb.cancelled());
    tc.get();
    EXPECT_FALSE(lock.locked());
  });
}

TEST(LockTests, test_cancel_release_race) {
  // bpo-32734: cancel the second waiter and release in one callback; exactly
  // one waiter may take the lock.
  weft::run([] {
    Lock lock;
    int lock_count = 0;
    int call_count = 0;
    auto lockit = [&] {
      ++call_count;
      lock.acquire();
      ++lock_count;
    };
    lock.acquire();
    auto t1 = weft::create_task(lockit);
    auto t2 = weft::create_task(lockit);
    auto t3 = weft::create_task(lockit);
    weft::yield();
    weft::get_running_loop().call_soon([&]() mutable {
      t1.cancel();
      lock.release();
    });
    EXPECT_THROW(t1.get(), CancelledError);
    EXPECT_EQ(1, lock_count);
    EXPECT_EQ(3, call_count);
    EXPECT_TRUE(t1.cancelled() && t2.done());
    t3.cancel();
    weft::yield();
    EXPECT_TRUE(t3.cancelled());
  });
}

TEST(LockTests, test_finished_waiter_cancelled) {
  weft::run([] {
    Lock lock;
    lock.acquire();
    auto tb = weft::create_task([&] { lock.acquire(); });
    weft::yield();
    // A second waiter arrives, the first is cancelled, the lock released.
    auto tc = weft::create_task([&] { lock.acquire(); });
    tb.cancel();
    lock.release();
    weft::yield();
    EXPECT_TRUE(lock.locked());  // tc jumped the queue of cancelled waiters
    EXPECT_TRUE(tb.cancelled());
    tc.get();
  });
}

TEST(LockTests, test_release_not_acquired) {
  weft::run([] {
    Lock lock;
    EXPECT_THROW(lock.release(), InvalidStateError);
  });
}

TEST(LockTests, test_release_no_waiters) {
  weft::run([] {
    Lock lock;
    lock.acquire();
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
  });
}

TEST(LockTests, test_context_manager) {
  weft::run([] {
    Lock lock;
    {
      std::lock_guard<Lock> guard(lock);
      EXPECT_TRUE(lock.locked());
    }
    EXPECT_FALSE(lock.locked());
  });
}

TEST(LockTests, WaitersAcquireInFifoOrder) {
  std::vector<int> order;
  weft::run([&] {
    Lock lock;
    std::vector<weft::Task<void>> tasks;
    lock.acquire();
    for (int i = 0; i < 5; ++i) {
      tasks.push_back(weft::create_task([&, i] {
        for (int round = 0; round < 2; ++round) {
          std::lock_guard<Lock> guard(lock);
          order.push_back(i);
          weft::yield();  // holding the lock: the others stay queued
        }
      }));
    }
    weft::yield();
    lock.release();
    for (auto& t : tasks) t.get();
  });
  EXPECT_EQ((std::vector<int>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}), order);
}

TEST(LockTests, ReleaseThenAcquireDoesNotBargeAheadOfTheWokenWaiter) {
  std::vector<std::string> order;
  weft::run([&] {
    Lock lock;
    lock.acquire();
    auto waiter = weft::create_task([&] {
      std::lock_guard<Lock> guard(lock);
      order.push_back("waiter");
    });
    weft::yield();
    lock.release();
    EXPECT_FALSE(lock.locked());  // handed over, not yet taken
    lock.acquire();               // queues behind the woken waiter
    order.push_back("main");
    lock.release();
    waiter.get();
  });
  EXPECT_EQ((std::vector<std::string>{"waiter", "main"}), order);
}

TEST(LockTests, WokenThenCancelledWaiterPassesTheLockOn) {
  // In one step: release() wakes t1, then t1 is cancelled before it resumes.
  weft::run([] {
    Lock lock;
    std::vector<int> got;
    auto waiter = [&](int n) {
      return [&, n] {
        lock.acquire();
        got.push_back(n);
        lock.release();
      };
    };
    lock.acquire();
    auto t1 = weft::create_task(waiter(1));
    auto t2 = weft::create_task(waiter(2));
    weft::yield();
    lock.release();
    t1.cancel();
    EXPECT_THROW(t1.get(), CancelledError);
    t2.get();
    EXPECT_EQ(std::vector<int>{2}, got);
    EXPECT_FALSE(lock.locked());
  });
}

TEST(LockTests, CancelledWhileHoldingAGuardReleases) {
  weft::run([] {
    Lock lock;
    weft::Event never;
    auto holder = weft::create_task([&] {
      std::lock_guard<Lock> guard(lock);
      never.wait();
    });
    weft::yield();
    EXPECT_TRUE(lock.locked());
    holder.cancel();
    EXPECT_THROW(holder.get(), CancelledError);
    EXPECT_FALSE(lock.locked());
  });
}

// --- Event (EventTests) ------------------------------------------------------------

TEST(EventTests, test_wait) {
  weft::run([] {
    Event ev;
    EXPECT_FALSE(ev.is_set());
    std::vector<int> result;
    auto c = [&](int n) {
      return [&, n] {
        ev.wait();
        result.push_back(n);
      };
    };
    auto t1 = weft::create_task(c(1));
    auto t2 = weft::create_task(c(2));
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);
    auto t3 = weft::create_task(c(3));
    ev.set();
    weft::yield();
    EXPECT_EQ((std::vector<int>{3, 1, 2}), result);
    EXPECT_TRUE(t1.done() && t2.done() && t3.done());
  });
}

TEST(EventTests, test_wait_on_set) {
  weft::run([] {
    Event ev;
    ev.set();
    ev.wait();
    EXPECT_TRUE(ev.is_set());
  });
}

TEST(EventTests, test_wait_cancel) {
  weft::run([] {
    Event ev;
    auto wait = weft::create_task([&] { ev.wait(); });
    call_soon_cancel(wait);
    EXPECT_THROW(wait.get(), CancelledError);
  });
}

TEST(EventTests, test_clear) {
  weft::run([] {
    Event ev;
    EXPECT_FALSE(ev.is_set());
    ev.set();
    EXPECT_TRUE(ev.is_set());
    ev.clear();
    EXPECT_FALSE(ev.is_set());
  });
}

TEST(EventTests, test_clear_with_waiters) {
  weft::run([] {
    Event ev;
    std::vector<int> result;
    auto t = weft::create_task([&] {
      ev.wait();
      result.push_back(1);
    });
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);
    ev.set();
    ev.clear();
    EXPECT_FALSE(ev.is_set());
    ev.set();
    ev.set();
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);  // woken once
    EXPECT_TRUE(t.done());
  });
}

TEST(EventTests, WokenThenCancelledWaiterIsCancelled) {
  weft::run([] {
    Event ev;
    auto t = weft::create_task([&] { ev.wait(); });
    auto other = weft::create_task([&] { ev.wait(); });
    weft::yield();
    ev.set();
    t.cancel();
    EXPECT_THROW(t.get(), CancelledError);
    other.get();
  });
}

TEST(EventTests, SetFromAPlainCallback) {
  weft::run([] {
    Event ev;
    weft::get_running_loop().call_soon([&] { ev.set(); });
    ev.wait();
    EXPECT_TRUE(ev.is_set());
  });
}

// --- where calls may come from ------------------------------------------------------

TEST(LockLoopBinding, BlockingCallsNeedATaskNonBlockingOnesDoNot) {
  weft::run([] {
    Lock lock;
    Event ev;
    Condition cond;
    std::vector<std::string> errors;
    auto expect_refused = [&](const char* name, std::function<void()> call) {
      try {
        call();
        errors.push_back(std::string(name) + ": accepted");
      } catch (const InvalidStateError& e) {
        if (std::string(e.what()).find("inside a task") == std::string::npos) errors.push_back(e.what());
      }
    };
    lock.acquire();
    cond.acquire();
    weft::Event done;
    weft::get_running_loop().call_soon([&] {
      // Refused on the loop's own stack, even when they would not block.
      expect_refused("Lock::acquire", [&] { lock.acquire(); });
      expect_refused("Event::wait", [&] { ev.wait(); });
      expect_refused("Condition::wait", [&] { cond.wait(); });
      Lock free_lock;
      expect_refused("Lock::acquire (free)", [&] { free_lock.acquire(); });
      // Accepted from a plain callback.
      lock.release();
      cond.notify_all();
      cond.release();
      ev.set();
      expect_refused("Event::wait (set)", [&] { ev.wait(); });
      expect_refused("Condition::wait (true predicate)", [&] { cond.wait([] { return true; }); });
      ev.clear();
      done.set();
    });
    done.wait();
    EXPECT_TRUE(errors.empty()) << errors.front();
    EXPECT_FALSE(lock.locked());
    EXPECT_FALSE(cond.locked());
  });
}

TEST(LockLoopBinding, CallsFromAnotherThreadAreRefused) {
  weft::run([] {
    Lock lock;
    Event ev;
    lock.acquire();
    int refused = 0;
    std::thread other([&] {
      try {
        ev.set();
      } catch (const InvalidStateError&) {
        ++refused;
      }
      try {
        lock.release();
      } catch (const InvalidStateError&) {
        ++refused;
      }
    });
    other.join();
    EXPECT_EQ(2, refused);
    EXPECT_FALSE(ev.is_set());
    EXPECT_TRUE(lock.locked());
    lock.release();
  });
}

TEST(LockLoopBinding, AnotherLoopIsRefused) {
  weft::Loop first;
  weft::Loop second;
  Event ev;
  weft::run_until_complete(first, [&] { ev.set(); });  // binds ev to `first`
  std::string message;
  weft::run_until_complete(second, [&] {
    try {
      ev.clear();
    } catch (const InvalidStateError& e) {
      message = e.what();
    }
  });
  EXPECT_NE(std::string::npos, message.find("different event loop")) << message;
  EXPECT_TRUE(ev.is_set());
  first.close();
  second.close();
}

TEST(LockLoopBinding, UnboundObjectsMayBeUsedBeforeAnyLoopRunsButNotAfterTheirs) {
  Event ev;
  ev.set();  // no loop yet: nothing can be waiting, so this is allowed
  weft::run([&] {
    ev.wait();  // set already: returns at once, and binds ev to this loop
    ev.clear();
  });
  EXPECT_FALSE(ev.is_set());
  EXPECT_THROW(ev.set(), InvalidStateError);  // its loop no longer runs
}

// The closing backstop: a loop closed by hand unwinds its live tasks, every
// wait failing at once. A Condition::wait() that cannot take its lock back
// then (another task holds it) must neither spin nor make the caller's
// guard fail or release the other task's hold. Both unwinding orders are
// covered (the loop unwinds its tasks in an order of its own).
void close_loop_with_condition_waiter(bool holder_first) {
  weft::Loop loop;
  Condition cond;
  Event go;
  Event never;
  int finished = 0;
  auto waiter = [&] {
    std::unique_lock<Condition> guard(cond);
    try {
      cond.wait();
    } catch (const CancelledError&) {
      ++finished;
      throw;
    }
  };
  auto holder = [&] {
    go.wait();
    std::unique_lock<Condition> guard(cond);
    try {
      never.wait();
    } catch (const CancelledError&) {
      ++finished;
      throw;
    }
  };
  weft::run_until_complete(loop, [&] {
    if (holder_first) {
      weft::create_task(holder);
      weft::create_task(waiter);
    } else {
      weft::create_task(waiter);
      weft::create_task(holder);
    }
    weft::yield();  // the waiter waits in cond.wait(), the holder for `go`
    go.set();
    weft::yield();
    weft::yield();
    EXPECT_TRUE(cond.locked());  // by the holder, parked on `never`
  });
  loop.close();
  EXPECT_EQ(2, finished);
  EXPECT_FALSE(cond.locked());
}

TEST(LockLoopBinding, ClosingLoopUnwindsConditionWaiterWhileHolderWaits) {
  close_loop_with_condition_waiter(true);
}

TEST(LockLoopBinding, ClosingLoopUnwindsHolderThenConditionWaiter) { close_loop_with_condition_waiter(false); }

}  // namespace

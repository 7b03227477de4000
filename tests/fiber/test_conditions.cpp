// Tests of Condition (weft/fiber/locks.hpp), ported from CPython's
// Lib/test/test_asyncio/test_locks.py (ConditionTests, Python 3.13) and named
// after its cases, plus weft's own. Lock and Event are in test_locks.cpp.
// weft::yield() is asyncio.sleep(0); both requeue the task behind everything
// ready, so the orderings asserted are asyncio's.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "weft/fiber/locks.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using weft::CancelledError;
using weft::Condition;
using weft::InvalidStateError;
using weft::Lock;

// asyncio.get_running_loop().call_soon(task.cancel).
template <class T>
void call_soon_cancel(weft::Task<T> task) {
  weft::get_running_loop().call_soon([task]() mutable { task.cancel(); });
}

TEST(ConditionTests, test_wait) {
  weft::run([] {
    Condition cond;
    std::vector<int> result;
    auto c = [&](int n) {
      return [&, n] {
        cond.acquire();
        cond.wait();
        result.push_back(n);
      };
    };
    auto t1 = weft::create_task(c(1));
    auto t2 = weft::create_task(c(2));
    auto t3 = weft::create_task(c(3));
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);
    EXPECT_FALSE(cond.locked());

    cond.acquire();
    cond.notify();
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);  // notified, but the lock is ours
    EXPECT_TRUE(cond.locked());

    cond.release();
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);
    EXPECT_TRUE(cond.locked());  // t1 ended holding it

    cond.notify(2);
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);
    EXPECT_TRUE(cond.locked());

    cond.release();
    weft::yield();
    EXPECT_EQ((std::vector<int>{1, 2}), result);
    EXPECT_TRUE(cond.locked());

    cond.release();
    weft::yield();
    EXPECT_EQ((std::vector<int>{1, 2, 3}), result);
    EXPECT_TRUE(cond.locked());
    EXPECT_TRUE(t1.done() && t2.done() && t3.done());
  });
}

TEST(ConditionTests, test_wait_cancel) {
  weft::run([] {
    Condition cond;
    cond.acquire();
    auto wait = weft::create_task([&] { cond.wait(); });
    call_soon_cancel(wait);
    EXPECT_THROW(wait.get(), CancelledError);
    EXPECT_TRUE(cond.locked());  // taken back by the cancelled wait
  });
}

TEST(ConditionTests, test_wait_cancel_contested) {
  weft::run([] {
    Condition cond;
    cond.acquire();
    EXPECT_TRUE(cond.locked());
    auto wait_task = weft::create_task([&] { cond.wait(); });
    weft::yield();
    EXPECT_FALSE(cond.locked());

    // Notify, but contest the lock before cancelling.
    cond.acquire();
    EXPECT_TRUE(cond.locked());
    cond.notify();
    call_soon_cancel(wait_task);
    weft::get_running_loop().call_soon([&] { cond.release(); });
    try {
      wait_task.get();
    } catch (const CancelledError&) {
    }
    EXPECT_TRUE(cond.locked());
  });
}

TEST(ConditionTests, test_wait_cancel_after_notify) {
  // bpo-32841: cancelled while taking the lock back after a notify.
  weft::run([] {
    bool waited = false;
    Condition cond;
    auto waiter = weft::create_task([&] {
      std::unique_lock<Condition> guard(cond);
      waited = true;
      cond.wait();
    });
    weft::yield();  // start waiting
    cond.acquire();
    cond.notify();
    weft::yield();  // the waiter is now in acquire()
    waiter.cancel();
    weft::yield();  // the cancellation is delivered; it retries the acquire
    cond.release();
    weft::yield();  // it takes the lock, rethrows, and its guard releases
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_TRUE(waited);
    EXPECT_FALSE(cond.locked());
  });
}

TEST(ConditionTests, test_wait_unacquired) {
  weft::run([] {
    Condition cond;
    EXPECT_THROW(cond.wait(), InvalidStateError);
  });
}

TEST(ConditionTests, test_wait_for) {
  weft::run([] {
    Condition cond;
    bool presult = false;
    std::vector<int> result;
    auto t = weft::create_task([&] {
      cond.acquire();
      if (cond.wait_for([&] { return presult; })) {
        result.push_back(1);
        cond.release();
      }
    });
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);

    cond.acquire();
    cond.notify();
    cond.release();
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);  // woken, predicate still false

    presult = true;
    cond.acquire();
    cond.notify();
    cond.release();
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);
    EXPECT_TRUE(t.done());
  });
}

TEST(ConditionTests, test_wait_for_unacquired) {
  weft::run([] {
    Condition cond;
    // A predicate true at once needs no lock, and its value is returned.
    EXPECT_EQ(3, cond.wait([] { return 3; }));
    EXPECT_THROW(cond.wait([] { return false; }), InvalidStateError);
  });
}

TEST(ConditionTests, test_notify) {
  weft::run([] {
    Condition cond;
    std::vector<int> result;
    auto c = [&](int n) {
      return [&, n] {
        cond.acquire();
        cond.wait();
        result.push_back(n);
        cond.release();
      };
    };
    auto t1 = weft::create_task(c(1));
    auto t2 = weft::create_task(c(2));
    auto t3 = weft::create_task(c(3));
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);

    cond.acquire();
    cond.notify(1);
    cond.release();
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);

    cond.acquire();
    cond.notify(1);
    cond.notify(2048);
    cond.release();
    weft::yield();
    EXPECT_EQ((std::vector<int>{1, 2, 3}), result);
    EXPECT_TRUE(t1.done() && t2.done() && t3.done());
  });
}

TEST(ConditionTests, test_notify_all) {
  weft::run([] {
    Condition cond;
    std::vector<int> result;
    auto c = [&](int n) {
      return [&, n] {
        cond.acquire();
        cond.wait();
        result.push_back(n);
        cond.release();
      };
    };
    auto t1 = weft::create_task(c(1));
    auto t2 = weft::create_task(c(2));
    weft::yield();
    EXPECT_EQ(std::vector<int>{}, result);
    cond.acquire();
    cond.notify_all();
    cond.release();
    weft::yield();
    EXPECT_EQ((std::vector<int>{1, 2}), result);
    EXPECT_TRUE(t1.done() && t2.done());
  });
}

TEST(ConditionTests, test_notify_unacquired) {
  weft::run([] {
    Condition cond;
    EXPECT_THROW(cond.notify(), InvalidStateError);
    EXPECT_THROW(cond.notify_all(), InvalidStateError);
  });
}

TEST(ConditionTests, test_context_manager) {
  weft::run([] {
    Condition cond;
    EXPECT_FALSE(cond.locked());
    {
      std::lock_guard<Condition> guard(cond);
      EXPECT_TRUE(cond.locked());
    }
    EXPECT_FALSE(cond.locked());
  });
}

TEST(ConditionTests, test_explicit_lock) {
  weft::run([] {
    Lock lock;
    Condition cond(lock);
    Condition second(lock);  // two conditions over one lock
    {
      std::lock_guard<Condition> guard(cond);
      EXPECT_TRUE(lock.locked());
      EXPECT_TRUE(second.locked());
    }
    EXPECT_FALSE(cond.locked());
    {
      std::lock_guard<Lock> guard(lock);
      EXPECT_TRUE(cond.locked());
    }
    EXPECT_FALSE(lock.locked());
  });
}

TEST(ConditionTests, test_timeout_in_block) {
  // asyncio.wait_for(cond.wait(), 0.5) times out by cancelling the wait; the
  // lock is held again afterwards.
  weft::run([] {
    Condition cond;
    std::unique_lock<Condition> guard(cond);
    weft::TaskRef self = weft::current_task();
    weft::get_running_loop().call_later(std::chrono::milliseconds(20), [self]() mutable { self.cancel(); });
    EXPECT_THROW(cond.wait(), CancelledError);
    EXPECT_TRUE(cond.locked());
    self.uncancel();
  });
}

TEST(ConditionTests, test_cancelled_error_wakeup) {
  // The CancelledError thrown out of the wait carries the cancel message.
  weft::run([] {
    Condition cond;
    std::string raised;
    auto task = weft::create_task([&] {
      std::unique_lock<Condition> guard(cond);
      try {
        cond.wait([] { return false; });
      } catch (const CancelledError& e) {
        raised = e.message();
        throw;
      }
    });
    weft::yield();
    task.cancel("foo");
    try {
      task.get();
      ADD_FAILURE() << "not cancelled";
    } catch (const CancelledError& e) {
      EXPECT_EQ("foo", e.message());
    }
    EXPECT_EQ("foo", raised);
    EXPECT_FALSE(cond.locked());
  });
}

TEST(ConditionTests, test_cancelled_error_re_aquire) {
  // Cancelled while taking the lock back: the same message comes out.
  weft::run([] {
    Condition cond;
    bool wake = false;
    std::string raised;
    auto task = weft::create_task([&] {
      std::unique_lock<Condition> guard(cond);
      try {
        cond.wait([&] { return wake; });
      } catch (const CancelledError& e) {
        raised = e.message();
        throw;
      }
    });
    weft::yield();
    cond.acquire();
    wake = true;
    cond.notify();
    weft::yield();  // the task now waits to take the lock back
    task.cancel("foo");
    cond.release();
    try {
      task.get();
      ADD_FAILURE() << "not cancelled";
    } catch (const CancelledError& e) {
      EXPECT_EQ("foo", e.message());
    }
    EXPECT_EQ("foo", raised);
  });
}

// Two consumers wait for `state != 0`; the producer adds one item and
// notifies one consumer, which is then cancelled, either before it resumed
// (`relock` false: the race created in one step) or while it takes the lock
// back. The notification must reach the other consumer.
void check_cancelled_wakeup(bool relock) {
  weft::run([relock] {
    Condition cond;
    int state = 0;
    auto consumer = [&] {
      std::unique_lock<Condition> guard(cond);
      for (;;) {
        cond.wait([&] { return state != 0; });
        if (state < 0) return;
        --state;
      }
    };
    auto c0 = weft::create_task(consumer);
    auto c1 = weft::create_task(consumer);
    weft::yield();
    {
      std::unique_lock<Condition> guard(cond);
      state += 1;
      cond.notify(1);
      if (relock) weft::yield();  // c0 resumes and queues for the lock
      c0.cancel();
      // asyncio waits here with wait_for(state == 0) under a short timeout;
      // giving the lock away for a few iterations does the same.
      guard.unlock();
      for (int i = 0; i < 5; ++i) weft::yield();
      guard.lock();
      EXPECT_EQ(0, state);
      state = -1;
      cond.notify_all();
    }
    c1.get();
    EXPECT_TRUE(c0.cancelled());
  });
}

TEST(ConditionTests, test_cancelled_wakeup) { check_cancelled_wakeup(false); }

TEST(ConditionTests, test_cancelled_wakeup_relock) { check_cancelled_wakeup(true); }

TEST(ConditionTests, CancelledBeforeNotifyWakesNoOneElse) {
  // weft passes a notification on only if the cancelled waiter held one: a
  // waiter cancelled before any notify() causes no spurious wake-up.
  weft::run([] {
    Condition cond;
    int wakeups = 0;
    auto other = weft::create_task([&] {
      std::unique_lock<Condition> guard(cond);
      cond.wait();
      ++wakeups;
    });
    auto cancelled = weft::create_task([&] {
      std::unique_lock<Condition> guard(cond);
      cond.wait();
    });
    weft::yield();
    cancelled.cancel();
    EXPECT_THROW(cancelled.get(), CancelledError);
    for (int i = 0; i < 3; ++i) weft::yield();
    EXPECT_EQ(0, wakeups);
    {
      std::lock_guard<Condition> guard(cond);
      cond.notify();
    }
    other.get();
    EXPECT_EQ(1, wakeups);
  });
}

TEST(ConditionTests, NotifySkipsWaitersAlreadyWoken) {
  weft::run([] {
    Condition cond;
    std::vector<int> order;
    std::vector<weft::Task<void>> tasks;
    for (int i = 0; i < 3; ++i) {
      tasks.push_back(weft::create_task([&, i] {
        std::unique_lock<Condition> guard(cond);
        cond.wait();
        order.push_back(i);
      }));
    }
    weft::yield();
    {
      std::lock_guard<Condition> guard(cond);
      cond.notify(1);
      cond.notify(1);  // the second notify goes to the second waiter
    }
    for (int i = 0; i < 3; ++i) weft::yield();
    EXPECT_EQ((std::vector<int>{0, 1}), order);
    {
      std::lock_guard<Condition> guard(cond);
      cond.notify_all();
    }
    for (auto& t : tasks) t.get();
    EXPECT_EQ((std::vector<int>{0, 1, 2}), order);
  });
}

}  // namespace

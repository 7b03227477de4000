// Tests of Semaphore and BoundedSemaphore (weft/fiber/semaphores.hpp), ported
// from CPython's Lib/test/test_asyncio/test_locks.py (SemaphoreTests, Python
// 3.13) and named after its cases, plus weft's own: the "woken then cancelled
// before it resumed" race created in one task step, and where calls may come
// from. weft::yield() is asyncio.sleep(0).
#include "weft/fiber/semaphores.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using weft::BoundedSemaphore;
using weft::CancelledError;
using weft::InvalidStateError;
using weft::Semaphore;

// asyncio.gather(*tasks, return_exceptions=True), counting the cancelled.
int settle(std::vector<weft::Task<void>>& tasks) {
  int cancelled = 0;
  for (auto& t : tasks) {
    try {
      t.get();
    } catch (const CancelledError&) {
      ++cancelled;
    }
  }
  return cancelled;
}

TEST(SemaphoreTests, test_initial_value_zero) {
  weft::run([] {
    Semaphore sem(0);
    EXPECT_TRUE(sem.locked());
  });
}

TEST(SemaphoreTests, test_semaphore) {
  weft::run([] {
    Semaphore sem;
    EXPECT_FALSE(sem.locked());
    sem.acquire();
    EXPECT_TRUE(sem.locked());
    sem.release();
    EXPECT_FALSE(sem.locked());
  });
}

TEST(SemaphoreTests, test_semaphore_value) {
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
  EXPECT_THROW(BoundedSemaphore(-1), std::invalid_argument);
}

TEST(SemaphoreTests, test_acquire) {
  weft::run([] {
    Semaphore sem(3);
    std::vector<int> result;
    sem.acquire();
    sem.acquire();
    EXPECT_FALSE(sem.locked());
    auto c = [&](int n) {
      return [&, n] {
        sem.acquire();
        result.push_back(n);
      };
    };
    std::vector<weft::Task<void>> tasks;
    tasks.push_back(weft::create_task(c(1)));
    tasks.push_back(weft::create_task(c(2)));
    tasks.push_back(weft::create_task(c(3)));
    weft::yield();
    EXPECT_EQ(std::vector<int>{1}, result);
    EXPECT_TRUE(sem.locked());

    tasks.push_back(weft::create_task(c(4)));
    sem.release();
    sem.release();  // both permits go to the waiters t2 and t3 at once
    EXPECT_TRUE(sem.locked());
    weft::yield();
    EXPECT_EQ(3u, result.size());
    EXPECT_EQ((std::vector<int>{1, 2, 3}), result);  // t4 queued behind them
    EXPECT_TRUE(sem.locked());
    EXPECT_FALSE(tasks[3].done());

    sem.release();
    EXPECT_EQ(0, settle(tasks));
    EXPECT_EQ((std::vector<int>{1, 2, 3, 4}), result);
  });
}

TEST(SemaphoreTests, test_acquire_cancel) {
  weft::run([] {
    Semaphore sem;
    sem.acquire();
    auto acquire = weft::create_task([&] { sem.acquire(); });
    weft::get_running_loop().call_soon([acquire]() mutable { acquire.cancel(); });
    EXPECT_THROW(acquire.get(), CancelledError);
    sem.release();
    EXPECT_FALSE(sem.locked());  // no live waiter left behind
  });
}

TEST(SemaphoreTests, test_acquire_cancel_before_awoken) {
  weft::run([] {
    Semaphore sem(0);
    auto acquire = [&] { sem.acquire(); };
    std::vector<weft::Task<void>> t;
    for (int i = 0; i < 4; ++i) t.push_back(weft::create_task(acquire));
    weft::yield();
    t[0].cancel();
    t[1].cancel();
    sem.release();  // skips the cancelled waiters
    weft::yield();
    weft::yield();
    EXPECT_TRUE(t[2].done());
    EXPECT_FALSE(t[3].done());
    t[3].cancel();
    EXPECT_EQ(3, settle(t));
  });
}

TEST(SemaphoreTests, test_acquire_hang) {
  weft::run([] {
    Semaphore sem(0);
    auto t1 = weft::create_task([&] { sem.acquire(); });
    auto t2 = weft::create_task([&] { sem.acquire(); });
    weft::yield();
    t1.cancel();
    sem.release();
    weft::yield();
    weft::yield();
    EXPECT_TRUE(sem.locked());
    EXPECT_TRUE(t2.done());
  });
}

TEST(SemaphoreTests, test_acquire_no_hang) {
  // t2 is handed the permit t1 releases, then cancelled (by t1) before it
  // resumes: the permit must come back.
  weft::run([] {
    Semaphore sem(1);
    weft::Task<void> t2;
    auto t1 = weft::create_task([&] {
      {
        std::lock_guard<Semaphore> guard(sem);
        weft::yield();
      }
      t2.cancel();
    });
    t2 = weft::create_task([&] {
      std::lock_guard<Semaphore> guard(sem);
      ADD_FAILURE() << "t2 acquired";
    });
    std::vector<weft::Task<void>> tasks{t1, t2};
    EXPECT_EQ(1, settle(tasks));
    EXPECT_TRUE(t2.cancelled());
    EXPECT_FALSE(sem.locked());
    sem.acquire();
  });
}

TEST(SemaphoreTests, test_release_not_acquired) {
  weft::run([] {
    BoundedSemaphore sem;
    EXPECT_THROW(sem.release(), InvalidStateError);
    Semaphore& base = sem;  // the bound holds through the base class too
    EXPECT_THROW(base.release(), InvalidStateError);
    sem.acquire();
    sem.release();
    EXPECT_THROW(sem.release(), InvalidStateError);
  });
}

TEST(SemaphoreTests, test_release_no_waiters) {
  weft::run([] {
    Semaphore sem;
    sem.acquire();
    EXPECT_TRUE(sem.locked());
    sem.release();
    EXPECT_FALSE(sem.locked());
  });
}

TEST(SemaphoreTests, test_acquire_fifo_order) {
  std::vector<std::string> result;
  weft::run([&] {
    Semaphore sem(1);
    auto coro = [&](const std::string& tag) {
      return [&, tag] {
        for (const char* round : {"_1", "_2"}) {
          sem.acquire();
          result.push_back(tag + round);
          weft::sleep(std::chrono::milliseconds(10));
          sem.release();
        }
      };
    };
    std::vector<weft::Task<void>> tasks;
    for (const char* tag : {"c1", "c2", "c3"}) tasks.push_back(weft::create_task(coro(tag)));
    EXPECT_EQ(0, settle(tasks));
  });
  EXPECT_EQ((std::vector<std::string>{"c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"}), result);
}

TEST(SemaphoreTests, test_acquire_fifo_order_2) {
  std::vector<int> result;
  weft::run([&] {
    Semaphore sem(1);
    std::vector<weft::Task<void>> tasks;
    tasks.push_back(weft::create_task([&] {
      sem.acquire();
      result.push_back(1);
    }));
    tasks.push_back(weft::create_task([&] {
      sem.acquire();
      result.push_back(2);
      sem.release();
      sem.acquire();
      result.push_back(4);
    }));
    tasks.push_back(weft::create_task([&] {
      sem.acquire();
      result.push_back(3);
    }));
    weft::yield();
    sem.release();
    sem.release();
    EXPECT_EQ(0, settle(tasks));
  });
  EXPECT_EQ((std::vector<int>{1, 2, 3, 4}), result);
}

TEST(SemaphoreTests, test_acquire_fifo_order_3) {
  std::vector<int> result;
  weft::run([&] {
    Semaphore sem(0);
    auto c = [&](int n) {
      return [&, n] {
        sem.acquire();
        result.push_back(n);
      };
    };
    std::vector<weft::Task<void>> tasks;
    for (int n = 1; n <= 3; ++n) tasks.push_back(weft::create_task(c(n)));
    weft::yield();
    tasks[0].cancel();
    weft::yield();
    sem.release();
    sem.release();
    EXPECT_EQ(1, settle(tasks));
  });
  EXPECT_EQ((std::vector<int>{2, 3}), result);
}

TEST(SemaphoreTests, test_acquire_fifo_order_4) {
  // A successful acquire() wakes further tasks that had to queue behind it
  // although permits were free (FIFO).
  std::vector<int> result;
  weft::run([&] {
    Semaphore sem(0);
    weft::Task<void> t4;
    std::vector<weft::Task<void>> tasks;
    tasks.push_back(weft::create_task([&] {
      sem.acquire();  // woken by c2's first release
      t4 = weft::create_task([&] { result.push_back(4); });
      result.push_back(1);
    }));
    tasks.push_back(weft::create_task([&] {
      sem.release();
      sem.release();
      sem.release();
      EXPECT_TRUE(sem.locked());  // c1 was woken but has not resumed yet
      sem.acquire();
      result.push_back(2);
    }));
    tasks.push_back(weft::create_task([&] {
      sem.acquire();
      EXPECT_TRUE(sem.locked());
      result.push_back(3);
    }));
    weft::yield();
    weft::yield();
    EXPECT_EQ(0, settle(tasks));
    t4.get();
  });
  EXPECT_EQ((std::vector<int>{1, 2, 3, 4}), result);
}

TEST(SemaphoreTests, WokenThenCancelledWaiterPassesThePermitOn) {
  // In one step: release() hands t1 the permit, then t1 is cancelled before
  // it resumes. The permit goes to t2, not nowhere.
  weft::run([] {
    Semaphore sem(0);
    std::vector<int> got;
    auto waiter = [&](int n) {
      return [&, n] {
        sem.acquire();
        got.push_back(n);
      };
    };
    auto t1 = weft::create_task(waiter(1));
    auto t2 = weft::create_task(waiter(2));
    weft::yield();
    sem.release();
    t1.cancel();
    EXPECT_THROW(t1.get(), CancelledError);
    t2.get();
    EXPECT_EQ(std::vector<int>{2}, got);
    EXPECT_TRUE(sem.locked());  // the one permit is t2's
    sem.release();
    EXPECT_FALSE(sem.locked());
  });
}

TEST(SemaphoreTests, WokenThenCancelledLastWaiterReturnsThePermit) {
  weft::run([] {
    BoundedSemaphore sem(1);
    sem.acquire();
    auto t = weft::create_task([&] { sem.acquire(); });
    weft::yield();
    sem.release();
    t.cancel();
    EXPECT_THROW(t.get(), CancelledError);
    EXPECT_FALSE(sem.locked());
    EXPECT_THROW(sem.release(), InvalidStateError);  // the count is whole again
  });
}

TEST(SemaphoreTests, WhereCallsMayComeFrom) {
  weft::run([] {
    Semaphore sem(1);
    sem.acquire();
    int refused = 0;
    weft::Future<void> done;
    weft::get_running_loop().call_soon([&]() mutable {
      try {
        sem.acquire();  // blocking: refused outside a task
      } catch (const InvalidStateError&) {
        ++refused;
      }
      sem.release();  // non-blocking: accepted from a callback
      done.set_result();
    });
    done.get();
    EXPECT_EQ(1, refused);
    EXPECT_FALSE(sem.locked());
  });
}

}  // namespace

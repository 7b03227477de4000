// Tests of Barrier (weft/fiber/barriers.hpp), ported from CPython's
// Lib/test/test_asyncio/test_locks.py (BarrierTests, Python 3.13) and named
// after its cases, plus weft's own. asyncio's repr() checks become state()
// checks. Blocking calls are never made inside a catch block (Boost.Context:
// no fiber switch while an exception is being handled), so the ported cases
// record what they caught and act after the handler.
#include "weft/fiber/barriers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <vector>

#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using weft::Barrier;
using weft::BrokenBarrierError;
using weft::CancelledError;
using State = weft::Barrier::State;

constexpr int kN = 5;

template <class F>
auto make_tasks(int n, F fn) -> std::vector<decltype(weft::create_task(fn))> {
  std::vector<decltype(weft::create_task(fn))> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(weft::create_task(fn));
  return tasks;
}

// asyncio.gather(*tasks, return_exceptions=True) for tasks whose failures do
// not matter to the test.
template <class T>
void settle(std::vector<weft::Task<T>>& tasks) {
  for (auto& t : tasks) {
    try {
      t.get();
    } catch (const CancelledError&) {
    } catch (const std::exception&) {
    }
  }
}

TEST(BarrierTests, test_barrier_parties) {
  EXPECT_THROW(Barrier(0), std::invalid_argument);
  EXPECT_THROW(Barrier(-4), std::invalid_argument);
  weft::run([] {
    Barrier barrier(kN);
    EXPECT_EQ(static_cast<std::size_t>(kN), barrier.parties());
    EXPECT_EQ(State::kFilling, barrier.state());
  });
}

TEST(BarrierTests, test_repr) {
  weft::run([] {
    Barrier barrier(kN);
    std::vector<weft::Task<std::size_t>> waiters;
    auto wait = [&] { return barrier.wait(); };
    for (int i = 0; i < 2; ++i) waiters.push_back(weft::create_task(wait));
    weft::yield();
    EXPECT_EQ(2u, barrier.n_waiting());
    EXPECT_EQ(State::kFilling, barrier.state());

    for (std::size_t i = barrier.n_waiting(); i < barrier.parties(); ++i) waiters.push_back(weft::create_task(wait));
    weft::yield();
    EXPECT_EQ(State::kDraining, barrier.state());

    for (int i = 0; i < 2; ++i) waiters.push_back(weft::create_task(wait));
    weft::yield();
    barrier.reset();
    EXPECT_EQ(State::kResetting, barrier.state());

    for (int i = 0; i < 2; ++i) waiters.push_back(weft::create_task(wait));
    weft::yield();
    barrier.abort();
    EXPECT_EQ(State::kBroken, barrier.state());
    EXPECT_TRUE(barrier.broken());
    settle(waiters);
  });
}

TEST(BarrierTests, test_context_manager) {
  weft::run([] {
    Barrier barrier(3);
    auto tasks = make_tasks(3, [&] { return barrier.wait(); });
    std::vector<std::size_t> results;
    for (auto& t : tasks) results.push_back(t.get());
    std::sort(results.begin(), results.end());
    EXPECT_EQ((std::vector<std::size_t>{0, 1, 2}), results);
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_filling_one_task) {
  weft::run([] {
    Barrier barrier(1);
    EXPECT_EQ(0u, barrier.wait());
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_filling_one_task_twice) {
  weft::run([] {
    Barrier barrier(1);
    auto t1 = weft::create_task([&] { return barrier.wait(); });
    weft::yield();
    EXPECT_EQ(0u, barrier.n_waiting());
    auto t2 = weft::create_task([&] { return barrier.wait(); });
    weft::yield();
    EXPECT_TRUE(t1.done() && t2.done());
    EXPECT_EQ(t1.result(), t2.result());
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_filling_task_by_task) {
  weft::run([] {
    Barrier barrier(3);
    auto wait = [&] { return barrier.wait(); };
    auto t1 = weft::create_task(wait);
    weft::yield();
    EXPECT_EQ(1u, barrier.n_waiting());
    auto t2 = weft::create_task(wait);
    weft::yield();
    EXPECT_EQ(2u, barrier.n_waiting());
    EXPECT_EQ(State::kFilling, barrier.state());
    auto t3 = weft::create_task(wait);
    weft::yield();
    t1.get();
    t2.get();
    t3.get();
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_filling_tasks_wait_twice) {
  weft::run([] {
    Barrier barrier(kN);
    int first = 0;
    int second = 0;
    auto tasks = make_tasks(kN, [&] {
      barrier.wait();
      ++first;
      barrier.wait();
      ++second;
    });
    settle(tasks);
    EXPECT_EQ(kN, first);
    EXPECT_EQ(kN, second);
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_filling_tasks_check_return_value) {
  weft::run([] {
    Barrier barrier(kN);
    auto tasks = make_tasks(kN, [&] {
      barrier.wait();
      return barrier.wait();
    });
    std::vector<std::size_t> results;
    for (auto& t : tasks) results.push_back(t.get());
    std::sort(results.begin(), results.end());
    EXPECT_EQ((std::vector<std::size_t>{0, 1, 2, 3, 4}), results);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_draining_state) {
  weft::run([] {
    Barrier barrier(kN);
    std::vector<bool> draining;
    auto tasks = make_tasks(kN, [&] {
      barrier.wait();
      // The barrier fills again when the last task leaves it.
      draining.push_back(barrier.state() == State::kDraining);
    });
    settle(tasks);
    EXPECT_EQ((std::vector<bool>{true, true, true, true, false}), draining);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_blocking_tasks_while_draining) {
  weft::run([] {
    const int rewait = 2;
    Barrier barrier(kN);
    Barrier barrier_nowaiting(kN - rewait);
    int rewait_n = rewait;
    auto tasks = make_tasks(kN, [&] {
      barrier.wait();
      if (rewait_n > 0) {
        --rewait_n;
        barrier.wait();  // waits again, blocked while the barrier drains
      } else {
        barrier_nowaiting.wait();
        barrier.wait();
      }
    });
    for (auto& t : tasks) t.get();  // all pass: no one is left behind
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_filling_tasks_cancel_one) {
  weft::run([] {
    Barrier barrier(3);
    int results = 0;
    auto coro = [&] {
      barrier.wait();
      ++results;
    };
    auto t1 = weft::create_task(coro);
    weft::yield();
    EXPECT_EQ(1u, barrier.n_waiting());
    auto t2 = weft::create_task(coro);
    weft::yield();
    EXPECT_EQ(2u, barrier.n_waiting());

    t1.cancel();
    weft::yield();
    EXPECT_EQ(1u, barrier.n_waiting());
    EXPECT_THROW(t1.get(), CancelledError);
    EXPECT_TRUE(t1.cancelled());

    auto t3 = weft::create_task(coro);
    weft::yield();
    EXPECT_EQ(2u, barrier.n_waiting());
    auto t4 = weft::create_task(coro);
    t2.get();
    t3.get();
    t4.get();
    EXPECT_EQ(3, results);
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_reset_barrier) {
  weft::run([] {
    Barrier barrier(1);
    weft::create_task([&] { barrier.reset(); });
    weft::yield();
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_FALSE(barrier.broken());
  });
}

TEST(BarrierTests, test_reset_barrier_while_tasks_waiting) {
  weft::run([] {
    Barrier barrier(kN);
    int broken = 0;
    auto tasks = make_tasks(kN - 1, [&] {
      try {
        barrier.wait();
      } catch (const BrokenBarrierError&) {
        ++broken;
      }
    });
    weft::yield();
    weft::create_task([&] { barrier.reset(); });
    for (auto& t : tasks) t.get();
    EXPECT_EQ(kN - 1, broken);
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_EQ(State::kFilling, barrier.state());
  });
}

TEST(BarrierTests, test_reset_barrier_when_tasks_half_draining) {
  // The drained task that sees rest_of_tasks still inside resets: those get
  // BrokenBarrierError although the barrier had tripped for them.
  weft::run([] {
    Barrier barrier(kN);
    const int rest_of_tasks = kN / 2;
    int broken = 0;
    int drained = 0;
    auto tasks = make_tasks(kN, [&] {
      bool passed = true;
      try {
        barrier.wait();
      } catch (const BrokenBarrierError&) {
        ++broken;
        passed = false;
      }
      // asyncio reads barrier._count: the tasks still inside. Leaving and
      // returning involve no switch, so it is kN minus those that returned.
      if (passed && rest_of_tasks == kN - ++drained) barrier.reset();
    });
    settle(tasks);
    EXPECT_EQ(rest_of_tasks, broken);
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_EQ(State::kFilling, barrier.state());
  });
}

TEST(BarrierTests, test_reset_barrier_when_tasks_half_draining_half_blocking) {
  weft::run([] {
    Barrier barrier(kN);
    const int blocking_tasks = kN / 2;
    int results1 = 0;
    int results2 = 0;
    int count = 0;
    auto tasks = make_tasks(kN, [&] {
      bool broken = false;
      try {
        barrier.wait();
      } catch (const BrokenBarrierError&) {
        ++results1;  // still waiting in the barrier when it was reset
        broken = true;
      }
      if (broken) {
        barrier.wait();  // waits again to reach the parties
      } else if (++count > blocking_tasks) {
        barrier.reset();
        barrier.wait();
      } else {
        try {
          barrier.wait();
        } catch (const BrokenBarrierError&) {
          ++results2;  // never: blocked tasks just go on waiting
        }
      }
    });
    settle(tasks);
    EXPECT_EQ(blocking_tasks, results1);
    EXPECT_EQ(0, results2);
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_EQ(State::kFilling, barrier.state());
  });
}

TEST(BarrierTests, test_reset_barrier_while_tasks_waiting_and_waiting_again) {
  weft::run([] {
    Barrier barrier(kN);
    int results1 = 0;
    int results2 = 0;
    auto tasks = make_tasks(kN - 1, [&] {
      try {
        barrier.wait();
      } catch (const BrokenBarrierError&) {
        ++results1;
      }
      barrier.wait();  // asyncio's `finally`
      ++results2;
    });
    weft::create_task([&] { barrier.reset(); });
    weft::yield();
    auto late = weft::create_task([&] {
      barrier.wait();
      ++results2;
    });
    settle(tasks);
    late.get();
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(kN - 1, results1);
    EXPECT_EQ(kN, results2);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_reset_barrier_while_tasks_draining) {
  weft::run([] {
    Barrier barrier(kN);
    int results1 = 0;
    int results2 = 0;
    int results3 = 0;
    int count = 0;
    auto tasks = make_tasks(kN, [&] {
      barrier.wait();
      if (++count == kN) {
        barrier.reset();  // the last task out resets, then waits again
        barrier.wait();
      } else {
        try {
          barrier.wait();  // second wait
          ++results1;
        } catch (const BrokenBarrierError&) {
          ++results2;  // never
        }
      }
      barrier.wait();  // must complete
      ++results3;
    });
    settle(tasks);
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(kN - 1, results1);
    EXPECT_EQ(0, results2);
    EXPECT_EQ(kN, results3);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_abort_barrier) {
  weft::run([] {
    Barrier barrier(1);
    weft::create_task([&] { barrier.abort(); });
    weft::yield();
    EXPECT_EQ(0u, barrier.n_waiting());
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(), BrokenBarrierError);
  });
}

TEST(BarrierTests, test_abort_barrier_when_tasks_half_draining_half_blocking) {
  weft::run([] {
    Barrier barrier(kN);
    const int blocking_tasks = kN / 2;
    int results1 = 0;
    int results2 = 0;
    int count = 0;
    auto tasks = make_tasks(kN, [&] {
      try {
        barrier.wait();
      } catch (const BrokenBarrierError&) {
        ++results1;  // tasks still draining when it was aborted
        return;
      }
      if (++count > blocking_tasks) {
        barrier.abort();
      } else {
        try {
          barrier.wait();
        } catch (const BrokenBarrierError&) {
          ++results2;  // blocked tasks, already drained
        }
      }
    });
    settle(tasks);
    EXPECT_TRUE(barrier.broken());
    EXPECT_EQ(blocking_tasks, results1);
    EXPECT_EQ(kN - blocking_tasks - 1, results2);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_abort_barrier_when_exception) {
  // From threading.Barrier's tests (lock_tests.test_reset).
  weft::run([] {
    Barrier barrier(kN);
    int results1 = 0;
    int results2 = 0;
    auto tasks = make_tasks(kN, [&] {
      bool failed = false;
      try {
        if (barrier.wait() == kN / 2) throw std::runtime_error("boom");
        barrier.wait();
        ++results1;
      } catch (const BrokenBarrierError&) {
        ++results2;
      } catch (const std::runtime_error&) {
        failed = true;
      }
      if (failed) barrier.abort();
    });
    settle(tasks);
    EXPECT_TRUE(barrier.broken());
    EXPECT_EQ(0, results1);
    EXPECT_EQ(kN - 1, results2);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, test_abort_barrier_when_exception_then_resetting) {
  // From threading.Barrier's tests (lock_tests.test_abort_and_reset).
  weft::run([] {
    Barrier barrier1(kN);
    Barrier barrier2(kN);
    int results1 = 0;
    int results2 = 0;
    int results3 = 0;
    auto tasks = make_tasks(kN, [&] {
      bool failed = false;
      try {
        if (barrier1.wait() == kN / 2) throw std::runtime_error("boom");
        barrier1.wait();
        ++results1;
      } catch (const BrokenBarrierError&) {
        ++results2;
      } catch (const std::runtime_error&) {
        failed = true;
      }
      if (failed) barrier1.abort();
      // Synchronize and reset: everyone has left barrier1 before the reset,
      // and no one enters it again before.
      if (barrier2.wait() == kN / 2) barrier1.reset();
      barrier2.wait();
      barrier1.wait();
      ++results3;
    });
    settle(tasks);
    EXPECT_FALSE(barrier1.broken());
    EXPECT_EQ(0, results1);
    EXPECT_EQ(kN - 1, results2);
    EXPECT_EQ(kN, results3);
    EXPECT_EQ(0u, barrier1.n_waiting());
  });
}

TEST(BarrierTests, WokenThenCancelledPartyLeavesTheBarrierUsable) {
  // The last party trips the barrier and, in the same step, one released
  // waiter is cancelled before it resumes: it throws CancelledError, the
  // others return their index, and the barrier fills again afterwards.
  weft::run([] {
    Barrier barrier(3);
    auto wait = [&] { return barrier.wait(); };
    auto t1 = weft::create_task(wait);
    auto t2 = weft::create_task(wait);
    weft::yield();
    EXPECT_EQ(2u, barrier.n_waiting());
    weft::create_task([&] {
      barrier.wait();  // index 2: releases t1 and t2
      t1.cancel();
    }).get();
    EXPECT_THROW(t1.get(), CancelledError);
    EXPECT_EQ(1u, t2.get());
    weft::yield();
    EXPECT_EQ(State::kFilling, barrier.state());
    auto again = make_tasks(3, wait);
    settle(again);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

TEST(BarrierTests, WaitOutsideATaskIsRefused) {
  weft::run([] {
    Barrier barrier(2);
    int refused = 0;
    weft::Future<void> done;
    weft::get_running_loop().call_soon([&]() mutable {
      try {
        barrier.wait();
      } catch (const weft::InvalidStateError&) {
        ++refused;
      }
      done.set_result();
    });
    done.get();
    EXPECT_EQ(1, refused);
    EXPECT_EQ(0u, barrier.n_waiting());
  });
}

}  // namespace

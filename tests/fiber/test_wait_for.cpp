// Tests of weft::wait_for() (asyncio.wait_for, 3.12+: built on timeout())
// and weft::shield(). The wait_for cases port CPython's
// Lib/test/test_asyncio/test_waitfor.py, the shield cases the test_shield_*
// and test_gather_shield cases of test_tasks.py (a gather, which is a future
// in asyncio, runs in a task here). C++ exception types stand in for
// Python's.
#include "weft/fiber/waiting.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "weft/fiber/runners.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

struct Flag {
  bool* set;
  ~Flag() { *set = true; }
};

// test_waitfor.py SlowTask: runs for 200 ms whatever cancellations it gets.
struct SlowTask {
  bool exited = false;
  void run() {
    const Clock::time_point exit_at = Clock::now() + milliseconds(200);
    for (;;) {
      const Clock::duration to_sleep = exit_at - Clock::now();
      if (to_sleep <= Clock::duration::zero()) break;
      try {
        weft::sleep(to_sleep);
      } catch (const weft::CancelledError&) {
      }
    }
    exited = true;
  }
};

void expect_only_main_left() { EXPECT_EQ(1u, weft::all_tasks().size()); }

// --- wait_for ---------------------------------------------------------------------

TEST(WaitFor, test_asyncio_wait_for_cancelled) {
  weft::run([] {
    SlowTask t;
    auto waitfortask = weft::create_task([&] { weft::wait_for([&] { t.run(); }, milliseconds(400)); });
    weft::yield();
    waitfortask.cancel();
    weft::wait(std::vector<weft::Task<void>>{waitfortask});
    EXPECT_TRUE(t.exited);  // wait_for waited for the task it cancelled
  });
}

TEST(WaitFor, test_asyncio_wait_for_timeout) {
  // The inner swallows the cancellation and returns: its value is returned.
  weft::run([] {
    SlowTask t;
    weft::wait_for([&] { t.run(); }, milliseconds(100));
    EXPECT_TRUE(t.exited);
  });
}

TEST(WaitFor, test_wait_for_timeout_less_then_0_or_0_future_done) {
  weft::run([] {
    weft::Future<std::string> fut;
    fut.set_result("done");
    EXPECT_EQ("done", weft::wait_for(fut, milliseconds(0)));
    EXPECT_TRUE(fut.done());
  });
}

TEST(WaitFor, test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started) {
  weft::run([] {
    bool foo_started = false;
    EXPECT_THROW(weft::wait_for([&] { foo_started = true; }, milliseconds(0)), weft::TimeoutError);
    EXPECT_FALSE(foo_started);
  });
}

TEST(WaitFor, test_wait_for_timeout_less_then_0_or_0) {
  weft::run([] {
    for (int timeout_ms : {0, -1}) {
      bool foo_running = false;
      weft::Future<void> started;
      auto fut = weft::create_task([&] {
        foo_running = true;
        started.set_result();
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          foo_running = false;
          throw;
        }
        return std::string("done");
      });
      started.get();
      const Clock::time_point t0 = Clock::now();
      EXPECT_THROW(weft::wait_for(fut, milliseconds(timeout_ms)), weft::TimeoutError);
      EXPECT_TRUE(fut.done());
      EXPECT_TRUE(fut.cancelled());
      EXPECT_FALSE(foo_running);
      EXPECT_LT(Clock::now() - t0, seconds(5));
    }
  });
}

TEST(WaitFor, test_wait_for) {
  weft::run([] {
    bool foo_running = false;
    bool unwound = false;
    auto fut = weft::create_task([&] {
      Flag f{&unwound};
      foo_running = true;
      weft::sleep(seconds(10));
      return std::string("done");
    });
    const Clock::time_point t0 = Clock::now();
    bool unwound_at_throw = false;
    try {
      weft::wait_for(fut, milliseconds(50));
      ADD_FAILURE() << "no TimeoutError";
    } catch (const weft::TimeoutError&) {
      unwound_at_throw = unwound;  // the inner's RAII ran before TimeoutError
    }
    EXPECT_TRUE(unwound_at_throw);
    EXPECT_TRUE(fut.cancelled());
    EXPECT_LT(Clock::now() - t0, seconds(5));
    EXPECT_EQ(0, weft::current_task().cancelling());
    expect_only_main_left();
  });
}

TEST(WaitFor, test_wait_for_blocking) {
  weft::run([] {
    EXPECT_EQ("done", weft::wait_for([] { return std::string("done"); }, std::chrono::hours::max()));
    weft::wait_for([] {}, seconds(10));  // void
  });
}

TEST(WaitFor, test_wait_for_race_condition) {
  weft::run([] {
    weft::Future<std::string> fut;
    weft::get_running_loop().call_later(milliseconds(10), [fut]() mutable { fut.set_result("ok"); });
    EXPECT_EQ("ok", weft::wait_for(fut, milliseconds(500)));
  });
}

TEST(WaitFor, test_wait_for_cancellation_race_condition) {
  weft::run([] {
    bool saw_cancel = false;
    const int result = weft::wait_for(
        [&] {
          try {
            weft::sleep(seconds(1));
          } catch (const weft::CancelledError&) {
            saw_cancel = true;
          }
          return 1;
        },
        milliseconds(10));
    EXPECT_EQ(1, result);
    EXPECT_TRUE(saw_cancel);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(WaitFor, test_wait_for_waits_for_task_cancellation) {
  weft::run([] {
    bool task_done = false;
    auto inner_task = weft::create_task([&] {
      Flag f{&task_done};
      bool cancelled = false;
      try {
        weft::sleep(seconds(10));
      } catch (const weft::CancelledError&) {
        cancelled = true;
      }
      if (cancelled) {
        weft::sleep(milliseconds(5));  // cleanup that suspends
        throw weft::CancelledError();
      }
    });
    bool done_at_throw = false;
    try {
      weft::wait_for(inner_task, milliseconds(1));
    } catch (const weft::TimeoutError&) {
      done_at_throw = task_done;
    }
    EXPECT_TRUE(done_at_throw);
  });
}

TEST(WaitFor, test_wait_for_waits_for_task_cancellation_w_timeout_0) {
  weft::run([] {
    bool task_done = false;
    auto inner_task = weft::create_task([&] {
      Flag f{&task_done};
      bool cancelled = false;
      try {
        weft::sleep(seconds(10));
      } catch (const weft::CancelledError&) {
        cancelled = true;
      }
      if (cancelled) {
        weft::sleep(milliseconds(5));
        throw weft::CancelledError();
      }
    });
    weft::sleep(milliseconds(1));
    bool done_at_throw = false;
    try {
      weft::wait_for(inner_task, milliseconds(0));
    } catch (const weft::TimeoutError&) {
      done_at_throw = task_done;
    }
    EXPECT_TRUE(done_at_throw);
  });
}

TEST(WaitFor, test_wait_for_reraises_exception_during_cancellation) {
  struct FooException : std::runtime_error {
    FooException() : std::runtime_error("Foo") {}
  };
  weft::run([] {
    auto inner_task = weft::create_task([] {
      try {
        weft::sleep(milliseconds(200));
      } catch (const weft::CancelledError&) {
      }
      throw FooException();
    });
    EXPECT_THROW(weft::wait_for(inner_task, milliseconds(1)), FooException);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(WaitFor, test_wait_for_self_cancellation) {
  weft::run([] {
    auto inner_task = weft::create_task([] {
      for (int i = 0; i < 3; ++i) {
        try {
          weft::sleep(milliseconds(30));
          break;
        } catch (const weft::CancelledError&) {
        }
      }
      return 42;
    });
    auto task = weft::create_task([&] { return weft::wait_for(inner_task, milliseconds(10)); });
    task.cancel();  // before it starts
    EXPECT_THROW(task.get(), weft::CancelledError);
    EXPECT_EQ(42, inner_task.get());
  });
}

TEST(WaitFor, test_cancel_wait_for) {
  // Python issue #23219: cancelling the wait must also cancel the task; the
  // waiter gets CancelledError, not TimeoutError.
  weft::run([] {
    weft::Future<void> never;
    auto task = weft::create_task([&] { never.get(); });
    auto wait = weft::create_task([&] { weft::wait_for(task, seconds(60)); });
    weft::get_running_loop().call_soon([wait]() mutable { wait.cancel(); });
    EXPECT_THROW(wait.get(), weft::CancelledError);
    EXPECT_TRUE(task.cancelled());
  });
}

TEST(WaitFor, test_cancel_wait_for_when_the_timeout_also_expires) {
  // The waiter is cancelled in the iteration in which its deadline passes:
  // the task's count reaches 2, the scope's uncancel() leaves 1, so the
  // user's cancellation wins and stays a CancelledError.
  weft::run([] {
    bool inner_unwound = false;
    auto inner = weft::create_task([&] {
      Flag f{&inner_unwound};
      weft::sleep(seconds(10));
    });
    auto wait = weft::create_task([&] { weft::wait_for(inner, milliseconds(5)); });
    weft::sleep(milliseconds(1));                   // wait parks on inner
    std::this_thread::sleep_for(milliseconds(20));  // its deadline passes meanwhile
    wait.cancel();
    EXPECT_THROW(wait.get(), weft::CancelledError);
    EXPECT_TRUE(inner_unwound);
    EXPECT_TRUE(inner.cancelled());
  });
}

TEST(WaitFor, test_wait_for_callable_runs_in_the_calling_task) {
  // asyncio 3.12+: wait_for(coro) awaits the coroutine inside the timeout.
  weft::run([] {
    weft::TaskRef self = weft::current_task();
    bool same = false;
    bool unwound = false;
    EXPECT_THROW(weft::wait_for(
                     [&] {
                       Flag f{&unwound};
                       same = weft::current_task() == self;
                       weft::sleep(seconds(10));
                     },
                     milliseconds(5)),
                 weft::TimeoutError);
    EXPECT_TRUE(same);
    EXPECT_TRUE(unwound);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(WaitFor, test_wait_for_cancel_suppressed) {
  weft::run([] {
    const int res = weft::wait_for(
        [] {
          try {
            weft::sleep(seconds(10));
          } catch (const weft::CancelledError&) {
            return 42;
          }
          return 0;
        },
        milliseconds(10));
    EXPECT_EQ(42, res);
  });
}

TEST(WaitFor, test_wait_for_issue86296) {
  weft::run([] {
    bool reached_end = false;
    auto task = weft::create_task([&] {
      weft::wait_for([] {}, seconds(100));
      weft::sleep(seconds(1));
      reached_end = true;
    });
    weft::yield();
    EXPECT_FALSE(task.done());
    task.cancel();
    EXPECT_THROW(task.get(), weft::CancelledError);
    EXPECT_FALSE(reached_end);
  });
}

TEST(WaitFor, test_wait_for_plain_future_expiry_cancels_it) {
  weft::run([] {
    weft::Future<int> fut;
    EXPECT_THROW(weft::wait_for(fut, milliseconds(5)), weft::TimeoutError);
    EXPECT_TRUE(fut.cancelled());
  });
}

TEST(WaitFor, test_wait_for_outside_a_task_is_invalid) {
  weft::Loop loop;
  int refused = 0;
  loop.call_soon([&] {
    weft::Future<int> f(loop);
    try {
      weft::wait_for(f, seconds(1));
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
    try {
      weft::wait_for(f, seconds(0));
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
    EXPECT_FALSE(f.done());  // refused before cancelling anything
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(2, refused);
}

// --- shield -----------------------------------------------------------------------

TEST(Shield, test_shield_result) {
  weft::run([] {
    weft::Future<int> inner;
    weft::Future<int> outer = weft::shield(inner);
    EXPECT_FALSE(outer == inner);
    inner.set_result(42);
    EXPECT_EQ(42, outer.get());
  });
}

TEST(Shield, test_shield_exception) {
  weft::run([] {
    weft::Future<int> inner;
    weft::Future<int> outer = weft::shield(inner);
    inner.set_exception(std::make_exception_ptr(std::invalid_argument("x")));
    EXPECT_THROW(outer.get(), std::invalid_argument);
  });
}

TEST(Shield, test_shield_cancel_inner) {
  weft::run([] {
    weft::Future<int> inner;
    weft::Future<int> outer = weft::shield(inner);
    inner.cancel("inner msg");
    EXPECT_TRUE(outer.cancelled());
    try {
      outer.get();
      ADD_FAILURE() << "no CancelledError";
    } catch (const weft::CancelledError& e) {
      EXPECT_EQ("inner msg", e.message());
    }
  });
}

TEST(Shield, test_shield_cancel_outer) {
  weft::run([] {
    weft::Future<int> inner;
    weft::Future<int> outer = weft::shield(inner);
    EXPECT_TRUE(outer.cancel());
    EXPECT_FALSE(inner.cancelled());
    inner.set_result(1);
    EXPECT_EQ(1, inner.get());
    EXPECT_TRUE(outer.cancelled());
  });
}

TEST(Shield, test_shield_shortcut) {
  weft::run([] {
    weft::Future<int> fut;
    fut.set_result(42);
    weft::Future<int> res = weft::shield(fut);
    EXPECT_TRUE(res == fut);
  });
}

TEST(Shield, test_shield_effect) {
  // Cancelling the task awaiting the shield does not affect the inner task.
  weft::run([] {
    int proof = 0;
    weft::Future<void> waiter;
    auto inner = weft::create_task([&] {
      waiter.get();
      proof += 1;
    });
    auto outer = weft::create_task([&] {
      weft::shield(inner).get();
      proof += 100;
    });
    weft::yield();
    weft::yield();
    outer.cancel();
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_FALSE(inner.done());
    waiter.set_result();
    inner.get();
    EXPECT_EQ(1, proof);
    expect_only_main_left();
  });
}

TEST(Shield, test_shield_gather) {
  weft::run([] {
    weft::Future<int> child1;
    weft::Future<int> child2;
    auto parent = weft::create_task([&] { return weft::gather(std::vector<weft::Future<int>>{child1, child2}); });
    weft::Future<std::vector<int>> outer = weft::shield(parent);
    weft::yield();
    outer.cancel();
    weft::yield();
    EXPECT_TRUE(outer.cancelled());
    child1.set_result(1);
    child2.set_result(2);
    EXPECT_EQ((std::vector<int>{1, 2}), parent.get());
  });
}

TEST(Shield, test_gather_shield) {
  // Cancelling a gather of shields cancels the shields, not the children.
  weft::run([] {
    weft::Future<int> child1;
    weft::Future<int> child2;
    weft::Future<int> inner1 = weft::shield(child1);
    weft::Future<int> inner2 = weft::shield(child2);
    auto parent = weft::create_task([&] { weft::gather(inner1, inner2); });
    weft::yield();
    parent.cancel();
    EXPECT_THROW(parent.get(), weft::CancelledError);
    EXPECT_TRUE(inner1.cancelled());
    EXPECT_TRUE(inner2.cancelled());
    EXPECT_FALSE(child1.done());
    child1.set_result(1);
    child2.set_result(2);
    EXPECT_EQ(1, child1.result());
  });
}

TEST(Shield, test_shield_callable_and_wait_for) {
  // The classic pattern: give up waiting without cancelling the work.
  weft::run([] {
    bool finished = false;
    weft::Future<int> work = weft::shield([&] {
      weft::sleep(milliseconds(30));
      finished = true;
      return 5;
    });
    EXPECT_THROW(weft::wait_for(work, milliseconds(2)), weft::TimeoutError);
    EXPECT_TRUE(work.cancelled());  // the outer was cancelled...
    EXPECT_FALSE(finished);
    weft::sleep(milliseconds(60));
    EXPECT_TRUE(finished);  // ...the work went on
    expect_only_main_left();
  });
}

TEST(Shield, test_shield_void_and_retrieved_exception_after_outer_cancel) {
  std::vector<std::string> reports;
  weft::run([&] {
    weft::get_running_loop().set_exception_handler(
        [&](weft::Loop&, const weft::ExceptionContext& ctx) { reports.push_back(ctx.message); });
    weft::Future<void> inner;
    weft::Future<void> outer = weft::shield(inner);
    inner.set_result();
    outer.get();
    {
      auto failing = weft::create_task([] {
        weft::sleep(milliseconds(2));
        throw std::runtime_error("nobody looks");
      });
      weft::Future<void> gone = weft::shield(failing);
      gone.cancel();
      weft::sleep(milliseconds(10));
      EXPECT_TRUE(failing.done());
    }  // asyncio: the shield marks the inner's exception retrieved
    weft::yield();
  });
  EXPECT_TRUE(reports.empty());
}

}  // namespace

// Tests of weft::timeout() / timeout_at() (asyncio's Timeout). Ported from
// CPython's Lib/test/test_asyncio/test_timeouts.py; a Python `finally:` that
// awaits becomes code after a catch block here (a fiber never suspends
// inside a catch block).
#include "weft/fiber/timeouts.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

struct Flag {
  bool* set;
  ~Flag() { *set = true; }
};

TEST(Timeouts, test_timeout_basic) {
  weft::run([] {
    bool expired_inside = false;
    bool unwound = false;
    EXPECT_THROW(weft::timeout(milliseconds(10),
                               [&](weft::Timeout& cm) {
                                 Flag f{&unwound};
                                 try {
                                   weft::sleep(seconds(10));
                                 } catch (const weft::CancelledError&) {
                                   expired_inside = cm.expired();
                                   throw;
                                 }
                               }),
                 weft::TimeoutError);
    EXPECT_TRUE(expired_inside);
    EXPECT_TRUE(unwound);  // RAII ran before TimeoutError reached us
  });
}

TEST(Timeouts, test_timeout_at_basic) {
  weft::run([] {
    const Clock::time_point deadline = weft::get_running_loop().time() + milliseconds(10);
    Clock::time_point seen{};
    EXPECT_THROW(weft::timeout_at(deadline,
                                  [&](weft::Timeout& cm) {
                                    seen = cm.when();
                                    weft::sleep(seconds(10));
                                  }),
                 weft::TimeoutError);
    EXPECT_EQ(deadline, seen);
  });
}

TEST(Timeouts, test_nested_timeouts) {
  // Both expire at the same time: only the outermost converts; the inner
  // one lets the CancelledError through.
  weft::run([] {
    const Clock::time_point deadline = weft::get_running_loop().time() + milliseconds(10);
    bool inner_saw_cancelled = false;
    bool inner_expired = false;
    bool outer_expired = false;
    EXPECT_THROW(weft::timeout_at(deadline,
                                  [&](weft::Timeout& cm1) {
                                    try {
                                      weft::timeout_at(deadline, [&](weft::Timeout& cm2) {
                                        try {
                                          weft::sleep(seconds(10));
                                        } catch (const weft::CancelledError&) {
                                          inner_expired = cm2.expired();
                                          throw;
                                        }
                                      });
                                    } catch (const weft::CancelledError&) {
                                      inner_saw_cancelled = true;
                                      outer_expired = cm1.expired();
                                      throw;
                                    }
                                  }),
                 weft::TimeoutError);
    EXPECT_TRUE(inner_saw_cancelled);
    EXPECT_TRUE(inner_expired);
    EXPECT_TRUE(outer_expired);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(Timeouts, test_nested_timeouts_inner_expires) {
  // The inner deadline passes: the inner scope converts, the outer one sees
  // a TimeoutError and does not expire.
  weft::run([] {
    bool outer_expired = true;
    int caught = 0;
    const int r = weft::timeout(seconds(10), [&](weft::Timeout& outer) {
      try {
        weft::timeout(milliseconds(5), [] { weft::sleep(seconds(10)); });
      } catch (const weft::TimeoutError&) {
        ++caught;
      }
      weft::sleep(milliseconds(1));  // not cancelled any more
      outer_expired = outer.expired();
      return 3;
    });
    EXPECT_EQ(3, r);
    EXPECT_EQ(1, caught);
    EXPECT_FALSE(outer_expired);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(Timeouts, test_nested_timeouts_outer_expires_inside_inner) {
  weft::run([] {
    bool inner_got_cancelled = false;
    EXPECT_THROW(weft::timeout(milliseconds(5),
                               [&] {
                                 try {
                                   weft::timeout(seconds(10), [] { weft::sleep(seconds(10)); });
                                 } catch (const weft::CancelledError&) {
                                   inner_got_cancelled = true;  // not converted by the inner scope
                                   throw;
                                 }
                               }),
                 weft::TimeoutError);
    EXPECT_TRUE(inner_got_cancelled);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(Timeouts, test_waiter_cancelled) {
  weft::run([] {
    bool cancelled = false;
    EXPECT_THROW(weft::timeout(milliseconds(10),
                               [&] {
                                 try {
                                   weft::sleep(seconds(10));
                                 } catch (const weft::CancelledError&) {
                                   cancelled = true;
                                   throw;
                                 }
                               }),
                 weft::TimeoutError);
    EXPECT_TRUE(cancelled);
  });
}

TEST(Timeouts, test_timeout_not_called) {
  weft::run([] {
    bool expired = true;
    Clock::time_point when{};
    const int r = weft::timeout(seconds(10), [&](weft::Timeout& cm) {
      weft::sleep(milliseconds(10));
      expired = cm.expired();
      when = cm.when();
      return 7;
    });
    EXPECT_EQ(7, r);
    EXPECT_FALSE(expired);
    EXPECT_GT(when, weft::get_running_loop().time());
  });
}

TEST(Timeouts, test_timeout_disabled) {
  weft::run([] {
    bool expired = true;
    Clock::time_point when{};
    weft::timeout_at(Clock::time_point::max(), [&](weft::Timeout& cm) {
      weft::sleep(milliseconds(10));
      expired = cm.expired();
      when = cm.when();
    });
    EXPECT_FALSE(expired);
    EXPECT_EQ(Clock::time_point::max(), when);
    // A delay too large to represent means no deadline as well.
    weft::timeout(std::chrono::hours::max(), [&](weft::Timeout& cm) { when = cm.when(); });
    EXPECT_EQ(Clock::time_point::max(), when);
  });
}

TEST(Timeouts, test_timeout_zero) {
  weft::run([] {
    const Clock::time_point t0 = weft::get_running_loop().time();
    Clock::time_point when{};
    EXPECT_THROW(weft::timeout(milliseconds(0),
                               [&](weft::Timeout& cm) {
                                 when = cm.when();
                                 weft::sleep(seconds(10));
                               }),
                 weft::TimeoutError);
    const Clock::time_point t1 = weft::get_running_loop().time();
    EXPECT_LE(t0, when);
    EXPECT_LE(when, t1);
    EXPECT_LT(t1 - t0, seconds(5));
  });
}

TEST(Timeouts, test_timeout_zero_sleep_zero) {
  weft::run([] { EXPECT_THROW(weft::timeout(milliseconds(0), [] { weft::yield(); }), weft::TimeoutError); });
}

TEST(Timeouts, test_timeout_in_the_past_sleep_zero) {
  weft::run([] {
    const Clock::time_point t0 = weft::get_running_loop().time();
    Clock::time_point when{};
    EXPECT_THROW(weft::timeout(seconds(-11),
                               [&](weft::Timeout& cm) {
                                 when = cm.when();
                                 weft::yield();
                               }),
                 weft::TimeoutError);
    EXPECT_LT(when, t0);  // asyncio keeps loop.time() + delay
  });
}

TEST(Timeouts, test_timeout_at_past_deadline_expires_at_first_suspension) {
  weft::run([] {
    int reached = 0;
    EXPECT_THROW(weft::timeout_at(weft::get_running_loop().time() - seconds(1),
                                  [&] {
                                    reached = 1;  // the body starts...
                                    weft::sleep(seconds(10));
                                    reached = 2;  // ...and is cancelled at its first suspension
                                  }),
                 weft::TimeoutError);
    EXPECT_EQ(1, reached);
  });
}

TEST(Timeouts, test_expired_deadline_without_suspension_returns) {
  // asyncio schedules the expiry with call_soon: a block that never
  // suspends finishes before it, and its timer is withdrawn on exit.
  weft::run([] {
    bool expired = true;
    const int r = weft::timeout(milliseconds(0), [&](weft::Timeout& cm) {
      expired = cm.expired();
      return 5;
    });
    EXPECT_EQ(5, r);
    EXPECT_FALSE(expired);
    weft::sleep(milliseconds(5));  // no stray cancellation arrives later
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(Timeouts, test_foreign_exception_passed) {
  weft::run([] {
    EXPECT_THROW(weft::timeout(milliseconds(10), []() -> int { throw std::out_of_range("key"); }),
                 std::out_of_range);
    weft::sleep(milliseconds(30));  // the timer was withdrawn
  });
}

TEST(Timeouts, test_foreign_exception_on_timeout) {
  weft::run([] {
    auto crash = [] {
      try {
        weft::sleep(seconds(1));
      } catch (const weft::CancelledError&) {
        throw std::domain_error("1/0");
      }
    };
    EXPECT_THROW(weft::timeout(milliseconds(10), crash), std::domain_error);
    EXPECT_EQ(0, weft::current_task().cancelling());
  });
}

TEST(Timeouts, test_foreign_cancel_doesnt_timeout_if_not_expired) {
  weft::run([] {
    auto t = weft::create_task([] {
      bool expired = true;
      try {
        weft::timeout(seconds(10), [&](weft::Timeout& cm) {
          try {
            weft::current_task().cancel();
            weft::sleep(seconds(10));
          } catch (const weft::CancelledError&) {
            expired = cm.expired();
            throw;
          }
        });
      } catch (const weft::CancelledError&) {
        EXPECT_FALSE(expired);
        throw;
      }
    });
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_TRUE(t.cancelled());
  });
}

TEST(Timeouts, test_user_cancel_during_timeout_stays_cancelled) {
  // The deadline passes and a user cancels the task in the same iteration:
  // the count reaches 2, the scope's uncancel() leaves 1, above its entry
  // count, so the CancelledError is not the timeout's to convert.
  weft::run([] {
    bool expired = false;
    auto t = weft::create_task([&] {
      weft::timeout(milliseconds(5), [&](weft::Timeout& cm) {
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          expired = cm.expired();
          throw;
        }
      });
    });
    weft::yield();                                   // t enters its timeout and parks
    std::this_thread::sleep_for(milliseconds(20));   // its deadline passes meanwhile
    weft::yield();                                   // the timer runs in this iteration
    t.cancel("user");
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(expired);
  });
}

TEST(Timeouts, test_outer_task_is_not_cancelled) {
  weft::run([] {
    auto t = weft::create_task([] {
      EXPECT_THROW(weft::timeout(milliseconds(1), [] { weft::sleep(seconds(10)); }), weft::TimeoutError);
    });
    t.get();
    EXPECT_FALSE(t.cancelled());
    EXPECT_TRUE(t.done());
  });
}

TEST(Timeouts, test_nested_timeouts_concurrent) {
  weft::run([] {
    bool inner_converted = false;
    EXPECT_THROW(weft::timeout(milliseconds(2),
                               [&] {
                                 try {
                                   weft::timeout(milliseconds(100), [] {
                                     std::this_thread::sleep_for(milliseconds(10));  // crunch numbers
                                     weft::sleep(seconds(1));
                                   });
                                 } catch (const weft::TimeoutError&) {
                                   inner_converted = true;
                                 }
                               }),
                 weft::TimeoutError);
    EXPECT_FALSE(inner_converted);
  });
}

TEST(Timeouts, test_nested_timeouts_loop_busy) {
  // Both deadlines pass while the loop is busy: both cancel the task (count
  // 2), the inner scope's uncancel() leaves 1, above its entry count, so
  // only the outer converts, and the long sleep never runs.
  weft::run([] {
    const Clock::time_point t0 = weft::get_running_loop().time();
    bool long_sleep_started = false;
    EXPECT_THROW(weft::timeout(milliseconds(100),
                               [&] {
                                 try {
                                   weft::timeout(milliseconds(10), [] {
                                     // Past both deadlines (asyncio's test sleeps exactly
                                     // 0.1 s and accepts either outcome; 1 ms timer ticks
                                     // would make this one flaky).
                                     std::this_thread::sleep_for(milliseconds(150));
                                     weft::sleep(seconds(1));
                                   });
                                 } catch (const weft::TimeoutError&) {
                                 }
                                 long_sleep_started = true;
                                 weft::sleep(seconds(10));
                               }),
                 weft::TimeoutError);
    EXPECT_FALSE(long_sleep_started);
    EXPECT_LT(weft::get_running_loop().time() - t0, seconds(5));
  });
}

TEST(Timeouts, test_reschedule) {
  weft::run([] {
    weft::Future<weft::Timeout*> fut;
    const Clock::time_point deadline1 = weft::get_running_loop().time() + seconds(10);
    const Clock::time_point deadline2 = deadline1 + seconds(20);
    auto task = weft::create_task([&] {
      weft::timeout_at(deadline1, [&](weft::Timeout& cm) {
        fut.set_result(&cm);
        weft::sleep(seconds(50));
      });
    });
    weft::Timeout* cm = fut.get();
    EXPECT_EQ(deadline1, cm->when());
    cm->reschedule(deadline2);
    EXPECT_EQ(deadline2, cm->when());
    cm->reschedule(Clock::time_point::max());
    EXPECT_EQ(Clock::time_point::max(), cm->when());
    EXPECT_FALSE(cm->expired());
    task.cancel();
    EXPECT_THROW(task.get(), weft::CancelledError);
  });
}

TEST(Timeouts, test_reschedule_earlier_expires) {
  weft::run([] {
    const Clock::time_point t0 = weft::get_running_loop().time();
    EXPECT_THROW(weft::timeout(seconds(100),
                               [](weft::Timeout& cm) {
                                 cm.reschedule(weft::get_running_loop().time() + milliseconds(10));
                                 weft::sleep(seconds(10));
                               }),
                 weft::TimeoutError);
    EXPECT_LT(weft::get_running_loop().time() - t0, seconds(5));
  });
}

TEST(Timeouts, test_reschedule_later_postpones) {
  weft::run([] {
    const int r = weft::timeout(milliseconds(10), [](weft::Timeout& cm) {
      cm.reschedule(weft::get_running_loop().time() + seconds(100));
      weft::sleep(milliseconds(40));  // past the first deadline
      return 1;
    });
    EXPECT_EQ(1, r);
  });
}

TEST(Timeouts, test_reschedule_never_then_into_the_past) {
  weft::run([] {
    int stage = 0;
    EXPECT_THROW(weft::timeout(milliseconds(10),
                               [&](weft::Timeout& cm) {
                                 cm.reschedule(Clock::time_point::max());
                                 weft::sleep(milliseconds(30));
                                 stage = 1;
                                 cm.reschedule(weft::get_running_loop().time() - seconds(1));
                                 EXPECT_FALSE(cm.expired());  // expires at the next suspension
                                 weft::yield();
                                 stage = 2;
                               }),
                 weft::TimeoutError);
    EXPECT_EQ(1, stage);
  });
}

TEST(Timeouts, test_reschedule_while_expiring_is_invalid) {
  weft::run([] {
    bool refused = false;
    EXPECT_THROW(weft::timeout(milliseconds(1),
                               [&](weft::Timeout& cm) {
                                 try {
                                   weft::sleep(seconds(10));
                                 } catch (const weft::CancelledError&) {
                                   try {
                                     cm.reschedule(Clock::time_point::max());
                                   } catch (const weft::InvalidStateError&) {
                                     refused = true;
                                   }
                                   throw;
                                 }
                               }),
                 weft::TimeoutError);
    EXPECT_TRUE(refused);
  });
}

TEST(Timeouts, test_nested_timeout_in_finally) {
  weft::run([] {
    int inner_timeouts = 0;
    EXPECT_THROW(weft::timeout(milliseconds(10),
                               [&] {
                                 std::exception_ptr pending;
                                 try {
                                   weft::sleep(seconds(1));
                                 } catch (const weft::CancelledError&) {
                                   pending = std::current_exception();
                                 }
                                 // Python's `finally:`, outside the catch block.
                                 try {
                                   weft::timeout(milliseconds(10), [] { weft::sleep(seconds(10)); });
                                 } catch (const weft::TimeoutError&) {
                                   ++inner_timeouts;
                                 }
                                 if (pending) std::rethrow_exception(pending);
                               }),
                 weft::TimeoutError);
    EXPECT_EQ(1, inner_timeouts);
  });
}

TEST(Timeouts, test_timeout_after_cancellation) {
  // The task was cancelled and swallowed it without uncancel(): its count
  // stays 1, recorded on entry, and the timeout still converts its own.
  weft::run([] {
    auto t = weft::create_task([] {
      try {
        weft::current_task().cancel();
        weft::sleep(seconds(1));
      } catch (const weft::CancelledError&) {
      }
      EXPECT_EQ(1, weft::current_task().cancelling());
      EXPECT_THROW(weft::timeout(milliseconds(0), [] { weft::sleep(seconds(1)); }), weft::TimeoutError);
      EXPECT_EQ(1, weft::current_task().cancelling());
    });
    t.get();
  });
}

TEST(Timeouts, test_cancel_in_timeout_after_cancellation) {
  weft::run([] {
    auto t = weft::create_task([] {
      try {
        weft::current_task().cancel();
        weft::sleep(seconds(1));
      } catch (const weft::CancelledError&) {
      }
      EXPECT_THROW(weft::timeout(seconds(1),
                                 [] {
                                   weft::current_task().cancel();
                                   weft::sleep(seconds(2));
                                 }),
                   weft::CancelledError);
    });
    t.get();
  });
}

TEST(Timeouts, test_cancelling_restored_after_converted_expiry) {
  weft::run([] {
    EXPECT_EQ(0, weft::current_task().cancelling());
    for (int i = 0; i < 3; ++i) {
      EXPECT_THROW(weft::timeout(milliseconds(1), [] { weft::sleep(seconds(10)); }), weft::TimeoutError);
      EXPECT_EQ(0, weft::current_task().cancelling());
    }
    weft::sleep(milliseconds(5));  // no cancellation left pending
  });
}

TEST(Timeouts, test_swallowed_expiry_returns_value_and_uncancels) {
  weft::run([] {
    bool expired = false;
    const int r = weft::timeout(milliseconds(1), [&](weft::Timeout& cm) {
      try {
        weft::sleep(seconds(10));
      } catch (const weft::CancelledError&) {
      }
      expired = cm.expired();
      return 42;
    });
    EXPECT_EQ(42, r);
    EXPECT_TRUE(expired);
    EXPECT_EQ(0, weft::current_task().cancelling());
    weft::sleep(milliseconds(2));
  });
}

TEST(Timeouts, test_expiry_passes_on_to_an_awaited_future) {
  // The timer cancels the task; the task passes it to the future it awaits.
  weft::run([] {
    weft::Future<int> f;
    EXPECT_THROW(weft::timeout(milliseconds(5), [&] { return f.get(); }), weft::TimeoutError);
    EXPECT_TRUE(f.cancelled());
  });
}

TEST(Timeouts, test_results_void_and_move_only) {
  weft::run([] {
    bool ran = false;
    weft::timeout(seconds(1), [&] { ran = true; });
    EXPECT_TRUE(ran);
    std::unique_ptr<int> p = weft::timeout(seconds(1), [] {
      weft::yield();
      return std::unique_ptr<int>(new int(9));
    });
    ASSERT_TRUE(p);
    EXPECT_EQ(9, *p);
  });
}

TEST(Timeouts, test_loop_closing_unwinds_a_timeout_block) {
  bool unwound = false;
  weft::run([&] {
    weft::create_task([&] {
      weft::timeout(seconds(100), [&] {
        Flag f{&unwound};
        weft::sleep(seconds(100));
      });
    });
    weft::yield();
  });  // the CancelledError of the closing loop is not the timeout's
  EXPECT_TRUE(unwound);
}

TEST(Timeouts, test_timeout_without_task) {
  weft::Loop loop;
  int refused = 0;
  loop.call_soon([&] {
    try {
      weft::timeout(seconds(1), [] {});
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(1, refused);
}

}  // namespace

// Tests of task groups: asyncio's TaskGroup semantics (Python 3.13) case by
// case. The TaskGroup_* and named cases port CPython's
// Lib/test/test_asyncio/test_taskgroups.py (same names, same scenarios, with
// C++ exception types standing in for Python's: std::domain_error for
// ZeroDivisionError, std::invalid_argument for ValueError); the cases after
// them cover what the C++ API adds. Every test also checks that each child's
// RAII ran before task_group() returned or threw, and that only the main
// task is left alive.
#include "weft/fiber/taskgroups.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "weft/fiber/runners.hpp"

#if defined(WEFT_HAVE_VALGRIND) && WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#define WEFT_TEST_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define WEFT_TEST_UNDER_VALGRIND() false
#endif

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct MyExc : std::runtime_error {
  MyExc() : std::runtime_error("MyExc") {}
};

// Counts destructions: a child's RAII.
struct Guard {
  int* count;
  ~Guard() { ++*count; }
};

// The kind of each exception of a group, in order, named as in Python.
std::string kind_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const weft::ExceptionGroup&) {
    return "ExceptionGroup";
  } catch (const MyExc&) {
    return "MyExc";
  } catch (const std::domain_error&) {
    return "ZeroDivisionError";
  } catch (const std::invalid_argument&) {
    return "ValueError";
  } catch (const std::exception&) {
    return "other";
  } catch (const weft::CancelledError&) {
    return "CancelledError";
  } catch (int) {
    return "int";
  }
}

std::vector<std::string> kinds(const weft::ExceptionGroup& eg) {
  std::vector<std::string> out;
  for (const std::exception_ptr& e : eg.exceptions()) out.push_back(kind_of(e));
  return out;
}

// Runs fn and returns the ExceptionGroup it throws (fails if it throws none).
template <class F>
weft::ExceptionGroup expect_group(F&& fn) {
  try {
    fn();
  } catch (const weft::ExceptionGroup& eg) {
    return eg;
  }
  ADD_FAILURE() << "no ExceptionGroup was thrown";
  return weft::ExceptionGroup("none", {});
}

// The Task's exception, which must be an ExceptionGroup.
template <class T>
weft::ExceptionGroup group_of(weft::Task<T> task) {
  return expect_group([&] { task.result(); });
}

// Python's `r = asyncio.create_task(runner()); await asyncio.sleep(0.1);
// self.assertFalse(r.done()); r.cancel(msg)`: the runner is cancelled once it
// has blocked.
template <class F>
weft::Task<void> start_then_cancel(F&& runner, const std::string& message = std::string()) {
  weft::Task<void> r = weft::create_task(std::forward<F>(runner));
  weft::sleep(milliseconds(20));
  EXPECT_FALSE(r.done());
  r.cancel(message);
  return r;
}

// Awaits a task that must end with CancelledError(message).
void expect_cancelled(weft::Task<void> task, const std::string& message) {
  try {
    task.get();
    ADD_FAILURE() << "no CancelledError";
  } catch (const weft::CancelledError& e) {
    EXPECT_EQ(message, e.message());
  }
  EXPECT_TRUE(task.cancelled());
}

void expect_only_main_task() { EXPECT_EQ(1u, weft::all_tasks().size()); }

[[noreturn]] void divide_by_zero() { throw std::domain_error("division by zero"); }

// --- ported from test_taskgroups.py -------------------------------------------------

TEST(TaskGroups, TaskGroup_01) {
  weft::run([] {
    weft::Task<int> t1, t2;
    weft::task_group([&](weft::TaskGroup& g) {
      t1 = g.create_task([] {
        weft::sleep(milliseconds(20));
        return 42;
      });
      t2 = g.create_task([] {
        weft::sleep(milliseconds(40));
        return 11;
      });
    });
    EXPECT_EQ(42, t1.result());
    EXPECT_EQ(11, t2.result());
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_02) {
  weft::run([] {
    weft::Task<int> t1, t2;
    weft::task_group([&](weft::TaskGroup& g) {
      t1 = g.create_task([] {
        weft::sleep(milliseconds(20));
        return 42;
      });
      weft::sleep(milliseconds(30));
      t2 = g.create_task([] {
        weft::sleep(milliseconds(40));
        return 11;
      });
    });
    EXPECT_EQ(42, t1.result());
    EXPECT_EQ(11, t2.result());
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_03) {
  weft::run([] {
    weft::Task<int> t1, t2;
    weft::task_group([&](weft::TaskGroup& g) {
      t1 = g.create_task([] {
        weft::sleep(seconds(10));
        return 42;
      });
      weft::sleep(milliseconds(20));
      t1.cancel();  // cancelling one child explicitly does not abort the group
      t2 = g.create_task([] {
        weft::sleep(milliseconds(20));
        return 11;
      });
    });
    EXPECT_TRUE(t1.cancelled());
    EXPECT_EQ(11, t2.result());
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_04) {
  weft::run([] {
    int num = 0;
    bool t2_cancel = false;
    weft::Task<void> t2;
    auto runner = weft::create_task([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] {
          weft::sleep(milliseconds(20));
          divide_by_zero();
        });
        t2 = g.create_task([&] {
          try {
            weft::sleep(seconds(10));
          } catch (const weft::CancelledError&) {
            t2_cancel = true;
            throw;
          }
          num += 1;
        });
      });
      num += 10;
    });
    weft::ExceptionGroup eg = expect_group([&] { runner.get(); });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_EQ(0, num);
    EXPECT_TRUE(t2_cancel);
    EXPECT_TRUE(t2.cancelled());
    expect_only_main_task();
  });
}

TEST(TaskGroups, CancelChildrenOnChildError) {
  weft::run([] {
    int num = 0;
    bool t2_cancel = false;
    bool runner_cancel = false;
    auto foo1 = [] {
      weft::sleep(milliseconds(20));
      divide_by_zero();
    };
    auto runner = weft::create_task([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task(foo1);
        g.create_task(foo1);
        g.create_task(foo1);
        g.create_task([&] {
          try {
            weft::sleep(seconds(5));
          } catch (const weft::CancelledError&) {
            t2_cancel = true;
            throw;
          }
          num += 1;
        });
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          runner_cancel = true;
          throw;
        }
      });
      num += 10;
    });
    weft::ExceptionGroup eg = expect_group([&] { runner.get(); });
    // As in CPython, the three failures may or may not all land before the
    // abort, depending on how their timers fell into loop iterations.
    ASSERT_GE(eg.exceptions().size(), 1u);
    ASSERT_LE(eg.exceptions().size(), 3u);
    for (const std::string& k : kinds(eg)) EXPECT_EQ("ZeroDivisionError", k);
    EXPECT_EQ(0, num);
    EXPECT_TRUE(t2_cancel);
    EXPECT_TRUE(runner_cancel);
    expect_only_main_task();
  });
}

TEST(TaskGroups, Cancellation) {
  weft::run([] {
    int num = 0;
    int unwound = 0;
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        for (int i = 0; i < 5; ++i) {
          g.create_task([&] {
            Guard guard{&unwound};
            try {
              weft::sleep(seconds(5));
            } catch (const weft::CancelledError&) {
              num += 1;
              throw;
            }
          });
        }
      });
    }, "test");
    expect_cancelled(r, "test");
    EXPECT_EQ(5, num);
    EXPECT_EQ(5, unwound);
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_07) {
  weft::run([] {
    int num = 0;
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        for (int i = 0; i < 5; ++i) {
          g.create_task([&] {
            try {
              weft::sleep(seconds(5));
            } catch (const weft::CancelledError&) {
              num += 1;
              throw;
            }
          });
        }
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          num += 10;
          throw;
        }
      });
    });
    expect_cancelled(r, "");
    EXPECT_EQ(15, num);
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_08) {
  weft::run([] {
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        for (int i = 0; i < 5; ++i) {
          g.create_task([] {
            try {
              weft::sleep(seconds(10));
            } catch (const weft::CancelledError&) {
              divide_by_zero();  // Python: `finally: 1 / 0`
            }
          });
        }
        weft::sleep(seconds(10));
      });
    });
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    EXPECT_EQ(std::vector<std::string>(5, "ZeroDivisionError"), kinds(eg));
    expect_only_main_task();
  });
}

TEST(TaskGroups, CancellationInBody) {
  weft::run([] {
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        for (int i = 0; i < 5; ++i) {
          g.create_task([] {
            weft::sleep(seconds(1));  // Python: 0.1, racing the cancel
            divide_by_zero();
          });
        }
        weft::sleep(seconds(10));
      });
    }, "test");
    expect_cancelled(r, "test");
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_09) {
  weft::run([] {
    weft::Task<int> t1, t2;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        t1 = g.create_task([] {
          weft::sleep(seconds(1));
          return 42;
        });
        t2 = g.create_task([] {
          weft::sleep(seconds(2));
          return 11;
        });
        weft::sleep(milliseconds(20));
        divide_by_zero();
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_TRUE(t1.cancelled());
    EXPECT_TRUE(t2.cancelled());
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_10) {
  weft::run([] {
    weft::Task<int> t1, t2;
    int ran = 0;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        t1 = g.create_task([&] { return ++ran; });
        t2 = g.create_task([&] { return ++ran; });
        divide_by_zero();
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_TRUE(t1.cancelled());
    EXPECT_TRUE(t2.cancelled());
    EXPECT_EQ(0, ran);  // cancelled before they started: they never ran
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_11) {
  weft::run([] {
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup&) {
        weft::task_group([&](weft::TaskGroup& g2) {
          for (int i = 0; i < 5; ++i) {
            g2.create_task([] {
              weft::sleep(seconds(1));  // Python: 0.1, racing the cancel
              divide_by_zero();
            });
          }
          weft::sleep(seconds(10));
        });
      });
    });
    expect_cancelled(r, "");
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_12) {
  weft::run([] {
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup& g1) {
        g1.create_task([] { weft::sleep(seconds(10)); });
        weft::task_group([&](weft::TaskGroup& g2) {
          for (int i = 0; i < 5; ++i) {
            g2.create_task([] {
              weft::sleep(seconds(1));  // Python: 0.1, racing the cancel
              divide_by_zero();
            });
          }
          weft::sleep(seconds(10));
        });
      });
    });
    expect_cancelled(r, "");
    expect_only_main_task();
  });
}

void crash_after(milliseconds delay) {
  weft::sleep(delay);
  throw std::invalid_argument("crash after " + std::to_string(delay.count()) + " ms");
}

TEST(TaskGroups, TaskGroup_13) {
  weft::run([] {
    auto r = weft::create_task([&] {
      weft::task_group([&](weft::TaskGroup& g1) {
        g1.create_task([] { crash_after(milliseconds(20)); });
        weft::task_group([&](weft::TaskGroup& g2) { g2.create_task([] { crash_after(seconds(10)); }); });
      });
    });
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    EXPECT_EQ(std::vector<std::string>{"ValueError"}, kinds(eg));
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_14) {
  weft::run([] {
    auto r = weft::create_task([&] {
      weft::task_group([&](weft::TaskGroup& g1) {
        g1.create_task([] { crash_after(seconds(10)); });
        weft::task_group([&](weft::TaskGroup& g2) { g2.create_task([] { crash_after(milliseconds(20)); }); });
      });
    });
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    ASSERT_EQ(std::vector<std::string>{"ExceptionGroup"}, kinds(eg));
    weft::ExceptionGroup inner = expect_group([&] { std::rethrow_exception(eg.exceptions()[0]); });
    EXPECT_EQ(std::vector<std::string>{"ValueError"}, kinds(inner));
    expect_only_main_task();
  });
}

// The body catches the outer cancellation and keeps going; a child failing
// meanwhile makes the task end with the ExceptionGroup, not cancelled.
void crash_soon_runner() {
  weft::task_group([&](weft::TaskGroup& g1) {
    g1.create_task([] {
      weft::sleep(milliseconds(60));
      divide_by_zero();
    });
    try {
      weft::sleep(seconds(10));
    } catch (const weft::CancelledError&) {
      bool handler_interrupted = true;
      try {
        weft::sleep(seconds(10));
        handler_interrupted = false;
      } catch (const weft::CancelledError&) {
      }
      EXPECT_TRUE(handler_interrupted);
      throw weft::CancelledError();
    }
  });
}

TEST(TaskGroups, TaskGroup_15) {
  weft::run([] {
    auto r = start_then_cancel(crash_soon_runner);
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_FALSE(r.cancelled());
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_16) {
  weft::run([] {
    // The cancellation passes on to the awaited task, which holds the group.
    auto r = start_then_cancel([] {
      auto t = weft::create_task(crash_soon_runner);
      t.get();
    });
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_17) {
  weft::run([] {
    int num = 0;
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup&) {
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          num += 10;
          throw;
        }
      });
    });
    expect_cancelled(r, "");
    EXPECT_EQ(10, num);
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_18) {
  weft::run([] {
    int num = 0;
    auto r = start_then_cancel([&] {
      weft::task_group([&](weft::TaskGroup&) {
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          num += 10;
          throw MyExc();  // "This isn't a good idea, but we have to support this weird case."
        }
      });
    });
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    EXPECT_EQ(std::vector<std::string>{"MyExc"}, kinds(eg));
    EXPECT_EQ(10, num);
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_19) {
  weft::run([] {
    auto r = weft::create_task([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] {
          weft::sleep(milliseconds(20));
          divide_by_zero();
        });
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          throw MyExc();  // Python: `finally: raise MyExc`
        }
      });
    });
    weft::ExceptionGroup eg = expect_group([&] { r.get(); });
    // The children's errors first, then the body's.
    EXPECT_EQ((std::vector<std::string>{"ZeroDivisionError", "MyExc"}), kinds(eg));
    expect_only_main_task();
  });
}

// test_taskgroup_20a: Python's BaseException that is not an Exception; in C++
// an exception not derived from std::exception is carried the same way.
TEST(TaskGroups, TaskGroup_20a) {
  weft::run([] {
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] {
          weft::sleep(milliseconds(20));
          divide_by_zero();
        });
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          throw 7;
        }
      });
    });
    EXPECT_EQ((std::vector<std::string>{"ZeroDivisionError", "int"}), kinds(eg));
    expect_only_main_task();
  });
}

// test_taskgroup_21a: a child fails with a non-std exception.
TEST(TaskGroups, TaskGroup_21a) {
  weft::run([] {
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] {
          weft::sleep(milliseconds(20));
          throw 7;
        });
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          throw std::logic_error("TypeError");
        }
      });
    });
    EXPECT_EQ((std::vector<std::string>{"int", "other"}), kinds(eg));
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_22) {
  weft::run([] {
    auto r = weft::create_task([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] { weft::sleep(seconds(1)); });
        g.create_task([] { weft::sleep(seconds(2)); });
      });
    });
    weft::sleep(milliseconds(10));
    r.cancel();
    expect_cancelled(r, "");
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_23) {
  weft::run([] {
    weft::task_group([&](weft::TaskGroup& g) {
      for (int count = 0; count < 10; ++count) {
        weft::sleep(milliseconds(20));
        g.create_task([] { weft::sleep(milliseconds(30)); });
        if (count == 5) {
          EXPECT_LE(g.task_count(), 4u);
        }
      }
      weft::sleep(milliseconds(200));
      EXPECT_EQ(0u, g.task_count());
    });
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroup_24) {
  weft::run([] {
    int done = 0;
    weft::task_group([&](weft::TaskGroup& g) {
      g.create_task([&] {
        weft::sleep(milliseconds(20));
        // A child adds more tasks to its own group.
        g.create_task([&] {
          weft::sleep(milliseconds(20));
          ++done;
        });
        g.create_task([&] {
          weft::sleep(milliseconds(40));
          ++done;
        });
      });
    });
    EXPECT_EQ(2, done);
    expect_only_main_task();
  });
}

void hydra(weft::TaskGroup& g, int& nhydras) {
  ++nhydras;
  weft::sleep(milliseconds(2));
  g.create_task([&g, &nhydras] { hydra(g, nhydras); });
  g.create_task([&g, &nhydras] { hydra(g, nhydras); });
}

TEST(TaskGroups, TaskGroup_25) {
  weft::run([] {
    int nhydras = 0;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([&] { hydra(g, nhydras); });
        g.create_task([&] {
          while (nhydras < 10) weft::sleep(milliseconds(3));
          divide_by_zero();
        });
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_GE(nhydras, 10);
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroupTaskName) {
  weft::run([] {
    std::string seen;
    weft::task_group([&](weft::TaskGroup& g) {
      weft::TaskOptions options;
      options.name = "yolo";
      auto t = g.create_task([&] { seen = weft::current_task().get_name(); }, options);
      EXPECT_EQ("yolo", t.get_name());
    });
    EXPECT_EQ("yolo", seen);  // test_name
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroupNoCreateTaskAfterFailure) {
  weft::run([] {
    int refused = 0;
    int ran_after = 0;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] {
          weft::sleep(milliseconds(1));
          divide_by_zero();
        });
        g.create_task([&] {
          try {
            weft::sleep(seconds(1));
          } catch (const weft::CancelledError&) {
            try {
              g.create_task([&] { ++ran_after; });
            } catch (const weft::InvalidStateError& e) {
              EXPECT_NE(std::string::npos, std::string(e.what()).find("is shutting down"));
              ++refused;
            }
          }
        });
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_EQ(1, refused);
    EXPECT_EQ(0, ran_after);
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroupContextManagerExitRaises) {
  weft::run([] {
    auto main = weft::create_task([] {
      weft::TaskRef task = weft::current_task();
      weft::ExceptionGroup eg = expect_group([&] {
        weft::task_group([&](weft::TaskGroup& tg) {
          tg.create_task([] { throw MyExc(); });
          try {
            weft::sleep(seconds(1));
          } catch (const weft::CancelledError&) {
            throw MyExc();  // the "database" context manager's exit raising
          }
        });
      });
      EXPECT_EQ(0, task.cancelling());
      EXPECT_EQ((std::vector<std::string>{"MyExc", "MyExc"}), kinds(eg));
    });
    main.get();
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroupFinished) {
  weft::run([] {
    weft::TaskGroup saved;
    weft::task_group([&](weft::TaskGroup& tg) { saved = tg; });
    // The function handed to a finished group is never called, and is
    // destroyed (Python: "the coroutine was closed").
    auto witness = std::make_shared<int>(0);
    try {
      saved.create_task([witness] { ++*witness; });
      ADD_FAILURE() << "create_task on a finished group did not throw";
    } catch (const weft::InvalidStateError& e) {
      EXPECT_NE(std::string::npos, std::string(e.what()).find("is finished"));
    }
    weft::yield();
    EXPECT_EQ(0, *witness);
    EXPECT_EQ(1, witness.use_count());
    expect_only_main_task();
  });
}

TEST(TaskGroups, TaskGroupNotEntered) {
  weft::run([] {
    weft::TaskGroup empty;
    EXPECT_FALSE(empty);
    EXPECT_THROW(empty.create_task([] {}), weft::InvalidStateError);
    EXPECT_EQ(0u, empty.task_count());
  });
}

TEST(TaskGroups, TaskGroupWithoutParentTask) {
  weft::Loop loop;
  int refused = 0;
  int ran = 0;
  loop.call_soon([&] {
    try {
      weft::task_group([&](weft::TaskGroup&) { ++ran; });
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
  });
  loop.run_once(false);
  EXPECT_EQ(1, refused);
  EXPECT_EQ(0, ran);
  loop.close();
}

TEST(TaskGroups, CoroClosedWhenTgClosed) {
  weft::Loop loop;
  int refused = 0;
  weft::run_until_complete(loop, [&] {
    weft::TaskGroup saved;
    weft::task_group([&](weft::TaskGroup& tg) { saved = tg; });
    try {
      saved.create_task([] { weft::yield(); });
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
  });
  EXPECT_EQ(1, refused);
  loop.close();
}

TEST(TaskGroups, CancellingLevelPreserved) {
  weft::run([] {
    expect_group([&] {
      weft::task_group([&](weft::TaskGroup& tg) {
        tg.create_task([] {
          weft::yield();
          throw std::runtime_error("RuntimeError");
        });
      });
    });
    EXPECT_EQ(0, weft::current_task().cancelling());
    expect_only_main_task();
  });
}

TEST(TaskGroups, NestedGroupsBothCancelled) {
  weft::run([] {
    weft::ExceptionGroup outer = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& outer_tg) {
        weft::ExceptionGroup inner = expect_group([&] {
          weft::task_group([&](weft::TaskGroup& inner_tg) {
            inner_tg.create_task([] {
              weft::yield();
              throw std::runtime_error("RuntimeError");
            });
            outer_tg.create_task([] {
              weft::yield();
              throw std::invalid_argument("ValueError");
            });
          });
        });
        EXPECT_EQ(std::vector<std::string>{"other"}, kinds(inner));
        EXPECT_EQ(1, weft::current_task().cancelling());
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ValueError"}, kinds(outer));
    EXPECT_EQ(0, weft::current_task().cancelling());
    expect_only_main_task();
  });
}

TEST(TaskGroups, ErrorAndCancel) {
  weft::run([] {
    weft::Future<void> event;
    bool slept_in_group = false;
    bool slept_after_group = false;
    auto t = weft::create_task([&] {
      weft::ExceptionGroup eg = expect_group([&] {
        weft::task_group([&](weft::TaskGroup& tg) {
          tg.create_task([&] {
            event.set_result();
            weft::yield();
            throw std::runtime_error("RuntimeError");
          });
          weft::sleep(seconds(1));
          slept_in_group = true;
        });
      });
      EXPECT_EQ(std::vector<std::string>{"other"}, kinds(eg));
      // The outside cancellation survives the group and is re-armed.
      EXPECT_EQ(1, weft::current_task().cancelling());
      weft::sleep(seconds(1));
      slept_after_group = true;
    });
    event.get();
    EXPECT_EQ(0, t.cancelling());
    t.cancel();
    EXPECT_EQ(1, t.cancelling());
    EXPECT_THROW(t.get(), weft::CancelledError);
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(slept_in_group);
    EXPECT_FALSE(slept_after_group);
    expect_only_main_task();
  });
}

// gh-128550: a child creates a sibling that fails at once; the creator is
// cancelled at its next suspension points.
TEST(TaskGroups, CancelsTaskIfCreatedDuringCreation) {
  weft::run([] {
    bool ran = false;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& tg) {
        tg.create_task([&] {
          tg.create_task([] { throw MyExc(); });
          EXPECT_THROW(
              {
                weft::yield();
                weft::yield();
              },
              weft::CancelledError);
          ran = true;
        });
      });
    });
    EXPECT_TRUE(ran);
    EXPECT_EQ(std::vector<std::string>{"MyExc"}, kinds(eg));
    expect_only_main_task();
  });
}

TEST(TaskGroups, CancellationDoesNotLeakOutOfTg) {
  weft::run([] {
    expect_group([&] {
      weft::task_group([&](weft::TaskGroup& tg) { tg.create_task([] { throw MyExc(); }); });
    });
    EXPECT_EQ(0, weft::current_task().cancelling());
    EXPECT_NO_THROW(weft::yield());  // no cancellation is left pending
    expect_only_main_task();
  });
}

// --- the C++ API --------------------------------------------------------------------

TEST(TaskGroups, ReturnsTheBodysValue) {
  weft::run([] {
    EXPECT_EQ(7, weft::task_group([](weft::TaskGroup& g) {
                g.create_task([] { weft::yield(); });
                return 7;
              }));
    std::unique_ptr<int> p = weft::task_group([](weft::TaskGroup&) { return std::unique_ptr<int>(new int(5)); });
    ASSERT_TRUE(p);
    EXPECT_EQ(5, *p);
    expect_only_main_task();
  });
}

TEST(TaskGroups, WaitsForEveryChildAndRunsTheirRaii) {
  weft::run([] {
    int unwound = 0;
    std::vector<int> order;
    weft::task_group([&](weft::TaskGroup& g) {
      for (int i = 3; i >= 1; --i) {
        g.create_task([&, i] {
          Guard guard{&unwound};
          weft::sleep(milliseconds(10 * i));
          order.push_back(i);
        });
      }
      order.push_back(0);  // the body ends before any child
    });
    EXPECT_EQ((std::vector<int>{0, 1, 2, 3}), order);
    EXPECT_EQ(3, unwound);
    expect_only_main_task();
  });
}

TEST(TaskGroups, ChildRaiiRunsBeforeTheGroupThrows) {
  weft::run([] {
    int unwound = 0;
    auto captured = std::make_shared<int>(0);
    expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        for (int i = 0; i < 10; ++i) {
          g.create_task([&unwound, captured] {
            Guard guard{&unwound};
            weft::sleep(seconds(10));
          });
        }
        g.create_task([] {
          weft::yield();
          divide_by_zero();
        });
      });
    });
    EXPECT_EQ(10, unwound);
    EXPECT_EQ(1, captured.use_count());  // every child's function was destroyed
    expect_only_main_task();
  });
}

// A child fails after the body has returned, while task_group() waits: the
// waiting task is cancelled by the group, and the cancellation is withdrawn.
TEST(TaskGroups, ChildFailsWhileTheGroupWaits) {
  weft::run([] {
    weft::Task<void> sleeper;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        sleeper = g.create_task([] { weft::sleep(seconds(10)); });
        g.create_task([] {
          weft::sleep(milliseconds(20));
          divide_by_zero();
        });
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_TRUE(sleeper.cancelled());
    EXPECT_EQ(0, weft::current_task().cancelling());
    EXPECT_NO_THROW(weft::yield());
    expect_only_main_task();
  });
}

// The ExceptionGroup lists failures in the order the children ended, not the
// order they were created.
TEST(TaskGroups, ErrorsAreInCompletionOrder) {
  weft::run([] {
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        g.create_task([] {  // cancelled by the abort; fails from its handler, last
          try {
            for (;;) weft::yield();
          } catch (const weft::CancelledError&) {
            throw std::runtime_error("a");
          }
        });
        g.create_task([] {  // second iteration
          weft::yield();
          throw std::runtime_error("b");
        });
        g.create_task([] { throw std::runtime_error("c"); });  // first iteration
      });
    });
    std::vector<std::string> what;
    for (const std::exception_ptr& e : eg.exceptions()) what.push_back(weft::describe_exception(e));
    EXPECT_EQ((std::vector<std::string>{"c", "b", "a"}), what);
    expect_only_main_task();
  });
}

// Tasks created in the body before an abort are cancelled; the body itself is
// cancelled, and create_task() in its handler is refused.
TEST(TaskGroups, BodyIsCancelledByTheAbort) {
  weft::run([] {
    int refused = 0;
    int started = 0;
    weft::Task<void> early;
    weft::ExceptionGroup eg = expect_group([&] {
      weft::task_group([&](weft::TaskGroup& g) {
        early = g.create_task([&] {
          ++started;
          weft::sleep(seconds(10));
        });
        g.create_task([] { divide_by_zero(); });
        try {
          weft::sleep(seconds(10));
        } catch (const weft::CancelledError&) {
          try {
            g.create_task([] {});
          } catch (const weft::InvalidStateError&) {
            ++refused;
          }
          throw;
        }
      });
    });
    EXPECT_EQ(std::vector<std::string>{"ZeroDivisionError"}, kinds(eg));
    EXPECT_TRUE(early.cancelled());
    EXPECT_EQ(1, started);
    EXPECT_EQ(1, refused);
    EXPECT_EQ(0, weft::current_task().cancelling());
    expect_only_main_task();
  });
}

// A handle copied into a plain loop callback can add tasks while the group
// is open.
TEST(TaskGroups, HandleCopiesAddTasksFromLoopCallbacks) {
  weft::run([] {
    int ran = 0;
    weft::task_group([&](weft::TaskGroup& g) {
      weft::TaskGroup copy = g;
      EXPECT_TRUE(copy == g);
      g.create_task([] { weft::sleep(milliseconds(30)); });
      weft::get_running_loop().call_later(milliseconds(5), [copy, &ran]() mutable {
        copy.create_task([&ran] { ++ran; });
      });
    });
    EXPECT_EQ(1, ran);
    expect_only_main_task();
  });
}

TEST(TaskGroups, ManyChildren) {
  const int n = WEFT_TEST_UNDER_VALGRIND() ? 500 : 20000;
  weft::run([n] {
    int done = 0;
    weft::task_group([&](weft::TaskGroup& g) {
      for (int i = 0; i < n; ++i) {
        g.create_task([&] {
          weft::yield();
          ++done;
        });
        if (i % 100 == 99) weft::yield();  // let earlier children finish, so slots are reused
      }
    });
    EXPECT_EQ(n, done);
    expect_only_main_task();
  });
}

// A loop closed by hand unwinds a task blocked in a group and its children.
TEST(TaskGroups, LoopClosedByHandUnwindsTheGroup) {
  int unwound = 0;
  bool parent_cancelled = false;
  {
    weft::Loop loop;
    weft::create_task(loop, [&] {
      Guard guard{&unwound};
      try {
        weft::task_group([&](weft::TaskGroup& g) {
          for (int i = 0; i < 3; ++i) {
            g.create_task([&] {
              Guard child_guard{&unwound};
              weft::sleep(std::chrono::hours(1));
            });
          }
        });
      } catch (const weft::CancelledError&) {
        parent_cancelled = true;
        throw;
      }
    });
    for (int i = 0; i < 3; ++i) loop.run_once(false);
    EXPECT_EQ(0, unwound);
    loop.close();
  }
  EXPECT_EQ(4, unwound);
  EXPECT_TRUE(parent_cancelled);
}

}  // namespace

// Tests of weft::gather() and weft::gather_settled() (asyncio.gather, with
// and without return_exceptions). Cases port CPython's
// Lib/test/test_asyncio/test_tasks.py (GatherTestsBase, FutureGatherTests,
// CoroutineGatherTests, test_cancel_gather_*), with C++ exception types
// standing in for Python's. Every test checks that the children's RAII ran
// where the semantics promise it, and ends with no task left but main.
#include "weft/fiber/waiting.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
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

// Counts destructions: a child's RAII.
struct Guard {
  int* count;
  ~Guard() { ++*count; }
};

// A task that sleeps `ms`, records its id in `order`, and returns it.
weft::Task<int> sleeper(int id, int ms, std::vector<int>& order) {
  return weft::create_task([id, ms, &order] {
    weft::sleep(milliseconds(ms));
    order.push_back(id);
    return id;
  });
}

void expect_only_main_left() { EXPECT_EQ(1u, weft::all_tasks().size()); }

struct MakeString {
  std::string operator()() const { return std::string(); }
};
static_assert(std::is_same<decltype(weft::gather(std::declval<weft::Task<int>&>(), std::declval<weft::Task<void>&>(),
                                                 std::declval<MakeString>())),
                           std::tuple<int, weft::None, std::string>>::value,
              "variadic gather gives T, None for void, and a callable's result");
static_assert(std::is_same<decltype(weft::gather(std::declval<std::vector<weft::Task<void>>&>())), void>::value,
              "gather of void tasks gives nothing");
static_assert(std::is_same<decltype(weft::gather_settled(std::declval<std::vector<weft::Future<int>>&>())),
                           std::vector<weft::Outcome<int>>>::value,
              "gather_settled of a list gives outcomes");

// --- results --------------------------------------------------------------------

TEST(Gather, test_result_order_independent_of_completion_order) {
  weft::run([] {
    std::vector<int> order;
    auto a = sleeper(1, 30, order);
    auto b = sleeper(2, 10, order);
    auto c = sleeper(3, 20, order);
    std::tuple<int, int, int> r = weft::gather(a, b, c);
    EXPECT_EQ(std::make_tuple(1, 2, 3), r);
    EXPECT_EQ((std::vector<int>{2, 3, 1}), order);  // they finished in another order
    expect_only_main_left();
  });
}

TEST(Gather, test_list_result_order_independent_of_completion_order) {
  weft::run([] {
    std::vector<int> order;
    std::vector<weft::Task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(sleeper(i, 5 * (5 - i), order));
    std::vector<int> r = weft::gather(tasks);
    EXPECT_EQ((std::vector<int>{0, 1, 2, 3, 4}), r);
    EXPECT_EQ((std::vector<int>{4, 3, 2, 1, 0}), order);
  });
}

TEST(Gather, test_constructor_empty_sequence) {
  weft::run([] {
    std::vector<weft::Task<int>> none;
    EXPECT_TRUE(weft::gather(none).empty());
    std::tuple<> empty = weft::gather();
    (void)empty;
    EXPECT_TRUE(weft::gather_settled(none).empty());
  });
}

TEST(Gather, test_void_tasks_give_none_slots) {
  weft::run([] {
    int ran = 0;
    auto v = weft::create_task([&] { ++ran; });
    auto i = weft::create_task([] { return 4; });
    std::tuple<weft::None, int> r = weft::gather(v, i);
    EXPECT_EQ(4, std::get<1>(r));
    EXPECT_EQ(weft::None(), std::get<0>(r));
    std::vector<weft::Task<void>> vs;
    for (int k = 0; k < 3; ++k) vs.push_back(weft::create_task([&] { ++ran; }));
    weft::gather(vs);  // returns nothing
    EXPECT_EQ(4, ran);
  });
}

TEST(Gather, test_gather_callables_start_in_argument_order) {
  weft::run([] {
    std::vector<int> started;
    std::tuple<int, std::string, weft::None> r = weft::gather(
        [&] {
          started.push_back(1);
          weft::sleep(milliseconds(10));
          return 10;
        },
        [&] {
          started.push_back(2);
          return std::string("two");
        },
        [&] { started.push_back(3); });
    EXPECT_EQ(10, std::get<0>(r));
    EXPECT_EQ("two", std::get<1>(r));
    EXPECT_EQ((std::vector<int>{1, 2, 3}), started);
    expect_only_main_left();
  });
}

TEST(Gather, test_gather_list_of_callables) {
  weft::run([] {
    std::vector<std::function<int()>> fns;
    for (int i = 0; i < 4; ++i) {
      fns.push_back([i] {
        weft::sleep(milliseconds(4 - i));
        return i * i;
      });
    }
    EXPECT_EQ((std::vector<int>{0, 1, 4, 9}), weft::gather(fns));
  });
}

TEST(Gather, test_constructor_homogenous_futures) {
  weft::run([] {
    weft::Future<int> a;
    weft::Future<int> b;
    weft::Loop& loop = weft::get_running_loop();
    loop.call_later(milliseconds(5), [b]() mutable { b.set_result(2); });
    loop.call_later(milliseconds(10), [a]() mutable { a.set_result(1); });
    EXPECT_EQ((std::vector<int>{1, 2}), weft::gather(std::vector<weft::Future<int>>{a, b}));
    weft::Future<void> c;
    loop.call_soon([c]() mutable { c.set_result(); });
    std::tuple<int, weft::None> r = weft::gather(a, c);
    EXPECT_EQ(1, std::get<0>(r));
  });
}

TEST(Gather, test_move_only_results) {
  weft::run([] {
    auto a = weft::create_task([] { return std::unique_ptr<int>(new int(1)); });
    std::vector<weft::Task<std::unique_ptr<int>>> list{weft::create_task([] { return std::unique_ptr<int>(new int(2)); })};
    std::tuple<std::unique_ptr<int>> r = weft::gather(a);
    ASSERT_TRUE(std::get<0>(r));
    EXPECT_EQ(1, *std::get<0>(r));
    std::vector<std::unique_ptr<int>> v = weft::gather(list);
    ASSERT_EQ(1u, v.size());
    EXPECT_EQ(2, *v[0]);
  });
}

TEST(Gather, test_duplicate_tasks) {
  weft::run([] {
    auto t = weft::create_task([] {
      weft::yield();
      return 5;
    });
    std::tuple<int, int> r = weft::gather(t, t);
    EXPECT_EQ(std::make_tuple(5, 5), r);
    EXPECT_EQ((std::vector<int>{5, 5}), weft::gather(std::vector<weft::Task<int>>{t, t}));
  });
}

TEST(Gather, test_all_done_returns_without_suspending) {
  weft::run([] {
    auto a = weft::create_task([] { return 1; });
    auto b = weft::create_task([] { return 2; });
    a.get();
    b.get();
    int other_ran = 0;
    auto other = weft::create_task([&] { ++other_ran; });
    EXPECT_EQ(std::make_tuple(1, 2), weft::gather(a, b));
    EXPECT_EQ(0, other_ran);  // gather did not let the loop run
    other.get();
  });
}

// --- failures ---------------------------------------------------------------------

TEST(Gather, test_one_exception_propagates_at_once_others_keep_running) {
  weft::run([] {
    int finished = 0;
    auto slow1 = weft::create_task([&] {
      weft::sleep(milliseconds(20));
      ++finished;
      return 1;
    });
    auto bad = weft::create_task([]() -> int {
      weft::sleep(milliseconds(1));
      throw std::invalid_argument("bad");
    });
    auto slow2 = weft::create_task([&] {
      weft::sleep(milliseconds(30));
      ++finished;
      return 3;
    });
    EXPECT_THROW(weft::gather(slow1, bad, slow2), std::invalid_argument);
    EXPECT_FALSE(slow1.done());  // thrown at once...
    EXPECT_FALSE(slow2.done());
    EXPECT_FALSE(slow1.cancelled());
    EXPECT_EQ(1, slow1.get());  // ...and the others were not cancelled
    EXPECT_EQ(3, slow2.get());
    EXPECT_EQ(2, finished);
  });
}

TEST(Gather, test_first_exception_in_completion_order) {
  weft::run([] {
    auto late = weft::create_task([]() -> int {
      weft::sleep(milliseconds(30));
      throw std::out_of_range("late");
    });
    auto early = weft::create_task([]() -> int {
      weft::sleep(milliseconds(5));
      throw std::invalid_argument("early");
    });
    EXPECT_THROW(weft::gather(std::vector<weft::Task<int>>{late, early}), std::invalid_argument);
    EXPECT_THROW(late.get(), std::out_of_range);
  });
}

TEST(Gather, test_already_failed_child_raises_in_argument_order) {
  weft::run([] {
    auto e1 = weft::create_task([]() -> int { throw std::out_of_range("first"); });
    auto e2 = weft::create_task([]() -> int { throw std::invalid_argument("second"); });
    weft::yield();
    ASSERT_TRUE(e1.done() && e2.done());
    EXPECT_THROW(weft::gather(e2, e1), std::invalid_argument);
  });
}

TEST(Gather, test_one_cancellation) {
  // A cancelled child counts as raising CancelledError; the others go on.
  weft::run([] {
    auto cancelled = weft::create_task([] { weft::sleep(seconds(10)); });
    auto fine = weft::create_task([] {
      weft::sleep(milliseconds(20));
      return 7;
    });
    weft::get_running_loop().call_later(milliseconds(2), [cancelled]() mutable { cancelled.cancel("child msg"); });
    try {
      weft::gather(cancelled, fine);
      ADD_FAILURE() << "no CancelledError";
    } catch (const weft::CancelledError& e) {
      EXPECT_EQ("child msg", e.message());
    }
    EXPECT_EQ(0, weft::current_task().cancelling());  // the waiter itself was not cancelled
    EXPECT_FALSE(fine.done());
    EXPECT_EQ(7, fine.get());
  });
}

TEST(Gather, test_exception_marking) {
  // asyncio: "Mark exception retrieved." — no child's exception is reported
  // as never retrieved, not even one that fails after gather threw.
  std::vector<std::string> reports;
  weft::run([&] {
    weft::get_running_loop().set_exception_handler(
        [&](weft::Loop&, const weft::ExceptionContext& ctx) { reports.push_back(ctx.message); });
    {
      auto a = weft::create_task([]() -> int {
        weft::sleep(milliseconds(1));
        throw std::runtime_error("should not be ignored");
      });
      auto b = weft::create_task([]() -> int {
        weft::sleep(milliseconds(10));
        throw std::runtime_error("should not be ignored either");
      });
      EXPECT_THROW(weft::gather(a, b), std::runtime_error);
      weft::sleep(milliseconds(30));
      EXPECT_TRUE(b.done());
    }  // last handles dropped
    weft::yield();
  });
  EXPECT_TRUE(reports.empty()) << reports.front();
}

// --- cancelling the waiter ---------------------------------------------------------

TEST(Gather, test_cancellation_broadcast) {
  weft::run([] {
    int proof = 0;
    int unwound = 0;
    weft::Future<void> waiter;
    auto inner = [&] {
      Guard g{&unwound};
      waiter.get();
      proof += 1;
    };
    auto child1 = weft::create_task(inner);
    auto child2 = weft::create_task(inner);
    auto outer = weft::create_task([&] {
      weft::gather(child1, child2);
      proof += 100;
    });
    weft::yield();
    weft::yield();
    EXPECT_TRUE(outer.cancel());
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_TRUE(waiter.cancelled());  // child1 passed its cancellation on
    EXPECT_TRUE(child1.cancelled());
    EXPECT_TRUE(child2.cancelled());
    EXPECT_EQ(2, unwound);
    weft::yield();
    EXPECT_EQ(0, proof);
    expect_only_main_left();
  });
}

TEST(Gather, test_cancel_waits_for_children_cleanup) {
  // The children's RAII — even a slow, suspending one — has run before the
  // cancelled gather throws.
  weft::run([] {
    int unwound = 0;
    bool slow_cleanup_done = false;
    auto quick = weft::create_task([&] {
      Guard g{&unwound};
      weft::sleep(seconds(10));
    });
    auto slow = weft::create_task([&] {
      Guard g{&unwound};
      bool cancelled = false;
      try {
        weft::sleep(seconds(10));
      } catch (const weft::CancelledError&) {
        cancelled = true;
      }
      if (cancelled) {
        weft::sleep(milliseconds(20));  // cleanup that suspends
        slow_cleanup_done = true;
        throw weft::CancelledError();
      }
    });
    bool children_done_at_throw = false;
    auto outer = weft::create_task([&] {
      try {
        weft::gather(quick, slow);
      } catch (const weft::CancelledError&) {
        children_done_at_throw = quick.done() && slow.done() && slow_cleanup_done && unwound == 2;
        throw;
      }
    });
    weft::sleep(milliseconds(2));
    outer.cancel();
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_TRUE(children_done_at_throw);
    EXPECT_EQ(2, unwound);
  });
}

TEST(Gather, test_cancel_gather_message) {
  // test_cancel_gather_2: the waiter's cancel message reaches its CancelledError.
  weft::run([] {
    auto qwe = weft::create_task([] {
      for (int i = 0; i < 100; ++i) weft::gather_settled([] { weft::sleep(milliseconds(5)); });
    });
    weft::sleep(milliseconds(20));
    qwe.cancel("my message");
    try {
      qwe.get();
      ADD_FAILURE() << "no CancelledError";
    } catch (const weft::CancelledError& e) {
      EXPECT_EQ("my message", e.message());
    }
    expect_only_main_left();
  });
}

TEST(Gather, test_cancel_child_that_swallows_still_raises) {
  // asyncio: "If gather is being cancelled we must propagate the
  // cancellation regardless" — even if every child returned a value.
  weft::run([] {
    auto stubborn = weft::create_task([] {
      try {
        weft::sleep(seconds(10));
      } catch (const weft::CancelledError&) {
      }
      return 1;
    });
    auto outer = weft::create_task([&] { return std::get<0>(weft::gather(stubborn)); });
    weft::sleep(milliseconds(1));
    outer.cancel();
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_EQ(1, stubborn.get());
  });
}

TEST(Gather, test_pending_cancel_is_passed_to_children) {
  // A cancellation requested before gather suspends goes to the children
  // (asyncio Task.__step passes _must_cancel to the new _fut_waiter).
  weft::run([] {
    int unwound = 0;
    auto child = weft::create_task([&] {
      Guard g{&unwound};
      weft::sleep(seconds(10));
    });
    auto outer = weft::create_task([&] {
      weft::current_task().cancel();
      weft::gather(child);
    });
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_TRUE(child.cancelled());
  });
}

TEST(Gather, test_woken_then_cancelled_raises_cancelled) {
  // Every child is done and the waiter is scheduled to resume, then it is
  // cancelled: nothing is left to cancel, so its own cancellation wins.
  weft::run([] {
    weft::Future<int> f;
    auto outer = weft::create_task([&] { return std::get<0>(weft::gather(f)); });
    weft::yield();  // outer parks in gather
    f.set_result(1);
    EXPECT_TRUE(outer.cancel());
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_EQ(1, f.result());
  });
}

TEST(Gather, test_cancel_gather_of_plain_futures) {
  weft::run([] {
    weft::Future<int> a;
    weft::Future<std::string> b;
    auto outer = weft::create_task([&] { weft::gather(a, b); });
    weft::yield();
    outer.cancel();
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
  });
}

TEST(Gather, test_loop_closing_unwinds_a_gathering_task) {
  int unwound = 0;
  weft::run([&] {
    auto child = weft::create_task([&] {
      Guard g{&unwound};
      weft::sleep(seconds(100));
    });
    weft::create_task([&, child] {
      Guard g{&unwound};
      weft::gather(child);
    });
    weft::yield();
    weft::yield();
  });  // main returns: run() cancels what is left
  EXPECT_EQ(2, unwound);
}

// --- gather_settled ---------------------------------------------------------------

TEST(Gather, test_return_exceptions) {
  weft::run([] {
    auto ok = weft::create_task([] {
      weft::sleep(milliseconds(5));
      return 1;
    });
    auto bad = weft::create_task([]() -> int { throw std::invalid_argument("bad"); });
    auto cancelled = weft::create_task([] {
      weft::sleep(seconds(10));
      return 3;
    });
    auto v = weft::create_task([] {});
    weft::get_running_loop().call_later(milliseconds(1), [cancelled]() mutable { cancelled.cancel("stop"); });
    std::tuple<weft::Outcome<int>, weft::Outcome<int>, weft::Outcome<int>, weft::Outcome<void>> r =
        weft::gather_settled(ok, bad, cancelled, v);
    EXPECT_TRUE(std::get<0>(r).has_value());
    EXPECT_EQ(1, std::get<0>(r).value());
    EXPECT_FALSE(std::get<1>(r).has_value());
    EXPECT_THROW(std::get<1>(r).value(), std::invalid_argument);
    EXPECT_THROW(std::rethrow_exception(std::get<1>(r).error()), std::invalid_argument);
    EXPECT_FALSE(std::get<2>(r).has_value());
    try {
      std::rethrow_exception(std::get<2>(r).error());
    } catch (const weft::CancelledError& e) {
      EXPECT_EQ("stop", e.message());
    }
    EXPECT_TRUE(std::get<3>(r).has_value());
    EXPECT_FALSE(std::get<3>(r).error());
  });
}

TEST(Gather, test_return_exceptions_list_waits_for_all) {
  weft::run([] {
    int finished = 0;
    std::vector<weft::Task<int>> tasks;
    tasks.push_back(weft::create_task([]() -> int { throw std::runtime_error("fast failure"); }));
    tasks.push_back(weft::create_task([&] {
      weft::sleep(milliseconds(20));
      ++finished;
      return 2;
    }));
    std::vector<weft::Outcome<int>> r = weft::gather_settled(tasks);
    ASSERT_EQ(2u, r.size());
    EXPECT_EQ(1, finished);  // did not return at the first failure
    EXPECT_FALSE(r[0].has_value());
    EXPECT_EQ(2, r[1].value());
    weft::Outcome<int> copy = r[1];
    weft::Outcome<int> moved = std::move(copy);
    EXPECT_EQ(2, moved.value());
  });
}

TEST(Gather, test_return_exceptions_cancel_waiter_cancels_children) {
  weft::run([] {
    int unwound = 0;
    auto child = weft::create_task([&] {
      Guard g{&unwound};
      weft::sleep(seconds(10));
    });
    auto outer = weft::create_task([&] { weft::gather_settled(child); });
    weft::sleep(milliseconds(1));
    outer.cancel();
    EXPECT_THROW(outer.get(), weft::CancelledError);
    EXPECT_TRUE(child.cancelled());
    EXPECT_EQ(1, unwound);
  });
}

// --- misuse and scale ----------------------------------------------------------------

TEST(Gather, test_outside_a_task_is_invalid) {
  weft::Loop loop;
  int refused = 0;
  loop.call_soon([&] {
    weft::Future<int> f(loop);
    try {
      weft::gather(f);
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(1, refused);
}

TEST(Gather, test_many_tasks) {
  // The benchmark's shape: gather of many tasks that each block once.
  const int n = WEFT_TEST_UNDER_VALGRIND() ? 2000 : 200000;
  weft::run([n] {
    std::vector<weft::Task<int>> tasks;
    tasks.reserve(n);
    for (int i = 0; i < n; ++i) {
      tasks.push_back(weft::create_task([i] {
        weft::yield();
        return i;
      }));
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<int> r = weft::gather(tasks);
    ASSERT_EQ(static_cast<std::size_t>(n), r.size());
    long long sum = 0;
    for (int i = 0; i < n; ++i) {
      if (r[static_cast<std::size_t>(i)] != i) ADD_FAILURE() << "slot " << i;
      sum += r[static_cast<std::size_t>(i)];
    }
    EXPECT_EQ(static_cast<long long>(n) * (n - 1) / 2, sum);
    // Linear work: a quadratic gather would take minutes here.
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(60));
  });
}

}  // namespace

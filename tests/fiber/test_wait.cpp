// Tests of weft::wait() and weft::as_completed() (asyncio.wait and
// asyncio.as_completed). Cases port CPython's
// Lib/test/test_asyncio/test_tasks.py (test_wait*, test_as_completed*), with
// C++ exception types standing in for Python's. Neither function ever
// cancels a child: each test checks the pending ones keep running, and ends
// with no task left but main.
#include "weft/fiber/waiting.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "weft/fiber/runners.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using weft::ReturnWhen;

// A task that sleeps `ms` and returns `id`.
weft::Task<int> sleeper(int id, int ms) {
  return weft::create_task([id, ms] {
    weft::sleep(milliseconds(ms));
    return id;
  });
}

weft::Task<int> failer(int ms) {
  return weft::create_task([ms]() -> int {
    weft::sleep(milliseconds(ms));
    throw std::invalid_argument("failer");
  });
}

void expect_only_main_left() { EXPECT_EQ(1u, weft::all_tasks().size()); }

// --- wait ----------------------------------------------------------------------

TEST(Wait, test_wait) {
  weft::run([] {
    auto a = sleeper(1, 10);
    auto b = sleeper(2, 5);
    weft::WaitResult<weft::Task<int>> r = weft::wait(std::vector<weft::Task<int>>{a, b});
    ASSERT_EQ(2u, r.done.size());
    EXPECT_TRUE(r.pending.empty());
    EXPECT_TRUE(r.done[0] == a);  // input order, not completion order
    EXPECT_TRUE(r.done[1] == b);
    EXPECT_EQ(1, a.result());
  });
}

TEST(Wait, test_wait_first_completed) {
  weft::run([] {
    auto slow = sleeper(1, 40);
    auto fast = sleeper(2, 5);
    auto r = weft::wait(std::vector<weft::Task<int>>{slow, fast}, ReturnWhen::FirstCompleted);
    ASSERT_EQ(1u, r.done.size());
    ASSERT_EQ(1u, r.pending.size());
    EXPECT_TRUE(r.done[0] == fast);
    EXPECT_TRUE(r.pending[0] == slow);
    EXPECT_FALSE(slow.done());
    EXPECT_EQ(1, slow.get());  // still running, not cancelled
  });
}

TEST(Wait, test_wait_first_exception) {
  weft::run([] {
    auto slow = sleeper(1, 40);
    auto bad = failer(5);
    auto r = weft::wait(std::vector<weft::Task<int>>{slow, bad}, ReturnWhen::FirstException);
    ASSERT_EQ(1u, r.done.size());
    EXPECT_TRUE(r.done[0] == bad);
    ASSERT_EQ(1u, r.pending.size());
    EXPECT_THROW(bad.result(), std::invalid_argument);
    EXPECT_EQ(1, slow.get());
  });
}

TEST(Wait, test_wait_first_exception_already_failed) {
  weft::run([] {
    auto bad = weft::create_task([]() -> int { throw std::invalid_argument("now"); });
    weft::yield();
    auto slow = sleeper(1, 30);
    auto r = weft::wait(std::vector<weft::Task<int>>{slow, bad}, ReturnWhen::FirstException);
    ASSERT_EQ(1u, r.done.size());
    EXPECT_TRUE(r.done[0] == bad);
    EXPECT_FALSE(slow.done());
    EXPECT_THROW(bad.get(), std::invalid_argument);
    slow.get();
  });
}

TEST(Wait, test_wait_first_exception_ignores_cancellation) {
  // A cancelled child is not an exception (asyncio: "not f.cancelled() and
  // f.exception() is not None"): wait goes on until all are done.
  weft::run([] {
    auto victim = sleeper(1, 10000);
    auto slow = sleeper(2, 20);
    weft::get_running_loop().call_later(milliseconds(2), [victim]() mutable { victim.cancel(); });
    auto r = weft::wait(std::vector<weft::Task<int>>{victim, slow}, ReturnWhen::FirstException);
    EXPECT_EQ(2u, r.done.size());
    EXPECT_TRUE(r.pending.empty());
    EXPECT_TRUE(victim.cancelled());
  });
}

TEST(Wait, test_wait_with_exception) {
  // ALL_COMPLETED: a failure does not end the wait, nor is it thrown.
  weft::run([] {
    auto bad = failer(2);
    auto ok = sleeper(2, 15);
    auto r = weft::wait(std::vector<weft::Task<int>>{bad, ok});
    EXPECT_EQ(2u, r.done.size());
    EXPECT_THROW(bad.result(), std::invalid_argument);
    EXPECT_EQ(2, ok.result());
  });
}

TEST(Wait, test_wait_with_timeout) {
  weft::run([] {
    auto fast = sleeper(1, 5);
    auto slow = sleeper(2, 300);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = weft::wait(std::vector<weft::Task<int>>{fast, slow}, milliseconds(50));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(290));
    ASSERT_EQ(1u, r.done.size());
    EXPECT_TRUE(r.done[0] == fast);
    ASSERT_EQ(1u, r.pending.size());
    EXPECT_TRUE(r.pending[0] == slow);
    EXPECT_FALSE(slow.cancelled());  // nothing is cancelled on timeout
    EXPECT_EQ(2, slow.get());
  });
}

TEST(Wait, test_wait_first_completed_with_timeout) {
  weft::run([] {
    auto a = sleeper(1, 200);
    auto b = sleeper(2, 300);
    auto r = weft::wait(std::vector<weft::Task<int>>{a, b}, ReturnWhen::FirstCompleted, milliseconds(10));
    EXPECT_TRUE(r.done.empty());
    EXPECT_EQ(2u, r.pending.size());
    a.cancel();
    b.cancel();
    weft::wait(std::vector<weft::Task<int>>{a, b});
    EXPECT_TRUE(a.cancelled() && b.cancelled());
    expect_only_main_left();
  });
}

TEST(Wait, test_wait_first_exception_with_timeout_and_no_failure) {
  weft::run([] {
    auto a = sleeper(1, 5);
    auto b = sleeper(2, 300);
    auto r = weft::wait(std::vector<weft::Task<int>>{a, b}, ReturnWhen::FirstException, milliseconds(30));
    ASSERT_EQ(1u, r.done.size());
    EXPECT_TRUE(r.done[0] == a);
    b.cancel();
    EXPECT_THROW(b.get(), weft::CancelledError);
  });
}

TEST(Wait, test_wait_zero_timeout) {
  weft::run([] {
    auto a = sleeper(1, 50);
    auto r = weft::wait(std::vector<weft::Task<int>>{a}, milliseconds(0));
    EXPECT_TRUE(r.done.empty());
    EXPECT_EQ(1u, r.pending.size());
    EXPECT_EQ(1, a.get());
  });
}

TEST(Wait, test_wait_errors) {
  weft::run([] {
    std::vector<weft::Task<int>> none;
    EXPECT_THROW(weft::wait(none), std::invalid_argument);
    EXPECT_THROW(weft::wait(none, ReturnWhen::FirstCompleted, seconds(1)), std::invalid_argument);
  });
}

TEST(Wait, test_wait_condition_already_met_still_suspends) {
  // asyncio's _wait always awaits its waiter: other tasks get to run.
  weft::run([] {
    auto done = weft::create_task([] { return 1; });
    done.get();
    int other_ran = 0;
    auto other = weft::create_task([&] { ++other_ran; });
    auto r = weft::wait(std::vector<weft::Task<int>>{done}, ReturnWhen::FirstCompleted);
    EXPECT_EQ(1u, r.done.size());
    EXPECT_EQ(1, other_ran);
    other.get();
  });
}

TEST(Wait, test_wait_cancelled_waiter_leaves_children_running) {
  weft::run([] {
    auto child = sleeper(7, 30);
    auto waiter = weft::create_task([&] { weft::wait(std::vector<weft::Task<int>>{child}); });
    weft::sleep(milliseconds(2));
    waiter.cancel();
    EXPECT_THROW(waiter.get(), weft::CancelledError);
    EXPECT_FALSE(child.done());
    EXPECT_EQ(7, child.get());  // asyncio.wait does not propagate cancellation
    expect_only_main_left();
  });
}

TEST(Wait, test_wait_concurrent_complete) {
  // Children that finish in the same iteration all count as done.
  weft::run([] {
    weft::Future<int> a;
    weft::Future<int> b;
    weft::get_running_loop().call_later(milliseconds(5), [a, b]() mutable {
      a.set_result(1);
      b.set_result(2);
    });
    auto r = weft::wait(std::vector<weft::Future<int>>{a, b}, ReturnWhen::FirstCompleted);
    EXPECT_EQ(2u, r.done.size());
    EXPECT_TRUE(r.pending.empty());
  });
}

TEST(Wait, test_wait_task_refs_of_mixed_types) {
  weft::run([] {
    auto i = sleeper(1, 5);
    auto s = weft::create_task([] {
      weft::sleep(milliseconds(50));
      return std::string("s");
    });
    std::vector<weft::TaskRef> refs{i, s};
    auto r = weft::wait(refs, ReturnWhen::FirstCompleted);
    ASSERT_EQ(1u, r.done.size());
    EXPECT_TRUE(r.done[0] == i);
    EXPECT_EQ("s", s.get());
  });
}

TEST(Wait, test_wait_duplicate_tasks) {
  weft::run([] {
    auto a = sleeper(1, 5);
    auto r = weft::wait(std::vector<weft::Task<int>>{a, a});
    EXPECT_EQ(2u, r.done.size());
  });
}

TEST(Wait, test_wait_outside_a_task_is_invalid) {
  weft::Loop loop;
  int refused = 0;
  loop.call_soon([&] {
    std::vector<weft::Future<int>> fs{weft::Future<int>(loop)};
    try {
      weft::wait(fs);
    } catch (const weft::InvalidStateError&) {
      ++refused;
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(1, refused);
}

// --- as_completed -----------------------------------------------------------------

TEST(AsCompleted, test_as_completed) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 30), sleeper(2, 5), sleeper(3, 15)};
    std::vector<int> order;
    for (auto& t : weft::as_completed(tasks)) order.push_back(t.result());
    EXPECT_EQ((std::vector<int>{2, 3, 1}), order);
    expect_only_main_left();
  });
}

TEST(AsCompleted, test_as_completed_yields_the_original_handles) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 10), sleeper(2, 1)};
    std::vector<weft::Task<int>> seen;
    for (auto& t : weft::as_completed(tasks)) seen.push_back(t);
    ASSERT_EQ(2u, seen.size());
    EXPECT_TRUE(seen[0] == tasks[1]);
    EXPECT_TRUE(seen[1] == tasks[0]);
  });
}

TEST(AsCompleted, test_as_completed_with_timeout) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 10000), sleeper(2, 5)};
    std::vector<int> got;
    int timeouts = 0;
    try {
      for (auto& t : weft::as_completed(tasks, milliseconds(50))) got.push_back(t.get());
    } catch (const weft::TimeoutError&) {
      ++timeouts;
    }
    EXPECT_EQ((std::vector<int>{2}), got);
    EXPECT_EQ(1, timeouts);
    EXPECT_FALSE(tasks[0].done());  // not cancelled
    tasks[0].cancel();
    EXPECT_THROW(tasks[0].get(), weft::CancelledError);
  });
}

TEST(AsCompleted, test_as_completed_timeout_every_later_dereference_throws) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 10000), sleeper(2, 10000)};
    auto range = weft::as_completed(tasks, milliseconds(5));
    auto it = range.begin();
    EXPECT_THROW(*it, weft::TimeoutError);
    EXPECT_THROW(*it, weft::TimeoutError);
    EXPECT_TRUE(it != range.end());
    for (auto& t : tasks) t.cancel();
    weft::wait(tasks);
  });
}

TEST(AsCompleted, test_as_completed_done_before_timeout_still_yielded) {
  // asyncio queues the timeout sentinels behind the futures already done.
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 2), sleeper(2, 10000)};
    auto range = weft::as_completed(tasks, milliseconds(20));
    std::this_thread::sleep_for(milliseconds(5));
    weft::sleep(milliseconds(40));  // the first finishes, then the timeout passes
    auto it = range.begin();
    EXPECT_EQ(1, it->result());
    ++it;
    EXPECT_THROW(*it, weft::TimeoutError);
    tasks[1].cancel();
    weft::wait(tasks);
  });
}

TEST(AsCompleted, test_as_completed_with_unused_timeout) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 5)};
    int n = 0;
    for (auto& t : weft::as_completed(tasks, milliseconds(20))) n += t.get();
    EXPECT_EQ(1, n);
    weft::sleep(milliseconds(40));  // the timer was withdrawn with the range
  });
}

TEST(AsCompleted, test_as_completed_already_done_come_first_in_input_order) {
  weft::run([] {
    auto pending = sleeper(0, 5);
    auto d1 = weft::create_task([] { return 1; });
    auto d2 = weft::create_task([] { return 2; });
    d2.get();
    d1.get();
    std::vector<int> order;
    for (auto& t : weft::as_completed(std::vector<weft::Task<int>>{pending, d2, d1})) order.push_back(t.result());
    EXPECT_EQ((std::vector<int>{2, 1, 0}), order);
  });
}

TEST(AsCompleted, test_as_completed_duplicate_tasks) {
  weft::run([] {
    auto a = sleeper(4, 2);
    int n = 0;
    for (auto& t : weft::as_completed(std::vector<weft::Task<int>>{a, a})) n += t.get();
    EXPECT_EQ(8, n);
  });
}

TEST(AsCompleted, test_as_completed_empty) {
  weft::run([] {
    int n = 0;
    for (auto& t : weft::as_completed(std::vector<weft::Task<int>>{}, seconds(1))) n += t.get();
    EXPECT_EQ(0, n);
  });
}

TEST(AsCompleted, test_as_completed_early_exit_withdraws_registrations) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 1), sleeper(2, 20), sleeper(3, 30)};
    int first = 0;
    for (auto& t : weft::as_completed(tasks, seconds(10))) {
      first = t.get();
      break;  // the range dies with registrations on the other two
    }
    EXPECT_EQ(1, first);
    EXPECT_EQ(2, tasks[1].get());  // completing them touches nothing stale
    EXPECT_EQ(3, tasks[2].get());
    expect_only_main_left();
  });
}

TEST(AsCompleted, test_as_completed_increment_without_dereference_skips_one) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 10), sleeper(2, 1)};
    auto range = weft::as_completed(tasks);
    auto it = range.begin();
    ++it;  // waits for the first to finish and skips it
    EXPECT_EQ(1, it->result());
    ++it;
    EXPECT_TRUE(it == range.end());
  });
}

TEST(AsCompleted, test_as_completed_cancelled_waiter_leaves_children_running) {
  weft::run([] {
    std::vector<weft::Task<int>> tasks{sleeper(1, 30)};
    auto waiter = weft::create_task([&] {
      for (auto& t : weft::as_completed(tasks)) t.get();
    });
    weft::sleep(milliseconds(2));
    waiter.cancel();
    EXPECT_THROW(waiter.get(), weft::CancelledError);
    EXPECT_FALSE(tasks[0].done());
    EXPECT_EQ(1, tasks[0].get());
  });
}

TEST(AsCompleted, test_as_completed_futures) {
  weft::run([] {
    weft::Future<std::string> a;
    weft::Future<std::string> b;
    weft::get_running_loop().call_later(milliseconds(5), [b]() mutable { b.set_result("b"); });
    weft::get_running_loop().call_later(milliseconds(10), [a]() mutable { a.set_result("a"); });
    std::string order;
    for (auto& f : weft::as_completed(std::vector<weft::Future<std::string>>{a, b})) order += f.result();
    EXPECT_EQ("ba", order);
  });
}

TEST(AsCompleted, test_loop_closing_unwinds_waiting_tasks) {
  // run() ends with tasks blocked in wait() and in as_completed(): they are
  // cancelled and unwound, and their registrations withdrawn.
  int unwound = 0;
  weft::run([&] {
    struct Guard {
      int* count;
      ~Guard() { ++*count; }
    };
    std::vector<weft::Task<int>> children{sleeper(1, 100000), sleeper(2, 100000)};
    weft::create_task([&unwound, children] {
      Guard g{&unwound};
      weft::wait(children, ReturnWhen::FirstCompleted, seconds(100));
    });
    weft::create_task([&unwound, children] {
      Guard g{&unwound};
      for (auto& t : weft::as_completed(children, seconds(100))) t.get();
    });
    weft::yield();
    weft::yield();
  });
  EXPECT_EQ(2, unwound);
}

}  // namespace

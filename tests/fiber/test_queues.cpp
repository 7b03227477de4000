// Tests of Queue, LifoQueue and PriorityQueue. The first groups port
// CPython's Lib/test/test_asyncio/test_queues.py (3.13), test for test,
// under the same names; weft's own cases follow: the "woken then cancelled"
// races made deterministic, FIFO fairness, where calls may come from, a
// queue destroyed under parked tasks, and many-task stress runs.
#include "weft/fiber/queues.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fiber/sanitizer.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using std::chrono::milliseconds;

// asyncio.sleep(0) n times.
void yield_n(int n) {
  for (int i = 0; i < n; ++i) weft::yield();
}

// --- QueueBasicTests -------------------------------------------------------------

TEST(QueueBasic, Empty) {
  weft::run([] {
    weft::Queue<int> q;
    EXPECT_TRUE(q.empty());
    q.put(1);
    EXPECT_FALSE(q.empty());
    EXPECT_EQ(1, q.get());
    EXPECT_TRUE(q.empty());
  });
}

TEST(QueueBasic, Full) {
  weft::run([] {
    weft::Queue<int> unbounded;
    EXPECT_FALSE(unbounded.full());
    weft::Queue<int> q(1);
    q.put(1);
    EXPECT_TRUE(q.full());
  });
}

TEST(QueueBasic, Order) {
  weft::run([] {
    weft::Queue<int> q;
    for (int i : {1, 3, 2}) q.put(i);
    std::vector<int> items;
    for (int i = 0; i < 3; ++i) items.push_back(q.get());
    EXPECT_EQ((std::vector<int>{1, 3, 2}), items);
  });
}

TEST(QueueBasic, Maxsize) {
  weft::run([] {
    weft::Queue<int> q(2);
    EXPECT_EQ(2, q.maxsize());
    std::vector<int> have_been_put;
    auto t = weft::create_task([&] {
      for (int i = 0; i < 3; ++i) {
        q.put(i);
        have_been_put.push_back(i);
      }
      return true;
    });
    yield_n(2);
    // The putter is blocked after putting two items.
    EXPECT_EQ((std::vector<int>{0, 1}), have_been_put);
    EXPECT_EQ(0, q.get());
    // Let the putter resume and put the last item.
    weft::yield();
    EXPECT_EQ((std::vector<int>{0, 1, 2}), have_been_put);
    EXPECT_EQ(1, q.get());
    EXPECT_EQ(2, q.get());
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  });
}

TEST(QueueBasic, ZeroOrNegativeMaxsizeIsUnbounded) {
  weft::run([] {
    weft::Queue<int> zero(0);
    weft::Queue<int> negative(-5);
    for (int i = 0; i < 1000; ++i) {
      zero.put_nowait(i);
      negative.put(i);
    }
    EXPECT_FALSE(zero.full());
    EXPECT_FALSE(negative.full());
    EXPECT_EQ(1000u, zero.qsize());
    EXPECT_EQ(-5, negative.maxsize());
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(i, zero.get_nowait());
  });
}

TEST(QueueBasic, MoveOnlyItems) {
  weft::run([] {
    weft::Queue<std::unique_ptr<int>> q(1);
    std::unique_ptr<int> item(new int(7));
    q.put(std::move(item));
    EXPECT_EQ(nullptr, item);
    std::unique_ptr<int> spare(new int(8));
    EXPECT_THROW(q.put_nowait(std::move(spare)), weft::QueueFull);
    ASSERT_NE(nullptr, spare);  // not taken: the queue was full
    EXPECT_EQ(7, *q.get());
    q.put_nowait(std::move(spare));
    EXPECT_EQ(8, *q.get_nowait());
  });
}

// --- QueueGetTests ---------------------------------------------------------------

TEST(QueueGet, BlockingGet) {
  weft::run([] {
    weft::Queue<int> q;
    q.put_nowait(1);
    EXPECT_EQ(1, q.get());
  });
}

TEST(QueueGet, GetWithPutters) {
  weft::run([] {
    weft::Queue<int> q(1);
    q.put(1);
    auto putter = weft::create_task([&] { q.put(2); });
    weft::yield();
    EXPECT_FALSE(putter.done());
    EXPECT_EQ(1, q.get());  // wakes the putter
    putter.get();
    EXPECT_EQ(2, q.get_nowait());
  });
}

TEST(QueueGet, BlockingGetWait) {
  weft::run([] {
    weft::Queue<int> q;
    bool finished = false;
    auto t = weft::create_task([&] {
      const int res = q.get();
      finished = true;
      return res;
    });
    weft::yield();
    EXPECT_FALSE(finished);
    // From a plain loop callback, as asyncio's loop.call_later(0.01, q.put_nowait, 1).
    weft::get_running_loop().call_later(milliseconds(10), [&] { q.put_nowait(1); });
    EXPECT_EQ(1, t.get());
    EXPECT_TRUE(finished);
  });
}

TEST(QueueGet, NonblockingGet) {
  weft::run([] {
    weft::Queue<int> q;
    q.put_nowait(1);
    EXPECT_EQ(1, q.get_nowait());
  });
}

TEST(QueueGet, NonblockingGetException) {
  weft::run([] {
    weft::Queue<int> q;
    EXPECT_THROW(q.get_nowait(), weft::QueueEmpty);
    try {
      q.get_nowait();
    } catch (const weft::QueueEmpty& e) {
      EXPECT_EQ("weft::Queue::get_nowait: the queue is empty", std::string(e.what()));
    }
  });
}

TEST(QueueGet, GetCancelledRace) {
  weft::run([] {
    weft::Queue<std::string> q;
    auto t1 = weft::create_task([&] { return q.get(); });
    auto t2 = weft::create_task([&] { return q.get(); });
    weft::yield();
    t1.cancel();
    weft::yield();
    EXPECT_TRUE(t1.done());
    q.put("a");
    weft::yield();
    EXPECT_EQ("a", t2.get());
    EXPECT_THROW(t1.get(), weft::CancelledError);
  });
}

TEST(QueueGet, GetWithWaitingPutters) {
  weft::run([] {
    weft::Queue<std::string> q(1);
    auto a = weft::create_task([&] { q.put("a"); });
    auto b = weft::create_task([&] { q.put("b"); });
    EXPECT_EQ("a", q.get());
    EXPECT_EQ("b", q.get());
    a.get();
    b.get();
  });
}

TEST(QueueGet, WhyAreGettersWaiting) {
  weft::run([] {
    weft::Queue<int> q(1);
    const int n = 5;
    auto producer = weft::create_task([&] {
      for (int i = 0; i < n; ++i) q.put(i);
    });
    auto consumer = weft::create_task([&] {
      for (int i = 0; i < n; ++i) q.get();
    });
    producer.get();
    consumer.get();
    EXPECT_TRUE(q.empty());
  });
}

// asyncio uses wait_for(queue.get(), 0.1); a timer's cancel is the same here.
TEST(QueueGet, CancelledGettersNotBeingHeldInSelfGetters) {
  weft::run([] {
    weft::Queue<int> q(5);
    auto getter = weft::create_task([&] { return q.get(); });
    weft::get_running_loop().call_later(milliseconds(20), [getter]() mutable { getter.cancel(); });
    EXPECT_THROW(getter.get(), weft::CancelledError);
    // A stale waiter would swallow this wake-up; the new getter must get it.
    auto next = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put_nowait(3);
    EXPECT_EQ(3, next.get());
  });
}

// --- QueuePutTests ---------------------------------------------------------------

TEST(QueuePut, BlockingPut) {
  weft::run([] {
    weft::Queue<int> q;
    q.put(1);  // no maxsize: does not block
    EXPECT_EQ(1, q.get());
  });
}

TEST(QueuePut, BlockingPutWait) {
  weft::run([] {
    weft::Queue<int> q(1);
    bool finished = false;
    weft::get_running_loop().call_later(milliseconds(10), [&] { q.get_nowait(); });
    auto t = weft::create_task([&] {
      q.put(1);
      q.put(2);
      finished = true;
    });
    weft::yield();
    EXPECT_FALSE(finished);
    t.get();
    EXPECT_TRUE(finished);
    EXPECT_EQ(2, q.get_nowait());
  });
}

TEST(QueuePut, NonblockingPut) {
  weft::run([] {
    weft::Queue<int> q;
    q.put_nowait(1);
    EXPECT_EQ(1, q.get_nowait());
  });
}

TEST(QueuePut, GetCancelDropOnePendingReader) {
  weft::run([] {
    weft::Queue<int> q;
    auto reader = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put_nowait(1);
    q.put_nowait(2);
    reader.cancel();
    EXPECT_THROW(reader.get(), weft::CancelledError);
    auto again = weft::create_task([&] { return q.get(); });
    // If we got 2, 1 would have been dropped.
    EXPECT_EQ(1, again.get());
  });
}

TEST(QueuePut, GetCancelDropManyPendingReaders) {
  weft::run([] {
    weft::Queue<int> q;
    auto reader1 = weft::create_task([&] { return q.get(); });
    auto reader2 = weft::create_task([&] { return q.get(); });
    auto reader3 = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put_nowait(1);
    q.put_nowait(2);
    reader1.cancel();
    EXPECT_THROW(reader1.get(), weft::CancelledError);
    const int r3 = reader3.get();
    const int r2 = reader2.get();
    EXPECT_EQ((std::set<int>{1, 2}), (std::set<int>{r2, r3}));
  });
}

TEST(QueuePut, PutCancelDrop) {
  weft::run([] {
    weft::Queue<int> q(1);
    q.put_nowait(1);
    // Putting a second item has to block (qsize 1).
    auto writer = weft::create_task([&] { q.put(2); });
    weft::yield();
    EXPECT_EQ(1, q.get_nowait());
    writer.cancel();
    EXPECT_THROW(writer.get(), weft::CancelledError);
    auto again = weft::create_task([&] { q.put(2); });
    again.get();
    EXPECT_EQ(2, q.get_nowait());
    EXPECT_EQ(0u, q.qsize());
  });
}

TEST(QueuePut, NonblockingPutException) {
  weft::run([] {
    weft::Queue<int> q(1);
    q.put_nowait(1);
    EXPECT_THROW(q.put_nowait(2), weft::QueueFull);
  });
}

TEST(QueuePut, PutCancelled) {
  weft::run([] {
    weft::Queue<int> q;
    auto t = weft::create_task([&] {
      q.put(1);
      return true;
    });
    EXPECT_EQ(1, q.get());
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  });
}

TEST(QueuePut, PutCancelledRace) {
  weft::run([] {
    weft::Queue<std::string> q(1);
    auto put_a = weft::create_task([&] { q.put("a"); });
    auto put_b = weft::create_task([&] { q.put("b"); });
    auto put_c = weft::create_task([&] { q.put("X"); });
    weft::yield();
    EXPECT_TRUE(put_a.done());
    EXPECT_FALSE(put_b.done());
    put_c.cancel();
    weft::yield();
    EXPECT_TRUE(put_c.done());
    EXPECT_EQ("a", q.get_nowait());
    weft::yield();
    EXPECT_EQ("b", q.get_nowait());
    put_b.get();
    EXPECT_THROW(put_c.get(), weft::CancelledError);
    EXPECT_TRUE(q.empty());
  });
}

TEST(QueuePut, PutWithWaitingGetters) {
  weft::run([] {
    weft::Queue<std::string> q;
    auto t = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put("a");
    EXPECT_EQ("a", t.get());
  });
}

TEST(QueuePut, WhyArePuttersWaiting) {
  weft::run([] {
    weft::Queue<int> q(2);
    auto getter = weft::create_task([&] {
      weft::yield();
      const std::size_t num = q.qsize();
      for (std::size_t i = 0; i < num; ++i) q.get_nowait();
    });
    std::vector<weft::Task<void>> putters;
    for (int i = 0; i < 4; ++i) putters.push_back(weft::create_task([&q, i] { q.put(i); }));
    getter.get();
    for (auto& p : putters) p.get();
    EXPECT_EQ(2u, q.qsize());
  });
}

TEST(QueuePut, CancelledPutsNotBeingHeldInSelfPutters) {
  weft::run([] {
    weft::Queue<int> q(1);
    q.put_nowait(1);
    auto put_task = weft::create_task([&] { q.put(1); });
    weft::yield();
    put_task.cancel();
    EXPECT_THROW(put_task.get(), weft::CancelledError);
    // A stale putter would swallow this wake-up; the new putter must get it.
    auto next = weft::create_task([&] { q.put(2); });
    weft::yield();
    EXPECT_EQ(1, q.get_nowait());
    next.get();
    EXPECT_EQ(2, q.get_nowait());
  });
}

TEST(QueuePut, CancelledPutSilenceValueErrorException) {
  weft::run([] {
    weft::Queue<int> q(1);
    q.put_nowait(1);
    auto put_task = weft::create_task([&] { q.put(1); });
    weft::yield();
    q.get_nowait();     // takes the putter off the list and wakes it...
    put_task.cancel();  // ...which is cancelled before it resumes
    EXPECT_THROW(put_task.get(), weft::CancelledError);
    EXPECT_TRUE(q.empty());
  });
}

// --- LifoQueueTests, PriorityQueueTests --------------------------------------------

TEST(LifoQueue, Order) {
  weft::run([] {
    weft::LifoQueue<int> q;
    for (int i : {1, 3, 2}) q.put(i);
    std::vector<int> items;
    for (int i = 0; i < 3; ++i) items.push_back(q.get());
    EXPECT_EQ((std::vector<int>{2, 3, 1}), items);
  });
}

TEST(PriorityQueue, Order) {
  weft::run([] {
    weft::PriorityQueue<int> q;
    for (int i : {1, 3, 2}) q.put(i);
    std::vector<int> items;
    for (int i = 0; i < 3; ++i) items.push_back(q.get());
    EXPECT_EQ((std::vector<int>{1, 2, 3}), items);
  });
}

TEST(PriorityQueue, CompareAndMoveOnlyItems) {
  struct ByValue {
    bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a < *b; }
  };
  weft::run([] {
    weft::PriorityQueue<std::unique_ptr<int>, ByValue> q;
    for (int i : {5, 1, 4, 2, 3}) q.put_nowait(std::unique_ptr<int>(new int(i)));
    std::vector<int> items;
    while (!q.empty()) items.push_back(*q.get());
    EXPECT_EQ((std::vector<int>{1, 2, 3, 4, 5}), items);
    weft::PriorityQueue<int, std::greater<int>> highest_first;
    for (int i : {1, 3, 2}) highest_first.put(i);
    EXPECT_EQ(3, highest_first.get());
  });
}

// --- QueueJoinTests (each kind of queue) ------------------------------------------

// The three kinds, by item type (PriorityQueue's second parameter keeps a
// template template parameter from matching in C++14).
struct FifoKind {
  template <class T>
  using type = weft::Queue<T>;
  static const char* name() { return "Queue"; }
};
struct LifoKind {
  template <class T>
  using type = weft::LifoQueue<T>;
  static const char* name() { return "LifoQueue"; }
};
struct PriorityKind {
  template <class T>
  using type = weft::PriorityQueue<T>;
  static const char* name() { return "PriorityQueue"; }
};
struct KindName {
  template <class Kind>
  static std::string GetName(int) {
    return Kind::name();
  }
};

template <class Kind>
class QueueJoin : public ::testing::Test {};
template <class Kind>
class QueueShutdown : public ::testing::Test {};
using QueueKinds = ::testing::Types<FifoKind, LifoKind, PriorityKind>;
TYPED_TEST_SUITE(QueueJoin, QueueKinds, KindName);
TYPED_TEST_SUITE(QueueShutdown, QueueKinds, KindName);

TYPED_TEST(QueueJoin, TaskDoneUnderflow) {
  weft::run([] {
    typename TypeParam::template type<int> q;
    EXPECT_THROW(q.task_done(), std::invalid_argument);
  });
}

TYPED_TEST(QueueJoin, TaskDone) {
  weft::run([] {
    typename TypeParam::template type<int> q;
    for (int i = 0; i < 100; ++i) q.put_nowait(i);
    int accumulator = 0;
    bool running = true;
    // Two workers get items and call task_done() after each.
    std::vector<weft::Task<void>> workers;
    for (int w = 0; w < 2; ++w) {
      workers.push_back(weft::create_task([&] {
        while (running) {
          accumulator += q.get();
          q.task_done();
        }
      }));
    }
    q.join();
    EXPECT_EQ(4950, accumulator);
    running = false;
    for (std::size_t i = 0; i < workers.size(); ++i) q.put_nowait(0);
    for (auto& w : workers) w.get();
  });
}

TYPED_TEST(QueueJoin, JoinEmptyQueue) {
  weft::run([] {
    typename TypeParam::template type<int> q;
    q.join();
    q.join();
  });
}

// Once woken, join() returns even if an item was put before it resumed
// (asyncio: it waits on an Event that was set).
TYPED_TEST(QueueJoin, WokenJoinerReturnsDespiteANewItem) {
  weft::run([] {
    typename TypeParam::template type<int> q;
    q.put_nowait(1);
    auto joiner = weft::create_task([&] { q.join(); });
    weft::yield();
    q.get_nowait();
    q.task_done();    // wakes the joiner...
    q.put_nowait(2);  // ...which has not resumed yet
    joiner.get();
    EXPECT_EQ(1u, q.qsize());
  });
}

// --- QueueShutdownTests (each kind of queue) --------------------------------------

TYPED_TEST(QueueShutdown, ShutdownEmpty) {
  weft::run([] {
    typename TypeParam::template type<std::string> q;
    auto get_task = weft::create_task([&] { return q.get(); });
    weft::yield();  // the get is pending before the shutdown
    q.shutdown(false);
    EXPECT_EQ(0u, q.qsize());
    q.join();
    weft::yield();
    EXPECT_TRUE(get_task.done());
    EXPECT_THROW(get_task.get(), weft::QueueShutDown);
    EXPECT_THROW(q.put("data"), weft::QueueShutDown);
    EXPECT_THROW(q.put_nowait("data"), weft::QueueShutDown);
    EXPECT_THROW(q.get(), weft::QueueShutDown);
    EXPECT_THROW(q.get_nowait(), weft::QueueShutDown);
  });
}

TYPED_TEST(QueueShutdown, ShutdownNonempty) {
  weft::run([] {
    typename TypeParam::template type<std::string> q(1);
    q.put_nowait("data");
    auto join_task = weft::create_task([&] { q.join(); });
    auto put_task = weft::create_task([&] { q.put("data2"); });
    weft::yield();
    EXPECT_FALSE(put_task.done());
    q.shutdown(false);  // unfinished tasks: 1 -> 1
    EXPECT_EQ(1u, q.qsize());
    weft::yield();
    EXPECT_TRUE(put_task.done());
    EXPECT_THROW(put_task.get(), weft::QueueShutDown);
    EXPECT_EQ("data", q.get());  // the queued item is still there
    weft::yield();
    EXPECT_FALSE(join_task.done());
    EXPECT_THROW(q.put("data"), weft::QueueShutDown);
    EXPECT_THROW(q.put_nowait("data"), weft::QueueShutDown);
    EXPECT_THROW(q.get(), weft::QueueShutDown);
    EXPECT_THROW(q.get_nowait(), weft::QueueShutDown);
    q.task_done();
    weft::yield();
    EXPECT_TRUE(join_task.done());
    join_task.get();
    EXPECT_THROW(q.task_done(), std::invalid_argument);
  });
}

TYPED_TEST(QueueShutdown, ShutdownImmediate) {
  weft::run([] {
    typename TypeParam::template type<std::string> q;
    q.put_nowait("data");
    auto join_task = weft::create_task([&] { q.join(); });
    q.shutdown(true);  // unfinished tasks: 1 -> 0
    EXPECT_EQ(0u, q.qsize());
    weft::yield();
    EXPECT_TRUE(join_task.done());
    join_task.get();
    EXPECT_THROW(q.put("data"), weft::QueueShutDown);
    EXPECT_THROW(q.put_nowait("data"), weft::QueueShutDown);
    EXPECT_THROW(q.get(), weft::QueueShutDown);
    EXPECT_THROW(q.get_nowait(), weft::QueueShutDown);
    EXPECT_THROW(q.task_done(), std::invalid_argument);
  });
}

TYPED_TEST(QueueShutdown, ShutdownImmediateWithUnfinished) {
  weft::run([] {
    typename TypeParam::template type<std::string> q;
    q.put_nowait("data");
    q.put_nowait("data");
    auto join_task = weft::create_task([&] { q.join(); });
    EXPECT_EQ("data", q.get());
    q.shutdown(true);  // unfinished tasks: 2 -> 1
    EXPECT_EQ(0u, q.qsize());
    weft::yield();
    EXPECT_FALSE(join_task.done());
    EXPECT_THROW(q.put("data"), weft::QueueShutDown);
    EXPECT_THROW(q.put_nowait("data"), weft::QueueShutDown);
    EXPECT_THROW(q.get(), weft::QueueShutDown);
    EXPECT_THROW(q.get_nowait(), weft::QueueShutDown);
    q.task_done();
    EXPECT_THROW(q.task_done(), std::invalid_argument);
    weft::yield();
    EXPECT_TRUE(join_task.done());
    join_task.get();
  });
}

// Blocked putters and getters of a shut-down queue wake and throw; a
// putter's item never entered the queue and is still its own.
TYPED_TEST(QueueShutdown, WakesBlockedPuttersAndGetters) {
  weft::run([] {
    typename TypeParam::template type<std::unique_ptr<int>> full(1);
    typename TypeParam::template type<std::unique_ptr<int>> empty;
    full.put_nowait(std::unique_ptr<int>(new int(1)));
    std::unique_ptr<int> kept(new int(2));
    auto putter = weft::create_task([&] { full.put(std::move(kept)); });
    auto getter = weft::create_task([&] { return empty.get(); });
    weft::yield();
    full.shutdown();
    empty.shutdown();
    full.shutdown();  // idempotent
    EXPECT_THROW(putter.get(), weft::QueueShutDown);
    EXPECT_THROW(getter.get(), weft::QueueShutDown);
    ASSERT_NE(nullptr, kept);
    EXPECT_EQ(2, *kept);
    EXPECT_EQ(1, *full.get_nowait());  // drained after a plain shutdown
  });
}

// --- woken then cancelled: the races, made deterministic -------------------------
//
// Each test wakes a parked task and cancels it in the same loop iteration,
// before the woken task resumes.

TEST(QueueCancel, WokenThenCancelledGetterPassesTheWakeUpOn) {
  weft::run([] {
    weft::Queue<int> q;
    auto g1 = weft::create_task([&] { return q.get(); });
    auto g2 = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put_nowait(1);  // wakes g1
    g1.cancel();      // before g1 resumes
    EXPECT_THROW(g1.get(), weft::CancelledError);
    EXPECT_EQ(1, g2.get());  // the wake-up was passed on
    EXPECT_TRUE(q.empty());
  });
}

TEST(QueueCancel, WokenThenCancelledGetterLeavesTheItemQueued) {
  weft::run([] {
    weft::Queue<int> q;
    auto g = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put_nowait(1);
    g.cancel();
    EXPECT_THROW(g.get(), weft::CancelledError);
    EXPECT_EQ(1u, q.qsize());
    EXPECT_EQ(1, q.get_nowait());
  });
}

TEST(QueueCancel, WokenThenCancelledPutterPassesTheWakeUpOn) {
  weft::run([] {
    weft::Queue<std::unique_ptr<int>> q(1);
    q.put_nowait(std::unique_ptr<int>(new int(0)));
    std::unique_ptr<int> first(new int(1));
    std::unique_ptr<int> second(new int(2));
    auto p1 = weft::create_task([&] { q.put(std::move(first)); });
    auto p2 = weft::create_task([&] { q.put(std::move(second)); });
    weft::yield();
    EXPECT_EQ(0, *q.get_nowait());  // wakes p1
    p1.cancel();                    // before p1 resumes
    EXPECT_THROW(p1.get(), weft::CancelledError);
    p2.get();  // the wake-up was passed on
    EXPECT_EQ(2, *q.get_nowait());
    EXPECT_TRUE(q.empty());
    ASSERT_NE(nullptr, first);  // never put, so still the caller's
    EXPECT_EQ(1, *first);
  });
}

TEST(QueueCancel, GetterCancelledBeforeItsWakeUpIsSkipped) {
  weft::run([] {
    weft::Queue<int> q;
    auto g1 = weft::create_task([&] { return q.get(); });
    auto g2 = weft::create_task([&] { return q.get(); });
    weft::yield();
    g1.cancel();      // g1 is woken by its cancellation...
    q.put_nowait(5);  // ...so the wake-up goes to g2
    EXPECT_EQ(5, g2.get());
    EXPECT_THROW(g1.get(), weft::CancelledError);
  });
}

// asyncio lets a task take an item that a woken getter has not collected
// yet; the getter then waits again.
TEST(QueueCancel, WokenGetterWhoseItemWasTakenWaitsAgain) {
  weft::run([] {
    weft::Queue<int> q;
    auto g = weft::create_task([&] { return q.get(); });
    weft::yield();
    q.put_nowait(1);                // wakes g
    EXPECT_EQ(1, q.get_nowait());  // taken before g resumes
    yield_n(3);
    EXPECT_FALSE(g.done());
    q.put_nowait(2);
    EXPECT_EQ(2, g.get());
  });
}

TEST(QueueCancel, JoinerCancelled) {
  weft::run([] {
    weft::Queue<int> q;
    q.put_nowait(1);
    auto joiner = weft::create_task([&] { q.join(); });
    weft::yield();
    joiner.cancel();
    EXPECT_THROW(joiner.get(), weft::CancelledError);
    q.get_nowait();
    q.task_done();
    q.join();
  });
}

// --- fairness ------------------------------------------------------------------------

TEST(QueueFairness, GettersAreServedInTheOrderTheyWaited) {
  weft::run([] {
    weft::Queue<int> q;
    std::vector<weft::Task<int>> getters;
    for (int i = 0; i < 5; ++i) getters.push_back(weft::create_task([&] { return q.get(); }));
    weft::yield();
    for (int i = 0; i < 5; ++i) q.put_nowait(i);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(i, getters[static_cast<std::size_t>(i)].get());
  });
}

TEST(QueueFairness, PuttersEnterInTheOrderTheyWaited) {
  weft::run([] {
    weft::Queue<int> q(1);
    q.put_nowait(-1);
    std::vector<weft::Task<void>> putters;
    for (int i = 0; i < 5; ++i) putters.push_back(weft::create_task([&q, i] { q.put(i); }));
    weft::yield();
    std::vector<int> got;
    for (int i = 0; i < 6; ++i) got.push_back(q.get());
    EXPECT_EQ((std::vector<int>{-1, 0, 1, 2, 3, 4}), got);
    for (auto& p : putters) p.get();
  });
}

// --- where calls may come from -------------------------------------------------------

TEST(QueueCalls, BlockingCallsThrowOutsideATaskEvenIfTheyWouldNotBlock) {
  weft::run([] {
    weft::Queue<int> q;
    q.put_nowait(1);
    bool checked = false;
    weft::get_running_loop().call_soon([&] {
      EXPECT_THROW(q.get(), weft::InvalidStateError);
      EXPECT_THROW(q.put(2), weft::InvalidStateError);
      EXPECT_THROW(q.join(), weft::InvalidStateError);
      // The non-blocking calls work from a plain callback.
      q.put_nowait(2);
      EXPECT_EQ(1, q.get_nowait());
      q.task_done();
      EXPECT_EQ(1u, q.qsize());
      q.shutdown();
      checked = true;
    });
    weft::yield();
    EXPECT_TRUE(checked);
    EXPECT_EQ(2, q.get());
  });
}

TEST(QueueCalls, CallsFromAnotherThreadThrow) {
  weft::run([] {
    weft::Queue<int> q;
    int refused = 0;
    std::thread other([&] {
      try {
        q.put_nowait(1);
      } catch (const weft::InvalidStateError&) {
        ++refused;
      }
      try {
        q.qsize();
      } catch (const weft::InvalidStateError&) {
        ++refused;
      }
    });
    other.join();
    EXPECT_EQ(2, refused);
    EXPECT_TRUE(q.empty());
  });
}

TEST(QueueCalls, AQueueBelongsToARunningOrGivenLoop) {
  EXPECT_THROW(weft::Queue<int> q, weft::InvalidStateError);
  weft::Loop loop;
  weft::Queue<int> q(loop, 1);
  EXPECT_THROW(q.put_nowait(1), weft::InvalidStateError);  // the loop does not run
  EXPECT_EQ(5, weft::run_until_complete(loop, [&] {
              q.put(5);
              return q.get();
            }));
}

// A loop closed by hand unwinds its parked tasks while no loop is
// "running"; their clean-up may still use the queue.
TEST(QueueCalls, TasksUnwoundByAClosingLoopMayStillUseTheQueue) {
  weft::Loop loop;
  weft::Queue<int> q(loop);
  bool cleaned_up = false;
  weft::create_task(loop, [&] {
    try {
      q.get();
    } catch (const weft::CancelledError&) {
      q.put_nowait(1);
      cleaned_up = true;
      throw;
    }
  });
  loop.run_once(false);  // start it: it parks in get()
  loop.close();
  EXPECT_TRUE(cleaned_up);
}

// --- a queue destroyed under parked tasks ------------------------------------------

TEST(QueueDestroyed, ParkedTasksWakeAndThrow) {
  weft::run([] {
    std::unique_ptr<weft::Queue<int>> empty(new weft::Queue<int>());
    std::unique_ptr<weft::Queue<int>> full(new weft::Queue<int>(1));
    full->put_nowait(1);
    auto getter = weft::create_task([&] { return empty->get(); });
    auto putter = weft::create_task([&] { full->put(2); });
    auto joiner = weft::create_task([&] { full->join(); });
    weft::yield();
    empty.reset();
    full.reset();
    EXPECT_THROW(getter.get(), weft::InvalidStateError);
    EXPECT_THROW(putter.get(), weft::InvalidStateError);
    EXPECT_THROW(joiner.get(), weft::InvalidStateError);
  });
}

TEST(QueueDestroyed, WokenGetterOnItsWayDoesNotTouchTheQueue) {
  weft::run([] {
    std::unique_ptr<weft::Queue<int>> q(new weft::Queue<int>());
    auto getter = weft::create_task([&] { return q->get(); });
    weft::yield();
    q->put_nowait(1);  // wakes the getter...
    q.reset();         // ...whose queue is gone before it resumes
    EXPECT_THROW(getter.get(), weft::InvalidStateError);
  });
}

// --- stress --------------------------------------------------------------------------

// Items 0..n-1, each to be seen exactly once.
struct Tally {
  explicit Tally(std::size_t n) : seen(n, 0) {}
  void see(uint32_t item) {
    ++seen[item];
    sum += item;
    ++count;
  }
  bool each_once() const {
    for (uint8_t s : seen) {
      if (s != 1) return false;
    }
    return true;
  }
  std::vector<uint8_t> seen;
  uint64_t sum = 0;
  uint64_t count = 0;
};

std::size_t stress_items() { return weft::detail::running_on_valgrind() ? 20000 : 1000000; }

TEST(QueueStress, SixteenProducersSixteenConsumers) {
  const std::size_t n = stress_items();
  const std::size_t kTasks = 16;
  Tally tally(n);
  weft::run([&] {
    weft::Queue<uint32_t> q(64);
    std::vector<weft::Task<void>> producers;
    std::vector<weft::Task<void>> consumers;
    for (std::size_t p = 0; p < kTasks; ++p) {
      producers.push_back(weft::create_task([&, p] {
        for (std::size_t i = p; i < n; i += kTasks) q.put(static_cast<uint32_t>(i));
      }));
      consumers.push_back(weft::create_task([&] {
        try {
          for (;;) {
            tally.see(q.get());
            q.task_done();
          }
        } catch (const weft::QueueShutDown&) {
        }
      }));
    }
    for (auto& p : producers) p.get();
    q.join();
    q.shutdown();
    for (auto& c : consumers) c.get();
  });
  EXPECT_EQ(n, tally.count);
  EXPECT_EQ(uint64_t{n} * (n - 1) / 2, tally.sum);
  EXPECT_TRUE(tally.each_once());
}

// Producers and consumers are cancelled at pseudo-random moments and
// replaced. A producer whose put() was cancelled hands its item back for
// another to put; every item is got exactly once all the same.
TEST(QueueStress, CancellationsLoseNothing) {
  const std::size_t n = stress_items() / 10;
  Tally got(n);
  weft::run([&] {
    weft::Queue<uint32_t> q(4);
    std::size_t next_item = 0;
    std::size_t put_count = 0;
    std::vector<uint32_t> retry;  // items whose put() was cancelled
    std::function<void()> producer = [&] {
      for (;;) {
        uint32_t item;
        if (!retry.empty()) {
          item = retry.back();
          retry.pop_back();
        } else if (next_item < n) {
          item = static_cast<uint32_t>(next_item++);
        } else {
          return;
        }
        try {
          q.put(item);
        } catch (...) {
          retry.push_back(item);  // not put: the caller still has it
          throw;
        }
        ++put_count;
      }
    };
    std::function<void()> consumer = [&] {
      try {
        for (;;) got.see(q.get());
      } catch (const weft::QueueShutDown&) {
      }
    };
    std::vector<weft::Task<void>> producers, consumers;
    for (int i = 0; i < 4; ++i) {
      producers.push_back(weft::create_task(producer));
      consumers.push_back(weft::create_task(consumer));
    }
    uint64_t x = 42;
    int cancels = 0;
    while (put_count < n) {
      x = x * 6364136223846793005u + 1442695040888963407u;
      yield_n(1 + static_cast<int>((x >> 33) % 3));
      const bool producer_side = ((x >> 20) & 1) != 0;
      std::vector<weft::Task<void>>& side = producer_side ? producers : consumers;
      weft::Task<void>& victim = side[(x >> 40) % side.size()];
      if (victim.cancel()) ++cancels;
      try {
        victim.get();
      } catch (const weft::CancelledError&) {
      }
      victim = weft::create_task(producer_side ? producer : consumer);
    }
    for (auto& p : producers) p.get();
    q.shutdown();
    for (auto& c : consumers) c.get();
    EXPECT_GT(cancels, static_cast<int>(n / 100));
  });
  EXPECT_EQ(n, got.count);
  EXPECT_TRUE(got.each_once());
}
}  // namespace

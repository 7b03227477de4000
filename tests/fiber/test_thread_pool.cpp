// Tests of the default executor's thread pool (fiber/thread_pool.hpp):
// lazy workers up to a maximum, FIFO order, reuse of idle workers, idle
// retirement and shutdown. Modelled on CPython's
// Lib/test/test_concurrent_futures/test_thread_pool.py.
#include "fiber/thread_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "weft/reactor/errors.hpp"

namespace {

using weft::detail::ThreadPool;
using std::chrono::milliseconds;

// Polls `done` until it holds or a generous limit passes.
template <class Pred>
bool eventually(Pred done, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// A gate that jobs wait on until the test opens it.
class Gate {
 public:
  void open() { opened_.set_value(); }
  void wait() { shared_.wait(); }

 private:
  std::promise<void> opened_;
  std::shared_future<void> shared_ = opened_.get_future().share();
};

TEST(ThreadPool, DefaultMaxWorkersIsAsyncios) {
  const unsigned cpus = std::thread::hardware_concurrency();
  const std::size_t expected = std::min<std::size_t>(32, (cpus == 0 ? 1 : cpus) + 4);
  EXPECT_EQ(expected, ThreadPool::default_max_workers());
}

TEST(ThreadPool, StartsWorkersOnlyWhenNeeded) {
  ThreadPool pool(4, ThreadPool::kPersist);
  EXPECT_EQ(0u, pool.worker_count());
  std::atomic<int> ran{0};
  pool.submit([&] { ++ran; });
  ASSERT_TRUE(eventually([&] { return ran == 1 && pool.idle_count() == 1; }));
  EXPECT_EQ(1u, pool.worker_count());
  // Jobs submitted one at a time are taken by the idle worker, not new ones
  // (thread.py, _adjust_thread_count).
  for (int i = 0; i < 20; ++i) {
    pool.submit([&] { ++ran; });
    ASSERT_TRUE(eventually([&] { return ran == i + 2 && pool.idle_count() == 1; }));
  }
  EXPECT_EQ(1u, pool.worker_count());
}

TEST(ThreadPool, NeverExceedsMaxWorkers) {
  ThreadPool pool(3, ThreadPool::kPersist);
  Gate gate;
  std::atomic<int> started{0};
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) {
    pool.submit([&] {
      ++started;
      gate.wait();
      ++ran;
    });
  }
  ASSERT_TRUE(eventually([&] { return started == 3; }));
  EXPECT_EQ(3u, pool.worker_count());
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(3, started.load());  // the other seven wait their turn
  gate.open();
  ASSERT_TRUE(eventually([&] { return ran == 10; }));
  EXPECT_EQ(3u, pool.worker_count());
}

TEST(ThreadPool, RunsJobsInFifoOrder) {
  ThreadPool pool(1, ThreadPool::kPersist);
  Gate gate;
  std::mutex mutex;
  std::vector<int> order;
  pool.submit([&] { gate.wait(); });  // holds the only worker while we queue
  for (int i = 0; i < 50; ++i) {
    pool.submit([&, i] {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(i);
    });
  }
  gate.open();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return order.size() == 50;
  }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(i, order[static_cast<std::size_t>(i)]);
}

TEST(ThreadPool, RunsJobsOnOtherThreads) {
  ThreadPool pool(2, ThreadPool::kPersist);
  std::promise<std::thread::id> where;
  pool.submit([&] { where.set_value(std::this_thread::get_id()); });
  EXPECT_NE(std::this_thread::get_id(), where.get_future().get());
}

TEST(ThreadPool, IdleWorkersRetireAfterTheTimeout) {
  ThreadPool pool(4, milliseconds(50));
  Gate gate;
  std::atomic<int> ran{0};
  for (int i = 0; i < 4; ++i) {
    pool.submit([&] {
      gate.wait();
      ++ran;
    });
  }
  ASSERT_TRUE(eventually([&] { return pool.worker_count() == 4; }));
  gate.open();
  ASSERT_TRUE(eventually([&] { return ran == 4 && pool.worker_count() == 0; }));
  EXPECT_EQ(0u, pool.idle_count());
  // A retired pool starts workers again on demand.
  pool.submit([&] { ++ran; });
  ASSERT_TRUE(eventually([&] { return ran == 5; }));
}

TEST(ThreadPool, ShutdownRunsQueuedJobsAndJoins) {
  ThreadPool pool(2, ThreadPool::kPersist);
  std::atomic<int> ran{0};
  for (int i = 0; i < 20; ++i) {
    pool.submit([&] {
      std::this_thread::sleep_for(milliseconds(1));
      ++ran;
    });
  }
  pool.shutdown();  // ThreadPoolExecutor.shutdown(wait=True)
  EXPECT_EQ(20, ran.load());
  EXPECT_EQ(0u, pool.worker_count());
  EXPECT_THROW(pool.submit([] {}), weft::InvalidStateError);
  pool.shutdown();  // idempotent
}

TEST(ThreadPool, ShutdownWaitsForARunningJob) {
  ThreadPool pool(2, ThreadPool::kPersist);
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  pool.submit([&] {
    started = true;
    std::this_thread::sleep_for(milliseconds(50));
    finished = true;
  });
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  pool.shutdown();
  EXPECT_TRUE(finished.load());
}

TEST(ThreadPool, DestructorShutsDown) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(1, ThreadPool::kPersist);
    for (int i = 0; i < 5; ++i) pool.submit([&] { ++ran; });
  }
  EXPECT_EQ(5, ran.load());
}

TEST(ThreadPool, JobsMaySubmitMoreJobs) {
  ThreadPool pool(2, ThreadPool::kPersist);
  std::atomic<int> ran{0};
  pool.submit([&] {
    ++ran;
    pool.submit([&] { ++ran; });
  });
  ASSERT_TRUE(eventually([&] { return ran == 2; }));
}

TEST(ThreadPool, ShutdownFromAJobJoinsTheOthers) {
  // What exit() called inside a to_thread function does to the default
  // executor: the job's own worker cannot join itself and is detached, the
  // others are joined. The detached worker touches the pool once more after
  // its job returns, so the pool lives until the process exits (as the
  // default one does).
  static std::vector<std::unique_ptr<ThreadPool>> kept;
  kept.emplace_back(new ThreadPool(2, ThreadPool::kPersist));
  ThreadPool* const pool = kept.back().get();
  std::promise<void> shut;
  pool->submit([&] {
    pool->shutdown();
    shut.set_value();
  });
  shut.get_future().wait();
  EXPECT_EQ(0u, pool->worker_count());
  EXPECT_THROW(pool->submit([] {}), weft::InvalidStateError);
}

}  // namespace

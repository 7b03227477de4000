// fiber/thread_pool.cpp — the default executor (concurrent.futures'
// ThreadPoolExecutor, Lib/concurrent/futures/thread.py).
#include "fiber/thread_pool.hpp"

#include <algorithm>
#include <system_error>
#include <utility>

#include "weft/reactor/errors.hpp"

namespace weft {
namespace detail {

constexpr ThreadPool::clock::duration ThreadPool::kPersist;

std::size_t ThreadPool::default_max_workers() noexcept {
  const unsigned cpus = std::thread::hardware_concurrency();  // 0 if unknown
  return std::min<std::size_t>(32, (cpus == 0 ? 1 : cpus) + 4);
}

ThreadPool::ThreadPool(std::size_t max_workers, clock::duration idle_timeout)
    : max_workers_(std::max<std::size_t>(max_workers, 1)), idle_timeout_(idle_timeout) {}

ThreadPool::~ThreadPool() { shutdown(); }

void ThreadPool::submit(Callback job) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shut_down_) throw InvalidStateError("weft::to_thread: cannot schedule new work after the thread pool shut down");
  queue_.push_back(std::move(job));
  // thread.py, ThreadPoolExecutor._adjust_thread_count: "if idle threads are
  // available, don't spin new threads". A waiting worker is counted in idle_
  // until it takes a job, so idle_ >= queue_.size() means every queued job,
  // this one included, has a waiting worker to wake.
  if (idle_ >= queue_.size()) {
    job_ready_.notify_one();
    return;
  }
  if (workers_.size() < max_workers_) {
    try {
      workers_.emplace_back([this] { work(); });
    } catch (const std::system_error&) {
      // Out of threads: a busy worker will take the job in its turn, unless
      // there is none.
      if (workers_.empty()) {
        queue_.pop_back();
        throw;
      }
    }
  }
  // Otherwise every worker is busy and the job waits for the first free one.
}

void ThreadPool::shutdown() noexcept {
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) return;
    shut_down_ = true;
    workers.swap(workers_);
  }
  job_ready_.notify_all();
  for (std::thread& worker : workers) {
    // A job that ends the process (exit() from a to_thread function) runs
    // the exit hook on a worker, which cannot join itself.
    if (worker.get_id() == std::this_thread::get_id()) {
      worker.detach();
    } else {
      worker.join();
    }
  }
}

std::size_t ThreadPool::worker_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return workers_.size();
}

std::size_t ThreadPool::idle_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_;
}

// A worker's life: take jobs in FIFO order; when there is none, wait for one
// up to the idle timeout. It ends when the pool shuts down and the queue is
// empty (shutdown() joins it), or when the timeout passes (it detaches
// itself, since nobody will join it).
void ThreadPool::work() noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!queue_.empty()) {
      Callback job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      job();
      job.reset();  // the job's captures die outside the lock too
      lock.lock();
      continue;
    }
    if (shut_down_) return;
    const auto has_work = [this] { return !queue_.empty() || shut_down_; };
    ++idle_;
    bool woken = true;
    if (idle_timeout_ == kPersist) {
      job_ready_.wait(lock, has_work);
    } else {
      woken = job_ready_.wait_for(lock, idle_timeout_, has_work);
    }
    --idle_;
    if (!woken) {
      retire_current_worker();
      return;
    }
  }
}

// Called with mutex_ held by a worker whose idle timeout passed (so the pool
// is not shut down and the worker is still in workers_).
void ThreadPool::retire_current_worker() {
  const std::thread::id self = std::this_thread::get_id();
  for (std::thread& worker : workers_) {
    if (worker.get_id() == self) {
      worker.detach();
      std::swap(worker, workers_.back());
      workers_.pop_back();
      return;
    }
  }
}

// --- the process's default executor ------------------------------------------------

namespace {

// Shuts the default executor down during static destruction; see the top of
// thread_pool.hpp for why the pool itself is never destroyed.
struct ShutdownAtExit {
  ThreadPool& pool;
  ~ShutdownAtExit() { pool.shutdown(); }
};

}  // namespace

ThreadPool& default_executor() {
  static ThreadPool* const pool = new ThreadPool(ThreadPool::default_max_workers(), std::chrono::seconds(60));
  static const ShutdownAtExit at_exit{*pool};
  (void)at_exit;
  return *pool;
}

void shutdown_default_executor() noexcept { default_executor().shutdown(); }

}  // namespace detail
}  // namespace weft

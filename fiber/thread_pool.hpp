// fiber/thread_pool.hpp — internal header of fiber/ (not installed).
//
// ThreadPool is asyncio's default executor: the
// concurrent.futures.ThreadPoolExecutor that loop.run_in_executor(None, fn)
// and asyncio.to_thread() use (Lib/concurrent/futures/thread.py). It runs
// jobs on worker threads in FIFO order, starting workers only when no idle
// one can take a job, up to a maximum.
//
//   submit(job) ──▶ queue_ (FIFO) ──▶ an idle worker, or a new one while
//                                      workers_.size() < max_workers
//
// weft has one default executor per process, shared by every loop, where
// asyncio has one per loop (loop._default_executor). weft loops are one per
// thread and cheap to make (LoopThread, a weft::run() per request thread), so
// pools per loop would multiply idle threads, and each pool would have to be
// joined when its loop closes: asyncio.run() does that
// (loop.shutdown_default_executor()), which makes it wait for every function
// still running in the pool. weft::run() does not wait: a function that
// outlives its loop finishes in the background and its result is dropped
// (see ThreadCall in weft/fiber/threads.hpp for how nothing dangles).
//
// Lifetime of the default executor: made on first use and never destroyed,
// so that a to_thread() made during static destruction finds a shut-down
// pool (InvalidStateError) rather than a destroyed one. At exit a static
// hook calls shutdown(): queued jobs still run, idle workers wake and end,
// and the hook joins them all, waiting for functions still running, as
// Python joins its executor threads at interpreter exit (thread.py,
// _python_exit). So no joinable std::thread is ever destroyed, and Valgrind
// sees every worker thread end.
//
// Thread safety: every member function may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "weft/reactor/callback.hpp"

namespace weft {
namespace detail {

class ThreadPool {
 public:
  using clock = std::chrono::steady_clock;
  // An idle timeout of kPersist keeps idle workers until shutdown().
  static constexpr clock::duration kPersist = clock::duration::max();

  // asyncio's default: min(32, CPU count + 4) workers (concurrent.futures
  // thread.py, ThreadPoolExecutor.__init__), the CPU count being 1 if the
  // standard library cannot tell it.
  static std::size_t default_max_workers() noexcept;

  // A pool of at most `max_workers` (at least 1) threads, none started yet.
  // A worker idle for `idle_timeout` ends (an extra: ThreadPoolExecutor's
  // workers live as long as the pool).
  ThreadPool(std::size_t max_workers, clock::duration idle_timeout);
  // shutdown().
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `job` to run once on a worker thread, after every job submitted
  // before it has been taken. The job must not throw. Throws
  // InvalidStateError after shutdown(), and std::system_error if no worker
  // exists and none can be started (the job is then dropped, on the calling
  // thread).
  void submit(Callback job);

  // ThreadPoolExecutor.shutdown(wait=True): refuses new jobs, lets the
  // workers run the jobs already queued, and joins them, waiting for jobs
  // still running. Idempotent; a second concurrent call returns at once.
  // Called from a job itself, it joins every other worker and leaves its own
  // thread to end once the job returns.
  void shutdown() noexcept;

  // Introspection, for tests: threads started and not ended, and those of
  // them waiting for a job.
  std::size_t worker_count() const;
  std::size_t idle_count() const;

 private:
  void work() noexcept;
  void retire_current_worker();

  mutable std::mutex mutex_;
  std::condition_variable job_ready_;
  std::deque<Callback> queue_;          // guarded by mutex_
  std::vector<std::thread> workers_;    // guarded; joinable, not yet ended
  std::size_t idle_ = 0;                // guarded; workers waiting on job_ready_
  bool shut_down_ = false;              // guarded
  const std::size_t max_workers_;
  const clock::duration idle_timeout_;
};

// The process's default executor (see the top of this file): made on first
// use with default_max_workers() workers that end after 60 s idle.
ThreadPool& default_executor();

// asyncio loop.shutdown_default_executor(), for the whole process: shuts the
// default executor down (see ThreadPool::shutdown()); later to_thread() calls
// throw InvalidStateError. Runs by itself at exit. weft::run() does not call
// it, since other loops may still be using the pool.
void shutdown_default_executor() noexcept;

}  // namespace detail
}  // namespace weft

// weft/fiber/threads.hpp — public header; includes only public headers and
// the standard library.
//
// Crossing between ordinary threads and a loop, as asyncio's threads.py and
// run_coroutine_threadsafe (Lib/asyncio/tasks.py):
//
//   asyncio                                     weft
//   await asyncio.to_thread(f)                  weft::to_thread(f)
//   await loop.run_in_executor(None, f)         weft::to_thread(f)
//   asyncio.run_coroutine_threadsafe(c, loop)   weft::run_coroutine_threadsafe(loop, f)
//   (a thread running loop.run_forever())       weft::LoopThread (an extra)
//
// to_thread() sends blocking work out of the loop: f runs on a worker thread
// and only the calling task waits. run_coroutine_threadsafe() and LoopThread
// go the other way: ordinary threads (legacy code) hand work to a loop and
// wait for it on a std::future. Ordinary threads never run on a fiber.
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

#include "weft/export.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/tasks.hpp"

namespace weft {
namespace detail {

// The shared state of one to_thread() call, between the task that waits on
// the loop's thread and the worker that runs the function.
//
// It is owned through std::shared_ptr (an atomic count: it crosses threads)
// by the waiting task, by the pool's queued job, and, once the function has
// returned, by the completion callback queued on the loop; the last owner
// frees it, on whichever thread that is.
//
// Invariants:
//   - loop_ (guarded by mutex_) is set exactly while a task waits on the
//     call. The task clears it before it leaves to_thread(), and a loop
//     cannot be destroyed while one of its tasks is inside to_thread()
//     (closing a loop unwinds its tasks first), so a worker that finds
//     loop_ set under mutex_ may post to that loop;
//   - the function is called and destroyed on the worker (a job the pool
//     refused is never called, and dies with the state); the value or
//     exception is written there before the completion is posted, and read
//     by the task only after that completion woke it (the loop's queue lock
//     and mutex_ order the two);
//   - waker_ is touched on the loop's thread only.
class WEFT_API ThreadCall {
 public:
  ThreadCall(const ThreadCall&) = delete;
  ThreadCall& operator=(const ThreadCall&) = delete;
  virtual ~ThreadCall() = default;

  // Submits `call` to the default executor and parks `task` (the current
  // task) until the function has run. Returns normally if it returned (its
  // value is then in the subclass); throws its exception, CancelledError if
  // the task was cancelled first (the function's outcome will be dropped),
  // or InvalidStateError / std::system_error if the pool refuses the job.
  static void await_completion(TaskCore& task, const std::shared_ptr<ThreadCall>& call);

 protected:
  ThreadCall() = default;
  // On the worker: calls the function and stores its value; lets its
  // exception through.
  virtual void invoke() = 0;
  // On the worker: destroys the function and what it captured.
  virtual void drop_function() noexcept = 0;
  // Destroys a value that nobody will take.
  virtual void drop_value() noexcept = 0;

 private:
  static void execute(const std::shared_ptr<ThreadCall>& call) noexcept;
  void complete() noexcept;
  bool detach() noexcept;

  std::mutex mutex_;
  Loop* loop_ = nullptr;   // guarded by mutex_: the waiter's loop, or null
  bool finished_ = false;  // guarded by mutex_: the function has returned
  std::exception_ptr error_;
  Waker waker_;
};

// ThreadCall for one function type F returning R (not a reference).
template <class R, class F>
class ThreadCallOf final : public ThreadCall {
 public:
  explicit ThreadCallOf(F&& fn) { fn_.emplace(std::move(fn)); }

  // The function's value, moved out once await_completion() returned.
  R take() { return take(std::is_void<R>()); }

 private:
  void invoke() override { invoke(std::is_void<R>()); }
  void invoke(std::false_type) { value_.emplace(fn_.value()()); }
  void invoke(std::true_type) { fn_.value()(); }
  R take(std::false_type) { return std::move(value_.value()); }
  void take(std::true_type) {}
  void drop_function() noexcept override { fn_.reset(); }
  void drop_value() noexcept override { value_.reset(); }

  ResultSlot<F> fn_;
  ResultSlot<typename ValueOf<R>::type> value_;
};

// The value fn() returns, by value.
template <class F>
using ThreadResult = typename std::decay<CallResult<typename std::decay<F>::type>>::type;

// Carries a run_coroutine_threadsafe() submission into the loop: a move-only
// callable, run once as a loop callback, that starts the task and settles
// the promise when the task is done. If the loop drops it unrun (the loop
// closed first), the promise gets CancelledError: the work was cancelled by
// the loop's shutdown, as the tasks a closing loop cancels are.
template <class T, class F>
class TaskSubmission {
 public:
  TaskSubmission(Loop& loop, F&& fn, std::promise<T>&& promise)
      : loop_(&loop), fn_(std::move(fn)), promise_(std::move(promise)) {}
  TaskSubmission(TaskSubmission&& other) noexcept(std::is_nothrow_move_constructible<F>::value)
      : loop_(other.loop_), fn_(std::move(other.fn_)), promise_(std::move(other.promise_)), armed_(other.armed_) {
    other.armed_ = false;
  }
  TaskSubmission& operator=(TaskSubmission&&) = delete;
  ~TaskSubmission() {
    if (armed_) {
      promise_.set_exception(std::make_exception_ptr(
          CancelledError("run_coroutine_threadsafe: the event loop closed before the task started")));
    }
  }

  // On the loop's thread. asyncio tasks.py, run_coroutine_threadsafe's
  // callback: a failure to create the task goes to the future, and is raised
  // in the loop as well (its exception handler reports it).
  void operator()() {
    armed_ = false;
    Task<T> task;
    try {
      task = create_task(*loop_, std::move(fn_));
    } catch (...) {
      promise_.set_exception(std::current_exception());
      throw;
    }
    // asyncio futures.py, _chain_future: the future copies the task's final
    // state, so a task that returned after being cancelled counts as
    // cancelled. A completion waiter runs as the task completes, even while
    // a closing loop unwinds it.
    task.core().add_completion_waiter(Settle{task, std::move(promise_)});
  }

 private:
  struct Settle {
    Task<T> task;
    std::promise<T> promise;
    void operator()() noexcept {
      try {
        set(std::is_void<T>());
      } catch (...) {
        try {
          promise.set_exception(std::current_exception());
        } catch (...) {
          // Only promise_already_satisfied can get here; nothing is waiting.
        }
      }
    }
    void set(std::false_type) { promise.set_value(task.result()); }
    void set(std::true_type) {
      task.result();
      promise.set_value();
    }
  };

  Loop* loop_;
  F fn_;
  std::promise<T> promise_;
  bool armed_ = true;  // the promise is still ours to settle
};

}  // namespace detail

// asyncio.to_thread(func): runs fn() on a worker thread of the default
// executor and blocks the current task (only it) until fn returns; returns
// fn's value (by value) or rethrows its exception here.
//
// Cancellation: if the task is cancelled meanwhile, to_thread() throws
// CancelledError at once. fn cannot be stopped: if it already runs, it runs
// on and its value or exception is dropped on the worker when it returns;
// if it had not started yet, it never does (concurrent.futures: a cancelled
// work item is skipped); if it had just returned, its value is dropped all
// the same. A cancellation already pending when to_thread() is called
// throws before anything is submitted.
//
// fn is moved to the heap with the call's state (one allocation), called
// once and destroyed on the worker thread; it must not touch the loop or its
// tasks and futures (post back with call_soon_threadsafe instead).
//
// The default executor has min(32, CPUs + 4) threads, started on demand and
// shared by every loop of the process; calls beyond that wait their FIFO
// turn. weft::run() returning does not wait for functions still running
// (asyncio.run() does); the process waits for them at exit, as Python does,
// so a function that never returns keeps the process from exiting.
//
// Throws InvalidStateError outside a task, or once the executor has shut
// down (at exit); std::system_error if no worker thread can be started.
template <class F>
detail::ThreadResult<F> to_thread(F&& fn) {
  using Fn = typename std::decay<F>::type;
  using R = detail::ThreadResult<F>;
  detail::TaskCore& task = detail::TaskCore::require_current("weft::to_thread");
  auto call = std::make_shared<detail::ThreadCallOf<R, Fn>>(Fn(std::forward<F>(fn)));
  detail::ThreadCall::await_completion(task, call);
  return call->take();
}

// asyncio.run_coroutine_threadsafe(coro, loop): from any thread, runs fn()
// as a new task of `loop` and returns a std::future for its outcome: fn's
// value, its exception, or CancelledError if the task ends cancelled or the
// loop closes before the task starts. The task is created by a callback that
// call_soon_threadsafe() queues, so tasks submitted from one thread start in
// the order they were submitted.
//
// Waiting on the future from the loop's own thread blocks the loop, which
// then never runs the task: a deadlock (asyncio documents the same). Inside
// the loop, use create_task() instead.
//
// Throws InvalidStateError if the loop is closed. The std::future cannot
// cancel the task (unlike asyncio's concurrent.futures.Future): cancel it
// from the loop's thread, through a handle the task publishes.
template <class F>
auto run_coroutine_threadsafe(Loop& loop, F&& fn) -> std::future<detail::CallResult<typename std::decay<F>::type>> {
  using Fn = typename std::decay<F>::type;
  using T = detail::CallResult<Fn>;
  std::promise<T> promise;
  std::future<T> future = promise.get_future();
  loop.call_soon_threadsafe(detail::TaskSubmission<T, Fn>(loop, Fn(std::forward<F>(fn)), std::move(promise)));
  return future;
}

// A weft loop running forever on a thread of its own, for legacy code that
// has no loop of its own (an extra; asyncio's pattern is a threading.Thread
// running loop.run_forever()). Tasks submitted to it run as under
// weft::run(): they may create tasks, sleep, use to_thread() and streams.
//
// Invariant: from construction until stop() returns, the thread runs the
// loop; afterwards the loop is closed (submit() throws InvalidStateError)
// and the thread is joined. The Loop object lives as long as the LoopThread.
//
// Thread safety: every member function may be called from any thread,
// except stop() (and so the destructor) from the loop's own thread.
class WEFT_API LoopThread {
 public:
  // Starts the thread and its loop. Throws OSError if the loop cannot be
  // made, std::system_error if the thread cannot be started.
  LoopThread();
  // stop().
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // The loop. From other threads only call_soon_threadsafe() and the free
  // function run_coroutine_threadsafe() may use it.
  Loop& loop() noexcept { return *loop_; }

  // run_coroutine_threadsafe(loop(), fn): runs fn() as a task on the loop
  // thread; the std::future holds its value, exception or CancelledError.
  // Throws InvalidStateError once stop() has closed the loop.
  template <class F>
  auto submit(F&& fn) -> std::future<detail::CallResult<typename std::decay<F>::type>> {
    return run_coroutine_threadsafe(*loop_, std::forward<F>(fn));
  }

  // Stops the loop as weft::run() ends: cancels the tasks still alive and
  // waits for them (their RAII runs; their futures get CancelledError; work
  // submitted but not started gets CancelledError too), closes the loop and
  // joins the thread. Idempotent; concurrent calls return once it is done.
  // Throws InvalidStateError if called from the loop's own thread (it would
  // join itself).
  void stop();

 private:
  void run() noexcept;

  std::unique_ptr<Loop> loop_;
  bool stop_requested_ = false;  // the loop's thread only
  std::mutex stop_mutex_;        // serialises stop()
  std::thread thread_;           // joinable until stop() joined it
};

}  // namespace weft

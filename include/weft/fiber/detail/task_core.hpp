// weft/fiber/detail/task_core.hpp — public header (implementation detail of
// Task<T>; users never name these types). Includes only public headers and
// the standard library: the fiber itself is opaque here.
//
// TaskCore is asyncio's Task (Lib/asyncio/tasks.py) on a stackful fiber: a
// FutureCore whose result comes from a function that runs on its own stack
// and suspends by switching back to the loop.
//
// Phases and who moves the task between them:
//
//   kNotStarted ──start()──▶ kRunning ◀──resume()── kScheduled
//        │                    │     │                   ▲
//        │ cancel()           │     └──park()──▶ kParked ┘ wake()
//        ▼                    ▼
//      kDone ◀──────── the function returns or throws
//
// Invariant (after CPython's Task): either the task is kParked and exactly
// one Waker with the current epoch can move it to kScheduled, or it is not
// parked and every outstanding Waker is stale (its epoch is past). Each
// park/wake pair bumps the epoch, so a fd event, a timer and a cancellation
// racing to wake the same park resume the task exactly once.
//
// The loop keeps a reference to every task until it is done, so dropping
// every Task handle neither cancels nor loses a running task.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "weft/export.hpp"
#include "weft/fiber/detail/future_core.hpp"

namespace weft {

// Per-task settings (asyncio: create_task(name=...)); an aggregate.
struct TaskOptions {
  // The task's name; empty gives "Task-N" as asyncio does (N is unique in
  // the process; in a program with one loop thread, 1, 2, 3...).
  std::string name;
  // Usable stack bytes; 0 gives the default, 256 KiB. Only touched pages
  // cost memory, so the size bounds recursion depth, not memory use.
  std::size_t stack_size = 0;
};

namespace detail {

enum class WakeReason : uint8_t {
  kReady,      // what the task waited for happened
  kTimeout,    // a deadline of the wait itself passed
  kCancelled,  // the task was cancelled while parked
};

class TaskCore;
struct TaskSwitch;
struct TaskDebug;

// What a parked task waits on, recorded by every suspension point for
// weft::dump_tasks(), debug mode's deadlock report and tools/weft-gdb.py.
// `what` is always a string literal ("queue get", "lock", "sleep"...).
struct WaitSite {
  enum class Kind : uint8_t {
    kNone,      // not waiting
    kObject,    // a primitive at `object` (a queue, lock, event, stream...)
    kFd,        // fd `value`, readable (what: "fd readable") or writable
    kTimer,     // a deadline: `value` nanoseconds on the steady clock
    kFuture,    // the FutureCore at `object` (a task if as_task() says so)
    kChildren,  // `value` ChildWaiters at `object` (gather, wait, as_completed)
    kThread,    // a function running on another thread (to_thread)
  };
  Kind kind = Kind::kNone;
  const char* what = "";
  const void* object = nullptr;
  int64_t value = 0;

  static WaitSite on_object(const char* what, const void* object) noexcept {
    return WaitSite{Kind::kObject, what, object, 0};
  }
  static WaitSite on_fd(int fd, bool readable) noexcept {
    return WaitSite{Kind::kFd, readable ? "fd readable" : "fd writable", nullptr, fd};
  }
  static WaitSite on_timer(const char* what, int64_t deadline_ns) noexcept {
    return WaitSite{Kind::kTimer, what, nullptr, deadline_ns};
  }
  static WaitSite on_future(const char* what, const FutureCore* future) noexcept {
    return WaitSite{Kind::kFuture, what, future, 0};
  }
  static WaitSite on_children(const char* what, const void* children, std::size_t count) noexcept {
    return WaitSite{Kind::kChildren, what, children, static_cast<int64_t>(count)};
  }
  static WaitSite on_thread(const char* what, const void* call) noexcept {
    return WaitSite{Kind::kThread, what, call, 0};
  }
};

// A ticket that ends one park of one task. Calling it after the task was
// already woken (by anything) does nothing.
struct Waker {
  TaskCore* task = nullptr;
  uint32_t epoch = 0;
  bool operator()(WakeReason reason = WakeReason::kReady) const noexcept;
};

class WEFT_API TaskCore : public FutureCore {
 public:
  enum class Phase : uint8_t { kNotStarted, kScheduled, kRunning, kParked, kDone };

  TaskCore(Loop& loop, TaskOptions options);

  // Tasks come from the thread's task heap (fiber/task_heap.hpp: size
  // classes on 2 MiB segments, no page fault per task in a burst), not from
  // malloc; under AddressSanitizer and Valgrind, from ::operator new, so
  // that those tools see every task's lifetime.
  static void* operator new(std::size_t size);
  static void operator delete(void* block, std::size_t size) noexcept;

  TaskCore* as_task() noexcept override { return this; }

  // asyncio Task.cancel(msg): asks the task to stop. A task that has not
  // started never runs; a parked task wakes with CancelledError thrown at its
  // suspension point, or, if it waits on a future or task, has the
  // cancellation passed on to that. Returns false if the task is done.
  bool cancel(const std::string& message) override;
  // asyncio Task.cancelling() / uncancel() (3.11+).
  int cancelling() const noexcept { return cancels_requested_; }
  int uncancel() noexcept;

  const std::string& name() const noexcept { return name_; }
  void set_name(std::string name);
  Phase phase() const noexcept { return phase_; }

  // --- for the library's suspension points ----------------------------

  // The task whose fiber is running, or null on the loop's own stack.
  static TaskCore* current() noexcept;
  // The same, or InvalidStateError("<what>: must be called from inside a
  // task") on the loop's stack or with no loop running.
  static TaskCore& require_current(const char* what);

  // Begins a wait on `site`: returns the Waker that will end the coming
  // park(). `waiting_on`, if given, receives this task's cancellation while
  // it waits (asyncio's _fut_waiter); a cancellation already pending is
  // passed on to it at once.
  Waker prepare_wait(const WaitSite& site, Cancellable* waiting_on = nullptr) noexcept;

  // Suspends the task until its Waker is called, and says why it woke.
  // Returns kCancelled at once, without suspending, if a cancellation is
  // pending that prepare_wait() could not pass on. Call on the task's own
  // fiber, after prepare_wait().
  WakeReason park();

  // Ends a prepared wait that turned out not to need a park (what it waits
  // for is already there): the Waker becomes stale.
  void finish_wait() noexcept;

  // Delivers a pending cancellation: throws CancelledError if one was
  // requested and not passed on. Every suspension point calls this after
  // withdrawing its registrations. (Inline: it runs after every wake-up.)
  void check_cancel() {
    if (must_cancel_) throw_cancelled();
  }
  // True if the next suspension point will throw CancelledError.
  bool cancel_pending() const noexcept { return must_cancel_; }

  // asyncio.sleep(0): requeues the running task behind everything ready.
  // Throws CancelledError if a cancellation is pending.
  void yield_now();

  // The library's resume path (Waker's): schedules the parked task.
  bool wake(uint32_t epoch, WakeReason reason) noexcept;

  // Schedules the first step; create_task() calls it once.
  void schedule_start();

  // What the task waits on; meaningful while phase() is kParked.
  const WaitSite& wait_site() const noexcept { return wait_site_; }
  // When the task was created (CLOCK_MONOTONIC_COARSE, nanoseconds: a few
  // milliseconds of resolution, enough for an age).
  int64_t created_ns() const noexcept { return created_ns_; }

  // The task's place in its loop's list of live tasks (all_tasks()).
  TaskCore* prev_live = nullptr;
  TaskCore* next_live = nullptr;

 protected:
  ~TaskCore() override;
  // Runs the user's function and stores its value (not the exception).
  virtual void run_body() = 0;
  // Destroys the user's function and what it captured.
  virtual void drop_body() noexcept = 0;

 private:
  friend class LoopContext;
  friend struct TaskSwitch;
  friend struct TaskDebug;  // fiber/debug.cpp: dump_tasks(), debug mode
  friend struct DebugInfo;  // fiber/debug_info.cpp: offsets for tools/weft-gdb.py
  struct Fiber;  // fiber/tasks.cpp

  [[noreturn]] void throw_cancelled();
  void step();
  void start();
  void resume();
  static void run_step(void* task);
  void unwind_for_close();
  void switch_in();
  void switch_out();
  TaskCore* next_in_batch() noexcept;
  static void enter(TaskCore* next) noexcept;
  void run_on_fiber() noexcept;
  void finish_cancelled_unstarted();
  void finish(std::exception_ptr error, bool cancelled, const std::string& message);

  std::string name_;
  std::size_t stack_size_;
  // The task's suspended context (a boost::context::fiber, kept opaque so
  // that this header names no Boost type), valid from start() to the end.
  alignas(void*) unsigned char context_[sizeof(void*)];
  Fiber* fiber_ = nullptr;  // switch state, kept at the top of the task's stack
  Cancellable* waiting_on_ = nullptr;
  WaitSite wait_site_;
  int64_t created_ns_ = 0;
  // Debug mode's record of where the task was created, kept by
  // fiber/debug.cpp (a flag here, not a pointer: outside debug mode a task
  // should cost as few bytes as it can).
  struct Origin;
  int cancels_requested_ = 0;
  uint32_t epoch_ = 0;
  Phase phase_ = Phase::kNotStarted;
  WakeReason wake_reason_ = WakeReason::kReady;
  bool must_cancel_ = false;
  bool wake_pending_ = false;  // woken after prepare_wait(), before park()
  bool passing_cancel_on_ = false;  // inside cancel(), passing it to waiting_on_
  bool has_origin_ = false;         // debug mode recorded an Origin
  bool stack_warned_ = false;       // debug mode reported its stack depth
  // The task's next step is on its loop's ready queue (the loop runs it
  // through run_step()): set when it is scheduled, cleared as it starts.
  bool step_queued_ = false;
};

inline bool Waker::operator()(WakeReason reason) const noexcept {
  return task != nullptr && task->wake(epoch, reason);
}

}  // namespace detail
}  // namespace weft

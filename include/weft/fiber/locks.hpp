// weft/fiber/locks.hpp — public header; includes only public headers and the
// standard library.
//
// asyncio's synchronization primitives (Lib/asyncio/locks.py, Python 3.13):
// Lock, Event and Condition here; Semaphore and BoundedSemaphore in
// semaphores.hpp; Barrier in barriers.hpp. They coordinate the tasks of one
// loop, not threads: nothing here is atomic, and a task that waits parks only
// its own fiber.
//
//   asyncio                              weft
//   lock = asyncio.Lock()                weft::Lock lock;
//   async with lock: ...                 { std::lock_guard<weft::Lock> g(lock); ... }
//   await lock.acquire(); lock.release() lock.acquire(); lock.release();
//   await event.wait(); event.set()      event.wait(); event.set();
//   async with cond: await cond.wait()   { std::unique_lock<weft::Condition> g(cond); cond.wait(); }
//   await cond.wait_for(pred)            cond.wait(pred)  (or cond.wait_for(pred))
//
// Where calls may come from (DESIGN.md, "Where calls may come from"):
// - Blocking calls (Lock::acquire/lock, Event::wait, Condition::wait) must be
//   made inside a task; elsewhere they throw InvalidStateError. Lock::acquire
//   requires a task even when the lock is free, so that whether a call is
//   legal never depends on timing (asyncio's acquire() does not yield when
//   the lock is free, but it is a coroutine and needs one anyway).
// - Non-blocking calls (Lock::release/unlock, Event::set/clear,
//   Condition::notify/notify_all) may also be made from plain loop callbacks.
// - Each object belongs to one loop: the loop running when it is constructed,
//   or, if none was, the first loop that runs one of its calls (asyncio's
//   mixins._LoopBoundMixin binds lazily the same way). A call made while
//   another loop runs on the thread, or while no loop runs after the object
//   was bound (another thread, or after weft::run returned), throws
//   InvalidStateError. The queries (locked, is_set) only read and are not
//   checked; make them on the loop's thread too.
//
// Cancellation never loses a wake-up: a task woken by release() or notify()
// and cancelled before it resumed passes the wake-up on to the next waiter,
// as asyncio does (see each call). Waiting allocates nothing: each parked
// task's place in the queue lives on its own stack.
//
// Destroying a primitive while tasks are parked on it is undefined behaviour
// (a debug build asserts); asyncio would leave those tasks waiting forever.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "weft/export.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/reactor/errors.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {

namespace detail {

class LockWaiter;  // fiber/lock_waiters.hpp

// The tasks parked on one primitive: an intrusive FIFO of LockWaiter nodes,
// each on its task's stack (asyncio keeps a deque of futures). `cancelled`
// counts the nodes whose task was cancelled while parked and has not resumed
// yet (asyncio: futures in the deque that are cancelled()).
struct LockWaiterList {
  LockWaiter* head = nullptr;
  LockWaiter* tail = nullptr;
  std::size_t size = 0;
  std::size_t cancelled = 0;

  // asyncio: `all(w.cancelled() for w in self._waiters)`, true when empty.
  bool all_cancelled() const noexcept { return size == cancelled; }
};

// The loop a primitive belongs to (asyncio's mixins._LoopBoundMixin).
class WEFT_API LockLoopBinding {
 public:
  // Binds to the loop running on this thread, if any.
  LockLoopBinding() noexcept : loop_(running_loop()) {}

  // True if the call may proceed without further checks: the bound loop is
  // running on this thread.
  bool is_current() const noexcept {
    Loop* running = running_loop();
    return running != nullptr && running == loop_;
  }

  // Binds on first use, or throws InvalidStateError naming `what` if the
  // call comes from outside the bound loop (see locks.hpp's header comment).
  void check(const char* what);

 private:
  Loop* loop_;
};

}  // namespace detail

// asyncio.Lock: a mutual-exclusion lock that tasks wait for in FIFO order.
// It is not owned: any task or callback of its loop may release it (as in
// asyncio), and it is not reentrant (a task that acquires it twice waits
// forever). BasicLockable, so std::lock_guard<weft::Lock> and
// std::unique_lock<weft::Lock> work.
//
// Fairness, as Python 3.13: release() hands the lock to the first waiter by
// waking it, and the lock stays unlocked until that waiter resumes; a task
// that calls acquire() meanwhile does not barge ahead but queues behind it,
// unless every waiter was cancelled.
//
// Invariant (asyncio Lock.acquire, "the lock invariant"): if the lock is not
// locked and tasks are parked on it, the first of them has been woken or
// cancelled and will, when it resumes, either take the lock or pass the
// wake-up on to the next one.
class WEFT_API Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock();

  // asyncio Lock.acquire(): takes the lock, waiting first for it to be
  // released if it is locked or other tasks are waiting. Returns once the
  // lock is held (asyncio returns True). Throws CancelledError if the task
  // is cancelled while it waits (the lock is then not held, and a wake-up
  // it had received is passed on); InvalidStateError outside a task or
  // outside the lock's loop.
  void acquire() {
    if (!locked_ && waiters_.all_cancelled() && binding_.is_current() &&
        detail::TaskCore::current() != nullptr) {
      locked_ = true;
      return;
    }
    acquire_slow();
  }

  // asyncio Lock.release(): unlocks and wakes the first waiter, if any.
  // Throws InvalidStateError if the lock is not locked (asyncio's
  // RuntimeError "Lock is not acquired.") or the call comes from outside the
  // lock's loop. Callable from tasks and plain loop callbacks.
  void release() {
    if (locked_ && waiters_.head == nullptr && releases_owed_ == 0 && binding_.is_current()) {
      locked_ = false;
      return;
    }
    release_slow();
  }

  // asyncio Lock.locked(): true if the lock is held. Between a release() that
  // woke a waiter and that waiter's resumption it is false, as in asyncio.
  bool locked() const noexcept { return locked_; }

  // BasicLockable names for acquire() and release(), for std::lock_guard.
  // unlock() on a lock that is not locked throws, which inside a guard's
  // destructor terminates the program: that is a bug in the caller.
  void lock() { acquire(); }
  void unlock() { release(); }

 private:
  friend class Condition;

  void acquire_slow();
  void release_slow();
  void wake_up_first() noexcept;

  detail::LockLoopBinding binding_;
  detail::LockWaiterList waiters_;
  // Releases to ignore: owed by Condition::wait() calls that could not take
  // the lock back because the loop closed under them (see Condition::wait).
  std::size_t releases_owed_ = 0;
  bool locked_ = false;
};

// asyncio.Event: a flag that tasks wait to see set.
class WEFT_API Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  // asyncio Event.wait(): returns at once if the flag is set; otherwise
  // waits until set() is called (and returns even if clear() was called
  // before this task resumed, as asyncio; asyncio returns True). Throws
  // CancelledError if the task is cancelled while it waits,
  // InvalidStateError outside a task (even when the flag is set) or outside
  // the event's loop.
  void wait() {
    if (value_ && binding_.is_current() && detail::TaskCore::current() != nullptr) return;
    wait_slow();
  }

  // asyncio Event.set(): sets the flag and wakes every waiting task. Throws
  // InvalidStateError outside the event's loop. Callable from callbacks.
  void set();

  // asyncio Event.clear(): resets the flag; later wait() calls block. Throws
  // InvalidStateError outside the event's loop. Callable from callbacks.
  void clear();

  // asyncio Event.is_set().
  bool is_set() const noexcept { return value_; }

 private:
  void wait_slow();

  detail::LockLoopBinding binding_;
  detail::LockWaiterList waiters_;
  bool value_ = false;
};

// asyncio.Condition: a condition variable over a Lock, either its own or
// one given at construction (shared, e.g., by several conditions). The
// condition forwards acquire/release/locked/lock/unlock to that lock, so
// std::unique_lock<weft::Condition> works like `async with cond`.
//
// Spurious wake-ups are possible, as in asyncio: wait() may return without
// the awaited state having changed, so callers re-check it (wait(pred) does).
class WEFT_API Condition {
 public:
  // A condition with its own lock.
  Condition() : lock_(&own_lock_) {}
  // A condition over `lock`, which must outlive it.
  explicit Condition(Lock& lock) : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;
  ~Condition();

  // The underlying lock's calls (asyncio exports them the same way).
  void acquire() { lock_->acquire(); }
  void release() { lock_->release(); }
  bool locked() const noexcept { return lock_->locked(); }
  void lock() { lock_->acquire(); }
  void unlock() { lock_->release(); }

  // asyncio Condition.wait(): releases the lock, waits until notified, and
  // takes the lock back before returning (asyncio returns True). The lock
  // must be locked on entry
  // (InvalidStateError otherwise: asyncio's "cannot wait on un-acquired
  // lock"; not an ownership check, the lock has no owner).
  //
  // Cancellation: the lock is taken back even when the wait is cancelled,
  // retrying through further cancellations, and then the most recent
  // CancelledError is rethrown (asyncio 3.13); a notification this task had
  // already received is passed on to another waiter first. So after wait()
  // returns or throws, the lock is held again and a std::unique_lock around
  // it stays correct. Only if the loop closes under the task (the closing
  // backstop, every wait failing at once) may the lock not be available; the
  // caller's later release() is then ignored instead of failing.
  //
  // Throws CancelledError, or InvalidStateError outside a task or outside
  // the condition's loop.
  void wait();

  // asyncio Condition.wait_for(predicate): calls pred(), and while its result
  // is false, wait()s and calls it again; returns the last result. pred is
  // called with the lock held, except that a first call returning true needs
  // no lock at all (as asyncio). Throws what wait() throws, and what pred
  // throws; InvalidStateError outside a task even if pred() is true at once.
  template <class Predicate>
  auto wait(Predicate pred) -> typename std::decay<decltype(pred())>::type {
    binding_.check("weft::Condition::wait");
    detail::TaskCore::require_current("weft::Condition::wait");
    auto result = pred();
    while (!result) {
      wait();
      result = pred();
    }
    return result;
  }
  // The same under asyncio's name.
  template <class Predicate>
  auto wait_for(Predicate pred) -> typename std::decay<decltype(pred())>::type {
    return wait(std::move(pred));
  }

  // asyncio Condition.notify(n): wakes up to n waiting tasks that were not
  // woken yet, in FIFO order; each returns from wait() once it has taken the
  // lock, so the caller should release it. The lock must be locked
  // (InvalidStateError otherwise, as asyncio's "cannot notify on un-acquired
  // lock"). Callable from callbacks.
  void notify(std::size_t n = 1);

  // asyncio Condition.notify_all(): notify() for every waiting task.
  void notify_all();

 private:
  void notify_waiters(std::size_t n) noexcept;
  void take_lock_back(detail::TaskCore& task, bool& cancelled, CancelledError& error);

  detail::LockLoopBinding binding_;
  detail::LockWaiterList waiters_;
  Lock* lock_;
  Lock own_lock_;
};

}  // namespace weft

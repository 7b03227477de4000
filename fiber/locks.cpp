// fiber/locks.cpp — Lock, Event and Condition (asyncio's Lib/asyncio/locks.py,
// Python 3.13), and the loop binding every primitive of locks.hpp,
// semaphores.hpp and barriers.hpp shares.
#include "weft/fiber/locks.hpp"

#include <cassert>
#include <string>

#include "fiber/lock_waiters.hpp"
#include "fiber/loop_context.hpp"

namespace weft {
namespace detail {

// asyncio mixins._LoopBoundMixin._get_loop: bind to the running loop on first
// use, refuse any other loop afterwards. weft also refuses calls made while
// no loop runs (another thread, or after the loop stopped), since nothing
// else would stop a second thread from racing the loop's. One exception: the
// loop's own tasks while a closing loop unwinds them (LoopContext::
// loop_closing runs them from close(), when no loop is "running").
void LockLoopBinding::check(const char* what) {
  Loop* const running = running_loop();
  if (running != nullptr) {
    if (loop_ == nullptr) loop_ = running;
    if (loop_ == running) return;
    throw InvalidStateError(std::string(what) + ": the object is bound to a different event loop");
  }
  if (TaskCore* task = TaskCore::current()) {
    if (loop_ == nullptr || task->context().loop() == loop_) return;
  }
  // Never bound: no task can be waiting on it yet, so a non-blocking call
  // is harmless (asyncio allows an Event to be set before any loop runs).
  if (loop_ == nullptr) return;
  throw InvalidStateError(std::string(what) +
                          ": called outside its event loop (no loop is running on this thread)");
}

}  // namespace detail

// --- Lock --------------------------------------------------------------------

Lock::~Lock() { assert(waiters_.head == nullptr && "weft::Lock destroyed while tasks wait on it"); }

void Lock::acquire_slow() {
  binding_.check("weft::Lock::acquire");
  detail::TaskCore& task = detail::TaskCore::require_current("weft::Lock::acquire");
  // asyncio locks.py, Lock.acquire: "Implement fair scheduling, where thread
  // always waits its turn. Jumping the queue if all are cancelled is an
  // optimization."
  if (!locked_ && waiters_.all_cancelled()) {
    locked_ = true;
    return;
  }
  detail::LockWaiter waiter;
  waiter.wait_in(waiters_, task, detail::WaitSite::on_object("lock", this));
  try {
    waiter.throw_if_cancelled(task);
  } catch (const CancelledError&) {
    // asyncio: "Ensure the lock invariant: If lock is not claimed (or about
    // to be claimed by us) and there is a Task in waiters, ensure that the
    // Task at the head will run." A wake-up this task received, or one
    // release() could not give to it because it was cancelled, goes on.
    if (!locked_) wake_up_first();
    throw;
  }
  // Woken by release(), which left the lock unlocked for us.
  assert(!locked_ && "Lock: woken waiter found the lock taken");
  locked_ = true;
}

void Lock::release_slow() {
  binding_.check("weft::Lock::release");
  if (releases_owed_ > 0) {
    --releases_owed_;
    return;
  }
  if (!locked_) throw InvalidStateError("weft::Lock::release: the lock is not acquired");
  locked_ = false;
  wake_up_first();
}

// asyncio Lock._wake_up_first: only the first waiter is looked at. If it is
// done it is already set to wake up (woken, or cancelled and bound to pass
// the wake-up on when it resumes), so there is nothing to do.
void Lock::wake_up_first() noexcept {
  if (waiters_.head != nullptr) waiters_.head->wake();
}

// --- Event -------------------------------------------------------------------

Event::~Event() { assert(waiters_.head == nullptr && "weft::Event destroyed while tasks wait on it"); }

void Event::wait_slow() {
  binding_.check("weft::Event::wait");
  detail::TaskCore& task = detail::TaskCore::require_current("weft::Event::wait");
  if (value_) return;
  detail::LockWaiter waiter;
  waiter.wait_in(waiters_, task, detail::WaitSite::on_object("event", this));
  // Nothing to pass on: set() wakes every waiter anyway.
  waiter.throw_if_cancelled(task);
}

// asyncio Event.set: wakes every waiter not woken yet. They stay in the list
// until they resume, so a set() after a clear() does not wake them twice.
void Event::set() {
  binding_.check("weft::Event::set");
  if (value_) return;
  value_ = true;
  for (detail::LockWaiter* w = waiters_.head; w != nullptr; w = w->next()) w->wake();
}

void Event::clear() {
  binding_.check("weft::Event::clear");
  value_ = false;
}

// --- Condition -----------------------------------------------------------------

Condition::~Condition() {
  assert(waiters_.head == nullptr && "weft::Condition destroyed while tasks wait on it");
}

// asyncio locks.py, Condition.wait (3.13). The try/catch blocks only record
// what happened: every switch to the loop (parking, re-acquiring) happens
// outside a catch block, as Boost.Context requires.
void Condition::wait() {
  binding_.check("weft::Condition::wait");
  detail::TaskCore& task = detail::TaskCore::require_current("weft::Condition::wait");
  if (!lock_->locked()) throw InvalidStateError("weft::Condition::wait: cannot wait on un-acquired lock");
  lock_->release();
  detail::LockWaiter waiter;
  waiter.wait_in(waiters_, task, detail::WaitSite::on_object("condition", this));
  const bool notified = waiter.woken();
  bool cancelled = false;
  CancelledError error;
  try {
    waiter.throw_if_cancelled(task);
  } catch (const CancelledError& e) {
    cancelled = true;
    error = e;
  }
  // asyncio: "Must re-acquire lock even if wait is cancelled."
  take_lock_back(task, cancelled, error);
  if (!cancelled) return;
  // asyncio: "Any error raised out of here _may_ have occurred after this
  // Task believed to have been successfully notified. Make sure to notify
  // another Task instead." asyncio notifies one waiter on any error; weft
  // knows whether this waiter held a notification and passes it on only
  // then, sparing the others a spurious wake-up.
  if (notified) notify_waiters(1);
  throw error;
}

// Acquires the lock, retrying through cancellations; `error` keeps the most
// recent one (asyncio re-raises the most recent exception instance). While
// the loop closes, every acquire that has to wait fails at once and would
// fail forever: the task then gives up and owes the lock the release its
// caller is about to make (Lock::releases_owed_), so that the caller's
// std::unique_lock neither fails nor releases another task's hold.
void Condition::take_lock_back(detail::TaskCore& task, bool& cancelled, CancelledError& error) {
  for (;;) {
    try {
      lock_->acquire();
      return;
    } catch (const CancelledError& e) {
      cancelled = true;
      error = e;
    }
    if (task.context().closing()) {
      ++lock_->releases_owed_;
      return;
    }
  }
}

void Condition::notify(std::size_t n) {
  binding_.check("weft::Condition::notify");
  if (!lock_->locked()) throw InvalidStateError("weft::Condition::notify: cannot notify on un-acquired lock");
  notify_waiters(n);
}

void Condition::notify_all() {
  binding_.check("weft::Condition::notify_all");
  if (!lock_->locked()) throw InvalidStateError("weft::Condition::notify_all: cannot notify on un-acquired lock");
  notify_waiters(waiters_.size);
}

// asyncio Condition._notify: wakes the first n waiters that are not done.
void Condition::notify_waiters(std::size_t n) noexcept {
  std::size_t woken = 0;
  for (detail::LockWaiter* w = waiters_.head; w != nullptr && woken < n; w = w->next()) {
    if (w->wake()) ++woken;
  }
}

}  // namespace weft

// weft/fiber/semaphores.hpp — public header; includes only public headers and
// the standard library.
//
// asyncio.Semaphore and asyncio.BoundedSemaphore (Lib/asyncio/locks.py,
// Python 3.13): a counter of permits that tasks take with acquire() and give
// back with release(), waiting in FIFO order while none is free.
//
//   asyncio                              weft
//   sem = asyncio.Semaphore(3)           weft::Semaphore sem(3);
//   async with sem: ...                  { std::lock_guard<weft::Semaphore> g(sem); ... }
//   await sem.acquire(); sem.release()   sem.acquire(); sem.release();
//
// Where calls may come from, loop binding and cancellation: as for Lock (see
// locks.hpp). acquire() needs a task, even when a permit is free; release()
// may also be called from plain loop callbacks.
#pragma once

#include <cstdint>
#include <limits>

#include "weft/export.hpp"
#include "weft/fiber/locks.hpp"

namespace weft {

// asyncio.Semaphore. Fairness, as Python 3.13: a permit released while tasks
// wait is handed to the first of them (the counter is decremented on its
// behalf when it is woken), and a task that calls acquire() while others
// wait queues behind them even if the counter is above zero.
//
// Invariant (asyncio Semaphore.acquire's `finally` clause): when a waiter
// leaves acquire(), by success or by cancellation, it wakes as many further
// waiters as the counter allows, so permits never sit unused while tasks
// that could take them wait.
class WEFT_API Semaphore {
 public:
  // asyncio Semaphore(value): `value` permits, default 1. Throws
  // std::invalid_argument if value < 0 (asyncio's ValueError).
  explicit Semaphore(std::int64_t value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  ~Semaphore();

  // asyncio Semaphore.acquire(): takes a permit, first waiting for one if
  // none is free or other tasks are waiting. Throws CancelledError if the
  // task is cancelled while it waits (a permit it had been handed is given
  // back and passed on), InvalidStateError outside a task or outside the
  // semaphore's loop.
  void acquire() {
    if (!locked() && binding_.is_current() && detail::TaskCore::current() != nullptr) {
      --value_;
      return;
    }
    acquire_slow();
  }

  // asyncio Semaphore.release(): gives a permit back and wakes the first
  // waiter not woken yet, if any. Throws InvalidStateError outside the
  // semaphore's loop, and for a BoundedSemaphore released more times than it
  // was acquired (asyncio's ValueError "BoundedSemaphore released too many
  // times"). Callable from callbacks.
  void release() {
    if (waiters_.head == nullptr && value_ < bound_ && binding_.is_current()) {
      ++value_;
      return;
    }
    release_slow();
  }

  // asyncio Semaphore.locked(): true if acquire() would wait, because no
  // permit is free or because tasks that were not cancelled wait (FIFO).
  bool locked() const noexcept { return value_ == 0 || !waiters_.all_cancelled(); }

  // BasicLockable names, so std::lock_guard<weft::Semaphore> works as
  // asyncio's `async with sem`.
  void lock() { acquire(); }
  void unlock() { release(); }

 protected:
  // For BoundedSemaphore: release() refuses to raise the counter past bound.
  Semaphore(std::int64_t value, std::int64_t bound);

 private:
  void acquire_slow();
  void release_slow();
  bool wake_up_next() noexcept;

  detail::LockLoopBinding binding_;
  detail::LockWaiterList waiters_;
  std::int64_t value_;
  std::int64_t bound_ = std::numeric_limits<std::int64_t>::max();
};

// asyncio.BoundedSemaphore: a Semaphore whose release() throws
// InvalidStateError if it would raise the counter above its initial value
// (a release without a matching acquire). The check lives in Semaphore, so
// it holds through a Semaphore& too.
class BoundedSemaphore : public Semaphore {
 public:
  // Throws std::invalid_argument if value < 0.
  explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, value) {}
};

}  // namespace weft

// fiber/semaphores.cpp — Semaphore and BoundedSemaphore (asyncio's
// Lib/asyncio/locks.py, Python 3.13).
#include "weft/fiber/semaphores.hpp"

#include <cassert>
#include <stdexcept>
#include <string>

#include "fiber/lock_waiters.hpp"

namespace weft {

namespace {

std::int64_t checked_value(std::int64_t value) {
  if (value < 0) throw std::invalid_argument("weft::Semaphore: initial value must be >= 0");
  return value;
}

}  // namespace

Semaphore::Semaphore(std::int64_t value) : value_(checked_value(value)) {}

Semaphore::Semaphore(std::int64_t value, std::int64_t bound) : value_(checked_value(value)), bound_(bound) {}

Semaphore::~Semaphore() {
  assert(waiters_.head == nullptr && "weft::Semaphore destroyed while tasks wait on it");
}

void Semaphore::acquire_slow() {
  binding_.check("weft::Semaphore::acquire");
  detail::TaskCore& task = detail::TaskCore::require_current("weft::Semaphore::acquire");
  // asyncio: "Maintain FIFO, wait for others to start even if _value > 0."
  if (!locked()) {
    --value_;
    return;
  }
  detail::LockWaiter waiter;
  waiter.wait_in(waiters_, task, detail::WaitSite::on_object("semaphore", this));
  try {
    waiter.throw_if_cancelled(task);
  } catch (const CancelledError&) {
    // asyncio: "Our Future was successfully set to True via _wake_up_next(),
    // but we are not about to successfully acquire(). Therefore we must undo
    // the bookkeeping already done and attempt to wake up someone else."
    if (waiter.woken()) ++value_;
    while (value_ > 0 && wake_up_next()) {
    }
    throw;
  }
  // asyncio: "New waiters may have arrived but had to wait due to FIFO.
  // Wake up as many as are allowed."
  while (value_ > 0 && wake_up_next()) {
  }
}

void Semaphore::release_slow() {
  binding_.check("weft::Semaphore::release");
  if (value_ >= bound_) throw InvalidStateError("weft::BoundedSemaphore::release: released too many times");
  ++value_;
  wake_up_next();
}

// asyncio Semaphore._wake_up_next: wakes the first waiter that is not done
// and takes its permit from the counter on its behalf. Returns false if there
// was no one to wake.
bool Semaphore::wake_up_next() noexcept {
  for (detail::LockWaiter* w = waiters_.head; w != nullptr; w = w->next()) {
    if (w->wake()) {
      --value_;
      return true;
    }
  }
  return false;
}

}  // namespace weft

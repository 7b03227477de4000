// fiber/barriers.cpp — Barrier (asyncio's Lib/asyncio/locks.py, Python 3.11+),
// built on a Condition exactly as asyncio's is.
#include "weft/fiber/barriers.hpp"

#include <mutex>
#include <stdexcept>

namespace weft {

namespace {

std::size_t checked_parties(std::int64_t parties) {
  if (parties < 1) throw std::invalid_argument("weft::Barrier: parties must be >= 1");
  return static_cast<std::size_t>(parties);
}

}  // namespace

Barrier::Barrier(std::int64_t parties) : parties_(checked_parties(parties)) {}

// asyncio Barrier.wait. The lock is held throughout, except while cond_.wait()
// parks; cond_.wait() takes it back even when cancelled, so the guard's
// release and leave() always run with the lock held.
std::size_t Barrier::wait() {
  std::lock_guard<Condition> guard(cond_);
  block();
  const std::size_t index = count_++;
  try {
    if (index + 1 == parties_) {
      release_parties();
    } else {
      wait_released();
    }
  } catch (...) {
    // asyncio's `finally`. Only notify_all() runs here: no switch to the loop.
    leave();
    throw;
  }
  leave();
  return index;
}

// asyncio Barrier._block: waits while the previous round drains or resets,
// then fails if the barrier is broken.
void Barrier::block() {
  cond_.wait([this] { return state_ != State::kDraining && state_ != State::kResetting; });
  if (state_ == State::kBroken) throw BrokenBarrierError("weft::Barrier::wait: barrier aborted");
}

// asyncio Barrier._release: the last party arrived; the others may go.
void Barrier::release_parties() {
  state_ = State::kDraining;
  cond_.notify_all();
}

// asyncio Barrier._wait: waits for the last party, or for an abort or reset.
void Barrier::wait_released() {
  cond_.wait([this] { return state_ != State::kFilling; });
  if (state_ == State::kBroken || state_ == State::kResetting) {
    throw BrokenBarrierError("weft::Barrier::wait: barrier aborted or reset while waiting");
  }
}

// asyncio Barrier._exit: the last task out of a draining or resetting barrier
// returns it to filling and lets the tasks blocked outside in. The lock is
// held here unless the loop is closing under this task (see
// Condition::wait), when there is no one left to notify.
void Barrier::leave() {
  --count_;
  if (count_ == 0) {
    if (state_ == State::kResetting || state_ == State::kDraining) state_ = State::kFilling;
    if (cond_.locked()) cond_.notify_all();
  }
}

// asyncio Barrier.reset.
void Barrier::reset() {
  std::lock_guard<Condition> guard(cond_);
  if (count_ > 0) {
    state_ = State::kResetting;
  } else {
    state_ = State::kFilling;
  }
  cond_.notify_all();
}

// asyncio Barrier.abort.
void Barrier::abort() {
  std::lock_guard<Condition> guard(cond_);
  state_ = State::kBroken;
  cond_.notify_all();
}

}  // namespace weft

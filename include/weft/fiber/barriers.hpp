// weft/fiber/barriers.hpp — public header; includes only public headers and
// the standard library.
//
// asyncio.Barrier (Lib/asyncio/locks.py, Python 3.11+): a fixed number of
// tasks (the parties) meet; each calls wait(), and all of them return once
// the last one has arrived.
//
//   asyncio                              weft
//   barrier = asyncio.Barrier(3)         weft::Barrier barrier(3);
//   i = await barrier.wait()             std::size_t i = barrier.wait();
//   await barrier.reset() / abort()      barrier.reset(); / barrier.abort();
//   except asyncio.BrokenBarrierError    catch (const weft::BrokenBarrierError&)
//
// Built, as asyncio's, on a Condition: every state change happens with the
// condition's lock held and is announced with notify_all(), and waiters
// re-check the state when they wake. So wait(), reset() and abort() need a
// task (they take the lock; in asyncio they are coroutines for that reason)
// and throw InvalidStateError elsewhere; the queries need none. Loop binding
// as for Lock (locks.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "weft/export.hpp"
#include "weft/fiber/locks.hpp"

namespace weft {

// asyncio.BrokenBarrierError (a RuntimeError there): the barrier was aborted,
// or reset while this task waited in it.
class WEFT_API BrokenBarrierError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// asyncio.Barrier. States (asyncio's _BarrierState), and what moves the
// barrier between them:
//
//   kFilling ──last party arrives──────▶ kDraining ──last party leaves──▶ kFilling
//   any ──reset(), parties inside──────▶ kResetting ─last party leaves──▶ kFilling
//   any ──reset(), no party inside─────▶ kFilling
//   any ──abort()──────────────────────▶ kBroken
//
// Invariant: count_ is the number of tasks inside wait() past the point
// where they took an arrival index; tasks that arrive while the barrier
// drains or resets wait outside (not counted) until it fills again.
class WEFT_API Barrier {
 public:
  enum class State : uint8_t { kFilling, kDraining, kResetting, kBroken };

  // asyncio Barrier(parties). Throws std::invalid_argument if parties < 1
  // (asyncio's ValueError).
  explicit Barrier(std::int64_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // asyncio Barrier.wait(): waits until `parties` tasks are waiting, then
  // releases them all. Returns this task's arrival index, 0 to parties-1
  // (the last to arrive gets parties-1 and does not wait). A task arriving
  // while the previous round drains or resets waits for it to end first.
  // Throws BrokenBarrierError if the barrier is broken (abort()) or was
  // reset while this task waited; CancelledError if the task is cancelled
  // (it then leaves the barrier, which keeps filling without it);
  // InvalidStateError outside a task or outside the barrier's loop.
  std::size_t wait();

  // asyncio Barrier.reset(): returns the barrier to the filling state; tasks
  // waiting in it get BrokenBarrierError (the barrier is kResetting until
  // they have all left). Takes the barrier's lock, so it needs a task.
  // Throws CancelledError if cancelled while taking it, InvalidStateError
  // outside a task or outside the barrier's loop.
  void reset();

  // asyncio Barrier.abort(): breaks the barrier; waiting and future wait()
  // calls throw BrokenBarrierError until reset(). Needs a task, as reset().
  void abort();

  // asyncio Barrier.parties: the number of tasks needed to trip it.
  std::size_t parties() const noexcept { return parties_; }
  // asyncio Barrier.n_waiting: the tasks waiting in it while it fills, else 0.
  std::size_t n_waiting() const noexcept { return state_ == State::kFilling ? count_ : 0; }
  // asyncio Barrier.broken.
  bool broken() const noexcept { return state_ == State::kBroken; }
  // weft extra: the state asyncio shows in repr() ("filling", "draining",
  // "resetting", "broken").
  State state() const noexcept { return state_; }

 private:
  void block();
  void release_parties();
  void wait_released();
  void leave();

  Condition cond_;
  std::size_t parties_;
  std::size_t count_ = 0;
  State state_ = State::kFilling;
};

}  // namespace weft

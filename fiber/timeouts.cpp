// fiber/timeouts.cpp — weft::Timeout, asyncio's Timeout
// (Lib/asyncio/timeouts.py), and wait_for()'s zero-timeout path (asyncio
// tasks.py, _cancel_and_wait).
#include "weft/fiber/timeouts.hpp"

#include <string>

namespace weft {

namespace detail {

// d is never negative. Each bound is computed only on the side of the epoch
// where it cannot overflow (now + d cannot when now <= epoch, now - d cannot
// when now >= epoch).
std::chrono::steady_clock::time_point deadline_after(std::chrono::steady_clock::duration d) noexcept {
  using time_point = std::chrono::steady_clock::time_point;
  const time_point now = std::chrono::steady_clock::now();
  if (now.time_since_epoch() > time_point::duration::zero() && d >= time_point::max() - now) {
    return time_point::max();
  }
  return now + d;
}

std::chrono::steady_clock::time_point deadline_before(std::chrono::steady_clock::duration d) noexcept {
  using time_point = std::chrono::steady_clock::time_point;
  const time_point now = std::chrono::steady_clock::now();
  if (now.time_since_epoch() < time_point::duration::zero() && d >= now - time_point::min()) {
    return time_point::min();
  }
  return now - d;
}

void cancel_and_wait(FutureCore& fut, const char* what) {
  TaskCore& task = TaskCore::require_current(what);
  // asyncio _cancel_and_wait: "We cannot wait on *fut* directly to make sure
  // _cancel_and_wait itself is reliably cancellable" — the task waits on a
  // private waiter, so its own cancellation is not passed on to fut again.
  fut.cancel(std::string());
  const Waker waker = task.prepare_wait(WaitSite::on_future("the end of a cancelled task", &fut));
  if (fut.done()) {
    task.finish_wait();
  } else {
    const FutureCore::CallbackId id = fut.add_completion_waiter([waker] { waker(); });
    task.park();
    if (!fut.done()) fut.remove_callback(id);
  }
  task.check_cancel();
}

}  // namespace detail

Timeout::~Timeout() { handle_.cancel(); }

void Timeout::enter() {
  // asyncio Timeout.__aenter__: "Timeout should be used inside a task".
  task_ = &detail::TaskCore::require_current(what_);
  state_ = State::kEntered;
  cancelling_ = task_->cancelling();
  reschedule(when_);
}

void Timeout::reschedule(time_point when) {
  if (state_ != State::kEntered) {
    // asyncio: "Timeout has not been entered", "Cannot change state of
    // expiring Timeout" (and of expired or finished ones).
    static const char* const kNames[] = {"not entered", "active", "expiring", "expired", "finished"};
    throw InvalidStateError(std::string(what_) + ": cannot reschedule a timeout that is " +
                            kNames[static_cast<int>(state_)]);
  }
  when_ = when;
  handle_.cancel();
  handle_ = Handle();
  if (when == time_point::max()) return;
  Loop& loop = task_->loop();
  // asyncio Timeout.reschedule: a deadline already past is scheduled with
  // call_soon, so it is handled in FIFO order with the task's own wake-up
  // (a timer in the past would only be queued after the ready callbacks).
  if (when <= loop.time()) {
    handle_ = loop.call_soon([this] { on_timeout(); });
  } else {
    handle_ = loop.call_at(when, [this] { on_timeout(); });
  }
}

void Timeout::on_timeout() {
  // asyncio Timeout._on_timeout: the timer only runs while kEntered, since
  // every other transition withdraws it.
  state_ = State::kExpiring;
  handle_ = Handle();
  task_->cancel(std::string());
}

bool Timeout::exit(bool cancelled_error) noexcept {
  handle_.cancel();
  handle_ = Handle();
  if (state_ == State::kExpiring) {
    state_ = State::kExpired;
    // asyncio Timeout.__aexit__: "if self._task.uncancel() <= self._cancelling
    // and exc_type is not None: if issubclass(exc_type, CancelledError):
    // raise TimeoutError". uncancel() is called whatever the outcome, so a
    // block that swallowed the cancellation leaves the count as it found it.
    return task_->uncancel() <= cancelling_ && cancelled_error;
  }
  if (state_ == State::kEntered) state_ = State::kExited;
  return false;
}

void Timeout::throw_timeout_error() const {
  throw TimeoutError(std::string(what_) + ": the deadline passed and the operation was cancelled");
}

}  // namespace weft

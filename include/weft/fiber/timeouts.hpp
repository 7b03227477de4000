// weft/fiber/timeouts.hpp — public header; includes only public headers and
// the standard library.
//
// Deadlines for a block of code, as asyncio's timeouts.py (Python 3.11+),
// and wait_for(), which asyncio builds on them since 3.12:
//
//   asyncio                                      weft
//   async with asyncio.timeout(d):               weft::timeout(d, [&] { ... });
//   async with asyncio.timeout_at(t) as cm:      weft::timeout_at(t, [&](weft::Timeout& cm) { ... });
//   async with asyncio.timeout(None) as cm:      weft::timeout_at(Timeout::time_point::max(), ...)
//   await asyncio.wait_for(task, d)              weft::wait_for(task, d)
//
// How a deadline works (asyncio Timeout): when it passes, a loop callback
// calls cancel() on the task running the block, so the block's current (or
// next) suspension point throws CancelledError and RAII unwinds it. When
// that CancelledError leaves the block, the Timeout that caused it turns it
// into TimeoutError. Only its own cancellation is converted: the Timeout
// records task.cancelling() on entry, and converts on exit only if
// task.uncancel() brings the count back to that value. A cancel() from
// anyone else — the user, or an outer timeout whose deadline passed while an
// inner one was active — raised the count further, so its CancelledError
// passes through unchanged and the outer scope converts it.
//
// Threads: the loop's thread only; the block runs inside a task.
#pragma once

#include <chrono>
#include <type_traits>
#include <utility>

#include "weft/export.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/reactor/handle.hpp"

namespace weft {

class Timeout;

namespace detail {

template <class F>
class TimeoutScope;

// now + d and now - d on the steady clock, saturating at time_point::max()
// ("never") and time_point::min().
WEFT_API std::chrono::steady_clock::time_point deadline_after(std::chrono::steady_clock::duration d) noexcept;
WEFT_API std::chrono::steady_clock::time_point deadline_before(std::chrono::steady_clock::duration d) noexcept;

// now + d for any duration, negative ones included: asyncio keeps
// loop.time() + delay as when() even when the delay is negative.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_in(std::chrono::duration<Rep, Period> d) noexcept {
  using Source = std::chrono::duration<Rep, Period>;
  if (!(d < Source::zero())) return deadline_after(clock_duration(d));
  if (d == Source::min()) return std::chrono::steady_clock::time_point::min();  // -d would overflow
  return deadline_before(clock_duration(-d));
}

}  // namespace detail

// asyncio.Timeout: the deadline of one timeout()/timeout_at() block, passed
// to the block's function if it takes a `weft::Timeout&`. It lives for the
// duration of that call; do not keep the reference past it.
//
// States, as asyncio's _State:
//
//   kCreated ──enter──▶ kEntered ──deadline──▶ kExpiring ──exit──▶ kExpired
//                          │
//                          └──────exit──────▶ kExited
//
// Invariant: a timer (or, for a deadline already past, a call_soon) is
// scheduled exactly while the state is kEntered and when() is not
// time_point::max(); it is withdrawn on every way out of the block.
class WEFT_API Timeout {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  // Withdraws the timer if the block was left without exit() (cannot
  // happen through timeout()/timeout_at(); a safety net).
  ~Timeout();

  // asyncio Timeout.when(): the deadline; time_point::max() means none.
  time_point when() const noexcept { return when_; }

  // asyncio Timeout.reschedule(): moves the deadline — earlier, later, or
  // time_point::max() for never. A deadline that is already past expires at
  // the task's next suspension point (asyncio: call_soon(_on_timeout)).
  // Throws InvalidStateError unless the timeout is active: inside its block
  // and not yet expired ("Cannot change state of expiring Timeout"). May be
  // called from any task or callback of the loop's thread.
  void reschedule(time_point when);

  // asyncio Timeout.expired(): true once the deadline passed and the task
  // was cancelled for it; stays true after the block is left.
  bool expired() const noexcept { return state_ == State::kExpiring || state_ == State::kExpired; }

 private:
  template <class F>
  friend class detail::TimeoutScope;

  enum class State : unsigned char { kCreated, kEntered, kExpiring, kExpired, kExited };

  Timeout(time_point when, const char* what) noexcept : when_(when), what_(what) {}

  // asyncio Timeout.__aenter__: binds the current task and records its
  // cancelling() count. Throws InvalidStateError outside a task.
  void enter();
  // asyncio Timeout.__aexit__: withdraws the timer and settles the state.
  // Returns true if the block ended with this timeout's own CancelledError,
  // which the caller then replaces by TimeoutError.
  bool exit(bool cancelled_error) noexcept;
  // The timer's callback (asyncio Timeout._on_timeout).
  void on_timeout();
  [[noreturn]] void throw_timeout_error() const;

  time_point when_;
  const char* what_;  // the public call, for messages
  detail::TaskCore* task_ = nullptr;
  Handle handle_;
  int cancelling_ = 0;
  State state_ = State::kCreated;
};

namespace detail {

// Calls fn(scope) when fn takes a Timeout&, else fn().
template <class F>
auto call_in_scope(F& fn, Timeout& scope, int) -> decltype(fn(scope)) {
  return fn(scope);
}
template <class F>
auto call_in_scope(F& fn, Timeout&, long) -> decltype(fn()) {
  return fn();
}
template <class F>
using ScopeResult = decltype(call_in_scope(std::declval<F&>(), std::declval<Timeout&>(), 0));

// Runs fn under a Timeout: enter, call, and exit on every path. The C++
// counterpart of `async with timeout_at(when) as cm: return fn(cm)`.
template <class F>
class TimeoutScope {
 public:
  using Result = ScopeResult<F>;

  static Result run(Timeout::time_point when, F& fn, const char* what) {
    Timeout scope(when, what);
    scope.enter();
    try {
      return call(scope, fn, std::is_void<Result>());
    } catch (const CancelledError&) {
      if (scope.exit(true)) scope.throw_timeout_error();
      throw;
    } catch (...) {
      scope.exit(false);
      throw;
    }
  }

 private:
  static Result call(Timeout& scope, F& fn, std::false_type /*a value*/) {
    Result result = call_in_scope(fn, scope, 0);
    scope.exit(false);
    return result;
  }
  static void call(Timeout& scope, F& fn, std::true_type /*void*/) {
    call_in_scope(fn, scope, 0);
    scope.exit(false);
  }
};

template <class F>
ScopeResult<F> run_with_deadline(Timeout::time_point when, F& fn, const char* what) {
  return TimeoutScope<F>::run(when, fn, what);
}

// asyncio tasks.py, _cancel_and_wait(): cancels fut and blocks until it is
// done. The waiter's own cancellation is not passed on (fut is already
// cancelled) and throws CancelledError. InvalidStateError outside a task.
WEFT_API void cancel_and_wait(FutureCore& fut, const char* what);

}  // namespace detail

// asyncio.timeout_at(when): runs fn in the current task with a deadline at
// `when` on the loop's clock (time_point::max(): none, until rescheduled).
// fn may take a `weft::Timeout&` (to read or move the deadline) or nothing.
// Returns fn's result. If the deadline passes, the task is cancelled; if
// fn then ends with that CancelledError, TimeoutError is thrown instead
// (after fn's RAII has run). If fn swallows the cancellation and returns,
// its result is returned. Any other exception from fn propagates as it is;
// a cancellation that was not this timeout's stays a CancelledError. A
// deadline already past expires at fn's first suspension point. Throws
// InvalidStateError outside a task.
template <class F>
detail::ScopeResult<F> timeout_at(Timeout::time_point when, F&& fn) {
  return detail::run_with_deadline(when, fn, "weft::timeout");
}

// asyncio.timeout(delay): timeout_at(loop.time() + delay, fn). A delay of
// zero or less expires at fn's first suspension point; a delay too large to
// represent means no deadline. Throws InvalidStateError outside a task.
template <class Rep, class Period, class F>
detail::ScopeResult<F> timeout(std::chrono::duration<Rep, Period> delay, F&& fn) {
  return detail::run_with_deadline(detail::deadline_in(delay), fn, "weft::timeout");
}

// --- wait_for: a timeout around one await -----------------------------------

// asyncio.wait_for(fut, timeout) (3.12+: `async with timeout(t): return
// await fut`): waits for the task or future and returns its value. When the
// timeout passes, the task is cancelled and waited for — its RAII has run —
// then TimeoutError is thrown; if it swallows the cancellation and returns,
// that value is returned; if it fails otherwise, that exception propagates.
// A timeout of zero or less returns at once if it is done, else cancels it,
// waits for it and throws TimeoutError (asyncio's special case). If the
// waiting task itself is cancelled, the cancellation passes on to the
// awaited one and CancelledError propagates, not TimeoutError. Throws
// InvalidStateError outside a task.
template <class T, class Rep, class Period>
T wait_for(Future<T> fut, std::chrono::duration<Rep, Period> timeout) {
  if (timeout <= std::chrono::duration<Rep, Period>::zero()) {
    if (fut.done()) return fut.result();
    detail::cancel_and_wait(fut.core(), "weft::wait_for");
    if (fut.cancelled()) throw TimeoutError("weft::wait_for: the timeout was zero or less and the operation was cancelled");
    return fut.result();
  }
  auto body = [&fut]() -> T { return fut.get(); };
  return detail::run_with_deadline(detail::deadline_in(timeout), body, "weft::wait_for");
}

// wait_for(fn, timeout): as asyncio.wait_for(coro, timeout) since 3.12, the
// callable runs in the calling task under the deadline (`await coro` inside
// `timeout()`), so this is timeout(d, fn) with wait_for's messages: on
// expiry fn's suspension point throws CancelledError, fn unwinds, and
// TimeoutError is thrown. With a timeout of zero or less, fn is wrapped in a
// task that is cancelled before it starts, so it never runs (asyncio:
// ensure_future, then _cancel_and_wait).
template <class F, class Rep, class Period, class R = detail::CallResult<typename std::decay<F>::type>>
R wait_for(F&& fn, std::chrono::duration<Rep, Period> timeout) {
  if (timeout <= std::chrono::duration<Rep, Period>::zero()) {
    detail::TaskCore::require_current("weft::wait_for");  // before a task is made
    return wait_for(Future<R>(create_task(std::forward<F>(fn))), timeout);
  }
  auto body = [&fn]() -> R { return fn(); };
  return detail::run_with_deadline(detail::deadline_in(timeout), body, "weft::wait_for");
}

}  // namespace weft

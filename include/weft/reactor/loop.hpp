// weft/reactor/loop.hpp — public header; includes only public headers and the
// standard library (epoll and the timer wheel stay behind Loop::Impl).
//
// weft::Loop is asyncio's event loop at the callback level: a FIFO ready
// queue (call_soon), timers (call_later / call_at), readiness callbacks on
// file descriptors (add_reader / add_writer), cross-thread submission
// (call_soon_threadsafe) and signal handlers (add_signal_handler). It knows
// fds and time, never fibers: tasks are built on it by fiber/.
//
// One iteration, as asyncio's BaseEventLoop._run_once:
//   1. poll for I/O, with a timeout of 0 if a callback is ready, else until
//      the next timer (forever if there is none);
//   2. queue the callbacks of ready fds, cross-thread submissions, caught
//      signals, then expired timers in order of exact deadline;
//   3. run exactly the callbacks that were queued when step 3 began, FIFO;
//      callbacks they schedule run in the next iteration.
//
// Threads: a Loop belongs to the thread that runs it. Every member function
// may be called from that thread (or from any one thread while the loop is not
// running); from any other thread only call_soon_threadsafe() and stop() are
// allowed, and any other call throws InvalidStateError while the loop runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "weft/export.hpp"
#include "weft/reactor/callback.hpp"
#include "weft/reactor/errors.hpp"
#include "weft/reactor/handle.hpp"

namespace weft {

class Loop;

// What went wrong, for the exception handler (asyncio's context dict).
struct ExceptionContext {
  std::string message;           // what the loop was doing, e.g. "callback raised"
  std::exception_ptr exception;  // the exception, if any
};

using ExceptionHandler = std::function<void(Loop&, const ExceptionContext&)>;

namespace detail {
// Saturating conversion of any duration to the steady clock's, rounded up so
// that a timer never fires early. Negative durations become zero.
template <class Rep, class Period>
std::chrono::steady_clock::duration clock_duration(std::chrono::duration<Rep, Period> d) {
  using Target = std::chrono::steady_clock::duration;
  using Source = std::chrono::duration<Rep, Period>;
  if (d <= Source::zero()) return Target::zero();
  // Comparing in the coarser of the two units cannot overflow.
  using Common = typename std::common_type<Source, std::chrono::duration<double, std::nano>>::type;
  if (std::chrono::duration_cast<Common>(d) >= std::chrono::duration_cast<Common>(Target::max())) {
    return Target::max();
  }
  Target t = std::chrono::duration_cast<Target>(d);
  if (t < d) t += Target(1);
  return t;
}
}  // namespace detail

class WEFT_API Loop {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  // Creates the loop's epoll instance and wake-up eventfd. Throws OSError.
  Loop();
  // Closes the loop if needed. Destroying a running loop aborts the process.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // --- scheduling ---------------------------------------------------------

  // Queues fn to run in a later iteration, after everything queued before it.
  // Throws InvalidStateError if the loop is closed or called from another
  // thread while the loop runs.
  Handle call_soon(Callback fn);

  // Runs fn once, no earlier than `delay` from now (time()). Timers fire in
  // order of their exact deadline, ties in the order they were scheduled; a
  // deadline already past fires in the next iteration. Any delay is accepted:
  // huge ones saturate to "never". O(1), no allocation beyond the callable's.
  template <class Rep, class Period>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, Callback fn) {
    return call_later_impl(detail::clock_duration(delay), std::move(fn));
  }

  // As call_later, with an absolute deadline on the steady clock;
  // time_point::max() never fires.
  TimerHandle call_at(time_point when, Callback fn);

  // Queues fn from any thread; wakes the loop if it is blocked. Calls from one
  // thread run in the order they were made. Throws InvalidStateError if the
  // loop is closed. Safe to call from other threads.
  void call_soon_threadsafe(Callback fn);

  // The loop's clock: std::chrono::steady_clock (CLOCK_MONOTONIC).
  time_point time() const { return clock::now(); }

  // --- readiness callbacks (level-triggered, as asyncio) ------------------

  // Calls fn in every iteration while fd is readable (writable), until
  // removed. A second add_reader on the same fd replaces the first. Throws
  // std::invalid_argument for a negative fd, OSError if epoll refuses the fd
  // (EBADF: not open; EPERM: a regular file), InvalidStateError if the fd is
  // owned by a weft stream.
  void add_reader(int fd, Callback fn);
  void add_writer(int fd, Callback fn);
  // Returns true if a callback was registered. The fd must still be open, or
  // already closed by the caller after the last callback ran.
  bool remove_reader(int fd);
  bool remove_writer(int fd);

  // --- signals ------------------------------------------------------------

  // Runs fn in the loop each time signal `sig` arrives (several arrivals
  // between two iterations run it once). The process-wide disposition is
  // taken over while registered and restored on removal or close(). A signal
  // can be handled by one loop at a time. Throws std::invalid_argument for an
  // invalid or uncatchable signal, InvalidStateError if another loop holds it.
  void add_signal_handler(int sig, Callback fn);
  bool remove_signal_handler(int sig);

  // --- running ------------------------------------------------------------

  // Runs iterations until stop(). Throws InvalidStateError if the loop is
  // closed, already running, or another loop runs on this thread.
  void run_forever();

  // Runs a single iteration (the loop's building block; run_forever is this
  // in a loop). `block` false polls with a zero timeout. Same errors as
  // run_forever.
  void run_once(bool block = true);

  // Makes run_forever() return after the current iteration. Called before
  // run_forever(), that run polls once without blocking and returns. Safe to
  // call from other threads.
  void stop();

  // Discards pending callbacks and timers, restores signal dispositions and
  // releases the epoll and wake-up fds. Idempotent. Throws InvalidStateError
  // while running.
  void close();

  bool is_running() const noexcept;
  bool is_closed() const noexcept;

  // --- debug mode (asyncio's loop.set_debug) -------------------------------
  // Off unless the environment variable WEFT_DEBUG is set to anything but
  // "" or "0" when the loop is made, or set_debug(true) (weft::run's
  // RunOptions::debug). In debug mode the fiber layer warns, through the
  // exception handler, when a task holds the loop longer than
  // slow_callback_duration() in one step or its stack use nears the guard,
  // records where each task was created for the "exception was never
  // retrieved" report, and weft::run() reports a deadlock (DeadlockError)
  // instead of hanging when every task waits on something nothing can
  // trigger (see weft/fiber/debug.hpp).
  void set_debug(bool enabled) noexcept;
  bool get_debug() const noexcept;
  // The threshold of the slow-step warning; 100 ms by default, as asyncio's.
  void set_slow_callback_duration(std::chrono::steady_clock::duration d) noexcept;
  std::chrono::steady_clock::duration slow_callback_duration() const noexcept;

  // --- errors -------------------------------------------------------------

  // Called when a callback throws. The default handler (null restores it)
  // prints the message and exception to stderr, and the loop goes on.
  void set_exception_handler(ExceptionHandler handler);
  void call_exception_handler(const ExceptionContext& context);
  void default_exception_handler(const ExceptionContext& context);

  // The loop's implementation, for reactor/ and fiber/ only (not exported).
  struct WEFT_LOCAL Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  TimerHandle call_later_impl(clock::duration delay, Callback fn);

  std::unique_ptr<Impl> impl_;
};

// The loop running on this thread. Throws InvalidStateError if none is
// (asyncio: "no running event loop").
WEFT_API Loop& get_running_loop();

// The loop running on this thread, or null.
WEFT_API Loop* running_loop() noexcept;

}  // namespace weft

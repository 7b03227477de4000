// weft/fiber/runners.hpp — public header; includes only public headers and
// the standard library.
//
// Entry points from ordinary code into the loop, as asyncio's runners.py and
// BaseEventLoop.run_until_complete().
//
//   asyncio                              weft
//   asyncio.run(main())                  weft::run(main)
//   loop.run_until_complete(coro)        weft::run_until_complete(loop, fn)
#pragma once

#include <type_traits>
#include <utility>

#include "weft/export.hpp"
#include "weft/fiber/tasks.hpp"

namespace weft {
namespace detail {

// Runs `loop` until `future` is done. Throws InvalidStateError if the loop
// stopped first ("Event loop stopped before Future completed.").
WEFT_API void run_until_done(Loop& loop, FutureCore& future);

// asyncio.runners._cancel_all_tasks: cancels every task still alive, runs
// the loop until they are done, and reports those that failed (other than
// by cancellation) to the exception handler.
WEFT_API void cancel_all_tasks(Loop& loop) noexcept;

// What weft::run does after main, whatever happened: cancel what is left and
// close the loop. Unlike asyncio.run, it does not wait for to_thread()
// functions still running: the worker pool is shared by every loop of the
// process, so they finish in the background (their results are dropped)
// and the process waits for them at exit.
class WEFT_API RunnerShutdown {
 public:
  explicit RunnerShutdown(Loop& loop) : loop_(loop) {}
  RunnerShutdown(const RunnerShutdown&) = delete;
  RunnerShutdown& operator=(const RunnerShutdown&) = delete;
  ~RunnerShutdown();

 private:
  Loop& loop_;
};

}  // namespace detail

// asyncio.run()'s keyword arguments; an aggregate.
struct RunOptions {
  // asyncio.run(debug=True): the loop runs in debug mode (Loop::set_debug;
  // weft/fiber/debug.hpp). False leaves it to the environment (WEFT_DEBUG).
  bool debug = false;
};

// asyncio.run(main()): runs fn on a new task of a new loop and returns its
// result (or throws its exception). When fn is done, tasks still alive are
// cancelled and awaited, then the loop closes. Throws InvalidStateError if a
// loop already runs on this thread; in debug mode, DeadlockError if every
// task ends up waiting on something nothing can trigger.
template <class F>
auto run(F&& fn, RunOptions options = RunOptions()) -> detail::CallResult<typename std::decay<F>::type> {
  if (running_loop() != nullptr) {
    throw InvalidStateError("weft::run cannot be called when an event loop is running on this thread");
  }
  Loop loop;
  if (options.debug) loop.set_debug(true);
  detail::RunnerShutdown shutdown(loop);
  auto task = create_task(loop, std::forward<F>(fn));
  detail::run_until_done(loop, task.core());
  return task.result();
}

// loop.run_until_complete(future): runs `loop` until the future (or task)
// is done and returns its result.
template <class T>
T run_until_complete(Loop& loop, Future<T> future) {
  detail::run_until_done(loop, future.core());
  return future.result();
}

// loop.run_until_complete(coro): runs fn on a new task of `loop` until done.
template <class F, class = detail::CallResult<typename std::decay<F>::type>>
auto run_until_complete(Loop& loop, F&& fn) -> detail::CallResult<typename std::decay<F>::type> {
  auto task = create_task(loop, std::forward<F>(fn));
  detail::run_until_done(loop, task.core());
  return task.result();
}

}  // namespace weft

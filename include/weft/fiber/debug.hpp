// weft/fiber/debug.hpp — public header; includes only public headers and
// the standard library.
//
// Seeing what the tasks are doing, in the spirit of asyncio 3.14's
// `python -m asyncio ps` / `pstree`, and debug mode's deadlock report.
//
//   asyncio                                weft
//   python -m asyncio ps PID / pstree PID  weft::dump_tasks(std::cerr), or
//                                          kill -USR1 PID after
//                                          weft::dump_tasks_on_signal(loop)
//   asyncio.run(main(), debug=True)        weft::run(main, RunOptions{true})
//   PYTHONASYNCIODEBUG=1                   WEFT_DEBUG=1
//   loop.set_debug(True)                   loop.set_debug(true)
//   loop.slow_callback_duration = 0.1      loop.set_slow_callback_duration(100ms)
//
// A dump lists every live task of the loop with its state, age, stack
// high-water mark and what it waits on, then the await tree (who waits on
// whom: a task awaiting a task, or a gather / wait / as_completed of tasks):
//
//   weft: 3 tasks on loop 0x5618f2a0
//     TASK      STATE    AGE      STACK        WAITING ON
//     main      parked   0.502 s  8/256 KiB    gather of 2: task 'worker-1', task 'worker-2'
//     worker-1  parked   0.501 s  4/256 KiB    queue get 0x7ffd3c9a1b20
//     worker-2  parked   0.501 s  4/256 KiB    fd 7 readable
//   await tree:
//     main
//     ├── worker-1
//     └── worker-2
//
// The stack column is the deepest page ever touched on the task's stack
// over the size it may use. Stacks are pooled with their pages, so the mark
// includes what earlier tasks on the same stack touched (in debug mode a
// stack is handed over clean). tools/weft-gdb.py shows the same from gdb,
// in a live process or a core file, with the backtrace of any parked task.
#pragma once

#include <csignal>
#include <ostream>
#include <string>

#include "weft/export.hpp"
#include "weft/reactor/errors.hpp"

namespace weft {

class Loop;

// Writes the tasks of the loop running on this thread (InvalidStateError if
// none runs) to `out`.
WEFT_API void dump_tasks(std::ostream& out);
// The same for `loop`, from its own thread (running or not).
WEFT_API void dump_tasks(Loop& loop, std::ostream& out);

// Dumps the tasks of `loop` to stderr each time `signal` arrives, from the
// loop (a signal handler of the loop, see Loop::add_signal_handler, so the
// dump runs between callbacks, never inside the signal handler). Undo with
// loop.remove_signal_handler(signal).
WEFT_API void dump_tasks_on_signal(Loop& loop, int signal = SIGUSR1);

// Thrown by weft::run() and run_until_complete() in debug mode when every
// task waits and nothing could ever wake one: no callback is ready, no
// timer pending, no fd watched, no signal handled, no function running on
// another thread for a task, and no other thread has ever submitted work to
// the loop (call_soon_threadsafe, run_coroutine_threadsafe; once one has,
// weft cannot know it will not again, and keeps waiting). what() holds the
// dump of the tasks at that moment.
class WEFT_API DeadlockError : public InvalidStateError {
 public:
  explicit DeadlockError(const std::string& report) : InvalidStateError(report) {}
};

}  // namespace weft

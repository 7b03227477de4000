// fiber/runners.cpp — run_until_complete and asyncio.run()'s shutdown.
#include "weft/fiber/runners.hpp"

#include <vector>

#include "fiber/loop_context.hpp"
#include "weft/fiber/debug.hpp"

namespace weft {
namespace detail {

void run_until_done(Loop& loop, FutureCore& future) {
  // asyncio's _run_until_complete_cb: the future's done callback stops the
  // loop. It runs as a scheduled callback, so the loop stops at the end of
  // the iteration in which the future completed.
  FutureCore::CallbackId id = 0;
  if (!future.done()) id = future.add_done_callback([&loop] { loop.stop(); });
  // Debug mode: a loop that would wait forever reports the deadlock.
  LoopContext* watch = loop.get_debug() ? &LoopContext::of(loop) : nullptr;
  struct Unwatch {
    LoopContext* context;
    ~Unwatch() {
      if (context != nullptr) context->watch_deadlocks(false);
    }
  } unwatch{watch};
  if (watch != nullptr) watch->watch_deadlocks(true);
  if (!future.done()) {
    try {
      loop.run_forever();
    } catch (...) {
      future.remove_callback(id);
      throw;
    }
  }
  if (!future.done()) {
    future.remove_callback(id);
    if (watch != nullptr) {
      std::string report = watch->take_deadlock_report();
      if (!report.empty()) throw DeadlockError(report);
    }
    throw InvalidStateError("run_until_complete: the event loop stopped before the future completed");
  }
}

void cancel_all_tasks(Loop& loop) noexcept {
  try {
    LoopContext& context = LoopContext::of(loop);
    std::vector<CorePtr<TaskCore>> tasks;
    for (TaskCore* t = context.first_live(); t != nullptr; t = t->next_live) tasks.emplace_back(t);
    if (tasks.empty()) return;
    for (auto& t : tasks) t->cancel(std::string());
    // Run until every one is done (gather(*to_cancel, return_exceptions=True)).
    std::size_t remaining = 0;
    for (auto& t : tasks) {
      if (!t->done()) {
        ++remaining;
        t->add_done_callback([&remaining, &loop] {
          if (--remaining == 0) loop.stop();
        });
      }
    }
    if (remaining > 0) loop.run_forever();
    for (auto& t : tasks) {
      if (t->done() && !t->cancelled()) {
        std::exception_ptr error = t->exception();
        if (error) {
          ExceptionContext report;
          report.message = "unhandled exception during weft::run() shutdown (task '" + t->name() + "')";
          report.exception = error;
          loop.call_exception_handler(report);
        }
      }
    }
  } catch (...) {
    ExceptionContext report;
    report.message = "error while cancelling the remaining tasks";
    report.exception = std::current_exception();
    loop.call_exception_handler(report);
  }
}

RunnerShutdown::~RunnerShutdown() {
  if (loop_.is_closed()) return;
  cancel_all_tasks(loop_);
  loop_.close();
}

}  // namespace detail
}  // namespace weft

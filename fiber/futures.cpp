// fiber/futures.cpp — FutureCore, the state behind Future<T> and Task<T>
// (asyncio's Future, Lib/asyncio/futures.py).
#include <cstdio>
#include <string>

#include "fiber/loop_context.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/futures.hpp"

namespace weft {
namespace detail {

FutureCore::FutureCore() : FutureCore(get_running_loop()) {}

FutureCore::FutureCore(Loop& loop) : context_(&LoopContext::of(loop)) { context_->add_ref(); }

FutureCore::~FutureCore() {
  if (!exception_retrieved_) report_unretrieved("Future exception was never retrieved");
  context_->release();
}

// asyncio Future.__del__: an exception nobody looked at is reported, with the
// loop's exception handler if the loop is still there. Subclasses call this
// first in their own destructor, with their own wording.
void FutureCore::report_unretrieved(const std::string& message) noexcept {
  if (exception_retrieved_) return;
  exception_retrieved_ = true;
  ExceptionContext report;
  report.message = message;
  report.exception = exception_;
  if (Loop* loop = context_->loop()) {
    loop->call_exception_handler(report);
  } else {
    std::fprintf(stderr, "weft: %s: %s\n", message.c_str(), describe_exception(exception_).c_str());
  }
}

Loop& FutureCore::loop() const {
  Loop* loop = context_->loop();
  if (loop == nullptr) throw InvalidStateError("the future's event loop is closed");
  return *loop;
}

void FutureCore::throw_invalid_state(const char* what) const {
  static const char* const kStates[] = {"pending", "cancelled", "finished"};
  throw InvalidStateError(std::string(what) + ": invalid state (the future is " +
                          kStates[static_cast<int>(state_)] + ")");
}

bool FutureCore::cancel(const std::string& message) {
  if (done()) return false;
  mark_cancelled(message);
  return true;
}

void FutureCore::mark_cancelled(const std::string& message) {
  set_cancel_message(message);
  complete(State::kCancelled);
}

void FutureCore::set_cancel_message(const std::string& message) {
  if (cancel_message_ != nullptr) {
    *cancel_message_ = message;
  } else if (!message.empty()) {
    cancel_message_.reset(new std::string(message));
  }
}

// Never destroyed: a future may be read during the program's exit.
const std::string& FutureCore::no_message() noexcept {
  static const std::string* const empty = new std::string();
  return *empty;
}

void FutureCore::set_exception(std::exception_ptr error) {
  if (done()) throw_invalid_state("set_exception");
  if (!error) throw std::invalid_argument("set_exception: a null exception_ptr");
  exception_ = std::move(error);
  exception_retrieved_ = false;
  complete(State::kFinished);
}

void FutureCore::set_finished() {
  if (done()) throw_invalid_state("set_result");
  complete(State::kFinished);
}

// Runs the library's waiters (they only wake tasks) and schedules the user's
// callbacks, in the order they were added, as asyncio's __schedule_callbacks.
void FutureCore::complete(State state) {
  state_ = state;
  if (first_callback_.id == 0) return;
  Entry first = std::move(first_callback_);
  first_callback_.id = 0;
  std::unique_ptr<std::vector<Entry>> more = std::move(more_callbacks_);
  Loop* loop = context_->loop();
  run_callback(first, loop);
  if (more != nullptr) {
    for (Entry& e : *more) run_callback(e, loop);
  }
}

void FutureCore::run_callback(Entry& entry, Loop* loop) {
  if (entry.synchronous) {
    entry.fn();
  } else if (loop != nullptr) {
    loop->call_soon(std::move(entry.fn));
  }
}

void FutureCore::check_result() {
  switch (state_) {
    case State::kPending:
      throw_invalid_state("result");
    case State::kCancelled:
      throw CancelledError(cancel_message());
    case State::kFinished:
      if (exception_) {
        exception_retrieved_ = true;
        std::rethrow_exception(exception_);
      }
      return;
  }
}

std::exception_ptr FutureCore::exception() {
  if (state_ == State::kPending) throw_invalid_state("exception");
  if (state_ == State::kCancelled) throw CancelledError(cancel_message());
  exception_retrieved_ = true;
  return exception_;
}

FutureCore::CallbackId FutureCore::add_done_callback(Callback fn) {
  if (done()) {
    loop().call_soon(std::move(fn));
    return 0;
  }
  return add_entry(false, std::move(fn));
}

FutureCore::CallbackId FutureCore::add_completion_waiter(Callback fn) {
  if (done()) return 0;
  return add_entry(true, std::move(fn));
}

FutureCore::CallbackId FutureCore::add_entry(bool synchronous, Callback&& fn) {
  const CallbackId id = next_id_++;
  if (first_callback_.id == 0 && (more_callbacks_ == nullptr || more_callbacks_->empty())) {
    first_callback_.id = id;
    first_callback_.synchronous = synchronous;
    first_callback_.fn = std::move(fn);
  } else {
    if (more_callbacks_ == nullptr) more_callbacks_.reset(new std::vector<Entry>());
    more_callbacks_->push_back(Entry{id, synchronous, std::move(fn)});
  }
  return id;
}

bool FutureCore::remove_callback(CallbackId id) {
  if (id == 0) return false;
  if (first_callback_.id == id) {
    // Keep the order: the next entry, if any, moves up inline.
    if (more_callbacks_ == nullptr || more_callbacks_->empty()) {
      first_callback_.id = 0;
      first_callback_.fn.reset();
    } else {
      first_callback_ = std::move(more_callbacks_->front());
      more_callbacks_->erase(more_callbacks_->begin());
    }
    return true;
  }
  if (more_callbacks_ == nullptr) return false;
  for (auto it = more_callbacks_->begin(); it != more_callbacks_->end(); ++it) {
    if (it->id == id) {
      more_callbacks_->erase(it);
      return true;
    }
  }
  return false;
}

void FutureCore::wait() {
  if (done()) return;
  TaskCore& task = TaskCore::require_current("Future::get");
  // A cancellation already pending is passed on to this future right here,
  // which may complete it.
  const Waker waker = task.prepare_wait(WaitSite::on_future(as_task() != nullptr ? "task" : "future", this), this);
  if (done()) {
    task.finish_wait();
  } else {
    const CallbackId id = add_completion_waiter([waker] { waker(); });
    task.park();
    if (!done()) remove_callback(id);
  }
  task.check_cancel();
}

}  // namespace detail
}  // namespace weft

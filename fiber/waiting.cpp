// fiber/waiting.cpp — the type-erased machinery of gather(), wait() and
// as_completed() (asyncio tasks.py: _GatheringFuture and gather's
// _done_callback, _wait, _AsCompletedIterator).
//
// Every piece follows the suspension-point recipe of the core: register a
// synchronous completion waiter on each child that is not done (it runs
// inside the child's completion and only counts and wakes), park, then
// withdraw whatever did not fire before anything can throw.
#include "weft/fiber/waiting.hpp"

#include <string>

namespace weft {
namespace detail {

namespace {

// True if a done future failed: cancelled, or finished with an exception.
// Reading the exception marks it retrieved, as asyncio's callbacks do.
bool failed(FutureCore& core) { return core.cancelled() || core.exception() != nullptr; }

// Marks a done future's exception retrieved (asyncio gather: "Mark
// exception retrieved.").
void mark_retrieved(FutureCore& core) {
  if (core.done() && !core.cancelled()) core.exception();
}

// Removes the completion waiters that did not fire.
void withdraw(ChildWaiter* children, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (children[i].waiter != 0) {
      children[i].core->remove_callback(children[i].waiter);
      children[i].waiter = 0;
    }
  }
}

}  // namespace

// --- gather ---------------------------------------------------------------------

void Gathering::wait(const char* what) {
  TaskCore& task = TaskCore::require_current(what);
  // asyncio gather(): the children already done are handled first, in
  // argument order, once `outer` exists; a failure among them completes
  // `outer` at once, and `await outer` then does not suspend.
  std::size_t pending = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    FutureCore& child = *children_[i].core;
    if (!child.done()) {
      ++pending;
    } else if (failed(child) && !settled_ && failed_ == nullptr) {
      failed_ = &child;
    }
  }
  if (failed_ == nullptr && pending > 0) {
    park_until_known(task);
  } else if (failed_ != nullptr) {
    abandon_to_running_children();
  }
  if (failed_ != nullptr) failed_->check_result();  // throws the failure
}

void Gathering::park_until_known(TaskCore& task) {
  // A cancellation already requested of the task is passed to cancel()
  // right here, before any waiter exists: the children it completes at once
  // (plain futures) are simply found done below.
  waker_ = task.prepare_wait(WaitSite::on_children("gather", children_, count_), this);
  try {
    for (std::size_t i = 0; i < count_; ++i) {
      FutureCore& child = *children_[i].core;
      if (child.done()) continue;
      children_[i].waiter = child.add_completion_waiter([this, i] { on_child_done(i); });
      ++pending_;
    }
  } catch (...) {  // out of memory: leave no waiter pointing at this frame
    withdraw();
    task.finish_wait();
    throw;
  }
  if (pending_ == 0) {
    task.finish_wait();
  } else {
    task.park();
  }
  withdraw();
  waker_ = Waker();
  if (failed_ != nullptr) abandon_to_running_children();
  task.check_cancel();  // the loop closes, or the task was cancelled after its wake-up
  if (cancel_requested_) {
    // asyncio: "If gather is being cancelled we must propagate the
    // cancellation regardless of *return_exceptions*."
    for (std::size_t i = 0; i < count_; ++i) mark_retrieved(*children_[i].core);
    throw CancelledError(cancel_message_);
  }
}

bool Gathering::cancel(const std::string& message) {
  // Set first: a plain future cancelled below completes at once, and its
  // completion must not be mistaken for a failure of gather's own.
  const bool was_requested = cancel_requested_;
  cancel_requested_ = true;
  bool taken = false;
  for (std::size_t i = 0; i < count_; ++i) {
    if (children_[i].core->cancel(message)) taken = true;
  }
  if (taken) {
    cancel_message_ = message;
  } else {
    cancel_requested_ = was_requested;
  }
  return taken;
}

void Gathering::on_child_done(std::size_t index) noexcept {
  children_[index].waiter = 0;  // fired: nothing to withdraw
  FutureCore& child = *children_[index].core;
  --pending_;
  const bool child_failed = failed(child);
  if (child_failed && !settled_ && !cancel_requested_ && failed_ == nullptr) {
    failed_ = &child;
    waker_();
  } else if (pending_ == 0) {
    waker_();
  }
}

void Gathering::withdraw() noexcept {
  if (pending_ > 0) detail::withdraw(children_, count_);
}

// gather() throws its first failure while other children still run. asyncio
// keeps its _done_callback on them, which marks their exceptions retrieved
// when they end ("if outer.done(): fut.exception()"); weft leaves a small
// waiter that does the same, holding only the child's own core.
void Gathering::abandon_to_running_children() noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    FutureCore* child = children_[i].core;
    if (child->done()) {
      mark_retrieved(*child);
    } else {
      child->add_completion_waiter([child] { mark_retrieved(*child); });
    }
  }
}

// --- wait -------------------------------------------------------------------------

namespace {

// asyncio _wait's _on_completion test.
bool satisfied(ReturnWhen when, std::size_t remaining, FutureCore& finished) {
  if (remaining == 0 || when == ReturnWhen::FirstCompleted) return true;
  return when == ReturnWhen::FirstException && !finished.cancelled() && finished.exception() != nullptr;
}

// The state of one wait() call, on the waiting task's stack.
struct WaitState {
  ChildWaiter* children;
  ReturnWhen when;
  std::size_t remaining;
  Waker waker;

  void on_child_done(std::size_t index) noexcept {
    children[index].waiter = 0;
    --remaining;
    if (satisfied(when, remaining, *children[index].core)) waker();
  }
};

}  // namespace

void wait_children(ChildWaiter* children, std::size_t count, ReturnWhen when,
                   std::chrono::steady_clock::time_point deadline, const char* what) {
  if (count == 0) throw std::invalid_argument(std::string(what) + ": the set of tasks/futures is empty");
  TaskCore& task = TaskCore::require_current(what);
  WaitState state{children, when, 0, Waker()};
  bool ready = false;
  for (std::size_t i = 0; i < count; ++i) {
    FutureCore& child = *children[i].core;
    if (!child.done()) {
      ++state.remaining;
    } else if (when != ReturnWhen::AllCompleted && satisfied(when, 1, child)) {
      ready = true;
    }
  }
  if (ready || state.remaining == 0) {
    // asyncio _wait awaits its waiter even then: the done callbacks are
    // scheduled, so the task always suspends once.
    task.yield_now();
    return;
  }
  state.waker = task.prepare_wait(WaitSite::on_children("wait", children, count));
  TimerHandle timer;
  try {
    for (std::size_t i = 0; i < count; ++i) {
      FutureCore& child = *children[i].core;
      if (!child.done()) children[i].waiter = child.add_completion_waiter([&state, i] { state.on_child_done(i); });
    }
    if (deadline != std::chrono::steady_clock::time_point::max()) {
      const Waker waker = state.waker;
      timer = task.loop().call_at(deadline, [waker] { waker(WakeReason::kTimeout); });
    }
  } catch (...) {  // out of memory: leave no waiter pointing at this frame
    withdraw(children, count);
    task.finish_wait();
    throw;
  }
  task.park();
  timer.cancel();
  if (state.remaining > 0) withdraw(children, count);
  task.check_cancel();
}

// --- as_completed -------------------------------------------------------------------

CompletionQueue::CompletionQueue(std::vector<ChildWaiter> children, std::chrono::steady_clock::time_point deadline)
    : children_(std::move(children)) {
  done_.reserve(children_.size());
  try {
    for (std::size_t i = 0; i < children_.size(); ++i) {
      FutureCore& child = *children_[i].core;
      if (child.done()) {
        done_.push_back(i);
      } else {
        children_[i].waiter = child.add_completion_waiter([this, i] { on_child_done(i); });
      }
    }
    // asyncio: "if todo and timeout is not None: call_later(timeout, ...)".
    if (done_.size() < children_.size() && deadline != std::chrono::steady_clock::time_point::max()) {
      timer_ = get_running_loop().call_at(deadline, [this] { on_timeout(); });
    }
  } catch (...) {  // no loop, or out of memory: leave no waiter pointing here
    withdraw();
    throw;
  }
}

CompletionQueue::~CompletionQueue() {
  timer_.cancel();
  withdraw();
}

void CompletionQueue::withdraw() noexcept {
  if (done_.size() < children_.size()) detail::withdraw(children_.data(), children_.size());
}

void CompletionQueue::on_child_done(std::size_t index) noexcept {
  children_[index].waiter = 0;
  done_.push_back(index);  // within the reserved capacity: cannot throw
  // asyncio _handle_completion: "if not self._todo and self._timeout_handle
  // is not None: self._timeout_handle.cancel()".
  if (done_.size() == children_.size()) timer_.cancel();
  waiter_();
}

// asyncio _handle_timeout: the children still running are forgotten (they
// will not be yielded), and every later request raises TimeoutError.
void CompletionQueue::on_timeout() noexcept {
  timed_out_ = true;
  timer_ = TimerHandle();
  withdraw();
  waiter_();
}

std::size_t CompletionQueue::next(const char* what) {
  TaskCore& task = TaskCore::require_current(what);
  if (consumed_ >= children_.size()) throw InvalidStateError(std::string(what) + ": every future was already returned");
  while (consumed_ == done_.size()) {
    if (timed_out_) throw TimeoutError(std::string(what) + ": the timeout passed before the next future was done");
    waiter_ = task.prepare_wait(WaitSite::on_children("as_completed", children_.data(), children_.size()));
    task.park();
    waiter_ = Waker();
    task.check_cancel();
  }
  return done_[consumed_++];
}

}  // namespace detail
}  // namespace weft

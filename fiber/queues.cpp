// fiber/queues.cpp — what asyncio's Queue does besides storing items
// (Lib/asyncio/queues.py, Python 3.13): parking getters and putters, waking
// them, task_done/join and shutdown. The item stores are templates in
// weft/fiber/queues.hpp.
#include "weft/fiber/queues.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "fiber/item_waiters.hpp"
#include "fiber/loop_context.hpp"

namespace weft {
namespace detail {


QueueBase::QueueBase(Loop& loop, long maxsize, const char* kind)
    : loop_(&loop), context_(&LoopContext::of(loop)), kind_(kind), maxsize_(maxsize) {
  context_->add_ref();
}

// A parked task holds a pointer into this queue: tell each one that the
// queue is gone, so that it throws instead of touching it.
QueueBase::~QueueBase() {
  orphan_all(getters_);
  orphan_all(putters_);
  orphan_all(joiners_);
  orphan_all(woken_);
  context_->release();
}

std::string QueueBase::name(const char* op) const { return std::string(kind_) + "::" + op; }

// The loop's own tasks may still run while a closing loop unwinds them,
// when no loop is "running" on the thread (LoopContext::loop_closing).
void QueueBase::check_thread_slow(const char* op) const {
  const TaskCore* task = TaskCore::current();
  if (running_loop() == nullptr && task != nullptr && &task->context() == context_) return;
  throw InvalidStateError(name(op) + ": called from outside the queue's event loop (another thread, or no loop running)");
}

void QueueBase::reject_blocking_call(const char* op) const {
  check_thread(op);  // throws if the call comes from another loop or thread
  throw InvalidStateError(name(op) + ": must be called from inside a task (weft::create_task)");
}

// --- getting and putting ---------------------------------------------------------

// A task that was given a wake-up and then cancelled before it resumed
// passes the wake-up on if the queue can still serve one (asyncio
// queues.py, Queue.get: "We were woken up by put_nowait(), but can't take
// the call. Wake up the next in line."; Queue.put likewise), so that no
// item waits while a getter sleeps.
void QueueBase::after_wait(const ItemWaiter& waiter, TaskCore& task, Side side) {
  try {
    task.check_cancel();
  } catch (...) {
    const bool can_serve = side == Side::kGet ? size_ > 0 : !is_full();
    ItemWaitList& list = side == Side::kGet ? getters_ : putters_;
    if (waiter.state == ItemWaitState::kWoken && can_serve) wake_first(list, woken_);
    throw;
  }
}

// `kind` and `op` are string literals, not members of the destroyed queue.
void QueueBase::throw_orphaned(TaskCore& task, const char* kind, const char* op) {
  task.check_cancel();
  throw InvalidStateError(std::string(kind) + "::" + op + ": the queue was destroyed while the task waited on it");
}

void QueueBase::throw_shut_down(const char* op) const {
  throw QueueShutDown(name(op) + (size_ == 0 ? ": the queue is shut down and empty" : ": the queue is shut down"));
}

void QueueBase::check_put_nowait(const char* op) const {
  check_thread(op);
  if (shutdown_) throw QueueShutDown(name(op) + ": the queue is shut down");
  if (is_full()) throw QueueFull(name(op) + ": the queue is full (maxsize " + std::to_string(maxsize_) + ")");
}

void QueueBase::check_get_nowait(const char* op) const {
  check_thread(op);
  if (size_ != 0) return;
  if (shutdown_) throw QueueShutDown(name(op) + ": the queue is shut down and empty");
  throw QueueEmpty(name(op) + ": the queue is empty");
}

// asyncio Queue.put_nowait: "self._wakeup_next(self._getters)".
void QueueBase::wake_getter() noexcept { wake_first(getters_, woken_); }

// asyncio Queue.get_nowait: "self._wakeup_next(self._putters)".
void QueueBase::wake_putter() noexcept { wake_first(putters_, woken_); }

// --- task_done, join, shutdown ---------------------------------------------------

void QueueBase::task_done() {
  check_thread("task_done");
  if (unfinished_ == 0) {
    throw std::invalid_argument(name("task_done") + ": called more times than there were items put");
  }
  if (--unfinished_ == 0) wake_all(joiners_, woken_, ItemWaitState::kWoken);
}

// asyncio Queue.join: "if self._unfinished_tasks > 0: await
// self._finished.wait()". Event.wait returns once woken, so a woken joiner
// does not look at the count again.
void QueueBase::join() {
  TaskCore& task = blocking_call("join");
  const char* const kind = kind_;
  while (unfinished_ > 0) {
    ItemWaiter waiter;
    park_in(joiners_, waiter, task, WaitSite::on_object("queue join", this));
    if (waiter.orphaned) throw_orphaned(task, kind, "join");
    task.check_cancel();
    if (waiter.state == ItemWaitState::kWoken) return;
    // Otherwise the task was woken by a cancellation that was then withdrawn
    // (uncancel()): wait again.
  }
}

// asyncio Queue.shutdown: "if immediate: while not self.empty(): self._get();
// if self._unfinished_tasks > 0: self._unfinished_tasks -= 1", then every
// getter and putter is woken to see the shutdown.
void QueueBase::shut_down(bool immediate, std::size_t drained) noexcept {
  shutdown_ = true;
  if (immediate) {
    size_ = 0;
    unfinished_ -= std::min(unfinished_, drained);
    if (unfinished_ == 0) wake_all(joiners_, woken_, ItemWaitState::kWoken);
  }
  wake_all(getters_, woken_, ItemWaitState::kWoken);
  wake_all(putters_, woken_, ItemWaitState::kWoken);
}

}  // namespace detail
}  // namespace weft

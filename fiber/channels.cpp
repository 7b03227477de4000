// fiber/channels.cpp — what a Channel does besides moving items: parking
// senders and receivers, waking them, and close(). The handoffs themselves
// are in the Channel<T> template (weft/fiber/channels.hpp).
#include "weft/fiber/channels.hpp"

#include <string>

#include "fiber/item_waiters.hpp"
#include "fiber/loop_context.hpp"

namespace weft {
namespace detail {

namespace {

std::string name(const char* op) { return std::string("weft::Channel::") + op; }

// A wait that did not complete its operation: raise the task's
// cancellation, or, if the channel was destroyed meanwhile, say so.
void check_wait(const ItemWaiter& waiter, TaskCore& task, const char* op) {
  task.check_cancel();
  if (waiter.orphaned) throw InvalidStateError(name(op) + ": the channel was destroyed while the task waited on it");
}

}  // namespace

ChannelBase::ChannelBase(Loop& loop, std::size_t capacity)
    : loop_(&loop), context_(&LoopContext::of(loop)), capacity_(capacity) {
  context_->add_ref();
}

// A parked task holds a pointer into this channel: tell each one that the
// channel is gone, so that it throws instead of touching it.
ChannelBase::~ChannelBase() {
  orphan_all(receivers_);
  orphan_all(senders_);
  orphan_all(woken_);
  context_->release();
}

// As QueueBase::check_thread_slow: a closing loop unwinds its tasks while
// no loop is "running".
void ChannelBase::check_thread_slow(const char* op) const {
  const TaskCore* task = TaskCore::current();
  if (running_loop() == nullptr && task != nullptr && &task->context() == context_) return;
  throw InvalidStateError(name(op) + ": called from outside the channel's event loop (another thread, or no loop running)");
}

void ChannelBase::reject_blocking_call(const char* op) const {
  check_thread(op);  // throws if the call comes from another loop or thread
  throw InvalidStateError(name(op) + ": must be called from inside a task (weft::create_task)");
}

void ChannelBase::throw_closed(const char* op) const { throw ChannelClosed(name(op) + ": the channel is closed"); }

ItemWaiter* ChannelBase::wake_first_receiver() noexcept { return wake_first(receivers_, woken_); }

ItemWaiter* ChannelBase::wake_first_sender() noexcept { return wake_first(senders_, woken_); }

// A completed operation stands even if the task was cancelled after it
// (Trio's rule): finish_send() and finish_recv() return at once on
// kDelivered, before looking at the cancellation, which stays pending for
// the task's next suspension point.
bool ChannelBase::finish_send_slow(const ItemWaiter& waiter, TaskCore& task) {
  check_wait(waiter, task, "send");
  if (waiter.state == ItemWaitState::kClosed) {
    throw ChannelClosed(name("send") + ": the channel was closed while the task waited to send");
  }
  // kWoken (a receiver failed to move the item out) or a withdrawn
  // cancellation: try again.
  return false;
}

bool ChannelBase::finish_recv_slow(const ItemWaiter& waiter, TaskCore& task) {
  check_wait(waiter, task, "recv");
  // kClosed, kWoken or a withdrawn cancellation: look again, to find an
  // item or the end.
  return false;
}

// Go's closechan: wake every receiver (they find the end) and every sender
// (they fail). Buffered items stay for the receivers to drain.
void ChannelBase::close() {
  check_thread("close");
  if (closed_) return;
  closed_ = true;
  wake_all(receivers_, woken_, ItemWaitState::kClosed);
  wake_all(senders_, woken_, ItemWaitState::kClosed);
}

}  // namespace detail
}  // namespace weft

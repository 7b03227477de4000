// fiber/lock_waiters.hpp — internal header of fiber/ (not installed).
//
// The parked tasks of a synchronization primitive (locks.hpp,
// semaphores.hpp). asyncio's locks.py keeps a deque of futures, one per
// waiting task, and reads each future's state: pending, done with a result
// (woken) or cancelled. weft keeps a LockWaiter node per waiting task instead,
// on that task's own stack, linked into the primitive's LockWaiterList, so a
// wait allocates nothing:
//
//   list.head ─▶ [node A] ⇄ [node B] ⇄ [node C] ◀─ list.tail
//                 stack A     stack B     stack C
//
// A node's State is the future's state. The node is also the Cancellable the
// task's cancellation goes to while it is parked (asyncio: Task.cancel()
// cancels the future the task awaits), so a cancellation marks the node
// cancelled at once and the primitive sees it, as asyncio's code sees
// fut.cancelled(), before the cancelled task has resumed.
//
// Invariant: a node is linked exactly while its task is inside wait_in();
// only the task itself links and unlinks it. The primitive wakes nodes but
// never unlinks them, so a woken or cancelled node stays in the list until
// its task resumes (asyncio: `finally: self._waiters.remove(fut)`).
#pragma once

#include <cassert>
#include <cstdint>
#include <string>

#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/locks.hpp"

namespace weft {
namespace detail {

class LockWaiter final : public Cancellable {
 public:
  enum class State : uint8_t {
    kWaiting,    // asyncio: the future is pending
    kWoken,      // fut.set_result(): the primitive handed this task a wake-up
    kCancelled,  // fut.cancel(): the task was cancelled while it waited
  };

  LockWaiter() = default;
  LockWaiter(const LockWaiter&) = delete;
  LockWaiter& operator=(const LockWaiter&) = delete;
  ~LockWaiter() { assert(list_ == nullptr && "LockWaiter destroyed while linked"); }

  // Links this node at the tail of `list`, parks `task` (the current one)
  // until wake() or a cancellation, and unlinks the node before returning,
  // whatever happened. A cancellation pending on entry ends the wait at once.
  // Call throw_if_cancelled() next.
  void wait_in(LockWaiterList& list, TaskCore& task, const WaitSite& site) {
    link(list);
    struct Unlink {
      LockWaiter* node;
      ~Unlink() { node->unlink(); }
    } unlink_on_exit{this};
    // A pending cancellation is passed to this node right here (asyncio
    // Task.__step: "if self._must_cancel: self._fut_waiter.cancel()").
    waker_ = task.prepare_wait(site, this);
    if (state_ == State::kWaiting) {
      task.park();
    } else {
      task.finish_wait();
    }
  }

  // After wait_in(): returns if the task was woken and is not cancelled;
  // throws CancelledError if it was cancelled, whether before its wake-up
  // (the cancellation came through this node) or after it (the cancellation
  // is pending in the task: "woken then cancelled before it resumed"). A
  // closing loop's unwinding also throws here.
  void throw_if_cancelled(TaskCore& task) const {
    task.check_cancel();  // a pending cancellation, or the loop closing
    if (state_ != State::kWoken) throw CancelledError(message_);
  }

  // asyncio fut.set_result(): hands the parked task a wake-up. Returns false,
  // doing nothing, if the node was already woken or cancelled (fut.done()).
  bool wake() noexcept {
    if (state_ != State::kWaiting) return false;
    state_ = State::kWoken;
    waker_();
    return true;
  }

  // Cancellable: the task was cancelled while parked on this node. Returns
  // false if the node was already woken (the task then keeps the
  // cancellation pending and throw_if_cancelled() delivers it).
  bool cancel(const std::string& message) override {
    if (state_ != State::kWaiting) return false;
    state_ = State::kCancelled;
    message_ = message;
    ++list_->cancelled;
    // Null inside prepare_wait(), which then skips the park.
    waker_(WakeReason::kCancelled);
    return true;
  }

  // asyncio fut.done(): woken or cancelled.
  bool done() const noexcept { return state_ != State::kWaiting; }
  bool woken() const noexcept { return state_ == State::kWoken; }
  bool cancelled() const noexcept { return state_ == State::kCancelled; }

  // The next node towards the tail, for a primitive walking its list.
  LockWaiter* next() const noexcept { return next_; }

 private:
  void link(LockWaiterList& list) noexcept {
    list_ = &list;
    prev_ = list.tail;
    next_ = nullptr;
    if (list.tail != nullptr) {
      list.tail->next_ = this;
    } else {
      list.head = this;
    }
    list.tail = this;
    ++list.size;
  }

  void unlink() noexcept {
    LockWaiterList& list = *list_;
    if (prev_ != nullptr) {
      prev_->next_ = next_;
    } else {
      list.head = next_;
    }
    if (next_ != nullptr) {
      next_->prev_ = prev_;
    } else {
      list.tail = prev_;
    }
    --list.size;
    if (state_ == State::kCancelled) --list.cancelled;
    list_ = nullptr;
  }

  LockWaiterList* list_ = nullptr;
  LockWaiter* prev_ = nullptr;
  LockWaiter* next_ = nullptr;
  Waker waker_;
  State state_ = State::kWaiting;
  std::string message_;  // the cancellation's message, if cancelled
};

}  // namespace detail
}  // namespace weft

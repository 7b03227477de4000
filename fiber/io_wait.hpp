// fiber/io_wait.hpp — internal header of fiber/ (not installed).
//
// The two ways a stream, a server or wait_readable() blocks its task:
//
//   - park_on_fd(): until an fd is ready, on the reactor's internal
//     edge-triggered wait (Loop::Impl::wait_io). The caller has just seen
//     EAGAIN: I/O is always attempted first (DESIGN.md, "Readiness").
//   - WaitList: until some loop callback says a condition may have changed
//     (a flush drained the write buffer, a stream closed): asyncio's lists
//     of waiter futures (FlowControlMixin._drain_waiters, Server._waiters).
//
// Both resume the task exactly once, with the reason it woke; the caller
// then calls task.check_cancel() and re-checks its condition.
#pragma once

#include <chrono>

#include "reactor/loop_impl.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {
namespace detail {

// Parks `task` (the current task) until `fd` is ready in `dir`, `deadline`
// passes (time_point::max(): never), or someone calls the Waker published
// in *publish (if given) — how close() ends a wait on a stream it closes.
// Returns why the task woke. On return nothing is registered any more: the
// wait is withdrawn unless *live_fd no longer equals fd (the owner closed
// the fd meanwhile, which withdrew it; its number may already belong to
// someone else). Throws InvalidStateError if another task waits on the same
// fd and direction, OSError if epoll refuses the fd.
//
// The reactor's one-shot callback holds a reference to the task: once the
// edge has queued it, nothing can withdraw it, and the task may have woken
// for another reason and ended before it runs. A stale call is then a no-op
// on a live object (the Waker's epoch has moved on).
WakeReason park_on_fd(TaskCore& task, Loop& loop, int fd, IoDirection dir, Loop::time_point deadline,
                      const int* live_fd, Waker* publish = nullptr);

// Tasks waiting for a condition that loop callbacks may change. A node
// lives on its task's stack and is linked exactly while the task is inside
// wait(). wake_all() wakes every linked task but unlinks none (each unlinks
// itself when it resumes), so waking hands nothing over and a woken task
// that is then cancelled loses nothing: it simply re-checks or throws.
class WaitList {
 public:
  // `what` (a string literal) names the condition for dump_tasks().
  explicit WaitList(const char* what) noexcept : what_(what) {}
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  // Parks `task` until wake_all() or its cancellation; returns the reason.
  WakeReason wait(TaskCore& task);

  // Wakes every waiting task (from a callback or another task).
  void wake_all() noexcept {
    for (Node* n = head_; n != nullptr; n = n->next) n->waker();
  }

  bool empty() const noexcept { return head_ == nullptr; }

 private:
  struct Node {
    Waker waker;
    Node* prev = nullptr;
    Node* next = nullptr;
  };
  const char* what_;
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

}  // namespace detail
}  // namespace weft

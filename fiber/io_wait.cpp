// fiber/io_wait.cpp — parking a task on an fd or a wait list (see
// fiber/io_wait.hpp).
#include "fiber/io_wait.hpp"

#include <utility>

namespace weft {
namespace detail {

namespace {

// The reactor's one-shot callback for park_on_fd. It fits Callback's inline
// buffer (a pointer, a Waker), so a wait allocates nothing.
struct FdReady {
  CorePtr<TaskCore> keep;  // see park_on_fd: a queued call may outlive the wait
  Waker waker;
  void operator()() const noexcept { waker(); }
};

}  // namespace

WakeReason park_on_fd(TaskCore& task, Loop& loop, int fd, IoDirection dir, Loop::time_point deadline,
                      const int* live_fd, Waker* publish) {
  Loop::Impl& impl = loop.impl();
  const Waker waker = task.prepare_wait(WaitSite::on_fd(fd, dir == IoDirection::kRead));
  try {
    impl.wait_io(fd, dir, FdReady{CorePtr<TaskCore>(&task), waker});
  } catch (...) {
    task.finish_wait();
    throw;
  }
  TimerHandle timer;
  if (deadline != Loop::time_point::max()) {
    try {
      timer = loop.call_at(deadline, [waker] { waker(WakeReason::kTimeout); });
    } catch (...) {
      impl.cancel_io(fd, dir);
      task.finish_wait();
      throw;
    }
  }
  if (publish != nullptr) *publish = waker;
  // Withdrawn on every way out, an exception from park() included.
  struct Withdraw {
    Loop::Impl& impl;
    int fd;
    IoDirection dir;
    const int* live_fd;
    Waker* publish;
    TimerHandle& timer;
    ~Withdraw() {
      if (publish != nullptr) *publish = Waker();
      timer.cancel();
      if (*live_fd == fd) impl.cancel_io(fd, dir);
    }
  } withdraw{impl, fd, dir, live_fd, publish, timer};
  const WakeReason why = task.park();
  return why;
}

WakeReason WaitList::wait(TaskCore& task) {
  Node node;
  node.prev = tail_;
  if (tail_ != nullptr) {
    tail_->next = &node;
  } else {
    head_ = &node;
  }
  tail_ = &node;
  node.waker = task.prepare_wait(WaitSite::on_object(what_, this));
  struct Unlink {
    WaitList& list;
    Node& node;
    ~Unlink() {
      if (node.prev != nullptr) {
        node.prev->next = node.next;
      } else {
        list.head_ = node.next;
      }
      if (node.next != nullptr) {
        node.next->prev = node.prev;
      } else {
        list.tail_ = node.prev;
      }
    }
  } unlink{*this, node};
  const WakeReason why = task.park();
  return why;
}

}  // namespace detail
}  // namespace weft

// weft/fiber/channels.hpp — public header; includes only public headers and
// the standard library.
//
// weft::Channel<T>: a Go-style channel between tasks, an extra beside
// asyncio's queues. send() blocks while the channel has no room, recv()
// while it has nothing; close() ends it. Capacity 0 is a rendezvous: each
// send waits for a receiver to take its item.
//
//   weft::Channel<Job> jobs(16);
//   producer:  jobs.send(std::move(job)); ...; jobs.close();
//   consumer:  for (Job& job : jobs) handle(job);   // until closed and drained
//
// Unlike a Queue, a Channel hands items over directly, as Go's runtime does
// (chan.go: a sender that finds a parked receiver copies the value straight
// to it; a receiver that finds a parked sender takes its value, refilling
// the buffer from it when there is one). The handoff completes the parked
// side's operation while it is still parked, so its cancellation follows
// Trio's rule: an operation that has completed is not undone. A task whose
// send or recv completed and which is cancelled before it resumed returns
// normally from that call — the item was delivered, or is returned — and
// the cancellation is raised at its next suspension point (or ends the task
// cancelled if it returns first). A cancelled task whose operation did not
// complete throws CancelledError and neither gave nor took anything. So no
// cancellation loses or duplicates an item, at any capacity.
//
// Where calls may come from: send(), recv() and iteration block, so they
// work only inside a task (InvalidStateError elsewhere, always, even when
// they would not have to wait); try_send(), try_recv(), close() and the
// observers also work from a plain callback of the loop. Every call throws
// InvalidStateError from a thread other than the one running the channel's
// loop. A channel belongs to the loop that runs when it is made, or to the
// one given, and is made on that loop's thread (or before the loop runs).
// It is neither copyable nor movable; destroying one wakes the tasks parked
// on it, which throw InvalidStateError.
#pragma once

#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "weft/export.hpp"
#include "weft/fiber/detail/future_core.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/queues.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {

// A send on a closed channel, or a recv() that returns a value on a closed
// and drained one. Go panics on the first and returns ok=false on the
// second; weft throws.
class WEFT_API ChannelClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

// Everything of a channel but its items: the closed flag and the parked
// tasks, with its slow paths in fiber/channels.cpp.
//
// Invariants: receivers_ is non-empty only while the buffer is empty, and
// senders_ only while it is full (a rendezvous channel's buffer is always
// both), so at most one side has tasks parked at a time. Every waiter whose
// task was woken but has not resumed yet sits in woken_.
class WEFT_API ChannelBase {
 public:
  ChannelBase(const ChannelBase&) = delete;
  ChannelBase& operator=(const ChannelBase&) = delete;

  // The buffer's size given at construction; 0 for a rendezvous channel.
  std::size_t capacity() const {
    check_thread("capacity");
    return capacity_;
  }

  // True once close() was called.
  bool closed() const {
    check_thread("closed");
    return closed_;
  }

  // Ends the channel: later sends throw ChannelClosed; receivers get what is
  // buffered, then the end. Wakes every parked task: senders throw
  // ChannelClosed (their items were not sent and stay with them), receivers
  // see the end. Idempotent. Also from a plain loop callback.
  void close();

 protected:
  // Throws InvalidStateError if the loop is closed.
  ChannelBase(Loop& loop, std::size_t capacity);
  ~ChannelBase();

  void check_thread(const char* op) const {
    if (running_loop() != loop_) check_thread_slow(op);
  }
  // The running task, for a call that may block: throws InvalidStateError
  // from another thread or outside a task. A task of the channel's loop
  // runs on the loop's thread, so one comparison checks both.
  TaskCore& blocking_call(const char* op) const {
    TaskCore* task = TaskCore::current();
    if (task == nullptr || &task->context() != context_) reject_blocking_call(op);
    return *task;
  }
  void check_open(const char* op) const {
    if (closed_) throw_closed(op);
  }
  [[noreturn]] void throw_closed(const char* op) const;

  // The first parked receiver (sender) whose task could be woken, now
  // marked kWoken and on woken_; null if none. The caller completes its
  // operation and marks it kDelivered.
  ItemWaiter* wake_receiver() noexcept { return receivers_.linked() ? wake_first_receiver() : nullptr; }
  ItemWaiter* wake_sender() noexcept { return senders_.linked() ? wake_first_sender() : nullptr; }

  // Park the running task as a sender (receiver) until a receiver (sender)
  // completes its operation, the channel closes, or the task is cancelled;
  // then the static finish_send() (finish_recv()) says what happened. They
  // return true if the operation completed (kDelivered, however cancelled
  // the task is by now), false if it should be tried again; they throw
  // CancelledError if the task was cancelled, ChannelClosed (senders only),
  // or InvalidStateError if the channel was destroyed meanwhile. Static, as
  // the channel may be gone.
  void park_sender(ItemWaiter& waiter, TaskCore& task) { park_in(senders_, waiter, task, WaitSite::on_object("channel send", this)); }
  void park_receiver(ItemWaiter& waiter, TaskCore& task) { park_in(receivers_, waiter, task, WaitSite::on_object("channel receive", this)); }
  static bool finish_send(const ItemWaiter& waiter, TaskCore& task) {
    return waiter.state == ItemWaitState::kDelivered || finish_send_slow(waiter, task);
  }
  static bool finish_recv(const ItemWaiter& waiter, TaskCore& task) {
    return waiter.state == ItemWaitState::kDelivered || finish_recv_slow(waiter, task);
  }

  std::size_t capacity_value() const noexcept { return capacity_; }
  bool is_closed() const noexcept { return closed_; }

 private:
  static bool finish_send_slow(const ItemWaiter& waiter, TaskCore& task);
  static bool finish_recv_slow(const ItemWaiter& waiter, TaskCore& task);
  ItemWaiter* wake_first_receiver() noexcept;
  ItemWaiter* wake_first_sender() noexcept;
  void check_thread_slow(const char* op) const;
  [[noreturn]] void reject_blocking_call(const char* op) const;

  Loop* loop_;
  LoopContext* context_;  // the fiber layer's state of loop_; a reference
  std::size_t capacity_;
  ItemWaitList receivers_;
  ItemWaitList senders_;
  ItemWaitList woken_;
  bool closed_ = false;
};

}  // namespace detail

template <class T>
class Channel : public detail::ChannelBase {
 public:
  class iterator;

  // A channel of the loop running on this thread; throws InvalidStateError
  // if none runs. `capacity` items can wait in its buffer; 0 makes every
  // send wait for a receiver.
  explicit Channel(std::size_t capacity = 0) : Channel(get_running_loop(), capacity) {}
  // A channel of `loop`.
  explicit Channel(Loop& loop, std::size_t capacity = 0) : ChannelBase(loop, capacity) {}

  // Sends the item: hands it to a parked receiver, else buffers it, else
  // waits until a receiver takes it (or, with capacity > 0, until it enters
  // the buffer, in order). Throws ChannelClosed if the channel is closed
  // (before or while waiting), CancelledError if the task is cancelled
  // before the item went, InvalidStateError outside a task. The item is
  // moved from (or copied) only once sent, so after an exception the caller
  // still has it.
  void send(T&& item) { send_ref(item); }
  void send(const T& item) {
    T copy(item);
    send_ref(copy);
  }

  // Sends the item if that needs no wait: returns false, the item untouched,
  // if no receiver is parked and the buffer is full (always full at
  // capacity 0). Throws ChannelClosed if the channel is closed.
  bool try_send(T&& item) {
    check_thread("try_send");
    check_open("try_send");
    return offer(item);
  }
  bool try_send(const T& item) {
    T copy(item);
    return try_send(std::move(copy));
  }

  // Receives the next item into `out` (by move assignment) and returns true,
  // waiting while there is none; returns false once the channel is closed
  // and drained. Throws CancelledError if the task is cancelled before an
  // item came, InvalidStateError outside a task.
  bool recv(T& out) {
    detail::ResultSlot<T> slot;
    if (!recv_into(slot)) return false;
    out = std::move(slot.value());
    return true;
  }

  // As recv(out), returning the item; throws ChannelClosed at the end.
  T recv() {
    detail::ResultSlot<T> slot;
    if (!recv_into(slot)) throw_closed("recv");
    return std::move(slot.value());
  }

  // Receives an item if one is there without waiting (buffered, or from a
  // parked sender): returns true with it in `out`, false if there is none
  // now. Throws ChannelClosed if the channel is closed and drained.
  bool try_recv(T& out) {
    check_thread("try_recv");
    detail::ResultSlot<T> slot;
    if (take(slot)) {
      out = std::move(slot.value());
      return true;
    }
    if (is_closed()) throw_closed("try_recv");
    return false;
  }

  // The number of items in the buffer.
  std::size_t size() const {
    check_thread("size");
    return buffer_.size();
  }

  // Range-for support: `for (T& item : channel)` receives until the channel
  // is closed and drained. Each step is a recv(), with its contract.
  iterator begin() { return iterator(this); }
  iterator end() noexcept { return iterator(); }

 private:
  // Completes the send if no wait is needed: into a parked receiver's slot,
  // or into the buffer. Returns false if neither can take the item.
  bool offer(T& item) {
    if (detail::ItemWaiter* receiver = wake_receiver()) {
      static_cast<detail::ResultSlot<T>*>(receiver->item)->emplace(std::move(item));
      receiver->state = detail::ItemWaitState::kDelivered;
      return true;
    }
    if (buffer_.size() < capacity_value()) {
      buffer_.push(std::move(item));
      return true;
    }
    return false;
  }

  // Completes a receive if no wait is needed: from the buffer, whose freed
  // place goes to the first parked sender's item (its send completes), or
  // straight from a parked sender at capacity 0.
  bool take(detail::ResultSlot<T>& out) {
    if (!buffer_.empty()) {
      out.emplace(std::move(buffer_.front()));
      buffer_.drop_front();
      if (detail::ItemWaiter* sender = wake_sender()) {
        buffer_.push(std::move(*static_cast<T*>(sender->item)));
        sender->state = detail::ItemWaitState::kDelivered;
      }
      return true;
    }
    if (detail::ItemWaiter* sender = wake_sender()) {
      out.emplace(std::move(*static_cast<T*>(sender->item)));
      sender->state = detail::ItemWaitState::kDelivered;
      return true;
    }
    return false;
  }

  // If moving an item throws after a waiter was woken, the waiter stays
  // kWoken rather than kDelivered and tries again when it resumes.
  void send_ref(T& item) {
    detail::TaskCore& task = blocking_call("send");
    for (;;) {
      check_open("send");
      if (offer(item)) return;
      detail::ItemWaiter waiter(&item);
      park_sender(waiter, task);
      if (finish_send(waiter, task)) return;
    }
  }

  bool recv_into(detail::ResultSlot<T>& out) {
    detail::TaskCore& task = blocking_call("recv");
    for (;;) {
      if (take(out)) return true;
      if (is_closed()) return false;
      detail::ItemWaiter waiter(&out);
      park_receiver(waiter, task);
      if (finish_recv(waiter, task)) return true;
    }
  }

  detail::RingBuffer<T> buffer_;
};

// An input iterator that receives as it advances; end() is the default one.
template <class T>
class Channel<T>::iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using pointer = T*;
  using reference = T&;

  iterator() noexcept = default;
  iterator(iterator&& other) : channel_(other.channel_) {
    if (other.item_.has_value()) item_.emplace(std::move(other.item_.value()));
  }
  iterator& operator=(iterator&&) = delete;

  T& operator*() { return item_.value(); }
  T* operator->() { return &item_.value(); }
  iterator& operator++() {
    advance();
    return *this;
  }
  // Only "at the end or not" is compared, as for std::istream_iterator.
  bool operator==(const iterator& other) const noexcept { return (channel_ == nullptr) == (other.channel_ == nullptr); }
  bool operator!=(const iterator& other) const noexcept { return !(*this == other); }

 private:
  friend class Channel<T>;
  explicit iterator(Channel* channel) : channel_(channel) { advance(); }

  void advance() {
    item_.reset();
    if (!channel_->recv_into(item_)) channel_ = nullptr;
  }

  Channel* channel_ = nullptr;
  detail::ResultSlot<T> item_;
};

}  // namespace weft

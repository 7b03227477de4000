// weft/fiber/queues.hpp — public header; includes only public headers and the
// standard library.
//
// Queues for tasks, as asyncio's (Lib/asyncio/queues.py, Python 3.13): a FIFO
// Queue, a PriorityQueue (lowest first) and a LifoQueue, with put/get that
// block the calling task, their _nowait twins, task_done/join, and shutdown.
//
//   asyncio                            weft
//   q = asyncio.Queue(maxsize=8)       weft::Queue<Job> q(8);
//   await q.put(job)                   q.put(std::move(job));
//   job = await q.get()                Job job = q.get();
//   q.put_nowait(job) / q.get_nowait() same names (QueueFull / QueueEmpty)
//   q.task_done(); await q.join()      q.task_done(); q.join();
//   q.shutdown(immediate=True)         q.shutdown(true);   (QueueShutDown)
//
// Where calls may come from (DESIGN.md): put(), get() and join() block, so
// they work only inside a task and throw InvalidStateError elsewhere — always,
// even when they would not have to wait, so that a call's validity never
// depends on the queue's contents. Every other call also works from a plain
// callback of the loop. Every call, blocking or not, throws InvalidStateError
// from a thread other than the one running the queue's loop.
//
// A queue belongs to the loop that runs when it is made, or to the one
// given, and is made on that loop's thread (or before the loop runs). It is
// neither copyable nor movable: parked tasks point into it. Destroying a
// queue wakes the tasks parked on it, which throw InvalidStateError.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {

// asyncio.QueueEmpty: get_nowait() on an empty queue.
class WEFT_API QueueEmpty : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// asyncio.QueueFull: put_nowait() on a full queue.
class WEFT_API QueueFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// asyncio.QueueShutDown (3.13): a put, or a get that finds nothing left, on a
// queue that was shut down.
class WEFT_API QueueShutDown : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

// --- the parts a queue and a channel share -------------------------------------

// How a parked task's wait ended, as whoever woke it left it.
enum class ItemWaitState : unsigned char {
  kParked,     // not woken by the queue or channel (perhaps by a cancellation)
  kWoken,      // woken to try again (asyncio's wake-up)
  kSkipped,    // taken off its list unwoken: a cancellation had woken it first
  kDelivered,  // channels: its send or receive completed while it was parked
  kClosed,     // channels: woken by close()
};

// A link of a circular, doubly linked list. A list is a lone link (the
// head) and the links of its nodes; a link on no list points to itself, so
// a node can leave its list without knowing which one it is.
struct ItemWaitLink {
  ItemWaitLink() noexcept : prev(this), next(this) {}
  ItemWaitLink(const ItemWaitLink&) = delete;
  ItemWaitLink& operator=(const ItemWaitLink&) = delete;
  ~ItemWaitLink() { unlink(); }

  bool linked() const noexcept { return next != this; }
  void unlink() noexcept {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }

  ItemWaitLink* prev;
  ItemWaitLink* next;
};

// The head of a FIFO of parked tasks.
using ItemWaitList = ItemWaitLink;

// A task parked on a queue or a channel. The node lives on the parked
// task's own stack, so waiting allocates nothing; the task links it, parks,
// and unlinks it when it resumes (fiber/item_waiters.hpp has the list
// operations). Whoever wakes the task moves the node from the waiting list
// to its owner's list of woken tasks and sets `state`.
struct ItemWaiter : ItemWaitLink {
  explicit ItemWaiter(void* item_in = nullptr) noexcept : item(item_in) {}

  Waker waker;
  // Channels only: the parked sender's item (a T), or the parked receiver's
  // empty slot (a ResultSlot<T>) that a sender fills.
  void* item;
  ItemWaitState state = ItemWaitState::kParked;
  // The queue or channel was destroyed while the task waited: the task must
  // not touch it again.
  bool orphaned = false;
};

inline void link_back(ItemWaitList& list, ItemWaitLink& node) noexcept {
  node.prev = list.prev;
  node.next = &list;
  list.prev->next = &node;
  list.prev = &node;
}

// Links `waiter` at the back of `list` and parks the running task `task`
// until something wakes it: its queue or channel (waiter.state says how),
// a cancellation, or a closing loop. The node stays linked until the caller
// destroys it. Inline on purpose: the switch away from a task should be
// called from the task's own frame, since every call level between them
// costs a mispredicted return when the task resumes on its stack (about
// 7 ns per level and per wait, measured on pingpong).
inline void park_in(ItemWaitList& list, ItemWaiter& waiter, TaskCore& task, const WaitSite& site) {
  waiter.waker = task.prepare_wait(site);
  link_back(list, waiter);
  task.park();
}

// The items of a Queue or a buffered Channel, first in, first out: a ring
// buffer that grows
// by doubling and never shrinks (a queue keeps the largest size it reached
// until it is destroyed; no allocation once it has grown), unlike
// std::deque, which allocates and frees a block every few hundred bytes of
// traffic.
//
//   data_: [ k . . . . h i j ]     head_ = 5, size_ = 4, capacity_ = 8
//                      ^ front       (the capacity is a power of two)
template <class T>
class RingBuffer {
 public:
  RingBuffer() noexcept = default;
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;
  ~RingBuffer() {
    clear();
    std::allocator<T>().deallocate(data_, capacity_);
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  // Adds an item at the back.
  template <class U>
  void push(U&& item) {
    if (size_ == capacity_) grow();
    ::new (static_cast<void*>(data_ + ((head_ + size_) & (capacity_ - 1)))) T(std::forward<U>(item));
    ++size_;
  }
  // The front item, and its removal. Precondition: !empty().
  T& front() noexcept { return data_[head_]; }
  void drop_front() noexcept {
    data_[head_].~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
  }
  // Removes and returns the front item. Precondition: !empty().
  T pop() {
    T item(std::move(front()));
    drop_front();
    return item;
  }
  void clear() noexcept {
    while (size_ != 0) drop_front();
  }

 private:

  // Moves the items to twice the room, front first. If a copy throws (T has
  // a throwing move and can be copied), the buffer is left as it was.
  void grow() {
    const std::size_t capacity = capacity_ == 0 ? 8 : capacity_ * 2;
    std::allocator<T> alloc;
    T* data = alloc.allocate(capacity);
    std::size_t moved = 0;
    try {
      for (; moved < size_; ++moved) {
        ::new (static_cast<void*>(data + moved)) T(std::move_if_noexcept(data_[(head_ + moved) & (capacity_ - 1)]));
      }
    } catch (...) {
      while (moved != 0) data[--moved].~T();
      alloc.deallocate(data, capacity);
      throw;
    }
    const std::size_t size = size_;
    clear();
    alloc.deallocate(data_, capacity_);
    data_ = data;
    capacity_ = capacity;
    head_ = 0;
    size_ = size;
  }

  T* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// --- queues ------------------------------------------------------------------

// Everything of a queue but its items: counts, the shutdown flag and the
// tasks parked on it, with its slow paths in fiber/queues.cpp; the
// templates below only move items in and out of their store.
//
// Invariants: size_ is the number of items in the store. A task is parked
// in getters_ only while the queue is empty, and in putters_ only while it
// is full (as seen when it parked; wake-ups do not hand over items, see
// get()). Every waiter whose task was woken but has not resumed yet sits in
// woken_, so that the destructor can find it.
class WEFT_API QueueBase {
 public:
  QueueBase(const QueueBase&) = delete;
  QueueBase& operator=(const QueueBase&) = delete;

  // asyncio Queue.qsize(): the number of items in the queue.
  std::size_t qsize() const {
    check_thread("qsize");
    return size_;
  }

  // asyncio Queue.maxsize: the bound given at construction; 0 or less means
  // unbounded.
  long maxsize() const {
    check_thread("maxsize");
    return maxsize_;
  }

  // asyncio Queue.empty(): true if the queue holds no item.
  bool empty() const {
    check_thread("empty");
    return size_ == 0;
  }

  // asyncio Queue.full(): true if the queue holds maxsize() items; never for
  // an unbounded queue.
  bool full() const {
    check_thread("full");
    return is_full();
  }

  // asyncio Queue.task_done(): a consumer says that it finished with an item
  // it got. When every item put so far is finished, join() returns. Throws
  // std::invalid_argument (asyncio: ValueError) if called more times than
  // items were put. Also from a plain loop callback.
  void task_done();

  // asyncio Queue.join(): blocks until every item put so far has been gotten
  // and marked finished with task_done(); returns at once if none is
  // unfinished. Once woken it returns, even if more items were put before it
  // resumed (asyncio: it waits on an Event). Throws CancelledError if the
  // task is cancelled, InvalidStateError outside a task.
  void join();

 protected:
  // `kind` names the queue in messages ("weft::Queue"); a string literal.
  // Throws InvalidStateError if the loop is closed.
  QueueBase(Loop& loop, long maxsize, const char* kind);
  ~QueueBase();

  void check_thread(const char* op) const {
    if (running_loop() != loop_) check_thread_slow(op);
  }
  // The running task, for a call that may block: throws InvalidStateError
  // from another thread or outside a task. A task of the queue's loop runs
  // on the loop's thread, so one comparison checks both.
  TaskCore& blocking_call(const char* op) const {
    TaskCore* task = TaskCore::current();
    if (task == nullptr || &task->context() != context_) reject_blocking_call(op);
    return *task;
  }
  bool is_full() const noexcept { return maxsize_ > 0 && size_ >= static_cast<std::size_t>(maxsize_); }

  // asyncio Queue.get: "while self.empty(): if self._is_shutdown: raise
  // QueueShutDown ... await getter". Returns once the queue holds an item;
  // a woken getter checks again, since a wake-up is not an item.
  void wait_to_get(TaskCore& task, const char* op) {
    const char* const kind = kind_;  // `this` may be gone when the task resumes
    while (size_ == 0) {
      if (shutdown_) throw_shut_down(op);
      ItemWaiter waiter;
      park_in(getters_, waiter, task, WaitSite::on_object("queue get", this));
      if (waiter.orphaned) throw_orphaned(task, kind, op);
      after_wait(waiter, task, Side::kGet);
    }
  }

  // asyncio Queue.put: "while self.full(): if self._is_shutdown: raise
  // QueueShutDown ... await putter", then put_nowait(), which raises
  // QueueShutDown too. Returns once the queue has room.
  void wait_to_put(TaskCore& task, const char* op) {
    const char* const kind = kind_;
    while (is_full() && !shutdown_) {
      ItemWaiter waiter;
      park_in(putters_, waiter, task, WaitSite::on_object("queue put", this));
      if (waiter.orphaned) throw_orphaned(task, kind, op);
      after_wait(waiter, task, Side::kPut);
    }
    if (shutdown_) throw_shut_down(op);
  }

  // put_nowait() / get_nowait(): throw instead of waiting.
  void check_put_nowait(const char* op) const;
  void check_get_nowait(const char* op) const;

  // Bookkeeping after the store gained or lost an item: counts, and
  // asyncio's _wakeup_next of one waiter on the other side.
  void item_added() noexcept {
    ++size_;
    ++unfinished_;
    if (getters_.linked()) wake_getter();
  }
  void item_removed() noexcept {
    --size_;
    if (putters_.linked()) wake_putter();
  }
  // shutdown(), after an immediate one removed `drained` items.
  void shut_down(bool immediate, std::size_t drained) noexcept;

 private:
  enum class Side : unsigned char { kGet, kPut };

  // The end of a wait whose queue still exists: raises the task's
  // cancellation, if any, after passing on a wake-up it can no longer use.
  void after_wait(const ItemWaiter& waiter, TaskCore& task, Side side);
  // The end of a wait whose queue was destroyed meanwhile: raises the
  // task's cancellation, or else InvalidStateError.
  [[noreturn]] static void throw_orphaned(TaskCore& task, const char* kind, const char* op);
  [[noreturn]] void throw_shut_down(const char* op) const;
  void wake_getter() noexcept;
  void wake_putter() noexcept;
  void check_thread_slow(const char* op) const;
  [[noreturn]] void reject_blocking_call(const char* op) const;
  std::string name(const char* op) const;

  Loop* loop_;
  LoopContext* context_;  // the fiber layer's state of loop_; a reference
  const char* kind_;
  long maxsize_;
  std::size_t size_ = 0;
  std::size_t unfinished_ = 0;  // asyncio _unfinished_tasks
  ItemWaitList getters_;
  ItemWaitList putters_;
  ItemWaitList joiners_;
  ItemWaitList woken_;
  bool shutdown_ = false;  // asyncio _is_shutdown
};

// A queue over a Store — RingBuffer (first in, first out), LifoStore or
// PriorityStore — which plays asyncio's _init/_put/_get: push(item),
// T pop(), size(), clear().
template <class T, class Store>
class BasicQueue : public QueueBase {
 public:
  using value_type = T;

  // asyncio Queue.put(): adds the item, first waiting while the queue is
  // full. Throws QueueShutDown if the queue is (or, while waiting, becomes)
  // shut down, CancelledError if the task is cancelled while it waits,
  // InvalidStateError outside a task. The item is moved from (or copied)
  // only when it enters the queue, so after an exception the caller still
  // has it.
  void put(T&& item) {
    TaskCore& task = blocking_call("put");
    wait_to_put(task, "put");
    store(std::move(item));
  }
  void put(const T& item) {
    TaskCore& task = blocking_call("put");
    wait_to_put(task, "put");
    store(item);
  }

  // asyncio Queue.put_nowait(): adds the item if there is room. Throws
  // QueueShutDown after shutdown(), QueueFull if the queue is full (the
  // item is then untouched). Also from a plain loop callback.
  void put_nowait(T&& item) {
    check_put_nowait("put_nowait");
    store(std::move(item));
  }
  void put_nowait(const T& item) {
    check_put_nowait("put_nowait");
    store(item);
  }

  // asyncio Queue.get(): removes and returns the next item, first waiting
  // while the queue is empty. Throws QueueShutDown if the queue is shut down
  // and empty (at once after shutdown(true), which empties it),
  // CancelledError if the task is cancelled while it waits,
  // InvalidStateError outside a task.
  //
  // asyncio's wake-ups, not handoffs: put wakes the first parked getter,
  // which takes an item itself once it resumes; an item never sits in a
  // parked task, so cancelling a getter never loses one. A getter woken
  // and then cancelled before it resumed passes its wake-up on to the next
  // getter (asyncio queues.py, Queue.get); putters do the same. As in
  // asyncio, a task that calls get() or get_nowait() while a woken getter
  // is on its way can take the item first; the woken getter then parks
  // again, at the back.
  T get() {
    TaskCore& task = blocking_call("get");
    wait_to_get(task, "get");
    return take();
  }

  // asyncio Queue.get_nowait(): removes and returns the next item if there
  // is one. Throws QueueEmpty if the queue is empty, QueueShutDown instead
  // if it is also shut down. Also from a plain loop callback.
  T get_nowait() {
    check_get_nowait("get_nowait");
    return take();
  }

  // asyncio Queue.shutdown() (3.13): from now on put() and put_nowait()
  // throw QueueShutDown, and so do get() and get_nowait() once the queue is
  // empty. With `immediate`, the queue is emptied at once (its items are
  // destroyed, and each counts as finished for join()), so gets throw at
  // once. Every task parked in put() or get() is woken to throw; join()
  // returns once no item is unfinished. Idempotent. Also from a plain loop
  // callback.
  void shutdown(bool immediate = false) {
    check_thread("shutdown");
    std::size_t drained = 0;
    if (immediate) {
      drained = store_.size();
      store_.clear();
    }
    shut_down(immediate, drained);
  }

 protected:
  // `store_args` construct the store.
  template <class... StoreArgs>
  BasicQueue(Loop& loop, long maxsize, const char* kind, StoreArgs&&... store_args)
      : QueueBase(loop, maxsize, kind), store_(std::forward<StoreArgs>(store_args)...) {}
  ~BasicQueue() = default;

 private:
  template <class U>
  void store(U&& item) {
    store_.push(std::forward<U>(item));
    item_added();
  }
  T take() {
    T item = store_.pop();
    item_removed();
    return item;
  }

  Store store_;
};

// LifoQueue's store: last in, first out.
template <class T>
class LifoStore {
 public:
  std::size_t size() const noexcept { return items_.size(); }
  template <class U>
  void push(U&& item) {
    items_.push_back(std::forward<U>(item));
  }
  T pop() {
    T item(std::move(items_.back()));
    items_.pop_back();
    return item;
  }
  void clear() noexcept { items_.clear(); }

 private:
  std::vector<T> items_;
};

// PriorityQueue's store: a binary heap that pops the lowest item first (by
// `Compare`, as heapq by `<`). Items that compare equal come out in no
// particular order, as with heapq.
template <class T, class Compare>
class PriorityStore {
 public:
  explicit PriorityStore(Compare compare = Compare()) : after_{std::move(compare)} {}
  std::size_t size() const noexcept { return items_.size(); }
  template <class U>
  void push(U&& item) {
    items_.push_back(std::forward<U>(item));
    std::push_heap(items_.begin(), items_.end(), after_);
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), after_);
    T item(std::move(items_.back()));
    items_.pop_back();
    return item;
  }
  void clear() noexcept { items_.clear(); }

 private:
  // std::push_heap keeps the greatest element on top; reversing the order
  // keeps the lowest there instead.
  struct After {
    Compare less;
    bool operator()(const T& a, const T& b) const { return less(b, a); }
  };
  std::vector<T> items_;
  After after_;
};

}  // namespace detail

// asyncio.Queue: first in, first out. maxsize 0 or less means unbounded.
// Items need only be movable (std::unique_ptr works). get() returns the item
// by value, so, as with any such pop, a move constructor that throws there
// loses that item.
template <class T>
class Queue : public detail::BasicQueue<T, detail::RingBuffer<T>> {
 public:
  // A queue of the loop running on this thread; throws InvalidStateError if
  // none runs.
  explicit Queue(long maxsize = 0) : Queue(get_running_loop(), maxsize) {}
  // A queue of `loop`.
  explicit Queue(Loop& loop, long maxsize = 0)
      : detail::BasicQueue<T, detail::RingBuffer<T>>(loop, maxsize, "weft::Queue") {}
};

// asyncio.LifoQueue: last in, first out.
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoStore<T>> {
 public:
  explicit LifoQueue(long maxsize = 0) : LifoQueue(get_running_loop(), maxsize) {}
  explicit LifoQueue(Loop& loop, long maxsize = 0)
      : detail::BasicQueue<T, detail::LifoStore<T>>(loop, maxsize, "weft::LifoQueue") {}
};

// asyncio.PriorityQueue: the lowest item first, by Compare (std::less: as
// heapq, which pops the smallest). Entries are typically pairs or tuples of
// (priority, data).
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::PriorityStore<T, Compare>> {
  using Base = detail::BasicQueue<T, detail::PriorityStore<T, Compare>>;

 public:
  explicit PriorityQueue(long maxsize = 0, Compare compare = Compare())
      : PriorityQueue(get_running_loop(), maxsize, std::move(compare)) {}
  explicit PriorityQueue(Loop& loop, long maxsize = 0, Compare compare = Compare())
      : Base(loop, maxsize, "weft::PriorityQueue", std::move(compare)) {}
};

}  // namespace weft

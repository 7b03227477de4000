// weft/fiber/detail/future_core.hpp — public header (implementation detail of
// Future<T> and Task<T>; users never name these types). Includes only public
// headers and the standard library.
//
// FutureCore is the shared state behind every Future<T> and Task<T>, as
// asyncio's Future: a state (pending, cancelled, finished), an exception or a
// value, and done callbacks. Handles share it through an intrusive,
// non-atomic reference count: futures, tasks and their handles belong to the
// loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/reactor/callback.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {

// The value of a Task<void> or Future<void> where a value is needed, as in
// gather()'s tuple: Python's None.
struct None {
  bool operator==(None) const { return true; }
  bool operator!=(None) const { return false; }
};

namespace detail {

struct CallbackNode;
class LoopContext;
class TaskCore;

// Something a waiting task can pass its own cancellation on to, as asyncio's
// Task.cancel() cancels the future the task awaits (`_fut_waiter`).
class Cancellable {
 public:
  // Returns true if the cancellation was taken (the waiter keeps waiting
  // for the outcome), false if there was nothing left to cancel.
  virtual bool cancel(const std::string& message) = 0;

 protected:
  ~Cancellable() = default;
};

// A holder for a value that may not be there yet (C++14 has no optional).
template <class T>
class ResultSlot {
 public:
  ResultSlot() = default;
  ResultSlot(const ResultSlot&) = delete;
  ResultSlot& operator=(const ResultSlot&) = delete;
  ~ResultSlot() { reset(); }

  template <class... Args>
  void emplace(Args&&... args) {
    reset();
    ::new (static_cast<void*>(&storage_)) T(std::forward<Args>(args)...);
    has_ = true;
  }
  bool has_value() const { return has_; }
  T& value() { return *reinterpret_cast<T*>(&storage_); }
  void reset() {
    if (has_) value().~T();
    has_ = false;
  }

 private:
  typename std::aligned_storage<sizeof(T), alignof(T)>::type storage_;
  bool has_ = false;
};

// Future<void>'s and Task<void>'s value.
template <class T>
struct ValueOf {
  using type = T;
};
template <>
struct ValueOf<void> {
  using type = None;
};

class WEFT_API FutureCore : public Cancellable {
 public:
  enum class State : uint8_t { kPending, kCancelled, kFinished };
  using CallbackId = uint64_t;

  // A future of the loop running on this thread; throws InvalidStateError
  // if there is none.
  FutureCore();
  explicit FutureCore(Loop& loop);
  FutureCore(const FutureCore&) = delete;
  FutureCore& operator=(const FutureCore&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  State state() const noexcept { return state_; }
  bool done() const noexcept { return state_ != State::kPending; }
  bool cancelled() const noexcept { return state_ == State::kCancelled; }

  // asyncio Future.cancel(): a pending future becomes cancelled and its
  // callbacks are scheduled. Returns false if it was already done. A Task
  // overrides this: cancelling a task only asks it to stop.
  bool cancel(const std::string& message) override;

  // Finishes the future with an exception. Throws InvalidStateError if done.
  void set_exception(std::exception_ptr error);

  // Finishes the future with the value already stored by the subclass.
  // Throws InvalidStateError if done.
  void set_finished();

  // Throws as result() would without returning the value: InvalidStateError
  // if pending, CancelledError if cancelled, the exception if it failed.
  // Marks the exception retrieved.
  void check_result();

  // asyncio Future.exception(): null if finished with a value; throws
  // InvalidStateError if pending, CancelledError if cancelled.
  std::exception_ptr exception();

  // The message of the cancellation, if cancelled (empty if none was given).
  const std::string& cancel_message() const noexcept {
    return cancel_message_ != nullptr ? *cancel_message_ : no_message();
  }

  // Blocks the current task until the future is done, as `await fut`
  // (without fetching the result). If the waiting task is cancelled
  // meanwhile, the cancellation is passed on to this future (asyncio: a task
  // cancels the future it awaits) and the wait goes on until this future is
  // done; a cancellation of the waiter that could not be passed on throws
  // CancelledError. Throws InvalidStateError outside a task.
  void wait();

  // Schedules fn with call_soon once the future is done (at once if it is).
  CallbackId add_done_callback(Callback fn);

  // Calls fn synchronously when the future completes: for the library's own
  // waiters, whose callbacks only wake a task. fn must not throw. If the
  // future is already done, fn is not called and 0 is returned.
  CallbackId add_completion_waiter(Callback fn);

  // Removes a callback that has not been called or scheduled yet.
  bool remove_callback(CallbackId id);

  // The loop the future belongs to; throws InvalidStateError if it was
  // closed and destroyed.
  Loop& loop() const;
  LoopContext& context() const noexcept { return *context_; }

  // Tasks answer themselves, plain futures null.
  virtual TaskCore* as_task() noexcept { return nullptr; }

 protected:
  virtual ~FutureCore();
  [[noreturn]] void throw_invalid_state(const char* what) const;
  void mark_cancelled(const std::string& message);
  void report_unretrieved(const std::string& message) noexcept;
  // True if the future failed and nobody has looked at the exception yet.
  bool exception_unretrieved() const noexcept { return !exception_retrieved_; }
  // A Task keeps the message of a requested cancellation here too until it
  // is delivered (one string, not two).
  void set_cancel_message(const std::string& message);

 private:
  struct Entry {
    CallbackId id;
    bool synchronous;
    Callback fn;
  };
  void complete(State state);
  void run_callback(Entry& entry, Loop* loop);
  CallbackId add_entry(bool synchronous, Callback&& fn);
  static const std::string& no_message() noexcept;

  LoopContext* context_;
  // The cancellation's message, made only for a non-empty one: most futures
  // are never cancelled, and a task is a burst's unit of memory.
  std::unique_ptr<std::string> cancel_message_;
  // The callbacks in the order they were added: the first one inline (most
  // futures have one waiter, so that costs no allocation), the rest after it.
  Entry first_callback_{0, false, Callback()};
  std::unique_ptr<std::vector<Entry>> more_callbacks_;
  std::exception_ptr exception_;
  CallbackId next_id_ = 1;
  uint32_t refs_ = 0;
  State state_ = State::kPending;
  bool exception_retrieved_ = true;
};

// An intrusive pointer to a FutureCore (or a subclass).
template <class C>
class CorePtr {
 public:
  CorePtr() noexcept = default;
  explicit CorePtr(C* p) noexcept : p_(p) {
    if (p_ != nullptr) p_->add_ref();
  }
  CorePtr(const CorePtr& o) noexcept : CorePtr(o.p_) {}
  CorePtr(CorePtr&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  template <class D, class = typename std::enable_if<std::is_convertible<D*, C*>::value>::type>
  CorePtr(const CorePtr<D>& o) noexcept : CorePtr(o.get()) {}
  CorePtr& operator=(CorePtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~CorePtr() {
    if (p_ != nullptr) p_->release();
  }
  C* get() const noexcept { return p_; }
  C* operator->() const noexcept { return p_; }
  C& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  bool operator==(const CorePtr& o) const noexcept { return p_ == o.p_; }
  bool operator!=(const CorePtr& o) const noexcept { return p_ != o.p_; }

 private:
  C* p_ = nullptr;
};

}  // namespace detail
}  // namespace weft

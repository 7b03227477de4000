// weft/fiber/futures.hpp — public header; includes only public headers and
// the standard library.
//
// weft::Future<T>: asyncio.Future (Lib/asyncio/futures.py). A future is set
// once, with a value, an exception, or by cancel(); tasks block on it with
// get(). Future<T> is a cheap, copyable handle to shared state; copies
// compare equal. All calls belong to the loop's thread; set_result(),
// set_exception() and cancel() also work from plain loop callbacks, get()
// only inside a task.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "weft/fiber/detail/future_core.hpp"

namespace weft {

namespace detail {

// Reads a result out of its slot: a copy when T is copyable; a move-only
// value is moved out, so it can be retrieved once.
template <class T>
struct ResultAccess {
  static T get(ResultSlot<T>& slot) { return get(slot, std::is_copy_constructible<T>()); }
  static T get(ResultSlot<T>& slot, std::true_type) { return slot.value(); }
  static T get(ResultSlot<T>& slot, std::false_type) { return std::move(slot.value()); }
};
template <>
struct ResultAccess<void> {
  static void get(ResultSlot<None>&) {}
};

// A plain future's state: the core plus the value.
template <class T>
class FutureState final : public FutureCore {
 public:
  using FutureCore::FutureCore;
  ResultSlot<typename ValueOf<T>::type> value;
};

}  // namespace detail

template <class T>
class Future {
 public:
  using value_type = T;
  using Value = typename detail::ValueOf<T>::type;
  using CallbackId = detail::FutureCore::CallbackId;

  // A pending future of the loop running on this thread (asyncio:
  // loop.create_future()). Throws InvalidStateError if no loop runs.
  Future() : Future(new detail::FutureState<T>()) {}
  // A pending future of `loop`.
  explicit Future(Loop& loop) : Future(new detail::FutureState<T>(loop)) {}

  bool done() const noexcept { return core_->done(); }
  bool cancelled() const noexcept { return core_->cancelled(); }

  // asyncio Future.cancel(msg): cancels a pending future and schedules its
  // callbacks; returns false if it was already done. (Task overrides this.)
  bool cancel(const std::string& message = std::string()) { return core_->cancel(message); }

  // Finishes the future with a value. Throws InvalidStateError if it is done.
  template <class U = T, class = typename std::enable_if<!std::is_void<U>::value>::type>
  void set_result(U value) {
    check_pending("Future::set_result");
    slot_->emplace(std::move(value));
    core_->set_finished();
  }
  template <class U = T, class = typename std::enable_if<std::is_void<U>::value>::type>
  void set_result() {
    check_pending("Future::set_result");
    slot_->emplace();
    core_->set_finished();
  }

  // Finishes the future with an exception. Throws InvalidStateError if done.
  void set_exception(std::exception_ptr error) { core_->set_exception(std::move(error)); }

  // asyncio `await fut`: blocks the current task until the future is done,
  // then returns its value or throws its exception (CancelledError if it was
  // cancelled). If the waiting task is cancelled meanwhile, the future is
  // cancelled too (use shield() to prevent that). Throws InvalidStateError
  // outside a task.
  T get() {
    core_->wait();
    return result();
  }

  // asyncio Future.result(): the value now. Throws InvalidStateError while
  // pending, CancelledError if cancelled, or the future's exception.
  T result() {
    core_->check_result();
    return detail::ResultAccess<T>::get(*slot_);
  }

  // asyncio Future.exception(): null if finished with a value; throws
  // InvalidStateError while pending, CancelledError if cancelled.
  std::exception_ptr exception() { return core_->exception(); }

  // Schedules fn(future) with call_soon once the future is done (in the next
  // iteration if it already is). Returns an id for remove_done_callback().
  CallbackId add_done_callback(std::function<void(Future<T>)> fn) {
    Future<T> self = *this;
    return core_->add_done_callback([fn, self] { fn(self); });
  }
  bool remove_done_callback(CallbackId id) { return core_->remove_callback(id); }

  bool operator==(const Future& other) const noexcept { return core_ == other.core_; }
  bool operator!=(const Future& other) const noexcept { return core_ != other.core_; }

  // The shared state, for the library's composition functions.
  detail::FutureCore& core() const noexcept { return *core_; }

 protected:
  Future(detail::FutureCore* core, detail::ResultSlot<Value>* slot) : core_(core), slot_(slot) {}
  bool has_core() const noexcept { return static_cast<bool>(core_); }

 private:
  explicit Future(detail::FutureState<T>* state) : core_(state), slot_(&state->value) {}

  void check_pending(const char* what) const {
    if (core_->done()) throw InvalidStateError(std::string(what) + ": the future is already done");
  }

  detail::CorePtr<detail::FutureCore> core_;
  detail::ResultSlot<Value>* slot_;
};

}  // namespace weft

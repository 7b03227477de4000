// weft/fiber/waiting.hpp — public header; includes only public headers and
// the standard library.
//
// asyncio's functions that wait on several tasks or futures, or shield one
// (Lib/asyncio/tasks.py): gather, wait, as_completed and shield. wait_for,
// a timeout() around one await since Python 3.12, is in timeouts.hpp,
// included here.
//
//   asyncio                                           weft
//   a, b = await gather(f(), g())                     std::tie(a, b) = weft::gather(f, g);
//   rs = await gather(*tasks)                         std::vector<int> rs = weft::gather(tasks);
//   rs = await gather(*ts, return_exceptions=True)    auto rs = weft::gather_settled(ts);
//   done, pending = await wait(ts, timeout=d,         auto r = weft::wait(ts, weft::ReturnWhen::FirstCompleted, d);
//                              return_when=FIRST_COMPLETED)   (r.done, r.pending)
//   async for t in as_completed(ts): await t          for (auto& t : weft::as_completed(ts)) t.get();
//   await wait_for(t, d)                              weft::wait_for(t, d)
//   await shield(t)                                   weft::shield(t).get()
//
// Each blocking call here is a suspension point of the calling task (asyncio:
// an await) and throws InvalidStateError outside a task. Handles passed in
// must not be empty. Threads: the loop's thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/exceptions.hpp"
#include "weft/fiber/futures.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/timeouts.hpp"
#include "weft/reactor/handle.hpp"

namespace weft {

// --- Outcome: one child's result for gather_settled() -----------------------

// A value or an exception (C++14 has no variant): gather_settled()'s slot
// for one child, Python's "result or exception object" of
// gather(return_exceptions=True). A cancelled child's error is a
// CancelledError carrying the cancellation's message.
//
// Invariant: has_ says whether value_ holds a constructed T, and error_ is
// null exactly when it does.
template <class T>
class Outcome {
 public:
  static Outcome from_value(T value) {
    Outcome o;
    ::new (static_cast<void*>(&o.value_)) T(std::move(value));
    o.has_ = true;
    return o;
  }
  static Outcome from_error(std::exception_ptr error) {
    Outcome o;
    o.error_ = std::move(error);
    return o;
  }
  Outcome(const Outcome& o) : error_(o.error_) {
    if (o.has_) ::new (static_cast<void*>(&value_)) T(o.value_);
    has_ = o.has_;
  }
  Outcome(Outcome&& o) noexcept(std::is_nothrow_move_constructible<T>::value) : error_(std::move(o.error_)) {
    if (o.has_) ::new (static_cast<void*>(&value_)) T(std::move(o.value_));
    has_ = o.has_;
  }
  Outcome& operator=(const Outcome& o) { return assign(o); }
  Outcome& operator=(Outcome&& o) noexcept(std::is_nothrow_move_constructible<T>::value) {
    return assign(std::move(o));
  }
  ~Outcome() { reset(); }

  bool has_value() const noexcept { return has_; }
  // The value; rethrows the error if there is none.
  T& value() & {
    if (!has_) std::rethrow_exception(error_);
    return value_;
  }
  const T& value() const& {
    if (!has_) std::rethrow_exception(error_);
    return value_;
  }
  // The error, or null if there is a value.
  std::exception_ptr error() const noexcept { return error_; }

 private:
  Outcome() noexcept {}  // NOLINT: the union member stays unconstructed
  void reset() noexcept {
    if (has_) value_.~T();
    has_ = false;
  }
  template <class O>
  Outcome& assign(O&& o) {
    if (this != &o) {
      reset();
      error_ = o.error_;
      if (o.has_) ::new (static_cast<void*>(&value_)) T(std::forward<O>(o).value_);
      has_ = o.has_;
    }
    return *this;
  }

  union {
    T value_;
  };
  std::exception_ptr error_;
  bool has_ = false;
};

// A void child's outcome: success, or an error.
template <>
class Outcome<void> {
 public:
  static Outcome from_value() { return Outcome(nullptr); }
  static Outcome from_error(std::exception_ptr error) { return Outcome(std::move(error)); }
  bool has_value() const noexcept { return !error_; }
  // Returns if the child succeeded; rethrows its error otherwise.
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }
  std::exception_ptr error() const noexcept { return error_; }

 private:
  explicit Outcome(std::exception_ptr error) : error_(std::move(error)) {}
  std::exception_ptr error_;
};

// asyncio.FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED.
enum class ReturnWhen : unsigned char { FirstCompleted, FirstException, AllCompleted };

// What wait() returns: the handles that are done and those that are not,
// each in the order they were given (asyncio returns two sets).
template <class H>
struct WaitResult {
  std::vector<H> done;
  std::vector<H> pending;
};

namespace detail {

// --- the machinery (fiber/waiting.cpp) --------------------------------------

// One awaited future and the completion waiter registered on it (0: none).
struct ChildWaiter {
  FutureCore* core;
  FutureCore::CallbackId waiter;
};

// asyncio's _GatheringFuture and gather()'s _done_callback, living on the
// waiting task's stack for the duration of one gather() call. It is the
// Cancellable the waiting task passes its cancellation to: cancelling the
// waiter cancels every child, as _GatheringFuture.cancel() does.
//
// Invariant: while the task waits, every child that is not done carries
// exactly one completion waiter of ours (ids in `children`), and `pending_`
// counts them; on every way out, wait() withdraws those that did not fire.
class WEFT_API Gathering final : public Cancellable {
 public:
  // `settled`: gather_settled() (asyncio return_exceptions=True).
  Gathering(ChildWaiter* children, std::size_t count, bool settled) noexcept
      : children_(children), count_(count), settled_(settled) {}
  Gathering(const Gathering&) = delete;
  Gathering& operator=(const Gathering&) = delete;

  // Blocks the current task until gather's outcome is known. Returns when
  // every child succeeded (or, settled, is done): the caller then reads the
  // values. Throws the first failure in completion order (CancelledError
  // with its message for a cancelled child) as soon as it happens, leaving
  // the other children running. If the waiter was cancelled, throws
  // CancelledError once every child is done. InvalidStateError outside a
  // task. Every child's exception ends up marked retrieved, as asyncio's
  // gather does.
  void wait(const char* what);

  // asyncio _GatheringFuture.cancel(): cancels every child; true if any
  // took it (the waiter then waits for all of them).
  bool cancel(const std::string& message) override;

 private:
  void park_until_known(TaskCore& task);
  void on_child_done(std::size_t index) noexcept;
  void withdraw() noexcept;
  void abandon_to_running_children() noexcept;

  ChildWaiter* children_;
  std::size_t count_;
  std::size_t pending_ = 0;
  FutureCore* failed_ = nullptr;  // the first failure, when not settled
  Waker waker_;
  std::string cancel_message_;
  bool settled_;
  bool cancel_requested_ = false;
};

// asyncio tasks.py, _wait(): blocks the current task until `when` holds for
// the children or `deadline` passes (time_point::max(): none). Always
// suspends at least once, as asyncio's does. The children are never
// cancelled; a cancellation of the waiter throws CancelledError. Throws
// std::invalid_argument if there is no child (asyncio: ValueError).
WEFT_API void wait_children(ChildWaiter* children, std::size_t count, ReturnWhen when,
                   std::chrono::steady_clock::time_point deadline, const char* what);

// as_completed()'s queue of finished children (asyncio _AsCompletedIterator:
// the `_done` queue fed by done callbacks and a timeout sentinel). Lives on
// the heap so that the range holding it can move.
class WEFT_API CompletionQueue {
 public:
  // Queues the children already done, in input order, registers on the
  // others, and starts the deadline's timer (on the running loop) unless
  // `deadline` is time_point::max() or there is no child.
  CompletionQueue(std::vector<ChildWaiter> children, std::chrono::steady_clock::time_point deadline);
  // Withdraws the registrations and the timer that did not fire.
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Blocks until a child is done and returns its index, in completion
  // order. Throws TimeoutError once the deadline passed and every child
  // done before it was returned; CancelledError if the waiter is cancelled
  // (nothing is consumed then); InvalidStateError outside a task or past
  // the last child.
  std::size_t next(const char* what);
  std::size_t consumed() const noexcept { return consumed_; }
  std::size_t size() const noexcept { return children_.size(); }

 private:
  void on_child_done(std::size_t index) noexcept;
  void on_timeout() noexcept;
  void withdraw() noexcept;

  std::vector<ChildWaiter> children_;
  std::vector<std::size_t> done_;  // indices in completion order; reserved once
  std::size_t consumed_ = 0;
  Waker waiter_;  // the task blocked in next(), if any
  Handle timer_;
  bool timed_out_ = false;
};

// --- argument kinds ------------------------------------------------------

template <bool...>
struct BoolPack;
template <bool... B>
using AllTrue = std::is_same<BoolPack<true, B...>, BoolPack<B..., true>>;

// A Future<T> or Task<T> (a type derived from Future<its value_type>).
template <class D, class = void>
struct IsFuture : std::false_type {};
template <class D>
struct IsFuture<D, typename std::enable_if<std::is_base_of<Future<typename D::value_type>, D>::value>::type>
    : std::true_type {};

// A function object callable with no arguments.
template <class D, class = void>
struct IsCallable : std::false_type {};
template <class D>
struct IsCallable<D, decltype(void(std::declval<D&>()()))> : std::true_type {};

template <class A, class D = typename std::decay<A>::type>
using IsAwaitable = std::integral_constant<bool, IsFuture<D>::value || IsCallable<D>::value>;

// A handle wait() and as_completed() accept: Task<T>, Future<T>, TaskRef.
template <class H>
using IsWaitable = std::integral_constant<bool, IsFuture<H>::value || std::is_same<H, TaskRef>::value>;

// The future gather() waits on for one argument.
template <class A, class D = typename std::decay<A>::type, bool = IsFuture<D>::value>
struct FutureFor {
  using type = Future<typename D::value_type>;
};
template <class A, class D>
struct FutureFor<A, D, false> {
  using type = Future<CallResult<D>>;
};

template <class T>
Future<T> as_future(const Future<T>& future) {
  return future;
}
// asyncio ensure_future(coro): a callable becomes a task.
template <class F, class = typename std::enable_if<!IsFuture<typename std::decay<F>::type>::value>::type>
Future<CallResult<typename std::decay<F>::type>> as_future(F&& fn) {
  return create_task(std::forward<F>(fn));
}

template <class H>
std::vector<ChildWaiter> waiters_for(const std::vector<H>& handles) {
  std::vector<ChildWaiter> children;
  children.reserve(handles.size());
  for (const H& h : handles) children.push_back(ChildWaiter{&h.core(), 0});
  return children;
}

// --- reading the children once they are done ----------------------------

// gather()'s reading of a child that succeeded: its value (None for void).
struct ReadValue {
  static constexpr bool kSettled = false;
  static constexpr const char* kWhat = "weft::gather";
  template <class T>
  using Result = typename Future<T>::Value;
  template <class T>
  static T read(Future<T>& f, std::false_type /*void*/) {
    return f.result();
  }
  template <class T>
  static None read(Future<T>& f, std::true_type /*void*/) {
    f.result();
    return None();
  }
  template <class T>
  static Result<T> read(Future<T>& f) {
    return read(f, std::is_void<T>());
  }
};

// gather_settled()'s reading of a done child, as asyncio gather's results:
// "res = CancelledError(fut._cancel_message)" for a cancelled child, else
// its exception, else its result.
struct ReadOutcome {
  static constexpr bool kSettled = true;
  static constexpr const char* kWhat = "weft::gather_settled";
  template <class T>
  using Result = Outcome<T>;
  template <class T>
  static Outcome<T> success(Future<T>& f, std::false_type /*void*/) {
    return Outcome<T>::from_value(f.result());
  }
  template <class T>
  static Outcome<T> success(Future<T>&, std::true_type /*void*/) {
    return Outcome<T>::from_value();
  }
  template <class T>
  static Outcome<T> read(Future<T>& f) {
    if (f.cancelled()) return Outcome<T>::from_error(std::make_exception_ptr(CancelledError(f.core().cancel_message())));
    if (std::exception_ptr error = f.exception()) return Outcome<T>::from_error(std::move(error));
    return success(f, std::is_void<T>());
  }
};

// A list's results: a vector of them, or nothing for gather() of void ones.
template <class Read, class T, bool = !Read::kSettled && std::is_void<T>::value>
struct ListResult {
  using type = std::vector<typename Read::template Result<T>>;
  template <class H>
  static type read(const std::vector<H>& handles) {
    type results;
    results.reserve(handles.size());
    for (const H& h : handles) {
      Future<T> f = h;
      results.push_back(Read::read(f));
    }
    return results;
  }
};
template <class Read, class T>
struct ListResult<Read, T, true> {
  using type = void;
  template <class H>
  static void read(const std::vector<H>&) {}
};

template <class Read, class T, class H>
typename ListResult<Read, T>::type gather_list(const std::vector<H>& handles) {
  std::vector<ChildWaiter> children = waiters_for(handles);
  Gathering(children.data(), children.size(), Read::kSettled).wait(Read::kWhat);
  return ListResult<Read, T>::read(handles);
}

template <class Read, class... T, std::size_t... I>
std::tuple<typename Read::template Result<T>...> gather_tuple(std::tuple<Future<T>...>& futures,
                                                               std::index_sequence<I...>) {
  std::array<ChildWaiter, sizeof...(T)> children = {{ChildWaiter{&std::get<I>(futures).core(), 0}...}};
  Gathering(children.data(), children.size(), Read::kSettled).wait(Read::kWhat);
  return std::tuple<typename Read::template Result<T>...>(Read::read(std::get<I>(futures))...);
}

template <class F, class R = CallResult<F>>
std::vector<Task<R>> spawn_all(std::vector<F>& fns, const char* what) {
  TaskCore::require_current(what);  // refuse before any task is made
  std::vector<Task<R>> tasks;
  tasks.reserve(fns.size());
  for (F& fn : fns) tasks.push_back(create_task(std::move(fn)));
  return tasks;
}

}  // namespace detail

// --- gather -------------------------------------------------------------------

// asyncio.gather(a, b, ...): waits for every argument — a Task<T>, a
// Future<T>, or a callable, which is started as a task (in argument order)
// — and returns their values in argument order, whatever the order they
// finished in; a void child's slot is weft::None.
//
// The first failure, in completion order, is thrown at once (a cancelled
// child counts as raising CancelledError); the other children are not
// cancelled and keep running, and their exceptions are marked retrieved.
// Children already done are looked at first, in argument order; if all are
// done, gather returns without suspending.
//
// Cancelling the waiting task cancels every child (asyncio
// _GatheringFuture.cancel) and gather then waits until all of them are done
// — their RAII has run — before throwing CancelledError. (asyncio without
// return_exceptions resumes the waiter as soon as the first child ends
// cancelled; weft always waits for all, so no child outlives a cancelled
// gather by surprise.) Throws InvalidStateError outside a task.
template <class... A, class = typename std::enable_if<detail::AllTrue<detail::IsAwaitable<A>::value...>::value>::type>
std::tuple<typename detail::FutureFor<A>::type::Value...> gather(A&&... args) {
  detail::TaskCore::require_current("weft::gather");  // refuse before any task is made
  // Braced initialisation evaluates left to right: tasks start in order.
  std::tuple<typename detail::FutureFor<A>::type...> futures{detail::as_future(std::forward<A>(args))...};
  return detail::gather_tuple<detail::ReadValue>(futures, std::index_sequence_for<A...>());
}

// asyncio.gather(*tasks): the same for a list; returns the values in list
// order (nothing for void tasks). Cost: O(n) in all; one allocation for the
// bookkeeping (16 bytes a child) and one for the results, besides the entry
// each pending child's future gets in its callback list (asyncio's
// add_done_callback).
template <class T>
typename detail::ListResult<detail::ReadValue, T>::type gather(const std::vector<Task<T>>& tasks) {
  return detail::gather_list<detail::ReadValue, T>(tasks);
}
template <class T>
typename detail::ListResult<detail::ReadValue, T>::type gather(const std::vector<Future<T>>& futures) {
  return detail::gather_list<detail::ReadValue, T>(futures);
}
// A list of callables: each is started as a task, in order.
template <class F, class R = detail::CallResult<F>>
typename detail::ListResult<detail::ReadValue, R>::type gather(std::vector<F> fns) {
  return gather(detail::spawn_all(fns, "weft::gather"));
}

// asyncio.gather(..., return_exceptions=True): waits until every child is
// done and returns each one's Outcome (value or exception; CancelledError
// for a cancelled child). Cancelling the waiting task cancels the children
// as gather() does, waits for them, and throws CancelledError.
template <class... A, class = typename std::enable_if<detail::AllTrue<detail::IsAwaitable<A>::value...>::value>::type>
std::tuple<Outcome<typename detail::FutureFor<A>::type::value_type>...> gather_settled(A&&... args) {
  detail::TaskCore::require_current("weft::gather_settled");
  std::tuple<typename detail::FutureFor<A>::type...> futures{detail::as_future(std::forward<A>(args))...};
  return detail::gather_tuple<detail::ReadOutcome>(futures, std::index_sequence_for<A...>());
}
template <class T>
std::vector<Outcome<T>> gather_settled(const std::vector<Task<T>>& tasks) {
  return detail::gather_list<detail::ReadOutcome, T>(tasks);
}
template <class T>
std::vector<Outcome<T>> gather_settled(const std::vector<Future<T>>& futures) {
  return detail::gather_list<detail::ReadOutcome, T>(futures);
}
template <class F, class R = detail::CallResult<F>>
std::vector<Outcome<R>> gather_settled(std::vector<F> fns) {
  return gather_settled(detail::spawn_all(fns, "weft::gather_settled"));
}

// --- wait ---------------------------------------------------------------------

// asyncio.wait(fs, timeout, return_when): blocks until `return_when` holds —
// any child done (FirstCompleted); any child failed with an exception, not
// a cancellation, or all done (FirstException); all done (AllCompleted) —
// or the timeout passes, and returns the children split into done and
// pending, each in input order (a handle given twice appears twice).
// Nothing is cancelled, on timeout or otherwise: pending children keep
// running. Always a suspension point, even if the condition already holds.
// Throws std::invalid_argument for an empty list (asyncio: ValueError),
// CancelledError if the waiting task is cancelled (the children are not),
// InvalidStateError outside a task. H: Task<T>, Future<T> or TaskRef.
template <class H, class Rep, class Period, class = typename std::enable_if<detail::IsWaitable<H>::value>::type>
WaitResult<H> wait(const std::vector<H>& fs, ReturnWhen return_when, std::chrono::duration<Rep, Period> timeout) {
  std::vector<detail::ChildWaiter> children = detail::waiters_for(fs);
  detail::wait_children(children.data(), children.size(), return_when, detail::deadline_in(timeout), "weft::wait");
  std::size_t done = 0;
  for (const H& f : fs) done += f.core().done() ? 1 : 0;
  WaitResult<H> result;
  result.done.reserve(done);
  result.pending.reserve(fs.size() - done);
  for (const H& f : fs) (f.core().done() ? result.done : result.pending).push_back(f);
  return result;
}
// Without a timeout.
template <class H, class = typename std::enable_if<detail::IsWaitable<H>::value>::type>
WaitResult<H> wait(const std::vector<H>& fs, ReturnWhen return_when = ReturnWhen::AllCompleted) {
  return wait(fs, return_when, std::chrono::steady_clock::duration::max());
}
// asyncio.wait(fs, timeout=d): AllCompleted with a timeout.
template <class H, class Rep, class Period, class = typename std::enable_if<detail::IsWaitable<H>::value>::type>
WaitResult<H> wait(const std::vector<H>& fs, std::chrono::duration<Rep, Period> timeout) {
  return wait(fs, ReturnWhen::AllCompleted, timeout);
}

// --- as_completed -----------------------------------------------------------

// The range as_completed() returns: a single-pass input range over the
// given handles in completion order. Dereferencing the iterator blocks the
// current task until the next child is done and yields its handle (the same
// element until the iterator is incremented); it throws TimeoutError once
// the timeout passed and every child done before it was yielded (again at
// each later dereference), CancelledError if the task is cancelled
// (nothing is skipped then). Incrementing without dereferencing waits for
// the next child the same way and skips it. Comparing with end() never
// blocks. Destroying the range early withdraws its registrations and its
// timer; the children are never cancelled.
template <class H>
class AsCompleted {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = H;
    using difference_type = std::ptrdiff_t;
    using pointer = H*;
    using reference = H&;

    H& operator*() const { return range_->current(); }
    H* operator->() const { return &range_->current(); }
    iterator& operator++() {
      range_->advance();
      return *this;
    }
    bool operator==(const iterator& o) const { return at_end() == o.at_end(); }
    bool operator!=(const iterator& o) const { return at_end() != o.at_end(); }

   private:
    friend class AsCompleted;
    explicit iterator(AsCompleted* range) : range_(range) {}
    bool at_end() const { return range_ == nullptr || range_->finished(); }
    AsCompleted* range_;
  };

  AsCompleted(const std::vector<H>& fs, std::chrono::steady_clock::time_point deadline)
      : items_(fs), queue_(new detail::CompletionQueue(detail::waiters_for(items_), deadline)) {}

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(nullptr); }

 private:
  H& current() {
    if (!has_current_) {
      current_ = queue_->next("weft::as_completed");
      has_current_ = true;
    }
    return items_[current_];
  }
  void advance() {
    if (!has_current_) queue_->next("weft::as_completed");
    has_current_ = false;
  }
  bool finished() const { return !has_current_ && queue_->consumed() == queue_->size(); }

  std::vector<H> items_;
  std::unique_ptr<detail::CompletionQueue> queue_;
  std::size_t current_ = 0;
  bool has_current_ = false;
};

// asyncio.as_completed(fs[, timeout]) (3.13, iterating the original
// handles): `for (auto& t : weft::as_completed(tasks)) use(t.result());`.
// Children already done come first, in input order. The timeout counts from
// this call; the range needs a running loop only when there is one.
// H: Task<T>, Future<T> or TaskRef.
template <class H, class = typename std::enable_if<detail::IsWaitable<H>::value>::type>
AsCompleted<H> as_completed(const std::vector<H>& fs) {
  return AsCompleted<H>(fs, std::chrono::steady_clock::time_point::max());
}
template <class H, class Rep, class Period, class = typename std::enable_if<detail::IsWaitable<H>::value>::type>
AsCompleted<H> as_completed(const std::vector<H>& fs, std::chrono::duration<Rep, Period> timeout) {
  return AsCompleted<H>(fs, detail::deadline_in(timeout));
}

// --- shield -------------------------------------------------------------------

namespace detail {

// shield()'s link, run when the inner future completes (asyncio shield's
// _inner_done_callback): settles the outer one the same way, unless the
// outer was cancelled meanwhile. It holds the inner handle until then.
template <class T>
struct ShieldLink {
  Future<T> inner;
  Future<T> outer;

  void operator()() noexcept {
    if (outer.done()) {  // the outer was cancelled: mark the inner's result retrieved
      if (!inner.cancelled()) inner.exception();
      return;
    }
    if (inner.cancelled()) {
      outer.cancel(inner.core().cancel_message());
      return;
    }
    try {
      if (std::exception_ptr error = inner.exception()) {
        outer.set_exception(error);
      } else {
        forward(std::is_void<T>());
      }
    } catch (...) {  // copying the value failed
      outer.set_exception(std::current_exception());
    }
  }
  void forward(std::false_type /*void*/) { outer.set_result(inner.result()); }
  void forward(std::true_type /*void*/) { outer.set_result(); }
};

}  // namespace detail

// asyncio.shield(aw): returns an outer future that mirrors the inner one's
// outcome. Cancelling the outer — directly, or by cancelling a task blocked
// in outer.get() — does not cancel the inner, which keeps running; if the
// inner is cancelled, the outer is cancelled too (with its message; asyncio
// passes none). An inner already done is returned as it is (asyncio's
// shortcut). The outer completes in the same callback as the inner (asyncio:
// one loop iteration later). The inner's callback list holds a handle to
// the inner until it completes. Does not block; callable from loop
// callbacks too.
template <class T>
Future<T> shield(Future<T> inner) {
  if (inner.done()) return inner;
  Future<T> outer(inner.core().loop());
  inner.core().add_completion_waiter(detail::ShieldLink<T>{inner, outer});
  return outer;
}
// A callable is started as a task first.
template <class F, class R = detail::CallResult<typename std::decay<F>::type>>
Future<R> shield(F&& fn) {
  return shield(Future<R>(create_task(std::forward<F>(fn))));
}

}  // namespace weft

// weft/fiber/taskgroups.hpp — public header; includes only public headers and
// the standard library.
//
// Structured concurrency, as asyncio.TaskGroup (Lib/asyncio/taskgroups.py,
// Python 3.13): task_group(body) runs `body` in the current task, handing it
// a TaskGroup, then waits until every task created in the group is done.
//
//   asyncio                                  weft
//   async with asyncio.TaskGroup() as tg:    weft::task_group([&](weft::TaskGroup& tg) {
//       t = tg.create_task(f())                auto t = tg.create_task(f);
//       ...                                    ...
//                                            });
//   except* ValueError as eg: ...            catch (const weft::ExceptionGroup& eg) { ... }
//
// What happens, case by case (asyncio's _on_task_done and __aexit__):
//  - The first child to fail with an exception other than CancelledError
//    aborts the group: every other child is cancelled, and so is the task
//    running task_group(), wherever it is (in the body or waiting for the
//    children). The group's own cancellation of that task is withdrawn
//    (uncancel()) before task_group() returns or throws, so it never leaks
//    out; a cancellation from outside is never swallowed.
//  - If the body throws, the children are cancelled and awaited first.
//  - If the waiting task is cancelled from outside, the children are
//    cancelled and awaited, then the CancelledError propagates.
//  - When every child is done: if any failed, task_group() throws
//    ExceptionGroup holding the children's exceptions in the order they
//    failed, followed by the body's own exception if the body threw
//    something other than CancelledError. Errors take priority over a
//    cancellation (asyncio: "Propagate CancelledError if there is one,
//    except if there are other errors"); the outer cancellation is then
//    re-armed, so the task's next suspension point still throws it.
// asyncio's KeyboardInterrupt / SystemExit special case has no C++ analogue
// and is left out. weft's own case: if the loop is closed by hand while the
// group waits, task_group() stops waiting and throws CancelledError, and the
// closing loop unwinds the children itself.
//
// Threads: every call belongs to the loop's thread; task_group() runs only
// inside a task, create_task() also from plain loop callbacks.
#pragma once

#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>

#include "weft/export.hpp"
#include "weft/fiber/detail/future_core.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/tasks.hpp"

namespace weft {

class TaskGroup;

namespace detail {

class TaskGroupState;  // fiber/taskgroups.cpp
class TaskGroupScope;

// What task_group(body) returns: the body's own result.
template <class F>
using TaskGroupResult = decltype(std::declval<F&>()(std::declval<TaskGroup&>()));

}  // namespace detail

// A handle to a task group. task_group() makes the group and passes the body
// a reference to its handle; handles are cheap to copy, so a task may keep
// one (capture `tg` by value) and still use it safely after the group ended,
// when create_task() refuses with InvalidStateError.
class WEFT_API TaskGroup {
 public:
  // An empty handle; create_task() on it throws InvalidStateError.
  TaskGroup() noexcept = default;
  TaskGroup(const TaskGroup& other) noexcept;
  TaskGroup& operator=(const TaskGroup& other) noexcept;
  ~TaskGroup();

  // asyncio TaskGroup.create_task(coro, name=...): runs fn() on a new task
  // of the group, starting in the loop's next iteration, and returns it.
  // Throws InvalidStateError, without creating a task or calling fn, if the
  // group is finished (its body and every child are done) or shutting down
  // (aborted by a failure, by the body throwing, or by the cancellation of
  // the task running task_group()) — asyncio 3.13 closes the coroutine in
  // both cases. Call on the loop's thread, from any task or loop callback.
  template <class F>
  auto create_task(F&& fn, TaskOptions options = TaskOptions())
      -> Task<detail::CallResult<typename std::decay<F>::type>>;

  // The group's tasks whose completion the group has not yet seen (asyncio:
  // len(tg._tasks)); a weft extra, for tests and monitoring.
  std::size_t task_count() const noexcept;

  explicit operator bool() const noexcept { return state_ != nullptr; }
  bool operator==(const TaskGroup& other) const noexcept { return state_ == other.state_; }
  bool operator!=(const TaskGroup& other) const noexcept { return state_ != other.state_; }

 private:
  friend class detail::TaskGroupScope;
  explicit TaskGroup(detail::TaskGroupState* state) noexcept;

  // The steps of create_task() that need not be templates.
  std::size_t reserve_slot(const char* what);
  void release_slot(std::size_t slot) noexcept;
  Loop& loop() const;
  void adopt(std::size_t slot, const TaskRef& task);

  detail::TaskGroupState* state_ = nullptr;
};

namespace detail {

// asyncio TaskGroup.__aenter__ and __aexit__, around task_group()'s body.
class WEFT_API TaskGroupScope {
 public:
  // __aenter__: a new group whose parent is the current task. Throws
  // InvalidStateError("<what>: must be called from inside a task") on the
  // loop's own stack (asyncio: "cannot determine the parent task").
  explicit TaskGroupScope(const char* what);
  TaskGroupScope(const TaskGroupScope&) = delete;
  TaskGroupScope& operator=(const TaskGroupScope&) = delete;
  ~TaskGroupScope() = default;

  TaskGroup& group() noexcept { return group_; }

  // __aexit__ after the body returned: waits until every child is done,
  // then returns, or throws CancelledError or ExceptionGroup as described
  // at the top of this file.
  void exit();
  // __aexit__ after the body threw `body_error`: the same, but it always
  // throws (in 3.13 asyncio's __aexit__ never swallows the body's
  // exception: it propagates as is, or inside an ExceptionGroup).
  [[noreturn]] void exit(std::exception_ptr body_error);
  // True once either exit() has begun: an exception now is the group's.
  bool exiting() const noexcept { return exiting_; }

 private:
  TaskGroup group_;
  bool exiting_ = false;
};

// Runs the body, then the group's exit, and returns the body's value.
template <class R>
struct TaskGroupBody {
  template <class F>
  static R run(F& body, TaskGroupScope& scope) {
    R value = body(scope.group());
    scope.exit();
    return value;
  }
};

template <>
struct TaskGroupBody<void> {
  template <class F>
  static void run(F& body, TaskGroupScope& scope) {
    body(scope.group());
    scope.exit();
  }
};

}  // namespace detail

template <class F>
auto TaskGroup::create_task(F&& fn, TaskOptions options) -> Task<detail::CallResult<typename std::decay<F>::type>> {
  const std::size_t slot = reserve_slot("TaskGroup::create_task");
  Task<detail::CallResult<typename std::decay<F>::type>> task;
  try {
    task = weft::create_task(loop(), std::forward<F>(fn), std::move(options));
  } catch (...) {
    release_slot(slot);
    throw;
  }
  adopt(slot, TaskRef(task));
  return task;
}

// `async with asyncio.TaskGroup() as tg: body`: runs body(tg) in the current
// task, then waits until every task created in the group is done, and
// returns the body's result (nothing for a void body). Throws
// ExceptionGroup if a child failed or the body threw (other than with
// CancelledError), CancelledError if the task was cancelled from outside,
// InvalidStateError outside a task. Every child is done, its function and
// captures destroyed, before task_group() returns or throws. The body's
// result must be a value, not a reference.
template <class F>
auto task_group(F&& body) -> detail::TaskGroupResult<typename std::decay<F>::type> {
  using R = detail::TaskGroupResult<typename std::decay<F>::type>;
  static_assert(!std::is_reference<R>::value, "weft::task_group: the body must return a value, not a reference");
  detail::TaskGroupScope scope("weft::task_group");
  std::exception_ptr body_error;
  try {
    return detail::TaskGroupBody<R>::run(body, scope);
  } catch (...) {
    if (scope.exiting()) throw;  // the group's own outcome
    body_error = std::current_exception();  // no fiber switch inside a catch block
  }
  scope.exit(std::move(body_error));
}

}  // namespace weft

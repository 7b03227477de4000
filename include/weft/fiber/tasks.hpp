// weft/fiber/tasks.hpp — public header; includes only public headers and the
// standard library.
//
// Tasks, as asyncio's (Lib/asyncio/tasks.py): create_task() runs a function
// on its own fiber; the function blocks only its own fiber (sleep(),
// Future::get(), a queue, a socket) while the loop runs the others.
//
//   asyncio                          weft
//   t = asyncio.create_task(f())     auto t = weft::create_task(f);
//   await t                          t.get()
//   await asyncio.sleep(0.1)         weft::sleep(std::chrono::milliseconds(100))
//   await asyncio.sleep(0)           weft::yield()
//   asyncio.current_task()           weft::current_task()
//
// Threads: every call belongs to the loop's thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/export.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/futures.hpp"

namespace weft {

template <class T>
class Task;

namespace detail {

template <class T, class F>
class TaskImpl;

// Builds Task handles; the one way in to Task's private constructor.
struct TaskAccess {
  template <class T, class F>
  static Task<T> make(TaskImpl<T, F>* impl);
};

// The result type of calling F with no arguments.
template <class F>
using CallResult = decltype(std::declval<F&>()());

// A task's state for one function type: the core, the value, the function.
template <class T, class F>
class TaskImpl final : public TaskCore {
 public:
  TaskImpl(Loop& loop, TaskOptions options, F&& fn) : TaskCore(loop, std::move(options)) {
    fn_.emplace(std::move(fn));
  }
  ResultSlot<typename ValueOf<T>::type> value;

 private:
  void run_body() override { run(std::is_void<T>()); }
  void run(std::false_type) { value.emplace(fn_.value()()); }
  void run(std::true_type) {
    fn_.value()();
    value.emplace();
  }
  void drop_body() noexcept override { fn_.reset(); }

  ResultSlot<F> fn_;
};

}  // namespace detail

class TaskRef;

// A handle to a task, as asyncio.Task: a Future<T> whose result comes from the
// task's function. Copyable and cheap; copies compare equal.
template <class T>
class Task : public Future<T> {
 public:
  using CallbackId = typename Future<T>::CallbackId;

  // An empty handle; assign from create_task().
  Task() : Future<T>(nullptr, nullptr) {}

  // asyncio Task.cancel(msg): see TaskCore::cancel. Returns false if done.
  bool cancel(const std::string& message = std::string()) { return task().cancel(message); }
  int cancelling() const noexcept { return task().cancelling(); }
  int uncancel() noexcept { return task().uncancel(); }
  const std::string& get_name() const noexcept { return task().name(); }
  void set_name(std::string name) { task().set_name(std::move(name)); }

  // Schedules fn(task) with call_soon once the task is done.
  CallbackId add_done_callback(std::function<void(Task<T>)> fn) {
    Task<T> self = *this;
    return this->core().add_done_callback([fn, self] { fn(self); });
  }

  explicit operator bool() const noexcept { return this->has_core(); }

 private:
  friend struct detail::TaskAccess;
  friend class TaskRef;

  template <class F>
  explicit Task(detail::TaskImpl<T, F>* impl) : Future<T>(impl, &impl->value) {}

  detail::TaskCore& task() const noexcept { return static_cast<detail::TaskCore&>(this->core()); }
};

// A type-erased, nullable handle to any task (asyncio's current_task() and
// all_tasks() return these).
class TaskRef {
 public:
  TaskRef() noexcept = default;
  template <class T>
  TaskRef(const Task<T>& task) : core_(static_cast<detail::TaskCore*>(&task.core())) {}  // NOLINT
  explicit TaskRef(detail::TaskCore* core) : core_(core) {}

  explicit operator bool() const noexcept { return static_cast<bool>(core_); }
  bool done() const noexcept { return core_->done(); }
  bool cancelled() const noexcept { return core_->cancelled(); }
  bool cancel(const std::string& message = std::string()) { return core_->cancel(message); }
  int cancelling() const noexcept { return core_->cancelling(); }
  int uncancel() noexcept { return core_->uncancel(); }
  const std::string& get_name() const noexcept { return core_->name(); }
  // Blocks until the task is done, without fetching its result (asyncio
  // `await asyncio.wait([t])`); the waiter's cancellation passes on to it.
  void wait() { core_->wait(); }
  std::exception_ptr exception() { return core_->exception(); }

  bool operator==(const TaskRef& o) const noexcept { return core_ == o.core_; }
  bool operator!=(const TaskRef& o) const noexcept { return core_ != o.core_; }
  template <class T>
  bool operator==(const Task<T>& t) const noexcept {
    return core_.get() == &t.core();
  }

  detail::TaskCore& core() const noexcept { return *core_; }

 private:
  detail::CorePtr<detail::TaskCore> core_;
};

namespace detail {
template <class T, class F>
Task<T> TaskAccess::make(TaskImpl<T, F>* impl) {
  return Task<T>(impl);
}
}  // namespace detail

// Runs fn() on a new task of `loop`, starting in the loop's next iteration.
template <class F>
auto create_task(Loop& loop, F&& fn, TaskOptions options = TaskOptions())
    -> Task<detail::CallResult<typename std::decay<F>::type>> {
  using Fn = typename std::decay<F>::type;
  using T = detail::CallResult<Fn>;
  auto* impl = new detail::TaskImpl<T, Fn>(loop, std::move(options), Fn(std::forward<F>(fn)));
  Task<T> task = detail::TaskAccess::make(impl);
  impl->schedule_start();
  return task;
}

// asyncio.create_task(): on the loop running on this thread. Throws
// InvalidStateError if none runs.
template <class F>
auto create_task(F&& fn, TaskOptions options = TaskOptions())
    -> Task<detail::CallResult<typename std::decay<F>::type>> {
  return create_task(get_running_loop(), std::forward<F>(fn), std::move(options));
}

// The task running now, or an empty TaskRef on the loop's own stack.
WEFT_API TaskRef current_task();

// The running loop's tasks that are not done yet (asyncio.all_tasks()).
WEFT_API std::vector<TaskRef> all_tasks();

// Suspends the current task for at least `delay` (asyncio.sleep). A delay of
// zero or less is yield(). Throws CancelledError if the task is cancelled,
// InvalidStateError outside a task.
WEFT_API void sleep(std::chrono::steady_clock::duration delay);
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> delay) {
  sleep(detail::clock_duration(delay));
}

// Lets every other ready callback and task run once, then continues
// (asyncio.sleep(0)). Throws CancelledError if the task is cancelled.
WEFT_API void yield();

}  // namespace weft

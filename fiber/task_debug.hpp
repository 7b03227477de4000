// fiber/task_debug.hpp — internal header of fiber/ (not installed).
//
// What dump_tasks() and debug mode need from a task beyond its public face
// (TaskCore befriends TaskDebug): its stack, where it was created, and the
// hooks tasks.cpp calls at creation, at every switch and at the end when
// the loop is in debug mode (fiber/debug.cpp).
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "weft/fiber/detail/task_core.hpp"

namespace weft {
namespace detail {

// Nanoseconds on `clock`: CLOCK_MONOTONIC_COARSE for a task's birth (a few
// nanoseconds, no counter read; an age needs no better than its few
// milliseconds), CLOCK_MONOTONIC for timing a step.
inline int64_t clock_ns(clockid_t clock) noexcept {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct TaskDebug {
  // The task's stack: [bottom, bottom + size), or {nullptr, 0} if it has
  // none (not started, or done). Defined in tasks.cpp, which knows Fiber.
  struct Stack {
    const char* bottom;
    std::size_t size;
  };
  static Stack stack(const TaskCore& task) noexcept;

  // Bytes of the stack touched so far: from its top down to the lowest page
  // the kernel has committed (mincore). 0 without a stack.
  static std::size_t stack_high_water(const TaskCore& task) noexcept;

  // --- debug mode -----------------------------------------------------------
  // A task was created on a loop in debug mode: records who created it and
  // the creating thread's call stack.
  static void record_origin(TaskCore& task) noexcept;
  // Frees the record (the task's destructor).
  static void drop_origin(TaskCore& task) noexcept;
  // The task's creation record, or null (not in debug mode at its birth).
  using Origin = TaskCore::Origin;  // defined in fiber/debug.cpp
  static Origin* origin(const TaskCore& task);
  // "\n  created by task 'main' at:\n    #0 ..." or "" without a record.
  static std::string origin_text(const TaskCore& task);

  // Control passes from `leaving` to `entering` (either null: the loop's own
  // stack). Times each task's step, and checks the leaving task's stack.
  static void on_switch(TaskCore* leaving, TaskCore* entering) noexcept;
  // The task's body returned; its stack goes back to the pool next. Checks
  // the stack one last time and gives back the pages the task touched, so
  // that the next task's high-water mark is its own.
  static void on_finish(TaskCore& task) noexcept;
  // Warns, once per task, if its stack use is within a quarter of the guard.
  static void check_stack(TaskCore& task) noexcept;
};

}  // namespace detail
}  // namespace weft

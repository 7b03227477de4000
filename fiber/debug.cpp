// fiber/debug.cpp — seeing the tasks (dump_tasks, see weft/fiber/debug.hpp)
// and debug mode's checks: slow steps, stacks nearing their guard, where a
// task was created, and the deadlock report.
#include "weft/fiber/debug.hpp"

#include <cxxabi.h>
#include <execinfo.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "fiber/loop_context.hpp"
#include "fiber/stack_internal.hpp"
#include "fiber/task_debug.hpp"
#include "weft/fiber/waiting.hpp"

namespace weft {
namespace detail {

// Debug mode's record of a task's birth.
struct TaskCore::Origin {
  static constexpr int kMaxFrames = 32;
  std::string creator;  // the creating task's name; empty: outside any task
  void* frames[kMaxFrames];
  int depth = 0;
};

namespace {

std::string seconds(int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(ns) / 1e9);
  return text;
}

std::string address(const void* p) {
  char text[24];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

std::string kib(std::size_t bytes) { return std::to_string((bytes + 1023) / 1024); }

// Reports a debug-mode finding through the loop's exception handler, from
// a callback of its own: the finding is made in the middle of a switch,
// where user code (a custom handler) must not run.
void report_later(Loop& loop, std::string message) noexcept {
  try {
    loop.call_soon([message] {
      ExceptionContext context;
      context.message = message;
      get_running_loop().call_exception_handler(context);
    });
  } catch (...) {  // the loop is closing, or out of memory: print it here
    std::fprintf(stderr, "weft: %s\n", message.c_str());
  }
}

// --- one task, described -----------------------------------------------------------

const char* phase_name(TaskCore::Phase phase) {
  switch (phase) {
    case TaskCore::Phase::kNotStarted:
      return "pending";
    case TaskCore::Phase::kScheduled:
      return "ready";
    case TaskCore::Phase::kRunning:
      return "running";
    case TaskCore::Phase::kParked:
      return "parked";
    case TaskCore::Phase::kDone:
      return "done";
  }
  return "?";
}

// The task behind a future the site names, if the future is a task.
TaskCore* as_task(const void* future) {
  return static_cast<FutureCore*>(const_cast<void*>(future))->as_task();
}

std::string describe_future(const void* future) {
  if (const TaskCore* task = as_task(future)) return "task '" + task->name() + "'";
  return std::string(static_cast<const FutureCore*>(future)->done() ? "done future " : "future ") + address(future);
}

std::string describe_wait(const TaskCore& task, int64_t now_steady_ns) {
  if (task.phase() != TaskCore::Phase::kParked) return "-";
  const WaitSite& site = task.wait_site();
  switch (site.kind) {
    case WaitSite::Kind::kNone:
      return "-";
    case WaitSite::Kind::kObject:
      return std::string(site.what) + " " + address(site.object);
    case WaitSite::Kind::kFd:
      return "fd " + std::to_string(site.value) + (std::strcmp(site.what, "fd readable") == 0 ? " readable" : " writable");
    case WaitSite::Kind::kTimer: {
      const int64_t left = site.value - now_steady_ns;
      return std::string(site.what) + (left >= 0 ? ", due in " + seconds(left) : ", overdue by " + seconds(-left));
    }
    case WaitSite::Kind::kFuture: {
      const std::string future = describe_future(site.object);
      const bool plain = std::strcmp(site.what, "task") == 0 || std::strcmp(site.what, "future") == 0;
      return plain ? future : std::string(site.what) + ": " + future;
    }
    case WaitSite::Kind::kChildren: {
      constexpr int64_t kShown = 4;
      const auto* children = static_cast<const ChildWaiter*>(site.object);
      std::string text = std::string(site.what) + " of " + std::to_string(site.value) + ":";
      for (int64_t i = 0; i < site.value && i < kShown; ++i) {
        text += (i == 0 ? " " : ", ") + describe_future(children[i].core);
      }
      if (site.value > kShown) text += ", ...";
      return text;
    }
    case WaitSite::Kind::kThread:
      return std::string(site.what) + ": a function running on a worker thread";
  }
  return "?";
}

std::string describe_stack(const TaskCore& task) {
  const TaskDebug::Stack stack = TaskDebug::stack(task);
  if (stack.bottom == nullptr) return "-";
  return kib(TaskDebug::stack_high_water(task)) + "/" + kib(stack.size) + " KiB";
}

// The tasks `task` waits on directly: the task it awaits, or the tasks
// among the children of its gather / wait / as_completed.
std::vector<const TaskCore*> awaited_tasks(const TaskCore& task) {
  std::vector<const TaskCore*> awaited;
  if (task.phase() != TaskCore::Phase::kParked) return awaited;
  const WaitSite& site = task.wait_site();
  if (site.kind == WaitSite::Kind::kFuture) {
    if (const TaskCore* t = as_task(site.object)) awaited.push_back(t);
  } else if (site.kind == WaitSite::Kind::kChildren) {
    const auto* children = static_cast<const ChildWaiter*>(site.object);
    for (int64_t i = 0; i < site.value; ++i) {
      if (const TaskCore* t = as_task(children[i].core)) awaited.push_back(t);
    }
  }
  return awaited;
}

// --- the whole loop ------------------------------------------------------------------

void print_tree(std::ostream& out, const TaskCore& task, const std::string& prefix, bool root, bool last,
                const std::set<const TaskCore*>& live, std::set<const TaskCore*>& printed) {
  out << "  " << prefix << (root ? "" : last ? "└── " : "├── ") << task.name();
  if (!printed.insert(&task).second) {
    out << " (see above)\n";
    return;
  }
  out << "\n";
  std::vector<const TaskCore*> children;
  for (const TaskCore* child : awaited_tasks(task)) {
    if (live.count(child) != 0) children.push_back(child);
  }
  const std::string below = root ? "" : prefix + (last ? "    " : "│   ");
  for (std::size_t i = 0; i < children.size(); ++i) {
    print_tree(out, *children[i], below, false, i + 1 == children.size(), live, printed);
  }
}

void dump(LoopContext& context, std::ostream& out) {
  std::vector<const TaskCore*> tasks;
  for (const TaskCore* t = context.first_live(); t != nullptr; t = t->next_live) tasks.push_back(t);
  // Oldest first: the list is kept newest first.
  std::vector<const TaskCore*> ordered(tasks.rbegin(), tasks.rend());

  const int64_t now_coarse = clock_ns(CLOCK_MONOTONIC_COARSE);
  const int64_t now_steady = std::chrono::steady_clock::now().time_since_epoch().count();
  struct Row {
    std::string name, state, age, stack, waiting;
  };
  std::vector<Row> rows;
  rows.push_back(Row{"TASK", "STATE", "AGE", "STACK", "WAITING ON"});
  for (const TaskCore* t : ordered) {
    const int64_t age = now_coarse - t->created_ns();
    rows.push_back(Row{t->name(), phase_name(t->phase()), seconds(age < 0 ? 0 : age), describe_stack(*t),
                       describe_wait(*t, now_steady)});
  }
  std::size_t widths[4] = {0, 0, 0, 0};
  for (const Row& row : rows) {
    const std::string* cells[4] = {&row.name, &row.state, &row.age, &row.stack};
    for (int i = 0; i < 4; ++i) widths[i] = std::max(widths[i], cells[i]->size());
  }
  out << "weft: " << ordered.size() << (ordered.size() == 1 ? " task" : " tasks") << " on loop "
      << address(context.loop()) << "\n";
  for (const Row& row : rows) {
    const std::string* cells[4] = {&row.name, &row.state, &row.age, &row.stack};
    out << "  ";
    for (int i = 0; i < 4; ++i) out << *cells[i] << std::string(widths[i] - cells[i]->size() + 2, ' ');
    out << row.waiting << "\n";
  }

  // The await tree: roots are the tasks no live task waits on.
  const std::set<const TaskCore*> live(ordered.begin(), ordered.end());
  std::set<const TaskCore*> awaited;
  for (const TaskCore* t : ordered) {
    for (const TaskCore* child : awaited_tasks(*t)) awaited.insert(child);
  }
  out << "await tree:\n";
  std::set<const TaskCore*> printed;
  for (const TaskCore* t : ordered) {
    if (awaited.count(t) == 0) print_tree(out, *t, "", true, true, live, printed);
  }
  // Tasks only reachable through a cycle of waits (a deadlock of their own).
  for (const TaskCore* t : ordered) {
    if (printed.count(t) == 0) print_tree(out, *t, "", true, true, live, printed);
  }
  out.flush();
}

// --- debug mode's checks ------------------------------------------------------------

thread_local int64_t t_step_started_ns = 0;


std::string demangled(const char* symbol_line) {
  // backtrace_symbols(): "binary(mangled+0x1f) [0x55d...]", or
  // "binary(+0x1234) [0x55d...]" for a symbol outside the dynamic table.
  std::string line(symbol_line);
  const std::size_t open = line.find('(');
  const std::size_t plus = line.find('+', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || plus == std::string::npos || plus == open + 1) return line;
  const std::string mangled = line.substr(open + 1, plus - open - 1);
  int status = 0;
  char* name = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || name == nullptr) return line;
  line = line.substr(0, open + 1) + name + line.substr(plus);
  std::free(name);
  return line;
}

}  // namespace

// --- TaskDebug ------------------------------------------------------------------------

std::size_t TaskDebug::stack_high_water(const TaskCore& task) noexcept {
  const Stack stack = TaskDebug::stack(task);
  if (stack.bottom == nullptr) return 0;
  const std::size_t page = page_size();
  const auto bottom = (reinterpret_cast<std::uintptr_t>(stack.bottom) + page - 1) & ~(page - 1);
  const auto top = (reinterpret_cast<std::uintptr_t>(stack.bottom) + stack.size) & ~(page - 1);
  if (top <= bottom) return 0;
  const std::size_t pages = (top - bottom) / page;
  std::vector<unsigned char> resident(pages);
  if (mincore(reinterpret_cast<void*>(bottom), top - bottom, resident.data()) != 0) return 0;
  for (std::size_t i = 0; i < pages; ++i) {
    if ((resident[i] & 1) != 0) return (pages - i) * page;
  }
  return 0;
}

// Creation records, by task: only debug mode makes them. Tasks may end on
// another thread than their loop's (a handle dropped after the loop ended),
// hence the mutex; the table is never destroyed, as a task may be freed
// during the program's exit.
namespace {
std::mutex g_origins_mutex;
std::unordered_map<const TaskCore*, std::unique_ptr<TaskDebug::Origin>>& origins() {
  static auto* table = new std::unordered_map<const TaskCore*, std::unique_ptr<TaskDebug::Origin>>();
  return *table;
}
}  // namespace

TaskCore::Origin* TaskDebug::origin(const TaskCore& task) {
  if (!task.has_origin_) return nullptr;
  std::lock_guard<std::mutex> lock(g_origins_mutex);
  const auto it = origins().find(&task);
  return it != origins().end() ? it->second.get() : nullptr;
}

void TaskDebug::record_origin(TaskCore& task) noexcept {
  try {
    std::unique_ptr<TaskCore::Origin> origin(new TaskCore::Origin);
    if (const TaskCore* creator = TaskCore::current()) origin->creator = creator->name();
    origin->depth = backtrace(origin->frames, TaskCore::Origin::kMaxFrames);
    std::lock_guard<std::mutex> lock(g_origins_mutex);
    origins()[&task] = std::move(origin);
    task.has_origin_ = true;
  } catch (...) {  // out of memory: no record
  }
}

void TaskDebug::drop_origin(TaskCore& task) noexcept {
  std::lock_guard<std::mutex> lock(g_origins_mutex);
  origins().erase(&task);
  task.has_origin_ = false;
}

std::string TaskDebug::origin_text(const TaskCore& task) {
  const TaskCore::Origin* origin = TaskDebug::origin(task);
  if (origin == nullptr) return "";
  std::string text = "\n  task '" + task.name() + "' was created by " +
                     (origin->creator.empty() ? std::string("code outside any task") : "task '" + origin->creator + "'") +
                     " at (link with -rdynamic for more names; addr2line -e <program> <offset> for lines):";
  // The first frames are weft's own: record_origin and the task's constructor.
  constexpr int kSkipped = 2;
  char** symbols = backtrace_symbols(origin->frames, origin->depth);
  for (int i = kSkipped; i < origin->depth; ++i) {
    text += "\n    #" + std::to_string(i - kSkipped) + " ";
    text += symbols != nullptr ? demangled(symbols[i]) : address(origin->frames[i]);
  }
  std::free(symbols);
  return text;
}

void TaskDebug::check_stack(TaskCore& task) noexcept {
  // Only tasks made in debug mode, once each: the test runs at every switch.
  if (!task.has_origin_ || task.stack_warned_) return;
  const TaskDebug::Stack stack = TaskDebug::stack(task);
  if (stack.bottom == nullptr) return;
  const std::size_t used = TaskDebug::stack_high_water(task);
  if (used < stack.size - stack.size / 4) return;
  task.stack_warned_ = true;
  report_later(task.loop(), "task '" + task.name() + "' has used " + kib(used) + " KiB of its " + kib(stack.size) +
                                " KiB stack, within a quarter of its guard (debug mode); give it a larger "
                                "TaskOptions::stack_size" + TaskDebug::origin_text(task));
}

void TaskDebug::on_switch(TaskCore* leaving, TaskCore* entering) noexcept {
  const int64_t now = clock_ns(CLOCK_MONOTONIC);
  if (leaving != nullptr) {
    Loop& loop = leaving->loop();
    const int64_t took = now - t_step_started_ns;
    if (took >= std::chrono::duration_cast<std::chrono::nanoseconds>(loop.slow_callback_duration()).count()) {
      try {
        report_later(loop, "Executing task '" + leaving->name() + "' took " + seconds(took) +
                               " (debug mode: longer than slow_callback_duration, " +
                               seconds(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           loop.slow_callback_duration()).count()) + ")");
      } catch (...) {  // out of memory: skip the warning
      }
    }
    check_stack(*leaving);
  }
  if (entering != nullptr) t_step_started_ns = now;
}

void TaskDebug::on_finish(TaskCore& task) noexcept {
  check_stack(task);
  // Give back the pages below this frame, with a margin for the frames of
  // madvise()'s own call: the next task on this stack starts clean.
  const Stack stack = TaskDebug::stack(task);
  if (stack.bottom == nullptr) return;
  const std::size_t page = page_size();
  constexpr std::size_t kMarginPages = 4;
  volatile char here = 0;
  const auto low = (reinterpret_cast<std::uintptr_t>(stack.bottom) + page - 1) & ~(page - 1);
  const auto sp = reinterpret_cast<std::uintptr_t>(&here) & ~(page - 1);
  if (sp > low + kMarginPages * page) madvise(reinterpret_cast<void*>(low), sp - kMarginPages * page - low, MADV_DONTNEED);
}

// --- the deadlock report ------------------------------------------------------------------

bool LoopContext::loop_stalled() noexcept {
  if (!watch_deadlocks_) return false;
  // A task waiting for a worker thread will be woken by it.
  for (const TaskCore* t = live_head_; t != nullptr; t = t->next_live) {
    if (t->phase() != TaskCore::Phase::kParked || t->wait_site().kind == WaitSite::Kind::kThread) return false;
  }
  try {
    std::ostringstream report;
    report << "weft: deadlock: every task is waiting and nothing can wake any of them (debug mode: no callback "
              "ready, no timer, no fd watched, no signal handler, no work on another thread)\n";
    dump(*this, report);
    deadlock_report_ = report.str();
  } catch (...) {
    deadlock_report_ = "weft: deadlock (the report could not be made: out of memory)";
  }
  loop_->stop();
  return true;
}

}  // namespace detail

// --- public functions ------------------------------------------------------------------

void dump_tasks(std::ostream& out) { dump_tasks(get_running_loop(), out); }

void dump_tasks(Loop& loop, std::ostream& out) {
  loop.impl().check_usable("weft::dump_tasks");
  detail::dump(detail::LoopContext::of(loop), out);
}

void dump_tasks_on_signal(Loop& loop, int signal) {
  loop.add_signal_handler(signal, [&loop] { dump_tasks(loop, std::cerr); });
}

}  // namespace weft

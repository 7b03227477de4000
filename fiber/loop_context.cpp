// fiber/loop_context.cpp — the fiber layer's per-loop state.
#include "fiber/loop_context.hpp"

#include <cstdio>
#include <unordered_set>
#include <vector>

#include "fiber/debug_info.hpp"
#include "weft/fiber/detail/task_core.hpp"

namespace weft {
namespace detail {

LoopContext& LoopContext::of(Loop& loop) {
  Loop::Impl& impl = loop.impl();
  if (LoopExtension* existing = impl.extension()) return *static_cast<LoopContext*>(existing);
  if (loop.is_closed()) throw InvalidStateError("create a task or future: the event loop is closed");
  auto* context = new LoopContext(loop);
  impl.set_extension(context);
  return *context;
}

// Each context is on the list a debugger reads (fiber/debug_info.cpp) for
// its whole life; this call is also what links debug_info.cpp's symbols
// into a program built on the static library.
LoopContext::LoopContext(Loop& loop) : loop_(&loop), impl_(&loop.impl()) {
  impl_->set_step_runner(&TaskCore::run_step);
  DebugInfo::add_loop(*this);
}

LoopContext::~LoopContext() { DebugInfo::remove_loop(*this); }

void LoopContext::link(TaskCore* task) noexcept {
  task->prev_live = nullptr;
  task->next_live = live_head_;
  if (live_head_ != nullptr) live_head_->prev_live = task;
  live_head_ = task;
  ++live_count_;
}

void LoopContext::unlink(TaskCore* task) noexcept {
  if (task->prev_live != nullptr) {
    task->prev_live->next_live = task->next_live;
  } else {
    live_head_ = task->next_live;
  }
  if (task->next_live != nullptr) task->next_live->prev_live = task->prev_live;
  task->prev_live = task->next_live = nullptr;
  --live_count_;
}

// The loop closes with tasks still alive. asyncio.run() would have cancelled
// them and let them finish (weft::run() does too); a loop closed by hand
// gets this backstop instead, so that no fiber stack is abandoned: each task
// is cancelled and resumed directly until it ends, every suspension point
// throwing CancelledError at once meanwhile (closing()). A task that keeps
// swallowing cancellations is given up on after kPatience attempts, loudly.
// Tasks started meanwhile (by a clean-up) are unwound in turn.
void LoopContext::loop_closing() noexcept {
  constexpr int kPatience = 100;
  closing_ = true;
  std::unordered_set<const TaskCore*> seen;
  std::size_t next = 0;  // unwound_[next, end) still to unwind
  for (;;) {
    for (TaskCore* t = live_head_; t != nullptr; t = t->next_live) {
      if (seen.insert(t).second) unwound_.emplace_back(t);
    }
    if (next == unwound_.size()) break;
    for (; next < unwound_.size(); ++next) {
      TaskCore& task = *unwound_[next];
      for (int attempt = 0; !task.done() && attempt < kPatience; ++attempt) task.unwind_for_close();
      if (!task.done()) {
        std::fprintf(stderr, "weft: task '%s' ignored cancellation while its loop closed; its stack is leaked\n",
                     task.name().c_str());
      }
    }
  }
}

void LoopContext::loop_closed() noexcept {
  loop_ = nullptr;
  // Dropping these may destroy tasks: only now, as a step of theirs may
  // have been on the ready queue, which the loop has discarded since.
  std::vector<CorePtr<TaskCore>> unwound;
  unwound.swap(unwound_);
  unwound.clear();
  release();
}

}  // namespace detail
}  // namespace weft

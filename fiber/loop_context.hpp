// fiber/loop_context.hpp — internal header of fiber/ (not installed).
//
// The fiber layer's state for one loop: the tasks that are not done yet
// (asyncio's all_tasks()), and what to do with them if the loop closes
// under them. Futures and tasks hold a reference, so a future that outlives
// its loop can still tell that the loop is gone (loop() is then null).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "reactor/loop_impl.hpp"
#include "weft/fiber/detail/future_core.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {
namespace detail {

class TaskCore;

class LoopContext final : public LoopExtension {
 public:
  // The context of `loop`, made on first use. Throws InvalidStateError if
  // the loop is closed.
  static LoopContext& of(Loop& loop);

  // The loop, or null once it has closed.
  Loop* loop() const noexcept { return loop_; }
  // The loop's insides; only while loop() is not null.
  Loop::Impl& impl() const noexcept { return *impl_; }
  // True while the loop closes and its remaining tasks are being unwound:
  // every suspension point then throws CancelledError at once.
  bool closing() const noexcept { return closing_; }

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  void link(TaskCore* task) noexcept;
  void unlink(TaskCore* task) noexcept;
  TaskCore* first_live() const noexcept { return live_head_; }
  std::size_t live_count() const noexcept { return live_count_; }

  // The loop closes: unwinds the tasks still alive (see loop_context.cpp).
  void loop_closing() noexcept override;
  void loop_closed() noexcept override;

  // Debug mode's deadlock report (fiber/debug.cpp): while watching (inside
  // run_until_complete), a stalled loop whose tasks all wait on something
  // only the loop could trigger is stopped, and the report kept for the
  // runner to throw.
  bool loop_stalled() noexcept override;
  void watch_deadlocks(bool on) noexcept { watch_deadlocks_ = on; }
  std::string take_deadlock_report() { return std::move(deadlock_report_); }

 private:
  friend struct DebugInfo;  // fiber/debug_info.cpp: the debugger's list of loops

  explicit LoopContext(Loop& loop);
  ~LoopContext();

  Loop* loop_;
  Loop::Impl* impl_;
  // Tasks unwound by loop_closing(), kept alive until the loop has discarded
  // the callbacks and queued steps that may still point at them.
  std::vector<CorePtr<TaskCore>> unwound_;
  TaskCore* live_head_ = nullptr;
  std::size_t live_count_ = 0;
  uint32_t refs_ = 1;  // the loop's own, dropped when it closes
  bool closing_ = false;
  bool watch_deadlocks_ = false;
  std::string deadlock_report_;
  LoopContext* debug_next_ = nullptr;  // weft_debug_loops, for tools/weft-gdb.py
};

}  // namespace detail
}  // namespace weft

// fiber/taskgroups.cpp — task groups (asyncio's TaskGroup,
// Lib/asyncio/taskgroups.py, Python 3.13): the group's bookkeeping, the
// reaction to a child's end, and the exit protocol.
#include "weft/fiber/taskgroups.hpp"

#include <cassert>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fiber/loop_context.hpp"

namespace weft {
namespace detail {

// The shared state of one group, owned by intrusive references: the
// TaskGroup handles, and the done callback of each child not yet seen done.
//
// The children sit in a slot table whose free slots are chained through it,
// so adding and removing a child is O(1) and allocates nothing once the table
// has grown to the group's peak number of live children:
//
//   slot:         0          1          2          3          4
//   children_: [ task A  | next: 3  | task C  | next: -  | task E  ]
//   free_head_ = 1        (the free slots: 1 → 3 → kNoSlot)
//
// Each child's done callback names its slot. Invariants:
//  - live_ counts the occupied slots, which are exactly the children whose
//    done callback has not run yet (asyncio's _tasks);
//  - while live_ > 0 the parent task is inside task_group(), so it is alive
//    and not done (asyncio's "parent task is already completed" report
//    cannot happen here);
//  - waiting_ is true only while the parent is parked in wait_children(),
//    and then waiter_ is the Waker of that park.
class TaskGroupState {
 public:
  enum class Phase : uint8_t {
    kBody,      // the body runs (asyncio: entered)
    kExiting,   // the body is done; __aexit__ waits for the children
    kFinished,  // task_group() has returned or thrown
  };

  explicit TaskGroupState(TaskCore& parent) : parent_(&parent), loop_(&parent.loop()) {}
  TaskGroupState(const TaskGroupState&) = delete;
  TaskGroupState& operator=(const TaskGroupState&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  std::size_t live() const noexcept { return live_; }
  Loop& loop() const noexcept { return *loop_; }

  std::size_t reserve(const char* what);
  void unreserve(std::size_t slot) noexcept;
  void adopt(std::size_t slot, TaskCore& task);
  void on_task_done(std::size_t slot);
  void exit(std::exception_ptr body_error);

 private:
  static constexpr std::size_t kNoSlot = std::numeric_limits<std::size_t>::max();

  struct Child {
    CorePtr<TaskCore> task;  // null while the slot is free or only reserved
    FutureCore::CallbackId callback = 0;
    std::size_t next_free = kNoSlot;
  };

  // Only the last reference goes, so no child's done callback is still
  // registered: the slots' references to children are simply dropped.
  ~TaskGroupState() = default;

  void abort();
  std::exception_ptr wait_children();
  void detach() noexcept;
  void finish() noexcept;

  TaskCore* parent_;
  Loop* loop_;
  std::vector<Child> children_;
  std::vector<std::exception_ptr> errors_;  // in the order the children failed
  std::size_t free_head_ = kNoSlot;
  std::size_t live_ = 0;
  Waker waiter_;
  uint32_t refs_ = 0;
  Phase phase_ = Phase::kBody;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;
  bool waiting_ = false;
};

namespace {

// A child's done callback: keeps the group alive until it has run (or has
// been discarded by a closing loop), and fits Callback's inline buffer.
class ChildDone {
 public:
  ChildDone(TaskGroupState* state, std::size_t slot) noexcept : state_(state), slot_(slot) { state_->add_ref(); }
  ChildDone(ChildDone&& other) noexcept : state_(other.state_), slot_(other.slot_) { other.state_ = nullptr; }
  ChildDone(const ChildDone&) = delete;
  ChildDone& operator=(const ChildDone&) = delete;
  ChildDone& operator=(ChildDone&&) = delete;
  ~ChildDone() {
    if (state_ != nullptr) state_->release();
  }
  void operator()() { state_->on_task_done(slot_); }

 private:
  TaskGroupState* state_;
  std::size_t slot_;
};

bool is_cancellation(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

// asyncio TaskGroup.create_task: the checks come first, so a refused
// function is never wrapped in a task (3.13 closes the coroutine).
std::size_t TaskGroupState::reserve(const char* what) {
  if (phase_ == Phase::kFinished || (phase_ == Phase::kExiting && live_ == 0)) {
    throw InvalidStateError(std::string(what) + ": the TaskGroup is finished");
  }
  if (aborting_) throw InvalidStateError(std::string(what) + ": the TaskGroup is shutting down");
  if (free_head_ == kNoSlot) {
    children_.emplace_back();
    return children_.size() - 1;
  }
  const std::size_t slot = free_head_;
  free_head_ = children_[slot].next_free;
  return slot;
}

void TaskGroupState::unreserve(std::size_t slot) noexcept {
  Child& child = children_[slot];
  child.task = CorePtr<TaskCore>();
  child.callback = 0;
  child.next_free = free_head_;
  free_head_ = slot;
}

// asyncio: "self._tasks.add(task); task.add_done_callback(self._on_task_done)".
// The callback is scheduled with call_soon when the child ends, as asyncio's.
void TaskGroupState::adopt(std::size_t slot, TaskCore& task) {
  Child& child = children_[slot];
  try {
    child.callback = task.add_done_callback(ChildDone(this, slot));
  } catch (...) {
    // The child has not started (it starts in the next iteration), so a
    // cancellation means it never runs.
    task.cancel(std::string());
    unreserve(slot);
    throw;
  }
  child.task = CorePtr<TaskCore>(&task);
  ++live_;
}

// asyncio TaskGroup._on_task_done.
void TaskGroupState::on_task_done(std::size_t slot) {
  if (phase_ == Phase::kFinished || !children_[slot].task) return;  // detached
  CorePtr<TaskCore> task = children_[slot].task;
  unreserve(slot);
  --live_;
  if (live_ == 0 && waiting_) waiter_();

  if (task->cancelled()) return;
  std::exception_ptr error = task->exception();  // marks it retrieved
  if (!error) return;
  errors_.push_back(std::move(error));

  // asyncio: "If parent task *is not* being cancelled, it means that we
  // want to manually cancel it to abort whatever is being run right now in
  // the TaskGroup. But we want to mark parent task as 'not cancelled' later
  // in __aexit__."
  if (!aborting_ && !parent_cancel_requested_) {
    abort();
    parent_cancel_requested_ = true;
    parent_->cancel(std::string());
  }
}

// asyncio TaskGroup._abort. Cancelling a child never runs user code
// synchronously, so the table cannot change under the loop.
void TaskGroupState::abort() {
  aborting_ = true;
  for (std::size_t slot = 0; slot < children_.size(); ++slot) {
    TaskCore* task = children_[slot].task.get();
    if (task != nullptr && !task->done()) task->cancel(std::string());
  }
}

// One `await self._on_completed_fut`: parks the parent until the last child
// is seen done. Returns the CancelledError that ended the wait early, or
// null.
std::exception_ptr TaskGroupState::wait_children() {
  TaskCore& task = *parent_;
  assert(TaskCore::current() == parent_ && "task_group()'s exit runs on its own task");
  waiter_ = task.prepare_wait(WaitSite::on_object("task_group exit", this));
  waiting_ = true;
  task.park();
  waiting_ = false;
  try {
    task.check_cancel();
  } catch (const CancelledError&) {
    return std::current_exception();
  }
  return nullptr;
}

// asyncio TaskGroup.__aexit__ (3.13), step by step.
void TaskGroupState::exit(std::exception_ptr body_error) {
  struct Finish {
    TaskGroupState* self;
    ~Finish() { self->finish(); }
  } finish_on_every_path{this};

  phase_ = Phase::kExiting;
  const bool body_cancelled = body_error && is_cancellation(body_error);
  std::exception_ptr propagate_cancellation = body_cancelled ? body_error : nullptr;

  // The parent is being cancelled, or the body threw: stop the children.
  if (body_error && !aborting_) abort();

  // asyncio: "We use while-loop here because self._on_completed_fut can be
  // cancelled multiple times if our parent task is being cancelled
  // repeatedly (or even once, when our own cancellation is already in
  // progress)."
  while (live_ > 0) {
    std::exception_ptr cancelled = wait_children();
    if (!cancelled) continue;
    if (parent_->context().closing()) {
      // weft: a loop closed by hand unwinds its tasks without running
      // callbacks, so the children's done callbacks will never come. Stop
      // watching them (the loop unwinds them too) and leave cancelled.
      abort();
      detach();
      std::rethrow_exception(cancelled);
    }
    if (!aborting_) {
      // The parent is cancelled from outside while the children still run.
      propagate_cancellation = cancelled;
      abort();
    }
  }

  if (parent_cancel_requested_) {
    // asyncio: "If this flag is set we *must* call uncancel()"; with no
    // cancellation left, the group's own must not propagate.
    if (parent_->uncancel() == 0) propagate_cancellation = nullptr;
  }

  // asyncio: "Propagate CancelledError if there is one, except if there are
  // other errors -- those have priority."
  if (propagate_cancellation && errors_.empty()) std::rethrow_exception(propagate_cancellation);

  if (body_error && !body_cancelled) errors_.push_back(body_error);

  if (!errors_.empty()) {
    // asyncio: "If the parent task is being cancelled from the outside of
    // the taskgroup, un-cancel and re-cancel the parent task, which will
    // keep the cancel count stable" — and re-arms the cancellation that the
    // ExceptionGroup displaces.
    if (parent_->cancelling() > 0) {
      parent_->uncancel();
      parent_->cancel(std::string());
    }
    std::vector<std::exception_ptr> errors;
    errors.swap(errors_);
    throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errors));
  }
}

// Forgets the children still registered (none unless the loop is closing):
// their done callbacks are withdrawn, or will find the group finished.
void TaskGroupState::detach() noexcept {
  for (std::size_t slot = 0; slot < children_.size(); ++slot) {
    Child& child = children_[slot];
    if (!child.task) continue;
    child.task->remove_callback(child.callback);
    unreserve(slot);
    --live_;
  }
}

// The group is finished whatever way exit() left; like asyncio, it keeps no
// reference to its parent or to the children's exceptions afterwards.
void TaskGroupState::finish() noexcept {
  phase_ = Phase::kFinished;
  parent_ = nullptr;
  errors_.clear();
}

// --- TaskGroupScope ----------------------------------------------------------------

namespace {
TaskGroupState* enter_group(const char* what) {
  TaskCore& parent = TaskCore::require_current(what);
  return new TaskGroupState(parent);
}
}  // namespace

TaskGroupScope::TaskGroupScope(const char* what) : group_(enter_group(what)) {}

void TaskGroupScope::exit() {
  exiting_ = true;
  group_.state_->exit(nullptr);
}

void TaskGroupScope::exit(std::exception_ptr body_error) {
  exiting_ = true;
  group_.state_->exit(body_error);
  // TaskGroupState::exit never returns after a body error (see the header);
  // should that change, the body's exception must still not be lost.
  std::rethrow_exception(body_error);
}

}  // namespace detail

// --- TaskGroup ------------------------------------------------------------------------

TaskGroup::TaskGroup(detail::TaskGroupState* state) noexcept : state_(state) { state_->add_ref(); }

TaskGroup::TaskGroup(const TaskGroup& other) noexcept : state_(other.state_) {
  if (state_ != nullptr) state_->add_ref();
}

TaskGroup& TaskGroup::operator=(const TaskGroup& other) noexcept {
  if (other.state_ != nullptr) other.state_->add_ref();
  if (state_ != nullptr) state_->release();
  state_ = other.state_;
  return *this;
}

TaskGroup::~TaskGroup() {
  if (state_ != nullptr) state_->release();
}

std::size_t TaskGroup::task_count() const noexcept { return state_ == nullptr ? 0 : state_->live(); }

std::size_t TaskGroup::reserve_slot(const char* what) {
  if (state_ == nullptr) throw InvalidStateError(std::string(what) + ": an empty TaskGroup handle");
  return state_->reserve(what);
}

void TaskGroup::release_slot(std::size_t slot) noexcept { state_->unreserve(slot); }

Loop& TaskGroup::loop() const { return state_->loop(); }

void TaskGroup::adopt(std::size_t slot, const TaskRef& task) { state_->adopt(slot, task.core()); }

}  // namespace weft

// fiber/tasks.cpp — tasks on fibers (asyncio's Task, Lib/asyncio/tasks.py):
// starting a task on a pooled stack, switching between the loop and a task,
// parking and waking, cancellation, and sleep()/yield().
#include <boost/context/fiber.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "fiber/loop_context.hpp"
#include "fiber/sanitizer.hpp"
#include "fiber/stack.hpp"
#include "fiber/task_debug.hpp"
#include "fiber/task_heap.hpp"
#include "weft/fiber/tasks.hpp"

namespace weft {
namespace detail {

namespace ctx = boost::context;

static_assert(sizeof(ctx::fiber) == sizeof(void*) && alignof(ctx::fiber) <= alignof(void*),
              "TaskCore keeps a boost::context::fiber in pointer-sized storage");

// A task's switch state. It lives at the top of the task's own stack (no
// allocation), above Boost.Context's record.
struct TaskCore::Fiber {
  void* fake_stack = nullptr;  // ASan: this fiber's fake stack while away
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
};

namespace {

thread_local TaskCore* t_current_task = nullptr;
// The running loop is in debug mode: every switch calls TaskDebug's hooks.
thread_local bool t_debug = false;

// How control moves between the loop's stack and the tasks': every switch
// is a plain resume(), which hands the resumed side the context just left;
// the resumed side files it where it belongs, as told by t_switch_source:
// the task that left (its context_), the loop (t_main: null source), or
// nowhere (a task that ended: kEndedSource). So a task can hand control
// straight to another task, and the loop's context travels with whichever
// task runs.
thread_local TaskCore* t_switch_source = nullptr;
TaskCore* const kEndedSource = reinterpret_cast<TaskCore*>(alignof(TaskCore));
thread_local boost::context::fiber t_main;
thread_local void* t_main_fake_stack = nullptr;  // ASan: the loop's, while away
thread_local const void* t_main_bottom = nullptr;  // ASan: the loop's stack
thread_local std::size_t t_main_size = 0;
// The numbers of "Task-N" names: unique in the process, as asyncio's, and
// handed to each thread a block at a time. An atomic increment per task
// would be a locked instruction, which waits for every store before it: a
// burst of tasks, whose stores all miss the cache, spent 6% of its time
// there. One thread's tasks are numbered 1, 2, 3... as in asyncio.
std::atomic<unsigned long> g_task_numbers{0};
constexpr unsigned long kTaskNumberBlock = 1024;
thread_local unsigned long t_next_task_number = 0;
thread_local unsigned long t_task_numbers_end = 0;

unsigned long next_task_number() noexcept {
  if (t_next_task_number == t_task_numbers_end) {
    t_next_task_number = g_task_numbers.fetch_add(kTaskNumberBlock, std::memory_order_relaxed) + 1;
    t_task_numbers_end = t_next_task_number + kTaskNumberBlock;
  }
  return t_next_task_number++;
}

// The thread's stack pool; the first use installs the stack-overflow report.
// A burst of tasks ending pools every stack with its pages (no syscall on
// the way out); the loop then gives the surplus back (StackTrim).
StackPool& thread_stack_pool() {
  static thread_local StackPool pool(stack_guard_from_environment(), kMaxPooledStacks, kBurstPooledStacks);
  static thread_local bool ready = false;
  if (!ready) {
    install_stack_overflow_handler();
    ensure_alt_signal_stack();
    ready = true;
  }
  return pool;
}

// Boost.Context saves and restores MXCSR at every switch, and reloading a
// different value costs ~15x a plain switch. The control bits never change
// in practice but the sticky exception flags do, so every context gets all
// six flags set: floating-point arithmetic can only set them, never clear
// them, so all contexts stay identical. (A program that reads the flags
// with fetestexcept() sees them all raised on the loop's threads.)
inline void settle_mxcsr() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(_mm_getcsr() | 0x3f);
#endif
}

// A StackTrim callback is queued on the running loop (one per thread).
thread_local bool t_trim_queued = false;

// Gives the stack pool's surplus back to the kernel, a batch per loop
// iteration, after a burst of tasks ended: the burst itself pays no
// syscall, and the loop interleaves its other work with the batches.
struct StackTrim {
  bool armed = true;  // owns t_trim_queued (a moved-from copy does not)

  StackTrim() = default;
  StackTrim(StackTrim&& other) noexcept : armed(other.armed) { other.armed = false; }
  StackTrim& operator=(StackTrim&&) = delete;
  // Discarded unrun (the loop closed): the next burst queues another.
  ~StackTrim() {
    if (armed) t_trim_queued = false;
  }

  void operator()() {
    armed = false;
    if (thread_stack_pool().trim()) {
      try {
        get_running_loop().call_soon(StackTrim());
        return;
      } catch (...) {  // out of memory: the next burst tries again
      }
    }
    t_trim_queued = false;
  }

  // Called as a task ends, before its stack goes back to the pool.
  static void after_one_more_pooled(Loop& loop) noexcept {
    if (t_trim_queued) return;
    StackPool& pool = thread_stack_pool();
    if (pool.pooled_stacks() < pool.max_pooled()) return;
    try {
      loop.call_soon(StackTrim());
      t_trim_queued = true;
    } catch (...) {  // the loop is closing, or out of memory
    }
  }
};

ctx::fiber& as_fiber(unsigned char* storage) { return *reinterpret_cast<ctx::fiber*>(storage); }

// asyncio's "Task-N", formatted by hand: every unnamed task pays for it.
// The digits are written backwards behind the prefix, and the string made
// in one go (it fits the small-string buffer: no allocation).
void assign_default_name(std::string& name, unsigned long n) {
  char text[32];
  char* const end = text + sizeof text;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  p -= 5;
  std::memcpy(p, "Task-", 5);
  name.assign(p, static_cast<std::size_t>(end - p));
}

}  // namespace

StackPool& tasks_stack_pool() { return thread_stack_pool(); }

// The parts of switching that name Boost.Context types, which task_core.hpp
// may not: TaskCore befriends this struct.
struct TaskSwitch {
  static ctx::fiber& context(TaskCore& task) { return as_fiber(task.context_); }
  // Files the context a switch left (see t_switch_source).
  static void land(ctx::fiber&& left) {
    TaskCore* source = t_switch_source;
    if (source == nullptr) {
      t_main = std::move(left);
    } else if (source != kEndedSource) {
      context(*source) = std::move(left);
    }
  }
  static ctx::fiber run(TaskCore& task, ctx::fiber&& starter);
};

// --- construction and bookkeeping -----------------------------------------------

namespace {
// Whether tasks come from the task heap (see TaskCore::operator new).
bool use_task_heap() noexcept {
  static const bool use = !kAddressSanitizer && !running_on_valgrind();
  return use;
}
}  // namespace

void* TaskCore::operator new(std::size_t size) {
  if (size > TaskHeap::kMaxBlock || !use_task_heap()) return ::operator new(size);
  return TaskHeap::local().allocate(size);
}

void TaskCore::operator delete(void* block, std::size_t size) noexcept {
  if (block == nullptr) return;
  if (size > TaskHeap::kMaxBlock || !use_task_heap()) {
    ::operator delete(block);
  } else {
    TaskHeap::free(block);
  }
}

TaskCore::TaskCore(Loop& loop, TaskOptions options)
    : FutureCore(loop), name_(std::move(options.name)), stack_size_(options.stack_size) {
  if (name_.empty()) assign_default_name(name_, next_task_number());
  created_ns_ = clock_ns(CLOCK_MONOTONIC_COARSE);
  if (loop.impl().debug()) TaskDebug::record_origin(*this);
  if (stack_size_ == 0) stack_size_ = kDefaultStackSize;
  ::new (static_cast<void*>(context_)) ctx::fiber();
}

TaskCore::~TaskCore() {
  if (exception_unretrieved()) {
    report_unretrieved("Task exception was never retrieved (task '" + name_ + "')" + TaskDebug::origin_text(*this));
  }
  if (has_origin_) TaskDebug::drop_origin(*this);
  as_fiber(context_).~fiber();
}

void TaskCore::set_name(std::string name) {
  name_ = std::move(name);
  if (fiber_ != nullptr) {
    ctx::stack_context sctx;
    sctx.sp = const_cast<char*>(static_cast<const char*>(fiber_->stack_bottom)) + fiber_->stack_size;
    sctx.size = fiber_->stack_size;
    thread_stack_pool().set_owner_name(sctx, name_.c_str());
  }
}

int TaskCore::uncancel() noexcept {
  if (cancels_requested_ > 0) {
    --cancels_requested_;
    if (cancels_requested_ == 0) must_cancel_ = false;  // as Python 3.13
  }
  return cancels_requested_;
}

TaskCore* TaskCore::current() noexcept { return t_current_task; }

TaskCore& TaskCore::require_current(const char* what) {
  if (t_current_task == nullptr) {
    throw InvalidStateError(std::string(what) + ": must be called from inside a task (weft::create_task)");
  }
  return *t_current_task;
}

// --- starting ----------------------------------------------------------------

void TaskCore::schedule_start() {
  Loop::Impl& impl = loop().impl();
  impl.check_usable("create_task");
  add_ref();  // the loop's reference, dropped when the task is done
  context().link(this);
  step_queued_ = true;
  impl.schedule_step(this);
}

// The task's loop callback: its first step, or the next one after a wake-up.
void TaskCore::step() {
  if (phase_ == Phase::kNotStarted) {
    start();
  } else {
    resume();
  }
}

// The loop runs a queued step through this (Loop::Impl::set_step_runner).
void TaskCore::run_step(void* task) {
  auto* t = static_cast<TaskCore*>(task);
  t->step_queued_ = false;  // the step may queue the next one itself
  t->step();
}

// The first step. A task cancelled before it started never runs its body
// and never gets a stack.
void TaskCore::start() {
  if (phase_ != Phase::kNotStarted) return;  // unwound already by a closing loop
  if (must_cancel_) {
    finish_cancelled_unstarted();
    release();
    return;
  }
  StackPool& pool = thread_stack_pool();
  ctx::stack_context sctx = pool.allocate(stack_size_, name_.c_str());
  // Our Fiber record at the very top, Boost.Context's record below it.
  constexpr std::size_t kReserved = (sizeof(Fiber) + 63) & ~std::size_t{63};
  char* top = static_cast<char*>(sctx.sp);
  fiber_ = ::new (static_cast<void*>(top - kReserved)) Fiber();
  fiber_->stack_bottom = top - sctx.size;
  fiber_->stack_size = sctx.size;
  settle_mxcsr();  // before the new context copies MXCSR
  as_fiber(context_) = ctx::fiber(std::allocator_arg, ctx::preallocated(top - kReserved, sctx.size - kReserved, sctx),
                                  StackAllocator(pool), [this](ctx::fiber&& starter) {
                                    return TaskSwitch::run(*this, std::move(starter));
                                  });
  phase_ = Phase::kScheduled;
  switch_in();
}

// The task's whole life on its own stack. A task is only ever started from
// the loop, so the stack it first comes from is the loop's (for ASan).
ctx::fiber TaskSwitch::run(TaskCore& task, ctx::fiber&& starter) {
  finish_switch(nullptr, &t_main_bottom, &t_main_size);
  t_main = std::move(starter);
  settle_mxcsr();
  task.run_on_fiber();
  if (t_debug) TaskDebug::on_finish(task);
  // Leave for good: choose where to go, give back what the task held (which
  // may delete it), and return the target: Boost.Context switches there and
  // only then returns the stack to the pool.
  TaskCore* next = task.next_in_batch();
  if (t_debug) TaskDebug::on_switch(&task, next);
  StackTrim::after_one_more_pooled(task.loop());
  ctx::fiber target = next != nullptr ? std::move(context(*next)) : std::move(t_main);
  TaskCore::enter(next);
  t_switch_source = kEndedSource;
  start_switch(nullptr, next != nullptr ? next->fiber_->stack_bottom : t_main_bottom,
               next != nullptr ? next->fiber_->stack_size : t_main_size);
  task.fiber_->~Fiber();
  task.fiber_ = nullptr;
  task.release();  // the loop's reference: `task` may be gone from here on
  return target;
}

// --- switching -----------------------------------------------------------------

// The task that runs next (null: the loop) is the bookkeeping's business:
// which task runs, and in which phase.
void TaskCore::enter(TaskCore* next) noexcept {
  t_current_task = next;
  if (next != nullptr) next->phase_ = Phase::kRunning;
}

// If the loop's next callback in this batch is another started task's step,
// takes it: switching straight there runs exactly what the loop would run
// next, minus two context switches and a trip through run_ready().
TaskCore* TaskCore::next_in_batch() noexcept {
  Loop::Impl& impl = context().impl();
  auto* next = static_cast<TaskCore*>(impl.peek_step_in_batch());
  if (next == nullptr || next == this || next->phase_ != Phase::kScheduled) return nullptr;
  impl.take_step_in_batch();
  next->step_queued_ = false;
  return next;
}

// Runs the task until control comes back to the loop; on the loop's stack,
// from the task's step callback. The task may be gone when this returns.
void TaskCore::switch_in() {
  t_debug = context().impl().debug();
  if (t_debug) TaskDebug::on_switch(nullptr, this);
  enter(this);
  t_switch_source = nullptr;
  start_switch(&t_main_fake_stack, fiber_->stack_bottom, fiber_->stack_size);
  ctx::fiber left = std::move(as_fiber(context_)).resume();
  finish_switch(t_main_fake_stack, nullptr, nullptr);
  TaskSwitch::land(std::move(left));
  t_current_task = nullptr;
}

void TaskCore::resume() { switch_in(); }

// Leaves the task (parked or requeued): to the next task of the batch if
// there is one, else to the loop. Returns when something resumes the task.
inline void TaskCore::switch_out() {
  Fiber& f = *fiber_;
  TaskCore* next = next_in_batch();
  if (t_debug) TaskDebug::on_switch(this, next);
  enter(next);
  t_switch_source = this;
  ctx::fiber left;
  if (next != nullptr) {
    start_switch(&f.fake_stack, next->fiber_->stack_bottom, next->fiber_->stack_size);
    left = std::move(as_fiber(next->context_)).resume();
  } else {
    start_switch(&f.fake_stack, t_main_bottom, t_main_size);
    left = std::move(t_main).resume();
  }
  finish_switch(f.fake_stack, nullptr, nullptr);
  TaskSwitch::land(std::move(left));
}

WakeReason TaskCore::park() {
  if (wake_pending_) {
    wake_pending_ = false;
    waiting_on_ = nullptr;
    return wake_reason_;
  }
  if (must_cancel_) {
    ++epoch_;  // the prepared Waker goes stale
    waiting_on_ = nullptr;
    return WakeReason::kCancelled;
  }
  phase_ = Phase::kParked;
  switch_out();
  waiting_on_ = nullptr;
  return wake_reason_;
}

// asyncio.sleep(0): the task goes to the back of the ready queue. A plain
// park would cost a second trip through the queue (the waker's callback,
// then the resume), so the resume is queued directly.
void TaskCore::yield_now() {
  check_cancel();
  ++epoch_;
  wake_reason_ = WakeReason::kReady;
  phase_ = Phase::kScheduled;
  step_queued_ = true;
  context().impl().schedule_step(this);
  switch_out();
  check_cancel();
}

Waker TaskCore::prepare_wait(const WaitSite& site, Cancellable* waiting_on) noexcept {
  wake_pending_ = false;
  waiting_on_ = waiting_on;
  wait_site_ = site;
  // asyncio Task.__step: a cancellation requested while the task ran is
  // passed on to the future it now awaits, if that one takes it.
  if (must_cancel_ && waiting_on != nullptr && !context().closing()) {
    if (waiting_on->cancel(cancel_message())) must_cancel_ = false;
  }
  return Waker{this, epoch_};
}

void TaskCore::finish_wait() noexcept {
  ++epoch_;
  wake_pending_ = false;
  waiting_on_ = nullptr;
}

bool TaskCore::wake(uint32_t epoch, WakeReason reason) noexcept {
  if (epoch != epoch_ || phase_ == Phase::kDone) return false;
  ++epoch_;
  wake_reason_ = reason;
  if (phase_ == Phase::kRunning) {  // woken before it parked
    wake_pending_ = true;
    return true;
  }
  if (phase_ != Phase::kParked) return false;
  phase_ = Phase::kScheduled;
  // Already queued: from before (a closing loop resumes tasks directly),
  // and the queued step will resume the task.
  if (!step_queued_) {
    step_queued_ = true;
    context().impl().schedule_step(this);
  }
  return true;
}

// While the loop closes (unwind_for_close), the cancellation stays pending,
// so that every further suspension point throws at once too.
void TaskCore::throw_cancelled() {
  if (!context().closing()) must_cancel_ = false;
  throw CancelledError(cancel_message());
}

TaskDebug::Stack TaskDebug::stack(const TaskCore& task) noexcept {
  if (task.fiber_ == nullptr) return Stack{nullptr, 0};
  return Stack{static_cast<const char*>(task.fiber_->stack_bottom), task.fiber_->stack_size};
}

// --- cancellation ----------------------------------------------------------------

bool TaskCore::cancel(const std::string& message) {
  if (done()) return false;
  ++cancels_requested_;
  // asyncio: "if self._fut_waiter is not None: if self._fut_waiter.cancel(msg)
  // return True" — the awaited future or task takes the cancellation. Not
  // when the cancellation comes back round to this task (tasks awaiting
  // each other in a cycle, where asyncio recurses until RecursionError):
  // this task then takes it itself.
  if (phase_ == Phase::kParked && waiting_on_ != nullptr && !passing_cancel_on_) {
    passing_cancel_on_ = true;
    const bool taken = waiting_on_->cancel(message);
    passing_cancel_on_ = false;
    if (taken) return true;
  }
  must_cancel_ = true;
  set_cancel_message(message);
  if (phase_ == Phase::kParked) wake(epoch_, WakeReason::kCancelled);
  return true;
}

void TaskCore::unwind_for_close() {
  must_cancel_ = true;
  if (cancel_message().empty()) set_cancel_message("the event loop is closing");
  switch (phase_) {
    case Phase::kNotStarted:
      start();
      break;
    case Phase::kParked:
      ++epoch_;
      wake_reason_ = WakeReason::kCancelled;
      phase_ = Phase::kScheduled;
      resume();
      break;
    case Phase::kScheduled:
      resume();
      break;
    case Phase::kRunning:
    case Phase::kDone:
      break;
  }
}

// --- the end ----------------------------------------------------------------------

void TaskCore::run_on_fiber() noexcept {
  std::exception_ptr error;
  bool cancelled = false;
  std::string message;
  try {
    run_body();
    // asyncio: "Task is cancelled right before coro stops" — a task that
    // returns with a cancellation still pending ends cancelled.
    if (must_cancel_) {
      cancelled = true;
      message = cancel_message();
    }
  } catch (const CancelledError& e) {
    cancelled = true;
    message = e.message();
  } catch (...) {
    error = std::current_exception();
  }
  finish(error, cancelled, message);
}

void TaskCore::finish_cancelled_unstarted() { finish(nullptr, true, cancel_message()); }

void TaskCore::finish(std::exception_ptr error, bool cancelled, const std::string& message) {
  drop_body();
  phase_ = Phase::kDone;
  must_cancel_ = false;
  waiting_on_ = nullptr;
  context().unlink(this);
  if (cancelled) {
    mark_cancelled(message);
  } else if (error) {
    set_exception(std::move(error));
  } else {
    set_finished();
  }
}

}  // namespace detail

// --- free functions -----------------------------------------------------------------

TaskRef current_task() { return TaskRef(detail::TaskCore::current()); }

std::vector<TaskRef> all_tasks() {
  detail::LoopContext& context = detail::LoopContext::of(get_running_loop());
  std::vector<TaskRef> tasks;
  tasks.reserve(context.live_count());
  for (detail::TaskCore* t = context.first_live(); t != nullptr; t = t->next_live) tasks.emplace_back(t);
  return tasks;
}

void yield() { detail::TaskCore::require_current("weft::yield").yield_now(); }

void sleep(std::chrono::steady_clock::duration delay) {
  if (delay <= std::chrono::steady_clock::duration::zero()) {
    yield();
    return;
  }
  detail::TaskCore& task = detail::TaskCore::require_current("weft::sleep");
  Loop& loop = get_running_loop();
  const Loop::time_point deadline = loop.time() + delay;
  const detail::Waker waker = task.prepare_wait(detail::WaitSite::on_timer("sleep", deadline.time_since_epoch().count()));
  TimerHandle timer = loop.call_at(deadline, [waker] { waker(); });
  if (task.park() != detail::WakeReason::kReady) timer.cancel();
  task.check_cancel();
}

}  // namespace weft

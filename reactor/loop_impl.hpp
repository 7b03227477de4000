// reactor/loop_impl.hpp — internal header of reactor/ (not installed); the
// fiber layer includes it for the edge-triggered waits below, and nothing
// else does.
//
// Loop::Impl holds the loop's state. Invariants:
//   - a node is in exactly one place: the pool (kFree), the wheel (kTimer)
//     or the ready queue (kReady / kCancelled), or is running (kRunning);
//   - an fd with a registration has registered == true and is in epoll with
//     token (fd | generation << 32); events carrying an older generation
//     belong to a closed fd whose number was reused, and are dropped;
//   - each fd has one reader slot and one writer slot, each empty, holding a
//     user's level-triggered callback (add_reader) or an internal one-shot
//     waiter (wait_io, used by fiber/), never both.
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "reactor/callback_node.hpp"
#include "reactor/clock.hpp"
#include "reactor/epoll_poller.hpp"
#include "reactor/timer_wheel.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {

namespace detail {
enum class IoDirection : uint8_t { kRead, kWrite };

// State that the layer above hangs on a loop (fiber/'s tasks), told when the
// loop closes. The reactor neither owns nor knows it otherwise.
class LoopExtension {
 public:
  // Called by Loop::close() before anything is discarded, with the loop
  // marked running on the calling thread so that the extension may still
  // schedule and run work. The extension is detached afterwards.
  virtual void loop_closing() noexcept = 0;
  // Called by Loop::close() once every callback has been discarded.
  virtual void loop_closed() noexcept = 0;
  // Debug mode: the loop is about to block with nothing that could ever
  // wake it (no ready callback, timer, fd callback or wait, signal handler,
  // cross-thread submission pending or ever made from another thread), but
  // for what the extension knows of (work on other threads). Returns true
  // if the extension stopped the loop instead (a deadlock it reported).
  virtual bool loop_stalled() noexcept = 0;

 protected:
  ~LoopExtension() = default;
};
}  // namespace detail

struct Loop::Impl {
  explicit Impl(Loop& owner);
  ~Impl();

  // --- scheduling ---
  Handle call_soon(Callback&& fn);
  // `now` is the caller's reading of the clock, so that call_later reads it
  // once (a clock read costs ~20 ns here, as much as the rest of call_later).
  TimerHandle call_at(time_point when, time_point now, Callback&& fn);
  void call_soon_threadsafe(Callback&& fn);
  bool cancel(detail::CallbackNode* node) noexcept;

  // --- steps, for fiber/'s tasks ---
  // A step is an owner (a task) queued on the ready queue as it is: the
  // loop runs it by calling the step runner with the owner. The owner keeps
  // track of whether it is queued, so scheduling allocates nothing and a
  // task carries no callback node.
  using StepRunner = void (*)(void* owner);
  void set_step_runner(StepRunner runner) noexcept { step_runner_ = runner; }
  // Queues the owner's step; it must not be queued already. Unchecked, as
  // it is the hot path of every task wake-up: its callers (fiber/) run on
  // the loop's thread by construction, and never after close().
  void schedule_step(void* owner) {
    assert(!closed_ && step_runner_ != nullptr);
    ready_.push(detail::ReadyItem::step(owner));
  }
  // The owner of the step at the head of the ready queue, if that step
  // belongs to the batch that run_ready() is running now (so that running
  // it next is exactly what the loop would do), or null. fiber/ uses this to
  // switch from one task straight to the next without a trip through the
  // loop. When the batch is spent and the rest of the iteration would do
  // nothing (run_forever, no fd, timer, signal, cross-thread work or stop
  // pending), the next batch is started right here: the loop would start it
  // next, with nothing in between.
  void* peek_step_in_batch() {
    if (batch_remaining_ == 0) {
      if (!next_iteration_is_trivial()) return nullptr;
      batch_remaining_ = ready_.size();
    }
    const detail::ReadyItem item = ready_.front();
    return item.is_step() ? item.step_owner() : nullptr;
  }
  bool next_iteration_is_trivial() const {
    return forever_ && !ready_.empty() && user_fds_ == 0 && wheel_.empty() && signals_.empty() &&
           !threadsafe_pending_.load(std::memory_order_relaxed) && !stopping_.load(std::memory_order_relaxed);
  }
  // Takes that step off the queue, as run_ready() would before running it.
  void take_step_in_batch() {
    ready_.pop();
    --batch_remaining_;
  }

  // --- user readiness callbacks ---
  void add_callback(int fd, detail::IoDirection dir, Callback&& fn, const char* what);
  bool remove_callback(int fd, detail::IoDirection dir);

  // --- internal edge-triggered waits, for fiber/ ---
  // Registers fd for waits. `owned` marks an fd that belongs to a weft stream:
  // add_reader/add_writer then refuse it. Throws OSError if epoll refuses it.
  void watch_fd(int fd, bool owned);
  // Forgets fd (call before closing it); pending waiters are dropped.
  void unwatch_fd(int fd);
  // Queues `on_ready` once, at the next edge of readiness in `dir` (or at once
  // in the next iteration if the fd has hung up). The caller has just seen
  // EAGAIN. Throws InvalidStateError if the slot is taken.
  void wait_io(int fd, detail::IoDirection dir, Callback&& on_ready);
  // Withdraws a wait_io that has not fired. Returns true if one was pending.
  bool cancel_io(int fd, detail::IoDirection dir);

  // --- signals ---
  void add_signal_handler(int sig, Callback&& fn);
  bool remove_signal_handler(int sig);

  // --- running ---
  void run_forever();
  void run_once(bool block);
  void stop();
  void close();
  void report(const char* message, std::exception_ptr error);

  // fiber/'s per-loop state, or null.
  detail::LoopExtension* extension() const noexcept { return extension_; }
  void set_extension(detail::LoopExtension* extension) noexcept { extension_ = extension; }

  // --- debug mode (Loop::set_debug) ---
  bool debug() const noexcept { return debug_; }
  std::chrono::steady_clock::duration slow_callback_duration() const noexcept { return slow_callback_; }

  // Introspection for tests and debugging.
  std::size_t timer_count() const { return wheel_.size(); }
  std::size_t ready_count() const { return ready_.size(); }
  std::size_t registered_fd_count() const { return user_fds_; }

  // Throws InvalidStateError if the loop is closed or the caller is not the
  // loop's thread while it runs.
  void check_usable(const char* what) const {
    if (closed_) throw_closed(what);
    if (running_.load(std::memory_order_relaxed) && !on_loop_thread()) throw_wrong_thread(what);
  }
  bool on_loop_thread() const;
  [[noreturn]] static void throw_closed(const char* what);
  [[noreturn]] static void throw_wrong_thread(const char* what);

  Loop& owner_;

 private:
  struct IoSlot {
    enum class Kind : uint8_t { kNone, kUser, kWaiter };
    Kind kind = Kind::kNone;
    bool queued = false;  // a user callback's dispatch is on the ready queue
    uint32_t epoch = 0;   // bumped whenever the slot changes hands
    Callback fn;
  };
  struct FdRecord {
    bool registered = false;
    bool owned = false;
    uint32_t generation = 0;
    IoSlot read;
    IoSlot write;
    IoSlot& slot(detail::IoDirection d) { return d == detail::IoDirection::kRead ? read : write; }
  };

  detail::CallbackNode* new_node(Callback&& fn);
  void enter_running(const char* what);
  void leave_running();
  int poll_timeout(bool block);
  bool nothing_can_wake() const;
  void poll_io(int timeout_ms);
  void on_io_event(const detail::PollEvent& ev);
  void dispatch(int fd, detail::IoDirection dir);
  void run_user_callback(int fd, detail::IoDirection dir, uint32_t epoch);
  void rearm(int fd);
  FdRecord& record(int fd);
  void register_fd(int fd, FdRecord& rec, const char* what);
  void unregister_if_idle(int fd, FdRecord& rec);
  void drain_wakeups();
  void drain_threadsafe();
  void deliver_signals();
  void expire_timers();
  void run_ready();
  void discard_everything();

  // The ready queue, the timer wheel and the nodes they hold.
  detail::NodePool pool_;
  detail::ReadyQueue ready_;
  detail::TimerWheel wheel_;
  detail::TickClock ticks_;
  std::vector<detail::TimerEntry*> expired_;
  std::size_t batch_remaining_ = 0;  // run_ready(): nodes of this batch still queued
  uint64_t timer_sequence_ = 0;

  // I/O: epoll and the per-fd slots, indexed by fd.
  detail::EpollPoller poller_;
  std::vector<FdRecord> fds_;
  std::size_t user_fds_ = 0;  // registered fds besides the wake-up fd

  // Cross-thread wake-ups: an eventfd, and call_soon_threadsafe's queue.
  int wake_fd_ = -1;
  std::mutex threadsafe_mutex_;
  std::vector<Callback> threadsafe_queue_;      // guarded by threadsafe_mutex_
  std::atomic<bool> threadsafe_pending_{false};  // queue non-empty or stop() asked

  // Signals this loop has claimed, with their callbacks.
  std::vector<std::pair<int, Callback>> signals_;

  // Run state.
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  bool forever_ = false;  // inside run_forever()
  bool debug_ = false;
  std::chrono::steady_clock::duration slow_callback_ = std::chrono::milliseconds(100);
  // Set by the first call_soon_threadsafe() from another thread: debug
  // mode's deadlock report then stays silent, since that thread may call
  // again (weft's own workers submit through Impl, which does not set it).
  std::atomic<bool> fed_by_other_threads_{false};
  bool closed_ = false;
  std::thread::id thread_;
  ExceptionHandler exception_handler_;
  detail::LoopExtension* extension_ = nullptr;
  StepRunner step_runner_ = nullptr;

  friend class Loop;
};

}  // namespace weft

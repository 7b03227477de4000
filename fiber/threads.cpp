// fiber/threads.cpp — to_thread()'s wait and hand-back, and LoopThread (see
// weft/fiber/threads.hpp for the contracts).
#include "weft/fiber/threads.hpp"

#include <cassert>
#include <cstdio>
#include <cstdlib>

#include "fiber/thread_pool.hpp"
#include "reactor/loop_impl.hpp"
#include "weft/fiber/runners.hpp"

namespace weft {
namespace detail {

// --- to_thread ---------------------------------------------------------------------

// On the waiting task's fiber. asyncio threads.py, to_thread: `await
// loop.run_in_executor(None, func_call)`, where run_in_executor submits the
// function to the default executor and wraps the concurrent future in an
// asyncio one (futures.py, wrap_future) that the task awaits.
void ThreadCall::await_completion(TaskCore& task, const std::shared_ptr<ThreadCall>& call) {
  // A task already asked to stop submits nothing: asyncio would submit, then
  // cancel the work item at the await, and the item would run only if a
  // worker had already taken it.
  task.check_cancel();
  call->loop_ = &get_running_loop();  // not shared yet: no lock needed
  call->waker_ = task.prepare_wait(WaitSite::on_thread("to_thread", call.get()));
  try {
    default_executor().submit([call] { execute(call); });
  } catch (...) {
    call->loop_ = nullptr;
    task.finish_wait();
    throw;
  }
  // Woken by complete() (kReady) or by a cancellation (kCancelled).
  task.park();
  const bool finished = call->detach();
  // asyncio Task.__step: a task whose future completed but which was
  // cancelled before it resumed gets CancelledError; the value is dropped
  // with the call's state.
  task.check_cancel();
  assert(finished && "to_thread: the task woke before its function returned");
  (void)finished;
  if (call->error_) std::rethrow_exception(call->error_);
}

// On a worker thread, as the pool's job.
void ThreadCall::execute(const std::shared_ptr<ThreadCall>& call) noexcept {
  bool abandoned;
  {
    std::lock_guard<std::mutex> lock(call->mutex_);
    abandoned = call->loop_ == nullptr;
  }
  // concurrent.futures thread.py, _WorkItem.run: "if not
  // self.future.set_running_or_notify_cancel(): return" — work whose waiter
  // was cancelled before a worker took it never runs.
  if (abandoned) {
    call->drop_function();
    return;
  }
  try {
    call->invoke();
  } catch (...) {
    call->error_ = std::current_exception();
  }
  call->drop_function();

  std::unique_lock<std::mutex> lock(call->mutex_);
  call->finished_ = true;
  if (call->loop_ == nullptr) {
    // The waiter left while the function ran (cancelled, or its loop
    // closed): nobody will take the outcome, so it dies here.
    lock.unlock();
    call->drop_value();
    call->error_ = nullptr;
    return;
  }
  // The waiter is still inside to_thread() and cannot leave before mutex_ is
  // released (detach()), so the loop is alive: post the completion to it.
  // asyncio futures.py, _chain_future's _call_set_state does the same with
  // dest_loop.call_soon_threadsafe(_set_state, destination, source).
  try {
    call->loop_->impl().call_soon_threadsafe([call] { call->complete(); });
  } catch (...) {
    // call_soon_threadsafe fails only if the loop is closed, which the
    // invariant rules out, or if memory runs out; either way the waiting
    // task could never be woken again.
    std::fprintf(stderr, "weft: to_thread could not post its completion to the loop: %s\n",
                 describe_exception(std::current_exception()).c_str());
    std::abort();
  }
}

// On the loop's thread, as a callback: wakes the task if it still waits.
// After detach() the waker is empty and this does nothing.
void ThreadCall::complete() noexcept { waker_(); }

// On the loop's thread, as the task leaves to_thread(): from now on the
// worker drops the outcome instead of posting it. Returns true if the
// function has returned.
bool ThreadCall::detach() noexcept {
  waker_ = Waker();
  std::lock_guard<std::mutex> lock(mutex_);
  loop_ = nullptr;
  return finished_;
}

}  // namespace detail

// --- LoopThread ------------------------------------------------------------------------

LoopThread::LoopThread() : loop_(new Loop()) {
  // The Loop was made here; the thread start below orders that before its
  // first use there. The loop belongs to the new thread from its first run.
  thread_ = std::thread([this] { run(); });
}

LoopThread::~LoopThread() { stop(); }

void LoopThread::stop() {
  // Checked before taking the lock: another thread may hold it, joining us.
  if (running_loop() == loop_.get()) {
    throw InvalidStateError("LoopThread::stop: called from the loop's own thread, which cannot join itself");
  }
  std::lock_guard<std::mutex> lock(stop_mutex_);
  if (!thread_.joinable()) return;
  // The request travels as a callback, so that the loop stops from inside
  // one of its own iterations: a loop.stop() made from here could reach a
  // loop between two run_forever() calls and linger as a stale request.
  loop_->call_soon_threadsafe([this] {
    stop_requested_ = true;
    loop_->stop();
  });
  thread_.join();
}

// The thread's body: weft::run() without a main task. A loop.stop() made by
// a task only ends one run_forever(); the loop runs until stop() asks.
void LoopThread::run() noexcept {
  Loop& loop = *loop_;
  while (!stop_requested_) loop.run_forever();
  // asyncio.run's ending (runners.py, Runner.close): cancel the remaining
  // tasks and wait for them, then close the loop. Submissions still queued
  // are discarded by close(), which settles their futures (TaskSubmission).
  detail::cancel_all_tasks(loop);
  loop.close();
}

}  // namespace weft

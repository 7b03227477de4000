// reactor/loop.cpp — the event loop (see weft/reactor/loop.hpp and
// reactor/loop_impl.hpp for the contracts and invariants).
#include "weft/reactor/loop.hpp"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "reactor/loop_impl.hpp"
#include "reactor/signals.hpp"

namespace weft {

using detail::CallbackNode;
using detail::IoDirection;
using detail::NodeState;

namespace {

thread_local Loop* t_running_loop = nullptr;

// The wake-up fd's epoll token: fds are non-negative, so this never collides.
constexpr uint64_t kWakeToken = UINT64_MAX;

uint64_t fd_token(int fd, uint32_t generation) {
  return static_cast<uint64_t>(static_cast<uint32_t>(fd)) | (static_cast<uint64_t>(generation) << 32);
}

const char* direction_name(IoDirection d) { return d == IoDirection::kRead ? "reader" : "writer"; }

std::string fd_call(const char* what, int fd) {
  return std::string(what) + "(fd " + std::to_string(fd) + ")";
}

}  // namespace

// --- the node pool -------------------------------------------------------------

void detail::NodePool::grow() {
  const std::size_t max_count = kMaxChunkBytes / sizeof(CallbackNode);
  const std::size_t count = chunks_.empty() ? kFirstChunk : std::min(chunks_.back().count * 2, max_count);
  const std::size_t bytes = count * sizeof(CallbackNode);
  const std::size_t align = bytes >= kMaxChunkBytes / 2 ? kMaxChunkBytes : alignof(CallbackNode);
  void* memory = nullptr;
  if (posix_memalign(&memory, std::max(align, sizeof(void*)), bytes) != 0) throw std::bad_alloc();
  if (align == kMaxChunkBytes) madvise(memory, bytes, MADV_HUGEPAGE);  // a hint; failure is harmless
  auto* nodes = static_cast<CallbackNode*>(memory);
  try {
    chunks_.push_back(Chunk{nodes, count, 0});
  } catch (...) {
    std::free(memory);
    throw;
  }
  fresh_ = nodes;
  fresh_end_ = nodes + count;
}

detail::NodePool::~NodePool() {
  for (Chunk& c : chunks_) {
    for (std::size_t i = 0; i < c.built; ++i) c.nodes[i].~CallbackNode();
    std::free(c.nodes);
  }
}

// --- Handle ------------------------------------------------------------------

bool Handle::cancel() noexcept {
  if (node_ == nullptr || node_->generation != generation_) return false;
  return node_->owner->cancel(node_);
}

bool Handle::pending() const noexcept {
  return node_ != nullptr && node_->generation == generation_ &&
         (node_->state == NodeState::kReady || node_->state == NodeState::kTimer);
}

// --- construction ------------------------------------------------------------

Loop::Impl::Impl(Loop& owner) : owner_(owner), ticks_(clock::now()) {
  const char* debug = std::getenv("WEFT_DEBUG");
  debug_ = debug != nullptr && debug[0] != '\0' && std::strcmp(debug, "0") != 0;
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw OSError(errno, "eventfd");
  const int err = poller_.add(wake_fd_, kWakeToken);
  if (err != 0) {
    ::close(wake_fd_);
    throw OSError(err, "epoll_ctl(wake-up eventfd)");
  }
  expired_.reserve(64);
}

Loop::Impl::~Impl() {
  if (!closed_) close();
}

Loop::Loop() : impl_(new Impl(*this)) {}

Loop::~Loop() {
  if (impl_->running_.load()) {
    std::fprintf(stderr, "weft: a Loop was destroyed while running\n");
    std::abort();
  }
}

bool Loop::Impl::on_loop_thread() const { return t_running_loop == &owner_; }

void Loop::Impl::throw_closed(const char* what) {
  throw InvalidStateError(std::string(what) + ": the event loop is closed");
}

void Loop::Impl::throw_wrong_thread(const char* what) {
  throw InvalidStateError(std::string(what) +
                          ": called from a thread other than the running loop's "
                          "(use call_soon_threadsafe)");
}

// --- scheduling --------------------------------------------------------------

CallbackNode* Loop::Impl::new_node(Callback&& fn) {
  CallbackNode* n = pool_.allocate();
  n->fn = std::move(fn);
  n->owner = this;
  return n;
}

Handle Loop::Impl::call_soon(Callback&& fn) {
  check_usable("Loop::call_soon");
  CallbackNode* n = new_node(std::move(fn));
  n->state = NodeState::kReady;
  ready_.push(detail::ReadyItem::node(n));
  return Handle(n, n->generation);
}

TimerHandle Loop::Impl::call_at(time_point when, time_point now, Callback&& fn) {
  check_usable("Loop::call_at");
  CallbackNode* n = new_node(std::move(fn));
  n->state = NodeState::kTimer;
  n->deadline = when;
  n->sequence = timer_sequence_++;
  // A deadline already reached is due at the next poll, whatever its tick:
  // the wheel treats any tick before elapsed() (or tick 0) as due.
  n->when = when <= now ? 0 : ticks_.deadline_tick(when);
  wheel_.insert(n);
  return TimerHandle(n, n->generation, when);
}

bool Loop::Impl::cancel(CallbackNode* n) noexcept {
  switch (n->state) {
    case NodeState::kTimer:
      wheel_.remove(n);
      n->fn.reset();
      pool_.release(n);
      return true;
    case NodeState::kReady:
      // Still on the ready queue: run_ready() skips and recycles it.
      n->state = NodeState::kCancelled;
      n->fn.reset();
      return true;
    default:
      return false;
  }
}

void Loop::Impl::call_soon_threadsafe(Callback&& fn) {
  std::lock_guard<std::mutex> lock(threadsafe_mutex_);
  if (closed_) throw_closed("Loop::call_soon_threadsafe");
  threadsafe_queue_.push_back(std::move(fn));
  // Only the first submission of a batch needs to wake the loop; the write is
  // made under the lock so that close() cannot close the fd under it.
  if (!threadsafe_pending_.exchange(true, std::memory_order_acq_rel)) {
    const uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);  // EAGAIN: already awake
    (void)ignored;
  }
}

Handle Loop::call_soon(Callback fn) { return impl_->call_soon(std::move(fn)); }

TimerHandle Loop::call_later_impl(clock::duration delay, Callback fn) {
  const time_point now = clock::now();
  const time_point when = delay >= time_point::max() - now ? time_point::max() : now + delay;
  return impl_->call_at(when, now, std::move(fn));
}

TimerHandle Loop::call_at(time_point when, Callback fn) { return impl_->call_at(when, clock::now(), std::move(fn)); }

void Loop::call_soon_threadsafe(Callback fn) {
  if (!impl_->fed_by_other_threads_.load(std::memory_order_relaxed) && !impl_->on_loop_thread()) {
    impl_->fed_by_other_threads_.store(true, std::memory_order_relaxed);
  }
  impl_->call_soon_threadsafe(std::move(fn));
}

// --- file descriptors ----------------------------------------------------------

Loop::Impl::FdRecord& Loop::Impl::record(int fd) {
  const std::size_t i = static_cast<std::size_t>(fd);
  if (i >= fds_.size()) fds_.resize(std::max<std::size_t>(i + 1, fds_.size() * 2));
  return fds_[i];
}

void Loop::Impl::register_fd(int fd, FdRecord& rec, const char* what) {
  const uint64_t token = fd_token(fd, rec.generation);
  int err = poller_.add(fd, token);
  // Registered before under this number and closed without remove_reader():
  // epoll forgot it when it was closed, or still has it if it was dup'ed.
  if (err == EEXIST) err = poller_.rearm(fd, token);
  if (err != 0) throw OSError(err, fd_call(what, fd));
  rec.registered = true;
  ++user_fds_;
}

void Loop::Impl::unregister_if_idle(int fd, FdRecord& rec) {
  if (!rec.registered || rec.owned) return;
  if (rec.read.kind != IoSlot::Kind::kNone || rec.write.kind != IoSlot::Kind::kNone) return;
  poller_.remove(fd);
  rec.registered = false;
  ++rec.generation;  // events already reported for the old registration are dropped
  --user_fds_;
}

void Loop::Impl::rearm(int fd) {
  FdRecord& rec = fds_[static_cast<std::size_t>(fd)];
  // ENOENT or EBADF: the user closed the fd; there is nothing left to report.
  poller_.rearm(fd, fd_token(fd, rec.generation));
}

void Loop::Impl::add_callback(int fd, IoDirection dir, Callback&& fn, const char* what) {
  check_usable(what);
  if (fd < 0) throw std::invalid_argument(fd_call(what, fd) + ": invalid file descriptor");
  FdRecord& rec = record(fd);
  if (rec.owned) {
    throw InvalidStateError(fd_call(what, fd) + ": the fd belongs to a weft stream");
  }
  IoSlot& slot = rec.slot(dir);
  if (slot.kind == IoSlot::Kind::kWaiter) {
    throw InvalidStateError(fd_call(what, fd) + ": a task is waiting on this fd");
  }
  if (!rec.registered) register_fd(fd, rec, what);
  slot.kind = IoSlot::Kind::kUser;
  slot.fn = std::move(fn);
  ++slot.epoch;
  // If the fd is ready now, the next poll must say so even though the edge
  // may have passed: re-arming reports the current state.
  rearm(fd);
}

bool Loop::Impl::remove_callback(int fd, IoDirection dir) {
  check_usable(dir == IoDirection::kRead ? "Loop::remove_reader" : "Loop::remove_writer");
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return false;
  FdRecord& rec = fds_[static_cast<std::size_t>(fd)];
  IoSlot& slot = rec.slot(dir);
  if (slot.kind != IoSlot::Kind::kUser) return false;
  slot.kind = IoSlot::Kind::kNone;
  ++slot.epoch;
  Callback dropped = std::move(slot.fn);  // destroyed after the slot is consistent
  unregister_if_idle(fd, rec);
  return true;
}

void Loop::add_reader(int fd, Callback fn) {
  impl_->add_callback(fd, IoDirection::kRead, std::move(fn), "Loop::add_reader");
}
void Loop::add_writer(int fd, Callback fn) {
  impl_->add_callback(fd, IoDirection::kWrite, std::move(fn), "Loop::add_writer");
}
bool Loop::remove_reader(int fd) { return impl_->remove_callback(fd, IoDirection::kRead); }
bool Loop::remove_writer(int fd) { return impl_->remove_callback(fd, IoDirection::kWrite); }

void Loop::Impl::watch_fd(int fd, bool owned) {
  check_usable("watch_fd");
  if (fd < 0) throw std::invalid_argument(fd_call("watch_fd", fd) + ": invalid file descriptor");
  FdRecord& rec = record(fd);
  if (owned && (rec.read.kind == IoSlot::Kind::kUser || rec.write.kind == IoSlot::Kind::kUser)) {
    throw InvalidStateError(fd_call("watch_fd", fd) + ": the fd has an add_reader/add_writer callback");
  }
  if (!rec.registered) register_fd(fd, rec, "watch_fd");
  rec.owned = rec.owned || owned;
}

void Loop::Impl::unwatch_fd(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  FdRecord& rec = fds_[static_cast<std::size_t>(fd)];
  for (IoSlot* slot : {&rec.read, &rec.write}) {
    if (slot->kind == IoSlot::Kind::kWaiter) {
      slot->kind = IoSlot::Kind::kNone;
      ++slot->epoch;
      slot->fn.reset();
    }
  }
  rec.owned = false;
  unregister_if_idle(fd, rec);
}

void Loop::Impl::wait_io(int fd, IoDirection dir, Callback&& on_ready) {
  watch_fd(fd, false);
  IoSlot& slot = fds_[static_cast<std::size_t>(fd)].slot(dir);
  if (slot.kind != IoSlot::Kind::kNone) {
    throw InvalidStateError(fd_call("wait", fd) + ": another " + direction_name(dir) +
                            " is already registered on this fd");
  }
  slot.kind = IoSlot::Kind::kWaiter;
  slot.fn = std::move(on_ready);
  ++slot.epoch;
}

bool Loop::Impl::cancel_io(int fd, IoDirection dir) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return false;
  IoSlot& slot = fds_[static_cast<std::size_t>(fd)].slot(dir);
  if (slot.kind != IoSlot::Kind::kWaiter) return false;
  slot.kind = IoSlot::Kind::kNone;
  ++slot.epoch;
  slot.fn.reset();
  return true;
}

// --- signals -------------------------------------------------------------------

void Loop::Impl::add_signal_handler(int sig, Callback&& fn) {
  check_usable("Loop::add_signal_handler");
  for (auto& s : signals_) {
    if (s.first == sig) {  // replace, as asyncio does
      s.second = std::move(fn);
      return;
    }
  }
  const int err = detail::claim_signal(sig, wake_fd_);
  if (err == EINVAL) {
    throw std::invalid_argument("Loop::add_signal_handler(" + std::to_string(sig) +
                                "): not a signal that can be caught");
  }
  if (err == EBUSY) {
    throw InvalidStateError("Loop::add_signal_handler(" + std::to_string(sig) +
                            "): another loop handles this signal");
  }
  if (err != 0) throw OSError(err, "sigaction(" + std::to_string(sig) + ")");
  signals_.emplace_back(sig, std::move(fn));
}

bool Loop::Impl::remove_signal_handler(int sig) {
  check_usable("Loop::remove_signal_handler");
  for (auto it = signals_.begin(); it != signals_.end(); ++it) {
    if (it->first == sig) {
      detail::release_signal(sig);
      Callback dropped = std::move(it->second);
      signals_.erase(it);
      return true;
    }
  }
  return false;
}

void Loop::add_signal_handler(int sig, Callback fn) { impl_->add_signal_handler(sig, std::move(fn)); }
bool Loop::remove_signal_handler(int sig) { return impl_->remove_signal_handler(sig); }

// --- one iteration -------------------------------------------------------------

void Loop::Impl::run_once(bool block) {
  const int timeout = poll_timeout(block);
  // Debug mode: a loop about to sleep forever may be deadlocked.
  if (timeout < 0 && debug_ && extension_ != nullptr && nothing_can_wake() && extension_->loop_stalled()) return;
  poll_io(timeout);
  if (threadsafe_pending_.load(std::memory_order_acquire)) drain_threadsafe();
  if (!signals_.empty()) deliver_signals();
  if (!wheel_.empty()) expire_timers();
  run_ready();
}

// Milliseconds to wait for I/O: 0 if anything can run now, else until the
// next timer's tick begins (rounded up), else forever.
int Loop::Impl::poll_timeout(bool block) {
  if (!block || !ready_.empty() || stopping_.load(std::memory_order_relaxed) ||
      threadsafe_pending_.load(std::memory_order_relaxed)) {
    return 0;
  }
  if (wheel_.empty()) return -1;
  const uint64_t next = wheel_.next_expiration();
  if (next == detail::TimerWheel::kNever) return -1;  // only time_point::max() timers
  if (next < wheel_.elapsed()) return 0;
  const time_point due = ticks_.tick_start(next);
  const time_point now = clock::now();
  if (due <= now) return 0;
  const auto ns = (due - now).count();
  const long long ms = ns / 1000000 + (ns % 1000000 != 0 ? 1 : 0);
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

// Debug mode's deadlock check (rare: only before an endless poll). Fds are
// scanned for a callback or a waiter: a stream's fd that nobody waits on
// cannot wake anyone.
bool Loop::Impl::nothing_can_wake() const {
  if (!signals_.empty() || threadsafe_pending_.load(std::memory_order_acquire) ||
      fed_by_other_threads_.load(std::memory_order_relaxed)) {
    return false;
  }
  for (const FdRecord& rec : fds_) {
    if (rec.read.kind != IoSlot::Kind::kNone || rec.write.kind != IoSlot::Kind::kNone) return false;
  }
  return true;
}

void Loop::Impl::poll_io(int timeout_ms) {
  // With nothing registered but the wake-up fd, a zero-timeout poll could only
  // report cross-thread wake-ups, which threadsafe_pending_ and the signal
  // flags already show: skip the system call.
  if (timeout_ms == 0 && user_fds_ == 0) return;
  for (const detail::PollEvent& ev : poller_.wait(timeout_ms)) on_io_event(ev);
}

void Loop::Impl::on_io_event(const detail::PollEvent& ev) {
  if (ev.token == kWakeToken) {
    drain_wakeups();
    return;
  }
  const int fd = static_cast<int>(ev.token & 0xffffffffu);
  if (static_cast<std::size_t>(fd) >= fds_.size()) return;
  const FdRecord& rec = fds_[static_cast<std::size_t>(fd)];
  if (!rec.registered || rec.generation != static_cast<uint32_t>(ev.token >> 32)) return;
  if (ev.readable) dispatch(fd, IoDirection::kRead);
  if (ev.writable) dispatch(fd, IoDirection::kWrite);
}

// Queues what waits on one side of a ready fd: an internal waiter's callback
// itself (one-shot), or a call of the user's callback (checked again when it
// runs, since an earlier callback of the same batch may remove it).
void Loop::Impl::dispatch(int fd, IoDirection dir) {
  IoSlot& slot = fds_[static_cast<std::size_t>(fd)].slot(dir);
  switch (slot.kind) {
    case IoSlot::Kind::kWaiter: {
      CallbackNode* n = new_node(std::move(slot.fn));
      slot.kind = IoSlot::Kind::kNone;
      ++slot.epoch;
      n->state = NodeState::kReady;
      ready_.push(detail::ReadyItem::node(n));
      break;
    }
    case IoSlot::Kind::kUser: {
      if (slot.queued) break;
      slot.queued = true;
      const uint32_t epoch = slot.epoch;
      CallbackNode* n = new_node([this, fd, dir, epoch] { run_user_callback(fd, dir, epoch); });
      n->state = NodeState::kReady;
      ready_.push(detail::ReadyItem::node(n));
      break;
    }
    case IoSlot::Kind::kNone:
      break;
  }
}

// Runs a user's readiness callback, then re-arms the fd so that, as asyncio's
// level-triggered selectors do, the callback runs again next iteration if the
// fd is still ready. The callback is moved out while it runs, so it may
// remove or replace itself.
void Loop::Impl::run_user_callback(int fd, IoDirection dir, uint32_t epoch) {
  IoSlot& slot = fds_[static_cast<std::size_t>(fd)].slot(dir);
  slot.queued = false;
  if (slot.kind != IoSlot::Kind::kUser || slot.epoch != epoch) return;
  Callback fn = std::move(slot.fn);
  std::exception_ptr error;
  try {
    fn();
  } catch (...) {
    error = std::current_exception();
  }
  IoSlot& after = fds_[static_cast<std::size_t>(fd)].slot(dir);  // fds_ may have grown
  if (after.kind == IoSlot::Kind::kUser && after.epoch == epoch) {
    after.fn = std::move(fn);
    rearm(fd);
  }
  if (error) report(dir == IoDirection::kRead ? "exception in reader callback" : "exception in writer callback", error);
}

void Loop::Impl::drain_wakeups() {
  uint64_t count;
  while (::read(wake_fd_, &count, sizeof count) > 0) {
  }
}

void Loop::Impl::drain_threadsafe() {
  std::vector<Callback> batch;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mutex_);
    batch.swap(threadsafe_queue_);
    threadsafe_pending_.store(false, std::memory_order_release);
  }
  for (Callback& fn : batch) {
    CallbackNode* n = new_node(std::move(fn));
    n->state = NodeState::kReady;
    ready_.push(detail::ReadyItem::node(n));
  }
}

void Loop::Impl::deliver_signals() {
  for (std::size_t i = 0; i < signals_.size(); ++i) {
    if (!detail::take_signal(signals_[i].first)) continue;
    const int sig = signals_[i].first;
    // Look the handler up when it runs: it may have been removed or replaced.
    CallbackNode* n = new_node([this, sig] {
      for (auto& s : signals_) {
        if (s.first == sig) {
          s.second();
          return;
        }
      }
    });
    n->state = NodeState::kReady;
    ready_.push(detail::ReadyItem::node(n));
  }
}

// Moves due timers to the ready queue in order of exact deadline, ties in the
// order they were scheduled (asyncio's heap gives the same order).
void Loop::Impl::expire_timers() {
  wheel_.poll(ticks_.now_tick(clock::now()), expired_);
  if (expired_.empty()) return;
  std::sort(expired_.begin(), expired_.end(), [](detail::TimerEntry* a, detail::TimerEntry* b) {
    const CallbackNode* x = static_cast<CallbackNode*>(a);
    const CallbackNode* y = static_cast<CallbackNode*>(b);
    return x->deadline != y->deadline ? x->deadline < y->deadline : x->sequence < y->sequence;
  });
  for (detail::TimerEntry* e : expired_) {
    CallbackNode* n = static_cast<CallbackNode*>(e);
    n->state = NodeState::kReady;
    ready_.push(detail::ReadyItem::node(n));
  }
  expired_.clear();
}

// Runs exactly the callbacks queued before this step began; whatever they
// queue waits for the next iteration.
void Loop::Impl::run_ready() {
  std::size_t todo = ready_.size();
  while (todo > 0) {
    --todo;
    const detail::ReadyItem item = ready_.pop();
    if (item.is_step()) {
      // A task step may take the next steps of this batch itself, or start
      // the next batch (peek/take_step_in_batch), so the count goes through
      // batch_remaining_ while it runs.
      batch_remaining_ = todo;
      try {
        step_runner_(item.step_owner());
      } catch (...) {
        report("exception in callback", std::current_exception());
      }
      todo = batch_remaining_;
      batch_remaining_ = 0;
      continue;
    }
    CallbackNode* n = item.as_node();
    if (n->state == NodeState::kCancelled) {
      pool_.release(n);
      continue;
    }
    n->state = NodeState::kRunning;
    try {
      n->fn();
    } catch (...) {
      report("exception in callback", std::current_exception());
    }
    n->fn.reset();
    pool_.release(n);
  }
}

// --- running -------------------------------------------------------------------

void Loop::Impl::enter_running(const char* what) {
  if (closed_) throw_closed(what);
  if (running_.load()) throw InvalidStateError(std::string(what) + ": the event loop is already running");
  if (t_running_loop != nullptr) {
    throw InvalidStateError(std::string(what) + ": another event loop is running on this thread");
  }
  running_.store(true);
  t_running_loop = &owner_;
  thread_ = std::this_thread::get_id();
}

void Loop::Impl::leave_running() {
  t_running_loop = nullptr;
  running_.store(false);
}

void Loop::Impl::run_forever() {
  enter_running("Loop::run_forever");
  struct Guard {
    Impl* self;
    ~Guard() {
      self->forever_ = false;
      self->stopping_.store(false);
      self->leave_running();
    }
  } guard{this};
  forever_ = true;
  for (;;) {
    run_once(true);
    if (stopping_.load(std::memory_order_acquire)) break;
  }
}

void Loop::Impl::stop() {
  std::lock_guard<std::mutex> lock(threadsafe_mutex_);
  stopping_.store(true, std::memory_order_release);
  if (closed_) return;
  // Wake a loop blocked in epoll_wait on another thread.
  if (!on_loop_thread()) {
    const uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
}

void Loop::Impl::discard_everything() {
  // Callbacks are destroyed, not run; a destructor may schedule more, which
  // are discarded in turn (the loop is already marked closed, so it cannot).
  pool_.for_each_in_use([this](CallbackNode& n) {
    if (n.state == NodeState::kTimer) wheel_.remove(&n);
    n.fn.reset();
  });
  while (!ready_.empty()) ready_.pop();
  pool_.for_each_in_use([this](CallbackNode& n) { pool_.release(&n); });
  for (FdRecord& rec : fds_) {
    rec.read.fn.reset();
    rec.write.fn.reset();
  }
  fds_.clear();
}

void Loop::Impl::close() {
  if (running_.load()) throw InvalidStateError("Loop::close: the event loop is running");
  if (closed_) return;
  // The extension stays attached while it unwinds, so that what a task's
  // clean-up makes meanwhile (a future, another task) joins the closing
  // state instead of starting a second one that nothing would ever close.
  if (extension_ != nullptr) {
    enter_running("Loop::close");
    extension_->loop_closing();
    leave_running();
  }
  detail::LoopExtension* const extension_closing = extension_;
  extension_ = nullptr;
  std::vector<Callback> threadsafe;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mutex_);
    closed_ = true;
    threadsafe.swap(threadsafe_queue_);
  }
  for (auto& s : signals_) detail::release_signal(s.first);
  signals_.clear();
  discard_everything();
  threadsafe.clear();
  if (extension_closing != nullptr) extension_closing->loop_closed();
  ::close(wake_fd_);
  wake_fd_ = -1;
}

void Loop::run_forever() { impl_->run_forever(); }

void Loop::run_once(bool block) {
  impl_->enter_running("Loop::run_once");
  struct Guard {
    Impl* self;
    ~Guard() { self->leave_running(); }
  } guard{impl_.get()};
  impl_->run_once(block);
}

void Loop::stop() { impl_->stop(); }
void Loop::close() { impl_->close(); }
bool Loop::is_running() const noexcept { return impl_->running_.load(); }

void Loop::set_debug(bool enabled) noexcept { impl_->debug_ = enabled; }
bool Loop::get_debug() const noexcept { return impl_->debug_; }
void Loop::set_slow_callback_duration(std::chrono::steady_clock::duration d) noexcept { impl_->slow_callback_ = d; }
std::chrono::steady_clock::duration Loop::slow_callback_duration() const noexcept { return impl_->slow_callback_; }
bool Loop::is_closed() const noexcept { return impl_->closed_; }

// --- errors --------------------------------------------------------------------

void Loop::Impl::report(const char* message, std::exception_ptr error) {
  ExceptionContext context;
  context.message = message;
  context.exception = std::move(error);
  owner_.call_exception_handler(context);
}

void Loop::set_exception_handler(ExceptionHandler handler) { impl_->exception_handler_ = std::move(handler); }

void Loop::call_exception_handler(const ExceptionContext& context) {
  if (!impl_->exception_handler_) {
    default_exception_handler(context);
    return;
  }
  try {
    impl_->exception_handler_(*this, context);
  } catch (...) {
    // As asyncio: an exception handler that fails is reported, not propagated.
    ExceptionContext failure;
    failure.message = "unhandled error in exception handler (while handling: " + context.message + ")";
    failure.exception = std::current_exception();
    default_exception_handler(failure);
  }
}

void Loop::default_exception_handler(const ExceptionContext& context) {
  std::string line = "weft: " + context.message;
  if (context.exception) {
    try {
      std::rethrow_exception(context.exception);
    } catch (const std::exception& e) {
      line += std::string(": ") + e.what();
    } catch (...) {
      line += ": (an exception not derived from std::exception)";
    }
  }
  line += "\n";
  std::fputs(line.c_str(), stderr);
}

Loop& get_running_loop() {
  if (t_running_loop == nullptr) throw InvalidStateError("no running event loop");
  return *t_running_loop;
}

Loop* running_loop() noexcept { return t_running_loop; }

}  // namespace weft

// reactor/signals.cpp — the async-signal-safe half of add_signal_handler.
#include "reactor/signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>

namespace weft {
namespace detail {
namespace {

// Indexed by signal number. Only lock-free atomics are touched by the handler.
std::atomic<int> g_wake_fd[NSIG];
std::atomic<bool> g_pending[NSIG];
struct sigaction g_previous[NSIG];
bool g_claimed[NSIG];
std::mutex g_claim_mutex;  // serialises claim/release between loops

static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_BOOL_LOCK_FREE == 2,
              "signal handlers may only touch lock-free atomics");

extern "C" void on_signal(int sig) {
  const int saved_errno = errno;  // the interrupted code may be reading errno
  g_pending[sig].store(true, std::memory_order_release);
  const int fd = g_wake_fd[sig].load(std::memory_order_acquire);
  if (fd >= 0) {
    const uint64_t one = 1;
    ssize_t ignored = ::write(fd, &one, sizeof one);  // EAGAIN: already awake
    (void)ignored;
  }
  errno = saved_errno;
}

bool catchable(int sig) { return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP; }

}  // namespace

int claim_signal(int sig, int wake_fd) {
  if (!catchable(sig)) return EINVAL;
  std::lock_guard<std::mutex> lock(g_claim_mutex);
  if (g_claimed[sig]) return EBUSY;
  g_pending[sig].store(false);
  g_wake_fd[sig].store(wake_fd);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // weft retries EINTR anyway; spare legacy code
  if (sigaction(sig, &sa, &g_previous[sig]) != 0) {
    g_wake_fd[sig].store(-1);
    return errno;
  }
  g_claimed[sig] = true;
  return 0;
}

void release_signal(int sig) {
  if (!catchable(sig)) return;
  std::lock_guard<std::mutex> lock(g_claim_mutex);
  if (!g_claimed[sig]) return;
  sigaction(sig, &g_previous[sig], nullptr);
  g_wake_fd[sig].store(-1);
  g_pending[sig].store(false);
  g_claimed[sig] = false;
}

bool take_signal(int sig) { return g_pending[sig].exchange(false, std::memory_order_acq_rel); }

}  // namespace detail
}  // namespace weft

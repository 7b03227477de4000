// fiber/stack_overflow.cpp — turning a hit on a stack's guard into
// "stack overflow in task '<name>'": the registry of every guard region in
// the process, the SIGSEGV/SIGBUS handler that reads it, and the alternate
// signal stack the handler runs on. See fiber/stack.hpp for the contracts.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>

#include "fiber/stack_internal.hpp"

namespace weft {
namespace detail {

// ---------------------------------------------------------------------------
// The guard registry: every slab of every pool in the process, as the fault
// handler sees it.
//
// The handler may run on any thread at any moment, so it can neither lock
// nor allocate, and it must never read memory that might be unmapped. The
// registry is therefore a list of chunks of records that only grows: chunks
// are never freed (there are as many records as slabs at the process's peak,
// about 1,600 for 100,000 stacks), a chunk is fully built before it is
// published at the head, and a record is published by a release store of
// its base address. Writers (pools, on their own threads) serialise on a
// mutex, which also guards the free list of records. The handler scans every
// record; that is linear in the number of slabs, and it runs once, as the
// process dies.
//
// One race is accepted: a pool on another thread may retire and reuse a
// record while the handler reads it, and the handler may then misreport a
// fault in that slab's range. Such a fault is in memory being unmapped, so
// it is a use-after-free, not an overflow, and the process dies either way.

static_assert(ATOMIC_POINTER_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
              "the fault handler reads the registry with lock-free atomics");

struct GuardRecord {
  // The slab's lowest address; 0 while the record is not published.
  std::atomic<std::uintptr_t> base{0};
  // Guard plus usable size. Never reset, so a published record's is never 0.
  std::atomic<std::size_t> stride{0};
  std::atomic<unsigned> count{0};
  // The owner names of the slab's stacks, an array of `count` owned by the
  // pool's Slab.
  std::atomic<const std::atomic<const char*>*> owners{nullptr};
  // The free list, under g_registry_mutex.
  GuardRecord* next_free = nullptr;
};

namespace {

constexpr std::size_t kRecordsPerChunk = 256;

struct RegistryChunk {
  GuardRecord records[kRecordsPerChunk];
  RegistryChunk* next = nullptr;  // set before the chunk is published
};

std::atomic<RegistryChunk*> g_chunks{nullptr};
std::mutex g_registry_mutex;
GuardRecord* g_free_records = nullptr;

}  // namespace

GuardRecord* publish_guards(char* base, std::size_t stride, unsigned count,
                            const std::atomic<const char*>* owners) {
  GuardRecord* record;
  {
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    if (g_free_records == nullptr) {
      RegistryChunk* chunk = new RegistryChunk;
      for (GuardRecord& r : chunk->records) {
        r.next_free = g_free_records;
        g_free_records = &r;
      }
      chunk->next = g_chunks.load(std::memory_order_relaxed);
      g_chunks.store(chunk, std::memory_order_release);
    }
    record = g_free_records;
    g_free_records = record->next_free;
  }
  record->stride.store(stride, std::memory_order_relaxed);
  record->count.store(count, std::memory_order_relaxed);
  record->owners.store(owners, std::memory_order_relaxed);
  record->base.store(reinterpret_cast<std::uintptr_t>(base),
                     std::memory_order_release);
  return record;
}

void retire_guards(GuardRecord* record) noexcept {
  record->base.store(0, std::memory_order_release);
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  record->next_free = g_free_records;
  g_free_records = record;
}

bool find_guard(const void* address, GuardHit& hit) noexcept {
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(address);
  for (const RegistryChunk* chunk = g_chunks.load(std::memory_order_acquire);
       chunk != nullptr; chunk = chunk->next) {
    for (const GuardRecord& r : chunk->records) {
      const std::uintptr_t base = r.base.load(std::memory_order_acquire);
      if (base == 0 || a < base) continue;
      const std::size_t stride = r.stride.load(std::memory_order_relaxed);
      const std::size_t index = (a - base) / stride;
      if (index >= r.count.load(std::memory_order_relaxed)) continue;
      // Slabs do not overlap: the address is in this one, guard or not.
      const std::uintptr_t guard = base + index * stride;
      if (a - guard >= kGuardSize) return false;
      const std::atomic<const char*>* owners =
          r.owners.load(std::memory_order_relaxed);
      hit.owner_name = owners != nullptr
                           ? owners[index].load(std::memory_order_relaxed)
                           : nullptr;
      hit.stack_lo = reinterpret_cast<const void*>(guard + kGuardSize);
      hit.stack_hi = reinterpret_cast<const void*>(guard + stride);
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// The stack-overflow handler. Everything it calls is async-signal-safe:
// atomics, write(2), sigaction(2), pthread_sigmask(3), raise(3).

namespace {

// Builds a message in a fixed buffer, truncating; printf is not
// async-signal-safe.
class SignalSafeWriter {
 public:
  SignalSafeWriter(char* out, std::size_t capacity)
      : begin_(out), p_(out), end_(out + capacity) {}

  // Appends at most `max` characters of `s`; returns false if `s` is longer.
  bool put(const char* s, std::size_t max = static_cast<std::size_t>(-1)) {
    for (; *s != '\0' && max > 0; --max, ++s) {
      if (p_ != end_) *p_++ = *s;
    }
    return *s == '\0';
  }

  void put_hex(std::uintptr_t n) {
    char digits[2 * sizeof n];
    std::size_t count = 0;
    do {
      digits[count++] = "0123456789abcdef"[n & 0xf];
      n >>= 4;
    } while (n != 0);
    put("0x");
    while (count > 0 && p_ != end_) *p_++ = digits[--count];
  }

  // Ends the message with a newline, even if it was truncated.
  std::size_t finish() {
    if (begin_ == end_) return 0;
    if (p_ == end_) --p_;
    *p_++ = '\n';
    return static_cast<std::size_t>(p_ - begin_);
  }

 private:
  char* begin_;
  char* p_;
  char* end_;
};

// Longer owner names are cut (and marked so): the name is the task's, and
// a corrupted one must not flood the terminal.
constexpr std::size_t kMaxOwnerNameLength = 128;

}  // namespace

std::size_t format_stack_overflow(char* out, std::size_t capacity,
                                  const GuardHit& hit, const void* fault) noexcept {
  SignalSafeWriter w(out, capacity);
  if (hit.owner_name != nullptr) {
    w.put("weft: stack overflow in task '");
    if (!w.put(hit.owner_name, kMaxOwnerNameLength)) w.put("...");
    w.put("' (stack ");
  } else {
    w.put("weft: stack overflow in an unnamed task (stack ");
  }
  w.put_hex(reinterpret_cast<std::uintptr_t>(hit.stack_lo));
  w.put("-");
  w.put_hex(reinterpret_cast<std::uintptr_t>(hit.stack_hi));
  w.put(", fault at ");
  w.put_hex(reinterpret_cast<std::uintptr_t>(fault));
  w.put(")");
  return w.finish();
}

namespace {

// The dispositions found when the handler was installed: written once, by
// the sigaction() call that installs it, and read by the handler.
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

struct sigaction& previous_action(int signo) {
  return signo == SIGBUS ? g_previous_bus : g_previous_segv;
}

void write_all(int fd, const char* data, std::size_t length) {
  while (length > 0) {
    const ssize_t n = write(fd, data, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    length -= static_cast<std::size_t>(n);
  }
}

// A signal sent with kill() or sigqueue() (si_code <= 0) does not recur when
// the handler returns, as a fault does; send it again. It stays blocked
// until the handler returns, and is then delivered under the new
// disposition.
void recur_if_sent(int signo, const siginfo_t* info) {
  if (info->si_code <= 0) raise(signo);
}

void reset_to_default(int signo) {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signo, &action, nullptr);
}

// Hands the signal to whatever was there before weft, as the kernel would
// have delivered it.
void chain(int signo, siginfo_t* info, void* context) {
  const struct sigaction& previous = previous_action(signo);
  if (previous.sa_handler == SIG_DFL ||
      (previous.sa_handler == SIG_IGN && info->si_code > 0)) {
    // SIG_IGN does not apply to a fault the kernel raises: it resets the
    // disposition to SIG_DFL and the process dies. So do we.
    reset_to_default(signo);
    recur_if_sent(signo, info);
    return;
  }
  if (previous.sa_handler == SIG_IGN) return;
  if (previous.sa_flags & SA_RESETHAND) reset_to_default(signo);
  sigset_t saved;
  pthread_sigmask(SIG_BLOCK, &previous.sa_mask, &saved);
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(signo, info, context);
  } else {
    previous.sa_handler(signo);
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

// On a guard hit: report, then put back the earlier disposition and let the
// fault recur under it. Returning re-executes the faulting instruction, so
// the death (or the earlier handler) sees the genuine fault, registers and
// all. An earlier SIG_IGN becomes SIG_DFL: an overflow must not loop. An
// earlier handler without SA_ONSTACK cannot run on the exhausted stack; the
// kernel then kills the process with SIGSEGV, which is the right death too.
void on_fault(int signo, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  GuardHit hit;
  if (find_guard(info->si_addr, hit)) {
    char message[512];
    write_all(STDERR_FILENO, message,
              format_stack_overflow(message, sizeof message, hit, info->si_addr));
    struct sigaction previous = previous_action(signo);
    if (previous.sa_handler == SIG_IGN) previous.sa_handler = SIG_DFL;
    sigaction(signo, &previous, nullptr);
    recur_if_sent(signo, info);
  } else {
    chain(signo, info, context);
  }
  errno = saved_errno;
}

bool install_handler() {
  const char* setting = std::getenv("WEFT_STACK_OVERFLOW_HANDLER");
  if (setting != nullptr && std::strcmp(setting, "0") == 0) return false;
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  // The earlier disposition is saved by the same call that replaces it, so
  // no other thread's handler can slip in between; a fault in the few
  // instructions before the kernel writes it back would find an empty
  // (SIG_DFL) record, which is the safe reading.
  for (int signo : {SIGSEGV, SIGBUS}) {
    if (sigaction(signo, &action, &previous_action(signo)) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              "weft: sigaction for the stack-overflow handler");
    }
  }
  return true;
}

// A thread's alternate signal stack, above a guard, unmapped when the
// thread exits.
class AltSignalStack {
 public:
  AltSignalStack() = default;
  AltSignalStack(const AltSignalStack&) = delete;
  AltSignalStack& operator=(const AltSignalStack&) = delete;

  ~AltSignalStack() {
    if (mapping_ == nullptr) return;
    stack_t current;
    if (sigaltstack(nullptr, &current) == 0 && current.ss_sp == mapping_ + kGuardSize) {
      stack_t off;
      std::memset(&off, 0, sizeof off);
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
    }
    munmap(mapping_, kGuardSize + size_);
  }

  // Maps the stack once, and (re)makes it the thread's alternate stack.
  void install() {
    if (mapping_ == nullptr) {
      // The handler needs little, but a handler it chains to (a crash
      // reporter, say) may need more than SIGSTKSZ, a few KiB.
      const std::size_t size = round_up_to_page(
          std::max<std::size_t>(64 * 1024, static_cast<std::size_t>(SIGSTKSZ)));
      const StackGuard guard = guard_install_supported() ? StackGuard::kMadvise
                                                         : StackGuard::kMprotect;
      const char* failed_call = nullptr;
      int error = 0;
      mapping_ = map_guarded(kGuardSize + size, 1, guard, &failed_call, &error);
      if (mapping_ == nullptr) {
        throw std::system_error(
            error, std::generic_category(),
            std::string("weft: cannot map an alternate signal stack: ") +
                failed_call);
      }
      size_ = size;
    }
    stack_t alt;
    std::memset(&alt, 0, sizeof alt);
    alt.ss_sp = mapping_ + kGuardSize;
    alt.ss_size = size_;
    if (sigaltstack(&alt, nullptr) != 0) {
      throw std::system_error(errno, std::generic_category(), "weft: sigaltstack");
    }
  }

 private:
  char* mapping_ = nullptr;  // the guard, then the stack
  std::size_t size_ = 0;
};

thread_local AltSignalStack t_alt_signal_stack;

}  // namespace

bool install_stack_overflow_handler() {
  static const bool installed = install_handler();
  return installed;
}

void ensure_alt_signal_stack() {
  stack_t current;
  if (sigaltstack(nullptr, &current) != 0) {
    throw std::system_error(errno, std::generic_category(), "weft: sigaltstack");
  }
  // A stack set up by someone else (the application, a sanitizer) is kept.
  if (!(current.ss_flags & SS_DISABLE)) return;
  t_alt_signal_stack.install();
}

}  // namespace detail
}  // namespace weft

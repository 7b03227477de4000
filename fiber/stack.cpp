// fiber/stack.cpp — the fiber stack pool, its guard registry, and the
// stack-overflow handler. See fiber/stack.hpp for the layout and contracts.
#include "fiber/stack.hpp"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include "fiber/sanitizer.hpp"

// Linux 6.13's madvise() advice that turns a range into guard pages without
// changing the mapping; glibc 2.36's headers predate it.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace weft {
namespace detail {

namespace {

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_up_to_page(std::size_t n) {
  const std::size_t page = page_size();
  return (n + page - 1) / page * page;
}

// For failures that leave the pool's state unknown (an munmap that fails
// unmaps nothing we can trust): name the call and stop.
[[noreturn]] void fatal(const char* what, int error) {
  std::fprintf(stderr, "weft: fatal: %s: %s\n", what, std::strerror(error));
  std::abort();
}

// Makes [address, address + length) a guard region. Returns 0 or the errno.
int install_guard(char* address, std::size_t length, StackGuard guard) {
  for (;;) {
    const int rc = guard == StackGuard::kMadvise
                       ? madvise(address, length, MADV_GUARD_INSTALL)
                       : mprotect(address, length, PROT_NONE);
    if (rc == 0) return 0;
    const int error = errno;
    if (error != EINTR) return error;
  }
}

const char* guard_call_name(StackGuard guard) {
  return guard == StackGuard::kMadvise ? "madvise(MADV_GUARD_INSTALL)"
                                       : "mprotect(PROT_NONE)";
}

// Maps `count` stacks of `stride` bytes each (guard included) and installs
// their guards. Returns the mapping, or nullptr with the failing call and
// its errno in `failed_call` and `error`.
char* map_guarded(std::size_t stride, unsigned count, StackGuard guard,
                  const char** failed_call, int* error) {
  const std::size_t length = stride * count;
  void* mapping = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                       -1, 0);
  if (mapping == MAP_FAILED) {
    *error = errno;
    *failed_call = "mmap";
    return nullptr;
  }
  // A transparent huge page would turn the first touch of a stack into a
  // 2 MiB commit. MAP_STACK implies this since Linux 6.7; say it for older
  // kernels. Failure (a kernel without THP) changes nothing.
  madvise(mapping, length, MADV_NOHUGEPAGE);
  char* base = static_cast<char*>(mapping);
  for (unsigned i = 0; i < count; ++i) {
    const int rc = install_guard(base + i * stride, kGuardSize, guard);
    if (rc != 0) {
      munmap(mapping, length);
      *error = rc;
      *failed_call = guard_call_name(guard);
      return nullptr;
    }
  }
  return base;
}

long read_long(const char* path) {
  std::ifstream in(path);
  long value = -1;
  return in >> value ? value : -1;
}

long count_lines(const char* path) {
  std::ifstream in(path);
  if (!in) return -1;
  long lines = 0;
  std::string line;
  while (std::getline(in, line)) ++lines;
  return lines;
}

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

constexpr std::size_t kRecordsPerChunk = 256;

struct RegistryChunk {
  GuardRecord records[kRecordsPerChunk];
  RegistryChunk* next = nullptr;  // set before the chunk is published
};

std::atomic<RegistryChunk*> g_chunks{nullptr};
std::mutex g_registry_mutex;
GuardRecord* g_free_records = nullptr;

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

void retire_guards(GuardRecord* record) {
  record->base.store(0, std::memory_order_release);
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  record->next_free = g_free_records;
  g_free_records = record;
}

}  // namespace

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
// Guard modes.

StackGuard stack_guard_from_environment() {
  const char* value = std::getenv("WEFT_STACK_GUARD");
  return value != nullptr && std::strcmp(value, "mprotect") == 0
             ? StackGuard::kMprotect
             : StackGuard::kMadvise;
}

bool guard_install_supported() {
  // Kernels without MADV_GUARD_INSTALL reject the advice with EINVAL.
  static const bool supported = [] {
    const std::size_t page = page_size();
    void* p = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    const bool ok = madvise(p, page, MADV_GUARD_INSTALL) == 0;
    munmap(p, 2 * page);
    return ok;
  }();
  return supported;
}

// ---------------------------------------------------------------------------
// The pool.

// One mapping of `count` stacks, each `stride` bytes: a guard of kGuardSize,
// then the stack. Bit i of each mask describes stack i; a stack neither in
// use nor released is pooled.
struct StackPool::Slab {
  Slab(std::size_t stride_bytes, unsigned stacks)
      : stride(stride_bytes),
        count(stacks),
        released(all_of(stacks)),
        owners(new std::atomic<const char*>[stacks]()),
        valgrind_ids(new unsigned[stacks]()) {}

  // Takes the slab's guards out of the registry, leaves the address range
  // clean for ASan and unmaps it.
  ~Slab() {
    if (record != nullptr) retire_guards(record);
    if (base == nullptr) return;
    if (kAddressSanitizer) {
      for (unsigned i = 0; i < count; ++i) {
        if (used_before & (std::uint64_t{1} << i)) unpoison(stack_lo(i), usable());
      }
    }
    if (munmap(base, stride * count) != 0) fatal("munmap of a fiber stack slab", errno);
  }

  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  std::size_t usable() const { return stride - kGuardSize; }
  char* stack_lo(unsigned i) const { return base + i * stride + kGuardSize; }
  char* stack_hi(unsigned i) const { return base + (i + 1) * stride; }
  std::uintptr_t end() const {
    return reinterpret_cast<std::uintptr_t>(base + stride * count);
  }
  bool all_released() const { return released == all_of(count); }
  static std::uint64_t all_of(unsigned stacks) {
    return stacks == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << stacks) - 1;
  }

  char* base = nullptr;
  const std::size_t stride;
  const unsigned count;
  std::uint64_t in_use = 0;
  std::uint64_t released;  // free, without pages (fresh or given back)
  // Has run a fiber since the slab was mapped, so its ASan shadow may hold
  // the redzones of frames that never returned.
  std::uint64_t used_before = 0;
  const std::unique_ptr<std::atomic<const char*>[]> owners;
  const std::unique_ptr<unsigned[]> valgrind_ids;
  GuardRecord* record = nullptr;
  // The pool's list of slabs with released stacks.
  bool listed = false;
  Slab* prev_released = nullptr;
  Slab* next_released = nullptr;
};

StackPool::StackPool() : StackPool(stack_guard_from_environment()) {}

StackPool::StackPool(StackGuard guard, std::size_t max_pooled)
    : guard_(guard == StackGuard::kMadvise && guard_install_supported()
                 ? StackGuard::kMadvise
                 : StackGuard::kMprotect),
      max_pooled_(max_pooled) {
  // deallocate() must not allocate.
  pooled_.reserve(max_pooled_);
}

StackPool::~StackPool() {
  if (in_use_ != 0) {
    std::fprintf(stderr,
                 "weft: fatal: a stack pool is destroyed while %zu of its "
                 "stacks are in use by fibers\n",
                 in_use_);
    std::abort();
  }
  pooled_.clear();
  with_released_ = nullptr;
  slabs_.clear();
}

boost::context::stack_context StackPool::allocate(std::size_t size,
                                                  const char* owner_name) {
  // Rounding up must not overflow; no real stack comes near this.
  if (size > (std::size_t{1} << 40)) {
    throw std::invalid_argument("weft: fiber stack size " + std::to_string(size) +
                                " is larger than 1 TiB");
  }
  const std::size_t usable = round_up_to_page(std::max(size, kMinStackSize));
  const StackRef ref = usable == kDefaultStackSize ? take_default_stack()
                                                   : take_own_stack(usable);
  Slab& slab = *ref.slab;
  const std::uint64_t bit = std::uint64_t{1} << ref.index;
  char* lo = slab.stack_lo(ref.index);
  if (slab.used_before & bit) unpoison(lo, usable);
  slab.used_before |= bit;
  slab.in_use |= bit;
  slab.owners[ref.index].store(owner_name, std::memory_order_relaxed);
  slab.valgrind_ids[ref.index] = valgrind_register_stack(lo, lo + usable);
  ++in_use_;

  boost::context::stack_context sctx;
  sctx.size = usable;
  sctx.sp = lo + usable;
  return sctx;
}

// Pooled stacks first, the most recently freed first; then released stacks
// of mapped slabs; then a new slab.
StackPool::StackRef StackPool::take_default_stack() {
  if (!pooled_.empty()) {
    const StackRef ref = pooled_.back();
    pooled_.pop_back();
    return ref;
  }
  if (with_released_ == nullptr) {
    // A PROT_NONE guard splits the mapping, so with it a slab of 64 stacks
    // would spend 128 mappings even when one stack is used: one stack per
    // slab keeps the mapping count proportional to the stacks held.
    const unsigned count = guard_ == StackGuard::kMadvise ? kStacksPerSlab : 1;
    list_released(map_slab(kDefaultStackSize, count));
  }
  Slab* slab = with_released_;
  const unsigned index = static_cast<unsigned>(__builtin_ctzll(slab->released));
  slab->released &= ~(std::uint64_t{1} << index);
  if (slab->released == 0) unlist_released(slab);
  return StackRef{slab, index};
}

// Any other size gets a slab of its own, unmapped when the stack is given
// back: such stacks are rare, and pooling them by size is not worth it.
StackPool::StackRef StackPool::take_own_stack(std::size_t usable) {
  Slab* slab = map_slab(usable, 1);
  slab->released = 0;
  return StackRef{slab, 0};
}

StackPool::Slab* StackPool::map_slab(std::size_t usable, unsigned count) {
  std::unique_ptr<Slab> slab(new Slab(kGuardSize + usable, count));
  const char* failed_call = nullptr;
  int error = 0;
  slab->base = map_guarded(slab->stride, count, guard_, &failed_call, &error);
  if (slab->base == nullptr) throw_map_failure(failed_call, error);
  slab->record = publish_guards(slab->base, slab->stride, count, slab->owners.get());
  Slab* raw = slab.get();
  slabs_.emplace(raw->end(), std::move(slab));
  return raw;
}

// Up to max_pooled free stacks keep their pages, so the common churn (a task
// ends, another starts) reuses memory the kernel has already committed: a
// first touch of a fresh page costs about 1.5 µs here. Stacks beyond the
// bound are released: MADV_DONTNEED gives all their pages back at once and
// keeps the slab whole, where munmap would split it and leave a hole among
// registered guards; a released stack is reused without a syscall and
// refills page by page. The price is a syscall per stack beyond the bound,
// paid only when more than max_pooled tasks end together, and pooled stacks
// holding up to max_pooled × 256 KiB (256 MiB) if every task ran deep — a
// few MiB for typical tasks, which touch a page or two. When the pool is
// full it is the stack being freed that is released, although it is the
// warmest in the CPU caches: every pooled stack has its pages, which is what
// matters, and evicting the coldest instead would need a deque.
void StackPool::deallocate(boost::context::stack_context& sctx) noexcept {
  const StackRef ref = find(sctx.sp);
  const std::uint64_t bit = std::uint64_t{1} << ref.index;
  if (ref.slab == nullptr || !(ref.slab->in_use & bit)) {
    std::fprintf(stderr, "weft: fatal: %p is not the top of a stack in use\n",
                 sctx.sp);
    std::abort();
  }
  Slab& slab = *ref.slab;
  valgrind_deregister_stack(slab.valgrind_ids[ref.index]);
  slab.owners[ref.index].store(nullptr, std::memory_order_relaxed);
  slab.in_use &= ~bit;
  --in_use_;
  sctx = boost::context::stack_context();

  if (slab.usable() != kDefaultStackSize) {
    unmap_slab(&slab);  // see take_own_stack()
  } else if (pooled_.size() < max_pooled_) {
    pooled_.push_back(ref);
  } else {
    release(ref);
  }
}

void StackPool::set_owner_name(const boost::context::stack_context& sctx,
                               const char* owner_name) noexcept {
  const StackRef ref = find(sctx.sp);
  if (ref.slab == nullptr) return;
  ref.slab->owners[ref.index].store(owner_name, std::memory_order_relaxed);
}

// Gives a free stack's pages back to the kernel; unmaps its slab once no
// stack of it is in use or pooled.
void StackPool::release(StackRef ref) noexcept {
  Slab& slab = *ref.slab;
  slab.released |= std::uint64_t{1} << ref.index;
  if (slab.all_released()) {
    unmap_slab(&slab);
    return;
  }
  if (madvise(slab.stack_lo(ref.index), slab.usable(), MADV_DONTNEED) != 0) {
    fatal("madvise(MADV_DONTNEED) of a fiber stack", errno);
  }
  if (!slab.listed) list_released(&slab);
}

void StackPool::unmap_slab(Slab* slab) noexcept {
  if (slab->listed) unlist_released(slab);
  slabs_.erase(slab->end());
}

void StackPool::list_released(Slab* slab) noexcept {
  slab->listed = true;
  slab->prev_released = nullptr;
  slab->next_released = with_released_;
  if (with_released_ != nullptr) with_released_->prev_released = slab;
  with_released_ = slab;
}

void StackPool::unlist_released(Slab* slab) noexcept {
  if (slab->prev_released != nullptr) {
    slab->prev_released->next_released = slab->next_released;
  } else {
    with_released_ = slab->next_released;
  }
  if (slab->next_released != nullptr) {
    slab->next_released->prev_released = slab->prev_released;
  }
  slab->listed = false;
  slab->prev_released = slab->next_released = nullptr;
}

// The stack whose top is `sp`, or {nullptr, 0}.
StackPool::StackRef StackPool::find(const void* sp) const noexcept {
  // sp is one past the stack's highest byte, possibly the slab's end.
  const std::uintptr_t top = reinterpret_cast<std::uintptr_t>(sp);
  const auto it = slabs_.upper_bound(top - 1);
  if (it == slabs_.end()) return StackRef{nullptr, 0};
  Slab* slab = it->second.get();
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(slab->base);
  if (top <= base || (top - base) % slab->stride != 0) return StackRef{nullptr, 0};
  return StackRef{slab, static_cast<unsigned>((top - base) / slab->stride - 1)};
}

void StackPool::throw_map_failure(const char* call, int error) const {
  const long mappings = error == ENOMEM ? count_lines("/proc/self/maps") : -1;
  const long max_map_count = read_long("/proc/sys/vm/max_map_count");
  throw std::system_error(error, std::generic_category(),
                          stack_map_failure_message(call, error, guard_, in_use_,
                                                    mappings, max_map_count));
}

namespace {

std::string count_or_unknown(long n) {
  return n < 0 ? std::string("unknown") : std::to_string(n);
}

}  // namespace

std::string stack_map_failure_message(const char* call, int error,
                                      StackGuard guard,
                                      std::size_t stacks_in_use,
                                      long mappings, long max_map_count) {
  std::string message = "weft: cannot map a fiber stack: ";
  message += call;
  if (error != ENOMEM) {
    return message + " failed (errno " + std::to_string(error) + ")";
  }
  message += " failed with ENOMEM while " + std::to_string(stacks_in_use) +
             " stacks are in use. The process has " + count_or_unknown(mappings) +
             " memory mappings and vm.max_map_count is " +
             count_or_unknown(max_map_count) + ". ";
  if (guard == StackGuard::kMprotect) {
    message +=
        "With PROT_NONE guard pages (WEFT_STACK_GUARD=mprotect, or a kernel "
        "older than Linux 6.13 without MADV_GUARD_INSTALL) every stack costs "
        "two mappings. Raise the limit (for example "
        "`sysctl -w vm.max_map_count=262144`), run fewer tasks at once, or "
        "run on Linux 6.13 or later, where guards cost no mapping";
  } else {
    message +=
        "With MADV_GUARD_INSTALL guards one mapping holds 64 stacks: if the "
        "mappings are at the limit, raise it (for example "
        "`sysctl -w vm.max_map_count=262144`); if not, the process is out of "
        "address space or memory (see RLIMIT_AS and vm.overcommit_memory)";
  }
  return message;
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

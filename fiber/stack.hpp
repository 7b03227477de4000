// fiber/stack.hpp — internal header of fiber/ (not installed).
//
// Fiber stacks: a per-thread pool of guarded, lazily committed stacks in
// Boost.Context's allocator shape (fiber/stack.cpp, over the kernel calls of
// fiber/stack_memory.cpp), and the SIGSEGV handler that turns a hit on a
// guard into "stack overflow in task '<name>'" (fiber/stack_overflow.cpp).
//
// A stack is anonymous memory mapped with MAP_NORESERVE, so the kernel
// commits a page only when it is first touched: a task parked after touching
// one page costs about one page. Below each stack lies a guard region whose
// access faults. Stacks are carved from mappings ("slabs"):
//
//   low addresses                                               high addresses
//   ┌────────┬─────────────┬────────┬─────────────┬─────┬────────┬─────────────┐
//   │ guard  │   stack 0   │ guard  │   stack 1   │ ... │ guard  │  stack 63   │
//   └────────┴─────────────┴────────┴─────────────┴─────┴────────┴─────────────┘
//    64 KiB     256 KiB    ↑
//                          sp of stack 0 (its top; a stack grows down, towards
//                          its guard)
//
// The guard is installed with madvise(MADV_GUARD_INSTALL) (Linux 6.13+),
// which marks page-table entries and leaves the mapping whole, so a slab
// holds 64 stacks and 100,000 stacks need at most about 1,600 mappings.
// Older kernels get the fallback, a PROT_NONE guard, which splits a mapping
// at every guard; a slab there holds a single stack (two mappings), and
// vm.max_map_count (65,530 by default) caps a process near 32,000 stacks,
// which the error on ENOMEM says.
//
// The kernel's share of a stack's life dominates its cost: mapping and
// guarding it, committing its first page, and giving the pages back (about
// 0.3, 1 and 0.5 µs a stack here, several times the pool's own
// bookkeeping). The pool therefore batches those calls: a slab's 64 guards are
// installed with one process_madvise() call where the kernel allows it, the
// top pages of the next 16 stacks to hand out are committed with another,
// freed stacks are given back to the kernel a batch at a time (one
// process_madvise() for the batch, guards between neighbours included,
// since guard markers survive MADV_DONTNEED), and a slab whose stacks are
// all free is unmapped with one munmap.
//
// Every guard region of every pool in the process is listed in a registry
// that the fault handler reads without locking or allocating; each stack in
// use carries its owner's name (the task's) for the report.
//
// Thread safety: a StackPool and its StackAllocators belong to one thread
// (the event loop's) and are not synchronised. install_stack_overflow_handler()
// may be called from any thread; ensure_alt_signal_stack() acts on the
// calling thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/context/stack_context.hpp>

namespace weft {
namespace detail {

// 256 KiB of usable stack. A stack costs only the pages it touches, so its
// size is set by the deepest path a task may take, not by the typical one:
// a TLS handshake inside OpenSSL (certificate-chain verification and bignum
// arithmetic keep sizable buffers on the stack), under llhttp's callbacks
// and the user's own code, with a wide margin. A task that touches 8 KiB
// costs 8 KiB whatever the size; the size only bounds how deep it may go
// before the guard stops it.
constexpr std::size_t kDefaultStackSize = 256 * 1024;

// Smaller requests are rounded up to this: Boost.Context's control record
// and a few frames of libc must always fit.
constexpr std::size_t kMinStackSize = 16 * 1024;

// The guard below each stack. Bigger than a page because a frame larger than
// the guard can step over it into the memory below (here: another task's
// stack) unless the compiler probes the stack (-fstack-clash-protection,
// off by default in Debian's GCC); 64 KiB covers the large local buffers
// seen in practice. Guards cost address space only, never memory.
constexpr std::size_t kGuardSize = 64 * 1024;

// Stacks carved from one mapping when guards do not split mappings.
constexpr unsigned kStacksPerSlab = 64;

// Free default-size stacks a pool keeps with their pages (see
// StackPool::deallocate for the trade-off).
constexpr std::size_t kMaxPooledStacks = 1024;

// How many free stacks the tasks' pools may hold with their pages between
// two trim() calls: a burst of tasks ending (100,000 parked tasks woken by
// one event) gives its stacks back without a syscall, and the loop trims
// the surplus a batch per iteration afterwards (fiber/tasks.cpp). The pool
// keeps a ring of this many 16-byte entries (2 MiB of address space, paged
// in only as far as a burst reaches).
constexpr std::size_t kBurstPooledStacks = std::size_t{1} << 17;

// The most free stacks a pool gives back to the kernel at once, when it
// holds more than its max_pooled: a slab's worth, enough to spread a
// syscall's cost thin (about 0.55 µs a stack in batches of 64, against
// 1.4 µs one at a time, measured here), few enough to hold little memory.
constexpr std::size_t kReleaseBatch = 64;

// When the pool hands out a stack without pages, it commits the top page of
// that stack and of up to kCommitAhead - 1 more of its slab's stacks, the
// ones it will hand out next, in one call (see StackPool::commit_tops).
constexpr std::size_t kCommitAhead = 16;

// How guard regions are made.
enum class StackGuard {
  kMadvise,   // madvise(MADV_GUARD_INSTALL): no extra mapping, Linux 6.13+
  kMprotect,  // mprotect(PROT_NONE): splits the mapping, any kernel
};

// kMprotect if the environment says WEFT_STACK_GUARD=mprotect; kMadvise if
// it is unset or says anything else (a pool downgrades kMadvise to kMprotect
// where the kernel lacks it).
StackGuard stack_guard_from_environment();

// Whether this kernel supports MADV_GUARD_INSTALL. Probed once per process.
bool guard_install_supported();

// A pool of fiber stacks for one thread.
//
// Invariants: every stack handed out by allocate() and not yet given back
// is "in use"; a free default-size stack is either "pooled" (its pages kept,
// at most max_pooled of them, reused last-in first-out) or "released"
// (without pages: given back to the kernel, or fresh; except that fewer than
// kCommitAhead released stacks per slab may hold their top page, committed
// ahead of use). When a stack given back would make max_pooled + 1 pooled
// stacks, the release_batch() least recently freed are released together.
// A slab whose stacks are all released is unmapped. Every slab's guards are
// in the process-wide registry from mapping to unmapping.
class StackPool {
 public:
  // Guard mode from the environment (stack_guard_from_environment()).
  StackPool();
  // `guard` is a request: kMadvise falls back to kMprotect on kernels
  // without MADV_GUARD_INSTALL; guard() reports the mode in effect.
  // `burst_pooled` (0: max_pooled): how many stacks deallocate() may pool
  // before it releases any; trim() brings the pool back to max_pooled.
  explicit StackPool(StackGuard guard,
                     std::size_t max_pooled = kMaxPooledStacks,
                     std::size_t burst_pooled = 0);
  // Every stack must have been given back: a fiber still running on one is
  // a bug, and the destructor aborts rather than unmap it under the fiber.
  ~StackPool();

  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // Returns a stack of at least `size` usable bytes (rounded up to whole
  // pages, and to kMinStackSize): `sp` is its top (page-aligned, so 16-byte
  // aligned as the ABI wants) and `size` its usable length, so the stack is
  // [sp - size, sp). `owner_name`, if not null, names the stack's owner in
  // a stack-overflow report; the string must stay valid until the stack is
  // given back or renamed. Default-size stacks come from the pool; other
  // sizes get a mapping of their own.
  // Throws std::system_error if the kernel refuses a mapping (on ENOMEM the
  // message names vm.max_map_count, its value and the stacks in use), and
  // std::invalid_argument for a size beyond 1 TiB.
  boost::context::stack_context allocate(std::size_t size = kDefaultStackSize,
                                         const char* owner_name = nullptr);

  // Gives back a stack from allocate(), and clears `sctx` (which must be as
  // allocate() returned it: its size says which kind of slab it is in).
  // Keeps it in the pool, releasing the oldest pooled stacks if the pool is
  // then over burst_pooled. Never allocates (the constructor reserves room
  // for burst_pooled + 1 stacks). Aborts if `sctx` is not a stack of this
  // pool in use.
  void deallocate(boost::context::stack_context& sctx) noexcept;

  // Releases one batch of the oldest pooled stacks beyond max_pooled.
  // Returns true if the pool still holds more than max_pooled.
  bool trim() noexcept;

  // Renames the owner of a stack in use (nullptr: no name), under the same
  // lifetime rule as allocate()'s `owner_name`.
  void set_owner_name(const boost::context::stack_context& sctx,
                      const char* owner_name) noexcept;

  StackGuard guard() const { return guard_; }
  std::size_t stacks_in_use() const { return in_use_; }
  std::size_t pooled_stacks() const { return pooled_count_; }
  std::size_t max_pooled() const { return max_pooled_; }
  std::size_t mapped_slabs() const { return slabs_.size(); }
  // How many pooled stacks are released together when the pool overflows:
  // kReleaseBatch, or a quarter of max_pooled if that is less (at least 1).
  std::size_t release_batch() const { return release_batch_; }

 private:
  struct Slab;
  struct StackRef {
    Slab* slab;
    unsigned index;
  };

  StackRef take_default_stack();
  void commit_tops(Slab& slab, unsigned index);
  StackRef take_own_stack(std::size_t usable);
  Slab* map_slab(std::size_t usable, unsigned count);
  void release_oldest(std::size_t count) noexcept;
  void unmap_slab(Slab* slab) noexcept;
  void list_released(Slab* slab) noexcept;
  void unlist_released(Slab* slab) noexcept;
  StackRef find(const void* sp) const noexcept;
  // The index in pooled_ of the i-th oldest pooled stack (i <= burst_pooled + 1).
  std::size_t pooled_slot(std::size_t i) const {
    const std::size_t slot = pooled_oldest_ + i;
    return slot > burst_pooled_ ? slot - (burst_pooled_ + 1) : slot;
  }
  [[noreturn]] void throw_map_failure(const char* call, int error) const;

  StackGuard guard_;
  std::size_t max_pooled_;
  std::size_t burst_pooled_;
  std::size_t release_batch_;
  bool on_valgrind_;  // register stacks with Valgrind
  std::size_t in_use_ = 0;
  // Every slab, by base address, so that a binary search finds the slab an
  // address lies in. A sorted vector of (address, slab) rather than a
  // std::map: with 1,600 slabs (100,000 stacks) the search reads one
  // contiguous array of addresses (about 11 probes, most in cache) instead
  // of a dozen scattered tree nodes, and no slab needs a node.
  struct SlabEntry {
    std::uintptr_t begin;
    std::unique_ptr<Slab> slab;
  };
  std::vector<SlabEntry> slabs_;
  // Pooled stacks, a ring of burst_pooled + 1 entries: the newest end is the
  // most recently freed stack, whose pages are the likeliest to be in the
  // CPU caches and the TLB, and which allocate() takes first; the oldest end
  // is released first.
  std::unique_ptr<StackRef[]> pooled_;
  std::size_t pooled_oldest_ = 0;  // index in pooled_ of the oldest entry
  std::size_t pooled_count_ = 0;
  // The default-size slabs holding at least one released stack, linked
  // through the slabs (so that giving a stack back never allocates).
  Slab* with_released_ = nullptr;
};

// The pool the calling thread's tasks take their stacks from (fiber/tasks.cpp),
// made on first use with max_pooled kMaxPooledStacks and burst_pooled
// kBurstPooledStacks; its loop trims it after a burst of tasks ends.
StackPool& tasks_stack_pool();

// A Boost.Context StackAllocator drawing from a StackPool:
//
//   boost::context::fiber f(std::allocator_arg,
//                           StackAllocator(pool, kDefaultStackSize, name), fn);
//
// Boost.Context keeps a copy inside the fiber and gives the stack back
// through it when the fiber ends, so the pool must outlive its fibers. A
// caller that needs the stack's bounds (to annotate switches for ASan)
// allocates from the pool itself and passes the stack in as
// boost::context::preallocated(sctx.sp, sctx.size, sctx), with a
// StackAllocator to give it back.
class StackAllocator {
 public:
  explicit StackAllocator(StackPool& pool, std::size_t size = kDefaultStackSize,
                          const char* owner_name = nullptr) noexcept
      : pool_(&pool), size_(size), owner_name_(owner_name) {}

  boost::context::stack_context allocate() {
    return pool_->allocate(size_, owner_name_);
  }
  void deallocate(boost::context::stack_context& sctx) noexcept {
    pool_->deallocate(sctx);
  }

 private:
  StackPool* pool_;
  std::size_t size_;
  const char* owner_name_;
};

// ---------------------------------------------------------------------------
// Stack-overflow reporting (fiber/stack_overflow.cpp).

// Installs the process's SIGSEGV and SIGBUS handler (SA_ONSTACK |
// SA_SIGINFO). A fault inside a guard region writes
//   weft: stack overflow in task '<name>' (stack <lo>-<hi>, fault at <addr>)
// to stderr, puts back the disposition found at installation (SIG_DFL in
// place of SIG_IGN) and lets the fault recur, so that the process dies of
// the SIGSEGV as it would have without weft (core dump and debugger
// included), or the earlier handler sees it. Any other fault goes straight
// to the earlier handler.
// Idempotent and thread-safe: the first call decides. Returns whether the
// handler is installed; WEFT_STACK_OVERFLOW_HANDLER=0 in the environment
// turns it off. The handler runs on the alternate signal stack, so every
// thread that runs fibers must also call ensure_alt_signal_stack(): without
// one, a fault on an exhausted stack cannot be handled and kills the
// process silently.
bool install_stack_overflow_handler();

// Gives the calling thread a 64 KiB alternate signal stack (with a guard
// below it), unless it has one already. The stack is freed when the thread
// exits. Throws std::system_error if it cannot be mapped.
void ensure_alt_signal_stack();

// A guard region hit, as the fault handler sees it.
struct GuardHit {
  const char* owner_name;  // nullptr if the stack has no owner name
  const void* stack_lo;    // the stack above the guard: [stack_lo, stack_hi)
  const void* stack_hi;
};

// Finds the guard region of any pool in the process that contains
// `address`. Async-signal-safe: it neither locks nor allocates.
bool find_guard(const void* address, GuardHit& hit) noexcept;

// Writes the stack-overflow report (newline-terminated, truncated to
// `capacity`, not NUL-terminated) for a fault at `fault`; returns its
// length. Async-signal-safe.
std::size_t format_stack_overflow(char* out, std::size_t capacity,
                                  const GuardHit& hit, const void* fault) noexcept;

// The message of the error thrown when mapping a stack fails: names the
// failing `call` and `error`, and for ENOMEM the process's `mappings`, the
// vm.max_map_count limit, the stacks in use and what to do (a negative count
// means unknown).
std::string stack_map_failure_message(const char* call, int error,
                                      StackGuard guard,
                                      std::size_t stacks_in_use,
                                      long mappings, long max_map_count);

}  // namespace detail
}  // namespace weft

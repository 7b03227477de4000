// fiber/stack.cpp — the fiber stack pool. See fiber/stack.hpp for the
// layout and contracts; the kernel calls are in fiber/stack_memory.cpp, the
// guard registry and the fault handler in fiber/stack_overflow.cpp.
#include "fiber/stack.hpp"

#include <errno.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

#include "fiber/sanitizer.hpp"
#include "fiber/stack_internal.hpp"

namespace weft {
namespace detail {

// One mapping of `count` stacks (at most kStacksPerSlab), each `stride`
// bytes: a guard of kGuardSize, then the stack. Bit i of each mask
// describes stack i; a stack neither in use nor released is pooled.
struct StackPool::Slab {
  Slab(std::size_t stride_bytes, unsigned stacks)
      : stride(stride_bytes), count(stacks), released(all_of(stacks)) {}

  // Takes the slab's guards out of the registry, leaves the address range
  // clean for ASan and unmaps it: one munmap gives back every page of every
  // stack, however many were still committed.
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
  std::uintptr_t begin() const { return reinterpret_cast<std::uintptr_t>(base); }
  bool all_released() const { return released == all_of(count); }
  static std::uint64_t all_of(unsigned stacks) {
    return stacks == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << stacks) - 1;
  }

  char* base = nullptr;
  const std::size_t stride;
  const unsigned count;
  std::uint64_t in_use = 0;
  std::uint64_t released;  // free, without pages (fresh or given back)
  // Released stacks whose top page was committed ahead of use, with the
  // stack that needed one (see commit_tops()).
  std::uint64_t committed = 0;
  // Has run a fiber since the slab was mapped, so its ASan shadow may hold
  // the redzones of frames that never returned.
  std::uint64_t used_before = 0;
  // Read by the fault handler through the guard registry.
  std::atomic<const char*> owners[kStacksPerSlab] = {};
  unsigned valgrind_ids[kStacksPerSlab] = {};
  GuardRecord* record = nullptr;
  // The pool's list of slabs with released stacks.
  bool listed = false;
  Slab* prev_released = nullptr;
  Slab* next_released = nullptr;
};

StackPool::StackPool() : StackPool(stack_guard_from_environment()) {}

StackPool::StackPool(StackGuard guard, std::size_t max_pooled, std::size_t burst_pooled)
    : guard_(guard == StackGuard::kMadvise && guard_install_supported()
                 ? StackGuard::kMadvise
                 : StackGuard::kMprotect),
      max_pooled_(max_pooled),
      burst_pooled_(std::max(max_pooled, burst_pooled)),
      release_batch_(std::max<std::size_t>(1, std::min(kReleaseBatch, max_pooled / 4))),
      on_valgrind_(running_on_valgrind()),
      // deallocate() must not allocate: room for the stack that overflows.
      pooled_(new StackRef[burst_pooled_ + 1]) {}

StackPool::~StackPool() {
  if (in_use_ != 0) {
    std::fprintf(stderr,
                 "weft: fatal: a stack pool is destroyed while %zu of its "
                 "stacks are in use by fibers\n",
                 in_use_);
    std::abort();
  }
  pooled_count_ = 0;
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
  if (on_valgrind_) slab.valgrind_ids[ref.index] = valgrind_register_stack(lo, lo + usable);
  ++in_use_;

  boost::context::stack_context sctx;
  sctx.size = usable;
  sctx.sp = lo + usable;
  return sctx;
}

// Pooled stacks first, the most recently freed first; then released stacks
// of mapped slabs; then a new slab.
StackPool::StackRef StackPool::take_default_stack() {
  if (pooled_count_ > 0) {
    --pooled_count_;
    return pooled_[pooled_slot(pooled_count_)];
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
  const std::uint64_t bit = std::uint64_t{1} << index;
  if (!(slab->committed & bit)) commit_tops(*slab, index);
  slab->released &= ~bit;
  slab->committed &= ~bit;
  if (slab->released == 0) unlist_released(slab);
  return StackRef{slab, index};
}

// The fiber's first frames (and its records, at the very top) write the top
// page of its stack at once, so the pool commits that page when it hands a
// released stack out, and with it the top pages of the next few released
// stacks of the slab, the ones take_default_stack() hands out next. One
// batched MADV_POPULATE_WRITE of kCommitAhead pages costs less than as many
// page faults: measured here with 100,000 parked tasks, the process spends
// about 10% less CPU than with faults (a fault costs about 1.2 µs, a page
// populated alone 0.95 µs, less in batches; batches of 64 gained nothing
// over 16). Only the top page, so that a parked task still costs about one
// page. The price: up to kCommitAhead - 1 released stacks per slab hold one
// page each until they are used or their slab is unmapped.
void StackPool::commit_tops(Slab& slab, unsigned index) {
  const std::size_t page = page_size();
  MemoryRange tops[kCommitAhead];
  tops[0] = MemoryRange{slab.stack_hi(index) - page, page};
  std::size_t count = 1;
  // The released stacks above `index`, not yet committed, lowest first (the
  // order in which take_default_stack() hands them out).
  std::uint64_t ahead = slab.released & ~slab.committed & ~((std::uint64_t{2} << index) - 1);
  std::uint64_t chosen = 0;
  for (; ahead != 0 && count < kCommitAhead; ahead &= ahead - 1) {
    const unsigned i = static_cast<unsigned>(__builtin_ctzll(ahead));
    tops[count++] = MemoryRange{slab.stack_hi(i) - page, page};
    chosen |= std::uint64_t{1} << i;
  }
  if (populate(tops, count)) slab.committed |= chosen;
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
  slab->record = publish_guards(slab->base, slab->stride, count, slab->owners);
  Slab* raw = slab.get();
  const auto at = std::upper_bound(
      slabs_.begin(), slabs_.end(), raw->begin(),
      [](std::uintptr_t address, const SlabEntry& e) { return address < e.begin; });
  slabs_.insert(at, SlabEntry{raw->begin(), std::move(slab)});
  return raw;
}

// Up to max_pooled free stacks keep their pages, so the common churn (a task
// ends, another starts) reuses memory the kernel has already committed, and
// a burst of tasks ending (up to burst_pooled of them) costs no syscall at
// all: trim(), called by the owner between bursts, releases the surplus.
// Beyond burst_pooled the least recently freed stacks, the coldest, are
// released, release_batch() at a time (see release_oldest()): the pool
// then holds between burst_pooled - release_batch() + 1 and burst_pooled
// stacks with pages, and pays one syscall per batch instead of one per
// stack. The price is pooled stacks holding up to max_pooled × 256 KiB
// (256 MiB) if every task ran deep — a few MiB for typical tasks, which
// touch a page or two.
void StackPool::deallocate(boost::context::stack_context& sctx) noexcept {
  const StackRef ref = find(sctx.sp);
  const std::uint64_t bit = std::uint64_t{1} << ref.index;
  if (ref.slab == nullptr || ref.slab->usable() != sctx.size ||
      !(ref.slab->in_use & bit)) {
    std::fprintf(stderr, "weft: fatal: %p is not the top of a stack in use\n",
                 sctx.sp);
    std::abort();
  }
  Slab& slab = *ref.slab;
  // Not even a read of the id outside Valgrind: with 100,000 stacks it is a
  // cache miss, the costliest step of giving a stack back.
  if (on_valgrind_) valgrind_deregister_stack(slab.valgrind_ids[ref.index]);
  slab.owners[ref.index].store(nullptr, std::memory_order_relaxed);
  slab.in_use &= ~bit;
  --in_use_;
  sctx = boost::context::stack_context();

  if (slab.usable() != kDefaultStackSize) {
    unmap_slab(&slab);  // see take_own_stack()
    return;
  }
  pooled_[pooled_slot(pooled_count_)] = ref;
  ++pooled_count_;
  if (pooled_count_ > burst_pooled_) release_oldest(release_batch_);
}

bool StackPool::trim() noexcept {
  if (pooled_count_ > max_pooled_) release_oldest(std::min(release_batch_, pooled_count_ - max_pooled_));
  return pooled_count_ > max_pooled_;
}

void StackPool::set_owner_name(const boost::context::stack_context& sctx,
                               const char* owner_name) noexcept {
  const StackRef ref = find(sctx.sp);
  if (ref.slab == nullptr) return;
  ref.slab->owners[ref.index].store(owner_name, std::memory_order_relaxed);
}

// Gives the pages of the `count` oldest pooled stacks back to the kernel.
// A slab left with every stack released is unmapped (one munmap); the
// others' stacks get MADV_DONTNEED, which keeps the slab whole, where
// munmap would split it and leave a hole among registered guards. Stacks
// next to each other in a slab make one range, guards between them
// included (guard markers survive MADV_DONTNEED, as PROT_NONE mappings
// do), and all the ranges go to the kernel in one call (advise_ranges()).
// A released stack is reused without a syscall and refills page by page.
void StackPool::release_oldest(std::size_t count) noexcept {
  StackRef batch[kReleaseBatch];
  count = std::min({count, pooled_count_, kReleaseBatch});
  for (std::size_t i = 0; i < count; ++i) batch[i] = pooled_[pooled_slot(i)];
  pooled_oldest_ = pooled_slot(count);
  pooled_count_ -= count;
  std::sort(batch, batch + count, [](const StackRef& a, const StackRef& b) {
    return a.slab != b.slab ? a.slab->begin() < b.slab->begin() : a.index < b.index;
  });

  MemoryRange ranges[kReleaseBatch];
  std::size_t range_count = 0;
  for (std::size_t i = 0; i < count;) {
    Slab& slab = *batch[i].slab;
    std::size_t end = i;  // batch[i, end) are this slab's stacks
    for (; end < count && batch[end].slab == &slab; ++end) {
      slab.released |= std::uint64_t{1} << batch[end].index;
    }
    if (slab.all_released()) {
      unmap_slab(&slab);
      i = end;
      continue;
    }
    while (i < end) {
      const unsigned first = batch[i].index;
      unsigned last = first;
      for (++i; i < end && batch[i].index == last + 1; ++i) ++last;
      char* const lo = slab.stack_lo(first);
      ranges[range_count++] =
          MemoryRange{lo, static_cast<std::size_t>(slab.stack_hi(last) - lo)};
    }
    if (!slab.listed) list_released(&slab);
  }
  const int error = advise_ranges(ranges, range_count, MADV_DONTNEED);
  if (error != 0) fatal("madvise(MADV_DONTNEED) of fiber stacks", error);
}

void StackPool::unmap_slab(Slab* slab) noexcept {
  if (slab->listed) unlist_released(slab);
  const auto at = std::lower_bound(
      slabs_.begin(), slabs_.end(), slab->begin(),
      [](const SlabEntry& e, std::uintptr_t address) { return e.begin < address; });
  slabs_.erase(at);  // destroys the slab, which unmaps it
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
  // sp is one past the stack's highest byte, possibly the slab's end, so
  // the slab is the last one that begins below it.
  const std::uintptr_t top = reinterpret_cast<std::uintptr_t>(sp);
  const auto after = std::lower_bound(
      slabs_.begin(), slabs_.end(), top,
      [](const SlabEntry& e, std::uintptr_t address) { return e.begin < address; });
  if (after == slabs_.begin()) return StackRef{nullptr, 0};
  Slab* slab = (after - 1)->slab.get();
  const std::uintptr_t offset = top - slab->begin();
  if (offset % slab->stride != 0 || offset / slab->stride > slab->count) {
    return StackRef{nullptr, 0};
  }
  return StackRef{slab, static_cast<unsigned>(offset / slab->stride - 1)};
}

void StackPool::throw_map_failure(const char* call, int error) const {
  const long mappings = error == ENOMEM ? count_lines("/proc/self/maps") : -1;
  const long max_map_count = read_long("/proc/sys/vm/max_map_count");
  throw std::system_error(error, std::generic_category(),
                          stack_map_failure_message(call, error, guard_, in_use_,
                                                    mappings, max_map_count));
}

}  // namespace detail
}  // namespace weft

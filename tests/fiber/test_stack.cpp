// tests/fiber/test_stack.cpp — fiber/stack: the stack pool under both guard
// modes, Boost.Context fibers on its stacks, and the stack-overflow report.
//
// Death tests (a fault on purpose) run in the release builds only: ASan and
// Valgrind both own SIGSEGV. They use the "threadsafe" style, which re-runs
// the test binary for the child, so each child starts without weft's
// handler and installs it itself.
#include "fiber/stack.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/context/fiber.hpp>
#include <gtest/gtest.h>

#include "fiber/sanitizer.hpp"
#include "weft/fiber/locks.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/waiting.hpp"

namespace weft {
namespace detail {
namespace {

namespace ctx = boost::context;

// ---------------------------------------------------------------------------
// Helpers.

// Why faults cannot be tested in this build, or nullptr.
const char* death_test_obstacle() {
  if (kAddressSanitizer) {
    return "AddressSanitizer takes SIGSEGV for itself; death tests run in "
           "the release builds";
  }
  if (running_on_valgrind()) {
    return "Valgrind takes SIGSEGV for itself; death tests run in the "
           "release builds";
  }
  return nullptr;
}

#define WEFT_SKIP_UNLESS_DEATH_TESTS_RUN()                   \
  do {                                                       \
    const char* obstacle = death_test_obstacle();            \
    if (obstacle != nullptr) GTEST_SKIP() << obstacle;       \
    GTEST_FLAG_SET(death_test_style, "threadsafe");          \
  } while (0)

// For a death test's child: no core file for a death on purpose, and the
// handler weft's fiber layer would set up.
void prepare_to_fault() {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  install_stack_overflow_handler();
  ensure_alt_signal_stack();
}

long mapping_count() {
  std::ifstream maps("/proc/self/maps");
  long lines = 0;
  std::string line;
  while (std::getline(maps, line)) ++lines;
  return lines;
}

long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// This process's /proc/self/pagemap entry for the page holding `address`:
// bit 63 says the page is present, bit 58 (Linux 6.15+) that it is a guard
// installed with MADV_GUARD_INSTALL.
std::uint64_t pagemap_entry(const void* address) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  std::uint64_t entry = 0;
  if (fd >= 0) {
    const off_t at = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(address) / page *
                                        sizeof entry);
    if (pread(fd, &entry, sizeof entry, at) != static_cast<ssize_t>(sizeof entry)) entry = 0;
    close(fd);
  }
  return entry;
}

bool page_present(const void* address) {
  return (pagemap_entry(address) >> 63) & 1;
}

bool page_is_guard(const void* address) {
  return (pagemap_entry(address) >> 58) & 1;
}

char* stack_bottom(const ctx::stack_context& stack) {
  return static_cast<char*>(stack.sp) - stack.size;
}

char* stack_top(const ctx::stack_context& stack) {
  return static_cast<char*>(stack.sp);
}

// A fiber on a stack the test took from `pool`; the pool gets it back
// when the fiber ends.
template <typename Fn>
ctx::fiber make_fiber(StackPool& pool, const ctx::stack_context& stack, Fn&& fn) {
  return ctx::fiber(std::allocator_arg, ctx::preallocated(stack.sp, stack.size, stack),
                    StackAllocator(pool), std::forward<Fn>(fn));
}

// StackAllocator in Boost.Context's allocator_arg form, noting the stack it
// hands out so that switches to it can be annotated.
class RecordingAllocator {
 public:
  RecordingAllocator(StackAllocator inner, ctx::stack_context* taken)
      : inner_(inner), taken_(taken) {}
  ctx::stack_context allocate() {
    *taken_ = inner_.allocate();
    return *taken_;
  }
  void deallocate(ctx::stack_context& stack) noexcept { inner_.deallocate(stack); }

 private:
  StackAllocator inner_;
  ctx::stack_context* taken_;
};

// The switches, annotated for ASan as fiber/ annotates them.
//
// The resumer's side: switch into `f`, whose stack is `stack`, and back.
ctx::fiber resume(ctx::fiber&& f, const ctx::stack_context& stack) {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, stack_bottom(stack), stack.size);
  ctx::fiber suspended = std::move(f).resume();
  finish_switch(fake_stack, nullptr, nullptr);
  return suspended;
}

// The fiber's side: where to switch back to.
struct Resumer {
  const void* bottom = nullptr;
  std::size_t size = 0;
};

// First thing in a fiber.
Resumer enter_fiber() {
  Resumer resumer;
  finish_switch(nullptr, &resumer.bottom, &resumer.size);
  return resumer;
}

ctx::fiber suspend(ctx::fiber&& caller, Resumer& resumer) {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, resumer.bottom, resumer.size);
  ctx::fiber resumed = std::move(caller).resume();
  finish_switch(fake_stack, &resumer.bottom, &resumer.size);
  return resumed;
}

// Last thing in a fiber, before it returns `caller`.
void leave_fiber(const Resumer& resumer) {
  start_switch(nullptr, resumer.bottom, resumer.size);
}

std::string guard_name(const ::testing::TestParamInfo<StackGuard>& info) {
  return info.param == StackGuard::kMadvise ? "Madvise" : "Mprotect";
}

// Pools under each guard mode.
class StackPoolTest : public ::testing::TestWithParam<StackGuard> {};

INSTANTIATE_TEST_SUITE_P(GuardModes, StackPoolTest,
                         ::testing::Values(StackGuard::kMadvise, StackGuard::kMprotect),
                         guard_name);

// ---------------------------------------------------------------------------
// The pool.

TEST_P(StackPoolTest, GuardModeInEffect) {
  StackPool pool(GetParam());
  if (GetParam() == StackGuard::kMadvise && !guard_install_supported()) {
    EXPECT_EQ(StackGuard::kMprotect, pool.guard());
  } else {
    EXPECT_EQ(GetParam(), pool.guard());
  }
}

TEST(StackPoolEnvironment, WeftStackGuardSelectsTheFallback) {
  ASSERT_EQ(0, setenv("WEFT_STACK_GUARD", "mprotect", 1));
  StackPool forced;
  ASSERT_EQ(0, unsetenv("WEFT_STACK_GUARD"));
  StackPool preferred;
  EXPECT_EQ(StackGuard::kMprotect, forced.guard());
  EXPECT_EQ(guard_install_supported() ? StackGuard::kMadvise : StackGuard::kMprotect,
            preferred.guard());
}

TEST_P(StackPoolTest, AllocateAndDeallocate) {
  StackPool pool(GetParam());
  ctx::stack_context stack = pool.allocate();
  EXPECT_EQ(kDefaultStackSize, stack.size);
  EXPECT_EQ(0u, reinterpret_cast<std::uintptr_t>(stack.sp) % 16);
  EXPECT_EQ(1u, pool.stacks_in_use());
  // Usable end to end.
  std::memset(stack_bottom(stack), 0xa5, stack.size);
  EXPECT_EQ(static_cast<char>(0xa5), stack_bottom(stack)[0]);
  EXPECT_EQ(static_cast<char>(0xa5), stack_top(stack)[-1]);

  pool.deallocate(stack);
  EXPECT_EQ(0u, pool.stacks_in_use());
  EXPECT_EQ(1u, pool.pooled_stacks());
}

TEST_P(StackPoolTest, ReusesFreedStacksLastInFirstOut) {
  StackPool pool(GetParam());
  ctx::stack_context a = pool.allocate();
  ctx::stack_context b = pool.allocate();
  void* const a_top = a.sp;
  void* const b_top = b.sp;
  EXPECT_NE(a_top, b_top);
  pool.deallocate(a);
  pool.deallocate(b);

  ctx::stack_context first = pool.allocate();
  ctx::stack_context second = pool.allocate();
  EXPECT_EQ(b_top, first.sp);
  EXPECT_EQ(a_top, second.sp);
  pool.deallocate(first);
  pool.deallocate(second);
}

TEST_P(StackPoolTest, SizesRoundUpToPages) {
  StackPool pool(GetParam());
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  ctx::stack_context tiny = pool.allocate(1);
  ctx::stack_context odd = pool.allocate(kMinStackSize + 1);
  ctx::stack_context big = pool.allocate(1024 * 1024);
  ctx::stack_context near_default = pool.allocate(kDefaultStackSize - 100);
  EXPECT_EQ(kMinStackSize, tiny.size);
  EXPECT_EQ(kMinStackSize + page, odd.size);
  EXPECT_EQ(1024u * 1024, big.size);
  EXPECT_EQ(kDefaultStackSize, near_default.size);
  stack_bottom(big)[0] = 1;
  stack_top(big)[-1] = 1;
  EXPECT_EQ(4u, pool.stacks_in_use());

  // Other sizes have mappings of their own, unmapped when given back.
  const std::size_t slabs = pool.mapped_slabs();
  pool.deallocate(tiny);
  pool.deallocate(odd);
  pool.deallocate(big);
  EXPECT_EQ(slabs - 3, pool.mapped_slabs());
  EXPECT_EQ(0u, pool.pooled_stacks());
  pool.deallocate(near_default);
  EXPECT_EQ(1u, pool.pooled_stacks());
}

// Beyond max_pooled, the least recently freed stacks give their pages back
// (they come back zero-filled), and slabs left with no pooled or used
// stack are unmapped.
TEST_P(StackPoolTest, PoolIsBounded) {
  const std::size_t kMaxPooled = 4;
  StackPool pool(GetParam(), kMaxPooled);
  EXPECT_EQ(1u, pool.release_batch());
  std::vector<ctx::stack_context> stacks(10);
  for (ctx::stack_context& s : stacks) {
    s = pool.allocate();
    stack_top(s)[-1] = 'x';
  }
  std::vector<void*> kept;  // the pooled ones: the last freed, most recent last
  for (std::size_t i = 0; i < stacks.size(); ++i) {
    if (i >= stacks.size() - kMaxPooled) kept.push_back(stacks[i].sp);
    pool.deallocate(stacks[i]);
  }
  EXPECT_EQ(0u, pool.stacks_in_use());
  EXPECT_EQ(kMaxPooled, pool.pooled_stacks());
  EXPECT_LE(pool.mapped_slabs(), pool.pooled_stacks());

  for (std::size_t i = 0; i < stacks.size(); ++i) {
    stacks[i] = pool.allocate();
    if (i < kMaxPooled) {
      EXPECT_EQ(kept[kMaxPooled - 1 - i], stacks[i].sp);
      EXPECT_EQ('x', stack_top(stacks[i])[-1]);
    } else {
      EXPECT_EQ('\0', stack_top(stacks[i])[-1]);
    }
  }
  for (ctx::stack_context& s : stacks) pool.deallocate(s);
}

// Up to burst_pooled stacks given back keep their pages without a syscall;
// trim() then releases the oldest beyond max_pooled, a batch per call.
TEST_P(StackPoolTest, ABurstIsPooledWholeAndTrimmedLater) {
  const std::size_t kMaxPooled = 8;
  const std::size_t kBurst = 32;
  StackPool pool(GetParam(), kMaxPooled, kBurst);
  ASSERT_EQ(2u, pool.release_batch());
  std::vector<ctx::stack_context> stacks(40);
  for (ctx::stack_context& s : stacks) {
    s = pool.allocate();
    stack_top(s)[-1] = 'x';
  }
  for (std::size_t i = 0; i < kBurst; ++i) pool.deallocate(stacks[i]);
  EXPECT_EQ(kBurst, pool.pooled_stacks());  // nothing released yet
  // Past burst_pooled, deallocate() releases a batch itself.
  for (std::size_t i = kBurst; i < stacks.size(); ++i) pool.deallocate(stacks[i]);
  EXPECT_LE(pool.pooled_stacks(), kBurst);
  EXPECT_GT(pool.pooled_stacks(), kBurst - pool.release_batch());

  std::size_t calls = 0;
  std::size_t before = pool.pooled_stacks();
  while (pool.trim()) {
    EXPECT_EQ(before - pool.release_batch(), pool.pooled_stacks());
    before = pool.pooled_stacks();
    ASSERT_LT(++calls, 100u);
  }
  EXPECT_EQ(kMaxPooled, pool.pooled_stacks());
  EXPECT_FALSE(pool.trim());
  EXPECT_EQ(kMaxPooled, pool.pooled_stacks());
  // The pooled ones are the most recently freed: their pages are intact.
  for (std::size_t i = 0; i < kMaxPooled; ++i) {
    stacks[i] = pool.allocate();
    EXPECT_EQ('x', stack_top(stacks[i])[-1]);
  }
  for (std::size_t i = 0; i < kMaxPooled; ++i) pool.deallocate(stacks[i]);
}

// The tasks' pool: a burst of tasks ending pools every stack, and the loop
// brings the pool back to kMaxPooledStacks over the next iterations.
TEST(TasksStackPool, TheLoopTrimsTheStacksOfABurstOfTasks) {
  const std::size_t n = running_on_valgrind() ? 1200 : 3000;
  weft::run([n] {
    StackPool& pool = weft::detail::tasks_stack_pool();
    weft::Event go;
    std::vector<weft::Task<void>> tasks;
    for (std::size_t i = 0; i < n; ++i) tasks.push_back(weft::create_task([&go] { go.wait(); }));
    weft::sleep(std::chrono::milliseconds(1));
    EXPECT_GE(pool.stacks_in_use(), n);
    go.set();
    weft::gather(tasks);
    // Every stack of the burst went back with its pages; at most one batch
    // has been released since.
    EXPECT_GE(pool.pooled_stacks() + kReleaseBatch, n);
    for (int i = 0; i < 1000 && pool.pooled_stacks() > kMaxPooledStacks; ++i) weft::yield();
    EXPECT_EQ(kMaxPooledStacks, pool.pooled_stacks());
  });
}

TEST(StackPoolBatches, ReleaseBatchFollowsMaxPooled) {
  EXPECT_EQ(1u, StackPool(StackGuard::kMadvise, 0).release_batch());
  EXPECT_EQ(2u, StackPool(StackGuard::kMadvise, 8).release_batch());
  EXPECT_EQ(16u, StackPool(StackGuard::kMadvise, 64).release_batch());
  EXPECT_EQ(kReleaseBatch, StackPool(StackGuard::kMadvise).release_batch());
}

// Two full slabs, A then B, freed in that order into a pool of 64 (batches
// of 16): each batch is 16 neighbours of A, given back as one range guards
// included, and the batch that releases A's last stacks unmaps A.
class SlabBatches : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!guard_install_supported()) {
      GTEST_SKIP() << "slabs of many stacks need MADV_GUARD_INSTALL (Linux 6.13+)";
    }
    stacks_.resize(2 * kStacksPerSlab);
    for (ctx::stack_context& s : stacks_) {
      s = pool_.allocate();
      stack_top(s)[-1] = 'x';
    }
    ASSERT_EQ(2u, pool_.mapped_slabs());
    ASSERT_EQ(16u, pool_.release_batch());
    // Slab A holds the first 64 stacks, in address order.
    for (unsigned i = 1; i < kStacksPerSlab; ++i) {
      ASSERT_EQ(stack_top(stacks_[0]) + i * kStride, stack_top(stacks_[i]));
    }
  }

  void TearDown() override {
    for (ctx::stack_context& s : stacks_) {
      if (s.sp != nullptr) pool_.deallocate(s);
    }
  }

  // Frees stacks_[first, last).
  void free_stacks(std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) pool_.deallocate(stacks_[i]);
  }

  static constexpr std::size_t kStride = kGuardSize + kDefaultStackSize;
  StackPool pool_{StackGuard::kMadvise, kStacksPerSlab};
  std::vector<ctx::stack_context> stacks_;
};

constexpr std::size_t SlabBatches::kStride;

TEST_F(SlabBatches, OldestAreReleasedInBatches) {
  char* const a_top = stack_top(stacks_[0]);
  free_stacks(0, kStacksPerSlab);  // all of A: pooled, pages kept
  EXPECT_EQ(kStacksPerSlab, pool_.pooled_stacks());
  EXPECT_TRUE(page_present(a_top - 1));

  free_stacks(kStacksPerSlab, kStacksPerSlab + 1);  // one more: A's first 16 go
  EXPECT_EQ(kStacksPerSlab + 1 - 16, pool_.pooled_stacks());
  for (unsigned i = 0; i < kStacksPerSlab; ++i) {
    EXPECT_EQ(i >= 16, page_present(a_top + i * kStride - 1)) << "stack " << i;
  }
  EXPECT_EQ(2u, pool_.mapped_slabs());
}

TEST_F(SlabBatches, GuardsSurviveTheBatchedRelease) {
  char* const a_top = stack_top(stacks_[0]);
  // The guard below A's stack i.
  auto guard_of = [a_top](unsigned i) {
    return a_top + i * kStride - kDefaultStackSize - kGuardSize;
  };
  free_stacks(0, kStacksPerSlab + 1);  // releases A's stacks 0 to 15 as one range
  ASSERT_FALSE(page_present(a_top + 5 * kStride - 1));
  GuardHit hit;
  for (unsigned i = 1; i < 16; ++i) {
    ASSERT_TRUE(find_guard(guard_of(i), hit));
    EXPECT_EQ(a_top + i * kStride, hit.stack_hi);
  }
  // The kernel's own word, where it reports guards in pagemap (Linux 6.15+):
  // every page of every guard inside the released range is still a guard.
  if (!page_is_guard(guard_of(20))) {
    GTEST_SKIP() << "this kernel does not report guard regions in /proc/self/pagemap";
  }
  for (unsigned i = 1; i < 16; ++i) {
    for (std::size_t offset = 0; offset < kGuardSize; offset += 4096) {
      EXPECT_TRUE(page_is_guard(guard_of(i) + offset)) << "stack " << i << " +" << offset;
    }
  }
  // Released stacks are zero-filled and usable again.
  EXPECT_EQ('\0', (a_top + 5 * kStride)[-1]);
}

TEST_F(SlabBatches, SlabIsUnmappedOnceAllItsStacksAreReleased) {
  const char* const a_guard = stack_bottom(stacks_[0]) - 1;
  const char* const b_top = stack_top(stacks_[kStacksPerSlab]);
  GuardHit hit;
  ASSERT_TRUE(find_guard(a_guard, hit));
  free_stacks(0, kStacksPerSlab + 3 * 16);  // three batches: A's 48 first
  EXPECT_EQ(2u, pool_.mapped_slabs());
  free_stacks(kStacksPerSlab + 3 * 16, kStacksPerSlab + 3 * 16 + 1);  // A's last 16
  EXPECT_EQ(1u, pool_.mapped_slabs());
  EXPECT_FALSE(find_guard(a_guard, hit));
  // B's stacks are pooled, with their pages.
  EXPECT_EQ(kStacksPerSlab - 16 + 1, pool_.pooled_stacks());
  EXPECT_TRUE(page_present(b_top - 1));
}

// A stack handed out without pages gets its top page at once, and so do
// the next kCommitAhead - 1 stacks of its slab; nothing below the top page.
TEST(StackPoolCommit, TopPagesAreCommittedAhead) {
  if (!guard_install_supported()) {
    GTEST_SKIP() << "slabs of many stacks need MADV_GUARD_INSTALL (Linux 6.13+)";
  }
  const std::size_t stride = kGuardSize + kDefaultStackSize;
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  StackPool pool(StackGuard::kMadvise);
  std::vector<ctx::stack_context> stacks(kCommitAhead + 1);
  stacks[0] = pool.allocate();
  char* const top = stack_top(stacks[0]);
  if (!page_present(top - 1)) {
    pool.deallocate(stacks[0]);
    GTEST_SKIP() << "this kernel lacks MADV_POPULATE_WRITE (Linux 5.14+)";
  }
  for (std::size_t i = 0; i < kStacksPerSlab; ++i) {
    EXPECT_EQ(i < kCommitAhead, page_present(top + i * stride - 1)) << "stack " << i;
    EXPECT_FALSE(page_present(top + i * stride - page - 1)) << "stack " << i;
  }
  for (std::size_t i = 1; i < stacks.size(); ++i) {
    stacks[i] = pool.allocate();
    EXPECT_EQ(top + i * stride, stack_top(stacks[i]));
  }
  // The stack after the committed ones started the next batch.
  EXPECT_TRUE(page_present(top + (2 * kCommitAhead - 1) * stride - 1));
  EXPECT_FALSE(page_present(top + 2 * kCommitAhead * stride - 1));
  for (ctx::stack_context& s : stacks) pool.deallocate(s);
}

TEST_P(StackPoolTest, GivingBackAStackNotInUseAborts) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  const StackGuard guard = GetParam();
  EXPECT_DEATH(
      {
        StackPool pool(guard);
        ctx::stack_context stack = pool.allocate();
        ctx::stack_context copy = stack;
        pool.deallocate(stack);
        pool.deallocate(copy);
      },
      "weft: fatal: 0x[0-9a-f]+ is not the top of a stack in use");
}

// A fiber that leaves by switching away leaves its frames' redzones
// poisoned; the next fiber on that stack must not trip over them, whether
// the stack was pooled or its slab unmapped and mapped again.
TEST_P(StackPoolTest, ReusedStacksAreUnpoisoned) {
#if WEFT_ASAN
  for (std::size_t max_pooled : {kMaxPooledStacks, std::size_t{0}}) {
    StackPool pool(GetParam(), max_pooled);
    ctx::stack_context stack = pool.allocate();
    __asan_poison_memory_region(stack_bottom(stack) + 4096, 64);
    __asan_poison_memory_region(stack_top(stack) - 256, 64);
    pool.deallocate(stack);
    stack = pool.allocate();
    EXPECT_EQ(nullptr, __asan_region_is_poisoned(stack_bottom(stack), stack.size));
    pool.deallocate(stack);
  }
#else
  GTEST_SKIP() << "only AddressSanitizer builds track poisoned memory";
#endif
}

// MADV_GUARD_INSTALL leaves a slab one mapping; PROT_NONE guards split it.
TEST_P(StackPoolTest, MappingsPerStack) {
  StackPool pool(GetParam());
  std::vector<ctx::stack_context> stacks(kStacksPerSlab);
  const long before = mapping_count();
  for (ctx::stack_context& s : stacks) s = pool.allocate();
  const long added = mapping_count() - before;
  if (pool.guard() == StackGuard::kMadvise) {
    EXPECT_LE(added, 4);  // one slab, and slack for the allocator's own
  } else {
    EXPECT_GE(added, 2 * static_cast<long>(kStacksPerSlab) - 2);
  }
  for (ctx::stack_context& s : stacks) pool.deallocate(s);
}

// ---------------------------------------------------------------------------
// The guard registry.

TEST_P(StackPoolTest, GuardsAreRegistered) {
  GuardHit hit;
  const void* lo;
  {
    StackPool pool(GetParam());
    ctx::stack_context stack = pool.allocate(kDefaultStackSize, "guard-probe");
    ctx::stack_context other = pool.allocate(64 * 1024, "other-size");
    lo = stack_bottom(stack);

    ASSERT_TRUE(find_guard(stack_bottom(stack) - 1, hit));
    EXPECT_STREQ("guard-probe", hit.owner_name);
    EXPECT_EQ(stack_bottom(stack), hit.stack_lo);
    EXPECT_EQ(stack_top(stack), hit.stack_hi);
    ASSERT_TRUE(find_guard(stack_bottom(stack) - kGuardSize, hit));
    EXPECT_EQ(stack_bottom(stack), hit.stack_lo);
    EXPECT_FALSE(find_guard(stack_bottom(stack) - kGuardSize - 1, hit));
    EXPECT_FALSE(find_guard(stack_bottom(stack), hit));
    EXPECT_FALSE(find_guard(stack_top(stack) - 1, hit));

    ASSERT_TRUE(find_guard(stack_bottom(other) - 1, hit));
    EXPECT_STREQ("other-size", hit.owner_name);
    EXPECT_EQ(stack_top(other), hit.stack_hi);

    pool.set_owner_name(stack, "renamed");
    ASSERT_TRUE(find_guard(stack_bottom(stack) - 1, hit));
    EXPECT_STREQ("renamed", hit.owner_name);

    // A pooled stack keeps its guard, without an owner.
    pool.deallocate(stack);
    ASSERT_TRUE(find_guard(static_cast<const char*>(lo) - 1, hit));
    EXPECT_EQ(nullptr, hit.owner_name);
    pool.deallocate(other);
  }
  EXPECT_FALSE(find_guard(static_cast<const char*>(lo) - 1, hit));
}

TEST(GuardRegistry, FindsTheGuardsOfEveryThreadsPools) {
  ctx::stack_context stack;
  bool allocated = false;
  bool done = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::thread owner([&] {
    StackPool pool;
    std::unique_lock<std::mutex> lock(mutex);
    stack = pool.allocate(kDefaultStackSize, "other-thread");
    allocated = true;
    changed.notify_all();
    changed.wait(lock, [&] { return done; });
    pool.deallocate(stack);
  });
  {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return allocated; });
    GuardHit hit;
    EXPECT_TRUE(find_guard(stack_bottom(stack) - 1, hit));
    EXPECT_STREQ("other-thread", hit.owner_name);
    done = true;
    changed.notify_all();
  }
  owner.join();
}

// ---------------------------------------------------------------------------
// Messages.

TEST(StackOverflowMessage, NamesTaskStackAndFault) {
  const GuardHit hit = {"fetch https://example.com/",
                        reinterpret_cast<const void*>(std::uintptr_t{0x7f0000010000}),
                        reinterpret_cast<const void*>(std::uintptr_t{0x7f0000050000})};
  const void* fault = reinterpret_cast<const void*>(std::uintptr_t{0x7f000000fff8});
  char out[256];
  const std::size_t n = format_stack_overflow(out, sizeof out, hit, fault);
  EXPECT_EQ(
      "weft: stack overflow in task 'fetch https://example.com/' "
      "(stack 0x7f0000010000-0x7f0000050000, fault at 0x7f000000fff8)\n",
      std::string(out, n));
}

TEST(StackOverflowMessage, UnnamedLongAndTruncated) {
  GuardHit hit = {nullptr, reinterpret_cast<const void*>(std::uintptr_t{0x1000}),
                  reinterpret_cast<const void*>(std::uintptr_t{0x2000})};
  char out[512];
  std::size_t n = format_stack_overflow(out, sizeof out, hit, nullptr);
  EXPECT_EQ("weft: stack overflow in an unnamed task (stack 0x1000-0x2000, fault at 0x0)\n",
            std::string(out, n));

  const std::string long_name(300, 'n');
  hit.owner_name = long_name.c_str();
  n = format_stack_overflow(out, sizeof out, hit, nullptr);
  EXPECT_NE(std::string::npos, std::string(out, n).find("'" + std::string(128, 'n') + "...'"));

  char small[16];
  n = format_stack_overflow(small, sizeof small, hit, nullptr);
  EXPECT_EQ(sizeof small, n);
  EXPECT_EQ('\n', small[n - 1]);
}

TEST(MapFailureMessage, EnomemNamesMaxMapCount) {
  const std::string fallback = stack_map_failure_message(
      "mprotect(PROT_NONE)", ENOMEM, StackGuard::kMprotect, 32744, 65530, 65530);
  EXPECT_NE(std::string::npos, fallback.find("mprotect(PROT_NONE) failed with ENOMEM"));
  EXPECT_NE(std::string::npos, fallback.find("32744 stacks are in use"));
  EXPECT_NE(std::string::npos, fallback.find("65530 memory mappings"));
  EXPECT_NE(std::string::npos, fallback.find("vm.max_map_count is 65530"));
  EXPECT_NE(std::string::npos, fallback.find("two mappings"));
  EXPECT_NE(std::string::npos, fallback.find("sysctl -w vm.max_map_count="));

  const std::string guarded = stack_map_failure_message(
      "mmap", ENOMEM, StackGuard::kMadvise, 100000, -1, 65530);
  EXPECT_NE(std::string::npos, guarded.find("unknown memory mappings"));
  EXPECT_NE(std::string::npos, guarded.find("vm.max_map_count is 65530"));
  EXPECT_NE(std::string::npos, guarded.find("RLIMIT_AS"));

  EXPECT_EQ("weft: cannot map a fiber stack: mmap failed (errno 22)",
            stack_map_failure_message("mmap", EINVAL, StackGuard::kMadvise, 1, -1, -1));
}

// The limit itself, in a child: exhausting the mappings would starve
// everything else in this process.
TEST(MapFailure, MprotectFallbackRunsOutWithAClearError) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  const long max_map_count = [] {
    std::ifstream in("/proc/sys/vm/max_map_count");
    long value = -1;
    in >> value;
    return value;
  }();
  if (max_map_count < 0 || max_map_count > 262144) {
    GTEST_SKIP() << "vm.max_map_count is " << max_map_count
                 << "; exhausting it would take too long";
  }
  EXPECT_EXIT(
      {
        StackPool pool(StackGuard::kMprotect, 0);
        std::vector<ctx::stack_context> stacks;
        stacks.reserve(static_cast<std::size_t>(max_map_count) / 2 + 1000);
        try {
          for (;;) stacks.push_back(pool.allocate());
        } catch (const std::system_error& e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::_Exit(e.code().value() == ENOMEM && stacks.size() > 1000 ? 0 : 1);
        }
      },
      ::testing::ExitedWithCode(0),
      "failed with ENOMEM while [0-9]+ stacks are in use.*vm.max_map_count is [0-9]+");
}

// ---------------------------------------------------------------------------
// Fibers on pool stacks.

TEST_P(StackPoolTest, FiberSwitchesInAndOut) {
  StackPool pool(GetParam());
  const ctx::stack_context stack = pool.allocate(kDefaultStackSize, "switcher");
  int steps = 0;
  const void* frame = nullptr;
  ctx::fiber f = make_fiber(pool, stack, [&](ctx::fiber&& caller) {
    Resumer resumer = enter_fiber();
    // The frame, not a local's address: ASan may keep locals on a fake stack.
    frame = __builtin_frame_address(0);
    for (int i = 0; i < 3; ++i) {
      ++steps;
      caller = suspend(std::move(caller), resumer);
    }
    leave_fiber(resumer);
    return std::move(caller);
  });
  for (int i = 1; i <= 3; ++i) {
    f = resume(std::move(f), stack);
    ASSERT_TRUE(static_cast<bool>(f));
    EXPECT_EQ(i, steps);
    EXPECT_EQ(1u, pool.stacks_in_use());
  }
  EXPECT_GE(frame, static_cast<const void*>(stack_bottom(stack)));
  EXPECT_LT(frame, static_cast<const void*>(stack_top(stack)));
  f = resume(std::move(f), stack);
  EXPECT_FALSE(static_cast<bool>(f));
  EXPECT_EQ(0u, pool.stacks_in_use());
  EXPECT_EQ(1u, pool.pooled_stacks());
}

// Boost.Context's allocator_arg form, many fibers in turn and many at once:
// stacks are reused and the pool stays within its bound.
TEST_P(StackPoolTest, ManyFibersReuseStacks) {
  const std::size_t kMaxPooled = 8;
  StackPool pool(GetParam(), kMaxPooled);
  const int in_turn = running_on_valgrind() ? 200 : 5000;
  int ran = 0;
  for (int i = 0; i < in_turn; ++i) {
    ctx::stack_context stack;
    ctx::fiber f(std::allocator_arg,
                 RecordingAllocator(StackAllocator(pool, kDefaultStackSize, "in-turn"), &stack),
                 [&](ctx::fiber&& caller) {
                   const Resumer resumer = enter_fiber();
                   ++ran;
                   leave_fiber(resumer);
                   return std::move(caller);
                 });
    f = resume(std::move(f), stack);
    EXPECT_FALSE(static_cast<bool>(f));
  }
  EXPECT_EQ(in_turn, ran);
  EXPECT_EQ(0u, pool.stacks_in_use());
  EXPECT_EQ(1u, pool.pooled_stacks());
  EXPECT_EQ(1u, pool.mapped_slabs());

  const std::size_t at_once = 100;
  std::vector<ctx::stack_context> stacks(at_once);
  std::vector<ctx::fiber> fibers;
  for (std::size_t i = 0; i < at_once; ++i) {
    fibers.emplace_back(std::allocator_arg,
                        RecordingAllocator(StackAllocator(pool, kDefaultStackSize, "at-once"),
                                           &stacks[i]),
                        [&](ctx::fiber&& caller) {
                          Resumer resumer = enter_fiber();
                          caller = suspend(std::move(caller), resumer);
                          ++ran;
                          leave_fiber(resumer);
                          return std::move(caller);
                        });
    fibers[i] = resume(std::move(fibers[i]), stacks[i]);
  }
  EXPECT_EQ(at_once, pool.stacks_in_use());
  for (std::size_t i = 0; i < at_once; ++i) {
    fibers[i] = resume(std::move(fibers[i]), stacks[i]);
    EXPECT_FALSE(static_cast<bool>(fibers[i]));
  }
  EXPECT_EQ(0u, pool.stacks_in_use());
  EXPECT_LE(pool.pooled_stacks(), kMaxPooled);
  EXPECT_GT(pool.pooled_stacks(), kMaxPooled - pool.release_batch());
  EXPECT_LE(pool.mapped_slabs(), pool.pooled_stacks());
}

// 100,000 parked tasks: a page each, and far fewer mappings than
// vm.max_map_count's default of 65,530.
TEST(ManyStacks, HundredThousandLiveStacks) {
  if (!guard_install_supported()) {
    GTEST_SKIP() << "this kernel lacks MADV_GUARD_INSTALL (Linux 6.13+); with "
                    "PROT_NONE guards 100,000 stacks exceed vm.max_map_count";
  }
  const std::size_t n = running_on_valgrind() ? 2000 : 100000;
  StackPool pool(StackGuard::kMadvise);
  std::vector<ctx::stack_context> stacks(n);
  const long mappings_before = mapping_count();
  const long resident_before = resident_bytes();
  for (ctx::stack_context& s : stacks) {
    s = pool.allocate();
    stack_top(s)[-64] = 1;  // a frame's worth: one page near the top
  }
  const long mappings = mapping_count();
  const long resident_per_stack = (resident_bytes() - resident_before) / static_cast<long>(n);
  EXPECT_LE(mappings - mappings_before, static_cast<long>(n / kStacksPerSlab + 2));
  EXPECT_LT(mappings, 10000);
  EXPECT_LT(resident_per_stack, 8 * 1024);

  // Freed in order, so the batches released are whole slabs, unmapped.
  for (ctx::stack_context& s : stacks) pool.deallocate(s);
  EXPECT_EQ(0u, pool.stacks_in_use());
  EXPECT_LE(pool.pooled_stacks(), kMaxPooledStacks);
  EXPECT_GT(pool.pooled_stacks(), kMaxPooledStacks - kReleaseBatch);
  EXPECT_LE(pool.mapped_slabs(), pool.pooled_stacks() / kStacksPerSlab + 2);
}

// ---------------------------------------------------------------------------
// The overflow handler. Each death test's child installs it.

TEST(AltSignalStack, OnePerThread) {
  std::thread([] {
    stack_t before;
    ASSERT_EQ(0, sigaltstack(nullptr, &before));
    ensure_alt_signal_stack();
    stack_t after;
    ASSERT_EQ(0, sigaltstack(nullptr, &after));
    EXPECT_FALSE(after.ss_flags & SS_DISABLE);
    if (before.ss_flags & SS_DISABLE) {
      EXPECT_GE(after.ss_size, 64u * 1024);
    } else {  // someone else's (ASan's), kept
      EXPECT_EQ(before.ss_sp, after.ss_sp);
    }
    ensure_alt_signal_stack();
    stack_t again;
    ASSERT_EQ(0, sigaltstack(nullptr, &again));
    EXPECT_EQ(after.ss_sp, again.ss_sp);
  }).join();
}

TEST(StackOverflowHandler, InstallsOnceOnTheAltStack) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  EXPECT_EXIT(
      {
        const bool first = install_stack_overflow_handler();
        const bool second = install_stack_overflow_handler();
        struct sigaction segv;
        struct sigaction bus;
        sigaction(SIGSEGV, nullptr, &segv);
        sigaction(SIGBUS, nullptr, &bus);
        const int wanted = SA_SIGINFO | SA_ONSTACK;
        const bool ok = first && second && (segv.sa_flags & wanted) == wanted &&
                        (bus.sa_flags & wanted) == wanted &&
                        segv.sa_sigaction == bus.sa_sigaction;
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(StackOverflowHandler, TurnedOffByEnvironment) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  EXPECT_EXIT(
      {
        setenv("WEFT_STACK_OVERFLOW_HANDLER", "0", 1);
        struct sigaction before;
        sigaction(SIGSEGV, nullptr, &before);
        const bool installed = install_stack_overflow_handler();
        struct sigaction after;
        sigaction(SIGSEGV, nullptr, &after);
        std::_Exit(!installed && after.sa_handler == before.sa_handler ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_P(StackPoolTest, TouchingTheGuardReportsTheOwner) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  const StackGuard guard = GetParam();
  EXPECT_EXIT(
      {
        prepare_to_fault();
        StackPool pool(guard);
        const ctx::stack_context stack = pool.allocate(kDefaultStackSize, "guard-probe");
        volatile char* lowest = stack_bottom(stack);
        lowest[0] = 1;   // the lowest usable byte
        lowest[-1] = 1;  // the guard
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV),
      "weft: stack overflow in task 'guard-probe' "
      "\\(stack 0x[0-9a-f]+-0x[0-9a-f]+, fault at 0x[0-9a-f]+\\)");
}

// A guard between two stacks given back together as one range still
// faults, and is still reported.
TEST(StackOverflowHandler, GuardInsideAReleasedRangeStillReports) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  if (!guard_install_supported()) {
    GTEST_SKIP() << "slabs of many stacks need MADV_GUARD_INSTALL (Linux 6.13+)";
  }
  EXPECT_EXIT(
      {
        prepare_to_fault();
        StackPool pool(StackGuard::kMadvise, 8);  // releases 2 at a time
        std::vector<ctx::stack_context> stacks(12);
        for (ctx::stack_context& s : stacks) s = pool.allocate();
        volatile char* guard = stack_bottom(stacks[1]) - 1;  // between stacks 0 and 1
        for (ctx::stack_context& s : stacks) pool.deallocate(s);
        *guard = 1;
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV),
      "weft: stack overflow in an unnamed task \\(stack ");
}

volatile bool g_stop_recursion = false;

// Recurses until the stack runs out: a frame of at least 512 bytes each,
// written so that no frame is optimised away.
int recurse(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (g_stop_recursion) return depth;
  return recurse(depth + 1) + frame[0];
}

TEST_P(StackPoolTest, OverflowInAFiberNamesItsTask) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  const StackGuard guard = GetParam();
  EXPECT_EXIT(
      {
        prepare_to_fault();
        StackPool pool(guard);
        const ctx::stack_context stack = pool.allocate(kDefaultStackSize, "deep-recursion");
        ctx::fiber f = make_fiber(pool, stack, [](ctx::fiber&& caller) {
          const Resumer resumer = enter_fiber();
          std::printf("%d\n", recurse(0));
          leave_fiber(resumer);
          return std::move(caller);
        });
        f = resume(std::move(f), stack);
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV),
      "weft: stack overflow in task 'deep-recursion' \\(stack ");
}

// The handler that was there before weft's, and the fault it expects (an
// atomic, so that the store is not moved past the faulting write).
std::atomic<void*> g_expected_fault{nullptr};

void earlier_handler(int, siginfo_t* info, void*) {
  static const char kSaw[] = "earlier handler saw the fault\n";
  static const char kOther[] = "earlier handler saw another fault\n";
  if (info->si_addr == g_expected_fault) {
    (void)!write(STDERR_FILENO, kSaw, sizeof kSaw - 1);
    _exit(42);
  }
  (void)!write(STDERR_FILENO, kOther, sizeof kOther - 1);
  _exit(43);
}

void install_earlier_handler() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = earlier_handler;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, nullptr);
}

TEST(StackOverflowHandler, ChainsOtherFaultsToTheEarlierHandler) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  EXPECT_EXIT(
      {
        install_earlier_handler();
        prepare_to_fault();
        const long page = sysconf(_SC_PAGESIZE);
        void* inaccessible = mmap(nullptr, static_cast<std::size_t>(page), PROT_NONE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        g_expected_fault = inaccessible;
        *static_cast<volatile char*>(inaccessible) = 1;
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(42), "earlier handler saw the fault");
}

// After the report, the earlier handler gets the recurring fault.
TEST(StackOverflowHandler, GuardHitGoesOnToTheEarlierHandler) {
  WEFT_SKIP_UNLESS_DEATH_TESTS_RUN();
  EXPECT_EXIT(
      {
        install_earlier_handler();
        prepare_to_fault();
        StackPool pool;
        const ctx::stack_context stack = pool.allocate(kDefaultStackSize, "guard-probe");
        char* guard = stack_bottom(stack) - 1;
        g_expected_fault = guard;
        *static_cast<volatile char*>(guard) = 1;
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(42),
      "stack overflow in task 'guard-probe'(.|\n)*earlier handler saw the fault");
}

}  // namespace
}  // namespace detail
}  // namespace weft

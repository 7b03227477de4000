// fiber/stack_internal.hpp — internal header of fiber/ (not installed).
//
// What the three parts of fiber stacks share: the pool (fiber/stack.cpp),
// the kernel calls that map, guard, fill and empty stack memory
// (fiber/stack_memory.cpp), and the guard registry that the stack-overflow
// handler reads (fiber/stack_overflow.cpp). fiber/stack.hpp holds the
// contracts the rest of fiber/ sees.
#pragma once

#include <atomic>
#include <cstddef>

#include "fiber/stack.hpp"

namespace weft {
namespace detail {

// ---------------------------------------------------------------------------
// Memory (fiber/stack_memory.cpp).

std::size_t page_size();
std::size_t round_up_to_page(std::size_t n);

// For failures that leave a pool's state unknown (an munmap or madvise that
// fails leaves nothing we can trust): names the call and aborts.
[[noreturn]] void fatal(const char* what, int error);

// One address range of a batched madvise.
struct MemoryRange {
  char* address;
  std::size_t length;
};

// Applies madvise(`advice`) to every range. Where the kernel allows it
// (Linux 6.13+ for any advice, PIDFD_SELF since 6.15) and there are at most
// kStacksPerSlab ranges, this is one process_madvise() call instead of one
// madvise() each: a syscall costs more than the work of a small range, so
// batching is what makes giving back many stacks cheap. Falls back to one
// madvise() per range elsewhere, and under Valgrind (which does not know
// process_madvise). Returns 0 or the errno of the first range that failed
// (EINTR is retried); ranges before it have been advised, ranges after it
// may have been.
int advise_ranges(const MemoryRange* ranges, std::size_t count, int advice);

// Maps `count` stacks (at most kStacksPerSlab) of `stride` bytes each, a
// kGuardSize guard at the bottom of each (one batched call for all the
// guards), with huge pages off. Returns the mapping, or nullptr with the
// failing call's name and its errno in `failed_call` and `error` (nothing
// is left mapped).
char* map_guarded(std::size_t stride, unsigned count, StackGuard guard,
                  const char** failed_call, int* error);

// Commits the pages of every range now (MADV_POPULATE_WRITE, Linux 5.14+),
// as first writes would, in one batched call (advise_ranges()). Returns
// whether it did; on a kernel without the advice, or when memory is short,
// it may do nothing, and first writes commit the pages as usual.
bool populate(const MemoryRange* ranges, std::size_t count);

// The first number in `path`, or -1.
long read_long(const char* path);
// The number of lines of `path`, or -1.
long count_lines(const char* path);

// ---------------------------------------------------------------------------
// The guard registry (fiber/stack_overflow.cpp).

struct GuardRecord;

// Lists the guards of a mapping of `count` stacks of `stride` bytes at
// `base` (the guard at the bottom of each, as map_guarded() lays them out),
// for find_guard(). `owners` is an array of `count` owner names that must
// stay valid until retire_guards(). Thread-safe; throws std::bad_alloc.
GuardRecord* publish_guards(char* base, std::size_t stride, unsigned count,
                            const std::atomic<const char*>* owners);

// Takes the guards out of the registry, before their mapping goes away.
// Thread-safe.
void retire_guards(GuardRecord* record) noexcept;

}  // namespace detail
}  // namespace weft

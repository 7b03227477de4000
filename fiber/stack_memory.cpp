// fiber/stack_memory.cpp — the kernel calls behind fiber stacks: mapping a
// slab of guarded stacks, committing and giving back their pages in
// batches, the guard modes, and the error that names vm.max_map_count.
// See fiber/stack.hpp for the layout, fiber/stack_internal.hpp for the
// contracts.
#include <errno.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "fiber/sanitizer.hpp"
#include "fiber/stack_internal.hpp"

// Linux 6.13's madvise() advice that turns a range into guard pages without
// changing the mapping; glibc 2.36's headers predate it.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

// Linux 5.14's advice that commits pages as writes would.
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace weft {
namespace detail {

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_up_to_page(std::size_t n) {
  const std::size_t page = page_size();  // a power of two
  return (n + page - 1) & ~(page - 1);
}

void fatal(const char* what, int error) {
  std::fprintf(stderr, "weft: fatal: %s: %s\n", what, std::strerror(error));
  std::abort();
}

namespace {

// Linux 6.15's PIDFD_SELF_PROCESS: "the calling process", without opening
// a pidfd (which would hold a file descriptor for the life of the process).
constexpr int kPidfdSelfProcess = -10001;

// Cleared for good once the kernel shows it cannot take process_madvise()
// on the calling process (before Linux 6.15, or under a seccomp filter).
std::atomic<bool> g_batched_advice{true};

int advise_one(char* address, std::size_t length, int advice) {
  for (;;) {
    if (madvise(address, length, advice) == 0) return 0;
    const int error = errno;
    if (error != EINTR) return error;
  }
}

int protect_none(char* address, std::size_t length) {
  for (;;) {
    if (mprotect(address, length, PROT_NONE) == 0) return 0;
    const int error = errno;
    if (error != EINTR) return error;
  }
}

// One process_madvise() call for every range; false if it did not advise
// them all (the caller then goes range by range: the advice weft gives is
// idempotent, so ranges advised twice are harmless).
bool advise_batched(const MemoryRange* ranges, std::size_t count, int advice) {
  // Every batch weft makes is at most a slab's 64 stacks, within IOV_MAX.
  if (count > kStacksPerSlab || !g_batched_advice.load(std::memory_order_relaxed) ||
      running_on_valgrind()) {
    return false;
  }
  iovec vectors[kStacksPerSlab];
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    vectors[i].iov_base = ranges[i].address;
    vectors[i].iov_len = ranges[i].length;
    total += ranges[i].length;
  }
  const ssize_t done = process_madvise(kPidfdSelfProcess, vectors, count, advice, 0);
  const int error = errno;
  if (done >= 0) return static_cast<std::size_t>(done) == total;
  if (error == EBADF || error == ENOSYS || error == EPERM || error == ESRCH) {
    g_batched_advice.store(false, std::memory_order_relaxed);
  }
  return false;
}

}  // namespace

int advise_ranges(const MemoryRange* ranges, std::size_t count, int advice) {
  if (count == 0 || (count > 1 && advise_batched(ranges, count, advice))) return 0;
  for (std::size_t i = 0; i < count; ++i) {
    const int error = advise_one(ranges[i].address, ranges[i].length, advice);
    if (error != 0) return error;
  }
  return 0;
}

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
  int rc = 0;
  if (guard == StackGuard::kMadvise) {
    MemoryRange guards[kStacksPerSlab];
    rc = count <= kStacksPerSlab ? 0 : EINVAL;  // the pool never asks for more
    for (unsigned i = 0; rc == 0 && i < count; ++i) {
      guards[i] = MemoryRange{base + i * stride, kGuardSize};
    }
    if (rc == 0) rc = advise_ranges(guards, count, MADV_GUARD_INSTALL);
  } else {
    for (unsigned i = 0; i < count && rc == 0; ++i) {
      rc = protect_none(base + i * stride, kGuardSize);
    }
  }
  if (rc != 0) {
    munmap(mapping, length);
    *error = rc;
    *failed_call = guard == StackGuard::kMadvise ? "madvise(MADV_GUARD_INSTALL)"
                                                 : "mprotect(PROT_NONE)";
    return nullptr;
  }
  return base;
}

bool populate(const MemoryRange* ranges, std::size_t count) {
  static std::atomic<bool> supported{true};
  if (!supported.load(std::memory_order_relaxed)) return false;
  const int error = advise_ranges(ranges, count, MADV_POPULATE_WRITE);
  if (error == EINVAL) supported.store(false, std::memory_order_relaxed);
  return error == 0;
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
// The error on a failed mapping.

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

}  // namespace detail
}  // namespace weft

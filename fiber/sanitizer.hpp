// fiber/sanitizer.hpp — internal header of fiber/ (not installed).
//
// The few places where fibers must tell a dynamic checker what they do.
// AddressSanitizer and Valgrind both assume one stack per thread; a fiber
// library moves a thread between many stacks, so each checker must be told:
//
//   - AddressSanitizer: every switch, as a pair of calls. The side that is
//     about to switch calls start_switch() with the bounds of the stack it
//     jumps to; the code that then runs on that stack calls finish_switch()
//     first thing. Without them ASan mistakes the fiber's frames for a wild
//     stack and reports false positives (or misses real errors) once
//     exceptions or stack-use-after-return are involved. A stack that is
//     reused carries the poisoned redzones of frames that never returned
//     (a fiber leaves by switching away, not by returning), so the pool
//     unpoisons it before handing it out again (fiber/stack.cpp).
//   - Valgrind: a stack is registered while a fiber owns it, so that
//     memcheck does not take a switch for a huge stack-pointer jump.
//
// Every helper compiles to nothing when its checker is absent.
#pragma once

#include <cstddef>

// AddressSanitizer: GCC defines __SANITIZE_ADDRESS__, Clang answers
// __has_feature (which GCC 12 lacks, hence the nested test).
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#ifndef WEFT_ASAN
#define WEFT_ASAN 0
#endif

#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

// The build defines WEFT_HAVE_VALGRIND when <valgrind/valgrind.h> exists. Its
// client requests are a few no-op instructions outside Valgrind, so they stay
// in release builds.
#if defined(WEFT_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#endif

namespace weft {
namespace detail {

constexpr bool kAddressSanitizer = WEFT_ASAN != 0;

// Announces a switch to the stack [bottom, bottom + size). Call it on the
// stack being left, immediately before the switch. `fake_stack_save`
// receives this stack's ASan fake stack, to hand back to finish_switch()
// when control returns here; pass nullptr when leaving a fiber for the last
// time, so that ASan frees the fake stack.
inline void start_switch(void** fake_stack_save, const void* bottom,
                         std::size_t size) {
#if WEFT_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save;
  (void)bottom;
  (void)size;
#endif
}

// Completes a switch. Call it first thing on the stack just switched to,
// with the fake stack that start_switch() saved when this stack was last
// left (nullptr on a fiber's first entry). `bottom_old` and `size_old`, if
// not null, receive the bounds of the stack that was left: a fiber learns
// its resumer's stack this way, to name it in its own start_switch().
inline void finish_switch(void* fake_stack_save, const void** bottom_old,
                          std::size_t* size_old) {
#if WEFT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
  (void)fake_stack_save;
  (void)bottom_old;
  (void)size_old;
#endif
}

// Marks [address, address + size) addressable for ASan again.
inline void unpoison(const void* address, std::size_t size) {
#if WEFT_ASAN
  __asan_unpoison_memory_region(address, size);
#else
  (void)address;
  (void)size;
#endif
}

// Valgrind's macros are C and cast C-style; keep that out of our warnings.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#endif

inline bool running_on_valgrind() {
#if defined(WEFT_HAVE_VALGRIND)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

// Registers [lo, hi) as a stack; returns the id for
// valgrind_deregister_stack() (0 outside Valgrind).
inline unsigned valgrind_register_stack(const void* lo, const void* hi) {
#if defined(WEFT_HAVE_VALGRIND)
  // Valgrind takes the lowest and the highest addressable byte.
  return VALGRIND_STACK_REGISTER(lo, static_cast<const char*>(hi) - 1);
#else
  (void)lo;
  (void)hi;
  return 0;
#endif
}

inline void valgrind_deregister_stack(unsigned id) {
#if defined(WEFT_HAVE_VALGRIND)
  VALGRIND_STACK_DEREGISTER(id);
#else
  (void)id;
#endif
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail
}  // namespace weft

// fiber/debug_info.cpp — the offsets table and the loop list that
// tools/weft-gdb.py reads (see fiber/debug_info.hpp).
//
// Both symbols must survive every link: the table is `used` and constant
// (in .rodata, readable even in a core file of a process that died early),
// and LoopContext's constructor calls add_loop() below, so any program that
// makes a task pulls this object out of the static weft_core. libweft.map
// exports them, so that a stripped libweft.so still has them in .dynsym.
#include "fiber/debug_info.hpp"

#include <cstddef>
#include <mutex>
#include <string>

#include "fiber/loop_context.hpp"
#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/waiting.hpp"

namespace weft {
namespace detail {

// offsetof on TaskCore and LoopContext, which are not standard-layout (they
// have virtual functions): the standard leaves that conditionally-supported,
// and GCC and Clang warn. Both compute it exactly for a class without
// virtual bases, which is all we need, and it keeps the table a constant.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
constexpr WeftDebugOffsets DebugInfo::offsets() noexcept {
  return WeftDebugOffsets{
      {'w', 'e', 'f', 't', 'd', 'b', 'g', '\0'},
      kWeftDebugVersion,
      sizeof(WeftDebugOffsets),
      {offsetof(LoopContext, debug_next_), offsetof(LoopContext, loop_), offsetof(LoopContext, live_head_)},
      {offsetof(TaskCore, next_live), offsetof(TaskCore, name_), offsetof(TaskCore, phase_),
       offsetof(TaskCore, wait_site_), offsetof(TaskCore, created_ns_), offsetof(TaskCore, context_)},
      {offsetof(WaitSite, kind), offsetof(WaitSite, what), offsetof(WaitSite, object), offsetof(WaitSite, value)},
      {sizeof(ChildWaiter), offsetof(ChildWaiter, core)},
#if defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
      // libstdc++'s std::string: its data pointer, then its length, then
      // the small-string buffer (bits/basic_string.h).
      {sizeof(std::string), 0, sizeof(void*)},
#else
      {0, 0, 0},
#endif
  };
}
#pragma GCC diagnostic pop

#if defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
static_assert(sizeof(std::string) == 4 * sizeof(void*), "libstdc++'s std::string is no longer pointer, length, buffer");
#endif

// The script names the values of these enums: a change must bump
// kWeftDebugVersion (and teach tools/weft-gdb.py the new values).
static_assert(static_cast<int>(TaskCore::Phase::kNotStarted) == 0 && static_cast<int>(TaskCore::Phase::kDone) == 4,
              "TaskCore::Phase changed: update weft_debug_offsets' version and tools/weft-gdb.py");
static_assert(static_cast<int>(WaitSite::Kind::kNone) == 0 && static_cast<int>(WaitSite::Kind::kThread) == 6,
              "WaitSite::Kind changed: update weft_debug_offsets' version and tools/weft-gdb.py");
static_assert(sizeof(TaskCore::Phase) == 1 && sizeof(WaitSite::Kind) == 1, "the script reads these as bytes");

}  // namespace detail
}  // namespace weft

extern "C" {

__attribute__((used, visibility("default"))) extern const WeftDebugOffsets weft_debug_offsets =
    weft::detail::DebugInfo::offsets();

// The newest first, linked through LoopContext::debug_next_. Written under
// g_loops_mutex; the debugger reads it with every thread stopped.
__attribute__((used, visibility("default"))) weft::detail::LoopContext* weft_debug_loops = nullptr;

}  // extern "C"

namespace weft {
namespace detail {

namespace {

std::mutex g_loops_mutex;

}  // namespace

void DebugInfo::add_loop(LoopContext& context) noexcept {
  std::lock_guard<std::mutex> lock(g_loops_mutex);
  context.debug_next_ = weft_debug_loops;
  weft_debug_loops = &context;
}

void DebugInfo::remove_loop(LoopContext& context) noexcept {
  std::lock_guard<std::mutex> lock(g_loops_mutex);
  for (LoopContext** link = &weft_debug_loops; *link != nullptr; link = &(*link)->debug_next_) {
    if (*link == &context) {
      *link = context.debug_next_;
      return;
    }
  }
}

}  // namespace detail
}  // namespace weft

// fiber/debug_info.hpp — internal header of fiber/ (not installed).
//
// What a debugger needs to find weft's tasks in a process without debug
// information: a table of offsets and sizes (weft_debug_offsets) and the
// list of every live loop's LoopContext (weft_debug_loops), both global
// symbols with C linkage that tools/weft-gdb.py reads from memory. This is
// CPython 3.14's _Py_DebugOffsets: the layout is described by the program
// itself, so a release build, stripped of DWARF, can still be inspected, and
// the script never has to guess a struct layout.
//
// The table's format is versioned: a change of the fields below, of their
// order, or of the enum values tools/weft-gdb.py decodes (TaskCore::Phase,
// WaitSite::Kind) bumps kWeftDebugVersion, and the script refuses a version
// it does not know.
#pragma once

#include <cstdint>

extern "C" {

// Every offset is in bytes from the start of the named object; sizes are
// sizeof(). All fields are 64-bit so that the script unpacks one format.
struct WeftDebugOffsets {
  char magic[8];             // "weftdbg" and a NUL
  uint64_t version;          // kWeftDebugVersion
  uint64_t size;             // sizeof(WeftDebugOffsets)
  struct {
    uint64_t debug_next;     // LoopContext*: the next in weft_debug_loops
    uint64_t loop;           // Loop*: null once the loop has closed
    uint64_t live_head;      // TaskCore*: the newest live task
  } loop_context;
  struct {
    uint64_t next_live;      // TaskCore*: the next older live task
    uint64_t name;           // std::string
    uint64_t phase;          // uint8_t TaskCore::Phase
    uint64_t wait_site;      // WaitSite
    uint64_t created_ns;     // int64_t, CLOCK_MONOTONIC_COARSE
    uint64_t context;        // the fcontext_t of a suspended task, or null
  } task;
  struct {
    uint64_t kind;           // uint8_t WaitSite::Kind
    uint64_t what;           // const char*
    uint64_t object;         // const void*
    uint64_t value;          // int64_t
  } wait_site;
  struct {
    uint64_t size;           // sizeof(ChildWaiter), the stride of the array
    uint64_t core;           // FutureCore*
  } child_waiter;
  struct {
    uint64_t size;           // 0: a standard library whose layout is unknown
    uint64_t data;           // const char*
    uint64_t length;         // size_t
  } string;
};

}  // extern "C"

namespace weft {
namespace detail {

constexpr uint64_t kWeftDebugVersion = 1;

class LoopContext;

// Keeps weft_debug_loops. LoopContext and TaskCore befriend it, for the
// offsets of their private members.
struct DebugInfo {
  // A loop's context is made / destroyed; from any thread.
  static void add_loop(LoopContext& context) noexcept;
  static void remove_loop(LoopContext& context) noexcept;

  static constexpr WeftDebugOffsets offsets() noexcept;
};

}  // namespace detail
}  // namespace weft

// fiber/task_heap.hpp — internal header of fiber/ (not installed).
//
// Memory for tasks. A task is one allocation (TaskImpl<T, F>: the TaskCore,
// the value, the function), a few hundred bytes whose size the function
// fixes, made and freed by the thousand: a server's connections, gather()'s
// children. glibc's malloc commits such memory a 4 KiB page at a time, one
// page fault per eleven tasks, and costs ~100 instructions a malloc/free
// pair; measured on `weft-bench spawn`, the faults alone were a fifth of
// the time. The task heap serves blocks of 32-byte size classes from 2 MiB
// segments, one heap per thread:
//
//   segment (2 MiB, 2 MiB-aligned)
//   [ header | block | block | ... | block | bump ──▶ not touched yet ]
//
// - allocate() pops the size class's current segment's free list, else
//   takes the next never-used block (`bump`), else moves on to another
//   segment with room, a spare, or a new one;
// - free() finds the segment by masking the address, and pushes the block
//   on that segment's free list;
// - a thread's first segment of a class is committed page by page (small
//   programs stay small); its later ones, which only a burst of thousands
//   of live tasks of one size reaches, are offered to the kernel as
//   transparent huge pages: one fault per 2 MiB instead of 512;
// - a segment whose blocks are all free again is unmapped, but one per
//   class is kept as a spare, so that a loop hovering around a segment's
//   worth of tasks does not map and unmap all the time.
//
// Threads. A task is made on its loop's thread and nearly always freed
// there. A handle that outlives its loop may be dropped on another thread,
// after the loop's thread has ended or at least stopped using it (handles
// are not thread-safe). Such a foreign free takes a process-wide mutex: it
// goes on the segment's remote list, which the owner collects when it next
// looks for room; if the owner's thread has ended, the segment is
// orphaned, and the free just counts down its live blocks, unmapping it at
// zero.
//
// Invariants, per segment: `live` counts its blocks handed out and not
// freed (foreign frees still on the remote list included); while it has an
// owner, the segment is its class's current segment, or on its class's
// partial list (it has room), or the class's spare (live == 0), or full.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace weft {
namespace detail {

class TaskHeap {
 public:
  static constexpr std::size_t kSegmentSize = std::size_t{2} << 20;
  static constexpr std::size_t kGranule = 32;  // size classes step by this
  static constexpr std::size_t kMaxBlock = 1024;  // larger: ::operator new

  // The calling thread's heap, made on first use and dismantled when the
  // thread ends (its segments still in use are then orphaned).
  static TaskHeap& local();

  TaskHeap(const TaskHeap&) = delete;
  TaskHeap& operator=(const TaskHeap&) = delete;

  // A block of at least `size` bytes (1 <= size <= kMaxBlock), aligned to
  // kGranule. Throws std::bad_alloc if no segment can be mapped.
  void* allocate(std::size_t size) {
    Segment* s = current_[class_of(size)];
    if (s != nullptr) {
      if (Block* b = s->free) {
        s->free = b->next;
        ++s->live;
        return b;
      }
      if (s->bump != s->end) {
        char* p = s->bump;
        s->bump += s->block_size;
        ++s->live;
        return p;
      }
    }
    return allocate_slow(class_of(size));
  }

  // Gives back a block from allocate() of any thread's heap; any thread.
  static void free(void* block) noexcept;

  // Segments this heap has mapped now (tests, and the curious).
  std::size_t segment_count() const noexcept { return segment_count_; }
  // Segments whose thread has ended with blocks still in use.
  static std::size_t orphan_count() noexcept;

 private:
  struct Block {
    Block* next;
  };
  // The header at the start of each segment; blocks follow it.
  struct Segment {
    std::atomic<TaskHeap*> owner;  // null once the owner's thread has ended
    Block* free;                   // owner's side: blocks freed, reused first
    char* bump;                    // the next never-used block
    char* end;                     // past the last block
    Block* remote;                 // foreign frees, under the mutex
    Segment* prev;                 // the class's partial list
    Segment* next;
    Segment* all_next;             // the heap's list of every segment
    Segment* all_prev;
    std::uint32_t block_size;
    std::uint32_t live;
    std::uint8_t cls;
    bool listed;  // on the partial list
  };
  static constexpr std::size_t kHeaderSize = 128;  // blocks start here
  static_assert(sizeof(Segment) <= kHeaderSize, "a segment's header fits before its first block");
  static constexpr std::size_t kClasses = kMaxBlock / kGranule;

  friend struct TaskHeapReaper;
  TaskHeap() = default;
  ~TaskHeap() = default;

  static unsigned class_of(std::size_t size) noexcept {
    return static_cast<unsigned>((size + kGranule - 1) / kGranule - 1);
  }
  static Segment* segment_of(void* block) noexcept;

  void* allocate_slow(unsigned cls);
  Segment* map_segment(unsigned cls);
  void free_local(Segment& s, Block* b) noexcept;
  void retire(Segment& s) noexcept;
  void unmap(Segment& s) noexcept;
  void list_partial(Segment& s) noexcept;
  void unlist_partial(Segment& s) noexcept;
  void collect_remote_locked() noexcept;
  static void free_foreign(Segment& s, Block* b) noexcept;
  static void reap() noexcept;

  // Per class: the segment allocate() serves from, the others with room
  // (a doubly linked list through their headers), an empty spare, and how
  // many segments were ever mapped (the first is kept off huge pages).
  Segment* current_[kClasses] = {};
  Segment* partial_[kClasses] = {};
  Segment* spare_[kClasses] = {};
  std::uint32_t mapped_[kClasses] = {};
  Segment* all_ = nullptr;  // every segment of this heap, for reap()
  std::size_t segment_count_ = 0;
  // Set, under the foreign-free mutex, when a segment got a remote block.
  std::atomic<bool> remote_pending_{false};
};

}  // namespace detail
}  // namespace weft

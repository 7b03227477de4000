// fiber/task_heap.cpp — per-thread size-class segments for tasks (see
// task_heap.hpp for the layout, the threads and the invariants).
#include "fiber/task_heap.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>

namespace weft {
namespace detail {

namespace {

// Foreign frees and the end of a heap's thread. A namespace-scope mutex has
// a constexpr constructor: no initialisation order to get wrong.
std::mutex g_foreign_mutex;
std::size_t g_orphans = 0;  // under g_foreign_mutex

thread_local TaskHeap* t_heap = nullptr;
// The heap's thread is ending (or ended): its heap was dismantled.
thread_local bool t_reaped = false;

}  // namespace

// Dismantles the thread's heap when the thread ends. Made on the first
// allocation, so it is destroyed before every thread_local made earlier
// (a loop, say): tasks those free afterwards find their segments orphaned,
// which the foreign path handles.
struct TaskHeapReaper {
  ~TaskHeapReaper() { TaskHeap::reap(); }
};

TaskHeap& TaskHeap::local() {
  if (t_heap == nullptr) {
    t_heap = new TaskHeap();
    // A task made while the thread's thread_locals are being destroyed gets
    // a heap that is never dismantled: its segments are left to the process.
    if (!t_reaped) {
      static thread_local TaskHeapReaper reaper;
      (void)reaper;
    }
  }
  return *t_heap;
}

TaskHeap::Segment* TaskHeap::segment_of(void* block) noexcept {
  return reinterpret_cast<Segment*>(reinterpret_cast<std::uintptr_t>(block) & ~(kSegmentSize - 1));
}

// --- allocation --------------------------------------------------------------

void* TaskHeap::allocate_slow(unsigned cls) {
  if (remote_pending_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(g_foreign_mutex);
    collect_remote_locked();
  }
  Segment* s = current_[cls];
  const bool current_has_room = s != nullptr && (s->free != nullptr || s->bump != s->end);
  if (!current_has_room) {
    // The full current segment is left off every list until a block of it
    // comes back (free_local lists it then).
    if (partial_[cls] != nullptr) {
      s = partial_[cls];
      unlist_partial(*s);
    } else if (spare_[cls] != nullptr) {
      s = spare_[cls];
      spare_[cls] = nullptr;
    } else {
      s = map_segment(cls);
    }
    current_[cls] = s;
  }
  return allocate((cls + 1) * kGranule);
}

TaskHeap::Segment* TaskHeap::map_segment(unsigned cls) {
  // Twice the size, to cut an aligned segment out of it.
  const int kProtection = PROT_READ | PROT_WRITE;
  void* mapping = mmap(nullptr, 2 * kSegmentSize, kProtection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) throw std::bad_alloc();
  char* const raw = static_cast<char*>(mapping);
  char* const base = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + kSegmentSize - 1) &
                                             ~(kSegmentSize - 1));
  if (base != raw) munmap(raw, static_cast<std::size_t>(base - raw));
  munmap(base + kSegmentSize, static_cast<std::size_t>(raw + 2 * kSegmentSize - (base + kSegmentSize)));
  // Hints; a refusal is harmless.
  madvise(base, kSegmentSize, mapped_[cls] == 0 ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
  ++mapped_[cls];

  auto* s = ::new (static_cast<void*>(base)) Segment();
  const std::uint32_t size = static_cast<std::uint32_t>((cls + 1) * kGranule);
  const std::size_t blocks = (kSegmentSize - kHeaderSize) / size;
  s->owner.store(this, std::memory_order_relaxed);
  s->bump = base + kHeaderSize;
  s->end = s->bump + blocks * size;
  s->block_size = size;
  s->cls = static_cast<std::uint8_t>(cls);
  s->all_next = all_;
  if (all_ != nullptr) all_->all_prev = s;
  all_ = s;
  ++segment_count_;
  return s;
}

// --- freeing -------------------------------------------------------------------

void TaskHeap::free(void* block) noexcept {
  Segment& s = *segment_of(block);
  TaskHeap* const owner = s.owner.load(std::memory_order_relaxed);
  // Only the owner's thread ever finds itself the owner: no other thread's
  // t_heap can equal it, and only the owner's thread changes it.
  if (owner != nullptr && owner == t_heap) {
    owner->free_local(s, static_cast<Block*>(block));
  } else {
    free_foreign(s, static_cast<Block*>(block));
  }
}

void TaskHeap::free_local(Segment& s, Block* b) noexcept {
  const bool was_full = s.free == nullptr && s.bump == s.end;
  b->next = s.free;
  s.free = b;
  if (--s.live == 0) {
    retire(s);
  } else if (was_full && current_[s.cls] != &s) {
    list_partial(s);
  }
}

// A segment with every block free: the current one starts over in place
// (its pages are warm); another becomes the spare, or goes back to the
// kernel if there is one already.
void TaskHeap::retire(Segment& s) noexcept {
  s.free = nullptr;
  s.bump = reinterpret_cast<char*>(&s) + kHeaderSize;
  if (current_[s.cls] == &s) return;
  if (s.listed) unlist_partial(s);
  if (spare_[s.cls] == nullptr) {
    spare_[s.cls] = &s;
  } else {
    unmap(s);
  }
}

void TaskHeap::unmap(Segment& s) noexcept {
  if (s.all_prev != nullptr) {
    s.all_prev->all_next = s.all_next;
  } else {
    all_ = s.all_next;
  }
  if (s.all_next != nullptr) s.all_next->all_prev = s.all_prev;
  --segment_count_;
  munmap(&s, kSegmentSize);
}

void TaskHeap::list_partial(Segment& s) noexcept {
  Segment*& head = partial_[s.cls];
  s.prev = nullptr;
  s.next = head;
  if (head != nullptr) head->prev = &s;
  head = &s;
  s.listed = true;
}

void TaskHeap::unlist_partial(Segment& s) noexcept {
  if (s.prev != nullptr) {
    s.prev->next = s.next;
  } else {
    partial_[s.cls] = s.next;
  }
  if (s.next != nullptr) s.next->prev = s.prev;
  s.prev = s.next = nullptr;
  s.listed = false;
}

// --- other threads -----------------------------------------------------------------

void TaskHeap::free_foreign(Segment& s, Block* b) noexcept {
  std::lock_guard<std::mutex> lock(g_foreign_mutex);
  TaskHeap* const owner = s.owner.load(std::memory_order_relaxed);
  if (owner == nullptr) {  // orphaned: nobody will allocate from it again
    if (--s.live == 0) {
      --g_orphans;
      munmap(&s, kSegmentSize);
    }
    return;
  }
  b->next = s.remote;
  s.remote = b;
  owner->remote_pending_.store(true, std::memory_order_release);
}

// Frees, as the owner, every block other threads gave back.
void TaskHeap::collect_remote_locked() noexcept {
  remote_pending_.store(false, std::memory_order_relaxed);
  for (Segment* s = all_; s != nullptr;) {
    Segment* const next = s->all_next;  // free_local may unmap s
    Block* b = s->remote;
    s->remote = nullptr;
    while (b != nullptr) {
      Block* const after = b->next;
      free_local(*s, b);
      b = after;
    }
    s = next;
  }
}

// The thread ends: segments without live blocks go back to the kernel, the
// others are orphaned, and the heap itself is deleted.
void TaskHeap::reap() noexcept {
  TaskHeap* const heap = t_heap;
  t_heap = nullptr;
  t_reaped = true;
  if (heap == nullptr) return;
  std::lock_guard<std::mutex> lock(g_foreign_mutex);
  heap->collect_remote_locked();
  for (Segment* s = heap->all_; s != nullptr;) {
    Segment* const next = s->all_next;
    if (s->live == 0) {
      munmap(s, kSegmentSize);
    } else {
      s->owner.store(nullptr, std::memory_order_relaxed);
      ++g_orphans;
    }
    s = next;
  }
  delete heap;
}

std::size_t TaskHeap::orphan_count() noexcept {
  std::lock_guard<std::mutex> lock(g_foreign_mutex);
  return g_orphans;
}

}  // namespace detail
}  // namespace weft

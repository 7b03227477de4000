// tests/fiber/test_task_heap.cpp — fiber/task_heap: size classes, reuse,
// segments mapped and given back, frees from other threads and after the
// owner's thread ended, and tasks made from it.
#include "fiber/task_heap.hpp"

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fiber/sanitizer.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/waiting.hpp"

namespace {

using weft::detail::TaskHeap;

constexpr std::size_t kPerSegment400 = (TaskHeap::kSegmentSize - 128) / 416;  // 400 B: the 416-byte class

std::uintptr_t address(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

std::uintptr_t segment(void* p) { return address(p) & ~(TaskHeap::kSegmentSize - 1); }

// Runs body on a fresh thread, whose heap starts empty, and waits for it.
template <class F>
void on_new_thread(F body) {
  std::thread t(body);
  t.join();
}

TEST(TaskHeap, BlocksAreDistinctAlignedWritableAndReusedAfterFree) {
  on_new_thread([] {
    TaskHeap& heap = TaskHeap::local();
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) {
      void* p = heap.allocate(400);
      EXPECT_EQ(address(p) % TaskHeap::kGranule, 0u);
      std::memset(p, i & 0xff, 400);
      blocks.push_back(p);
    }
    EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size());
    for (std::size_t i = 1; i < blocks.size(); ++i) {
      EXPECT_GE(address(blocks[i]) - address(blocks[i - 1]), 400u) << "blocks overlap";
    }
    EXPECT_EQ(heap.segment_count(), 1u);
    for (void* p : blocks) TaskHeap::free(p);
    std::vector<void*> again;
    for (int i = 0; i < 1000; ++i) again.push_back(heap.allocate(400));
    EXPECT_EQ(std::set<void*>(again.begin(), again.end()), std::set<void*>(blocks.begin(), blocks.end()));
    EXPECT_EQ(heap.segment_count(), 1u);
    for (void* p : again) TaskHeap::free(p);
  });
}

TEST(TaskHeap, EachSizeClassHasItsOwnSegmentAndBlockSize) {
  on_new_thread([] {
    TaskHeap& heap = TaskHeap::local();
    const std::size_t sizes[] = {1, 32, 33, 64, 1000, TaskHeap::kMaxBlock};
    const std::size_t rounded[] = {32, 32, 64, 64, 1024, 1024};
    std::set<std::uintptr_t> segments;
    for (std::size_t k = 0; k < 6; ++k) {
      void* a = heap.allocate(sizes[k]);
      void* b = heap.allocate(sizes[k]);
      EXPECT_EQ(address(b) - address(a), rounded[k]) << "size " << sizes[k];
      EXPECT_EQ(segment(a), segment(b));
      segments.insert(segment(a));
      TaskHeap::free(a);
      TaskHeap::free(b);
    }
    EXPECT_EQ(segments.size(), 3u);  // the 32, 64 and 1024-byte classes
    EXPECT_EQ(heap.segment_count(), 3u);
  });
}

TEST(TaskHeap, ABurstMapsSegmentsAndGivesThemBackKeepingOneSpare) {
  on_new_thread([] {
    TaskHeap& heap = TaskHeap::local();
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < 5 * kPerSegment400; ++i) blocks.push_back(heap.allocate(400));
    EXPECT_EQ(heap.segment_count(), 5u);
    for (void* p : blocks) TaskHeap::free(p);
    // The current segment starts over in place; one empty other is kept.
    EXPECT_EQ(heap.segment_count(), 2u);
    // A second burst reuses both before mapping anything.
    blocks.clear();
    for (std::size_t i = 0; i < 2 * kPerSegment400; ++i) blocks.push_back(heap.allocate(400));
    EXPECT_EQ(heap.segment_count(), 2u);
    for (void* p : blocks) TaskHeap::free(p);
  });
}

TEST(TaskHeap, ABlockFreedInAFullSegmentIsReusedBeforeANewSegment) {
  on_new_thread([] {
    TaskHeap& heap = TaskHeap::local();
    std::vector<void*> blocks;  // two full segments and one block of a third
    for (std::size_t i = 0; i < 2 * kPerSegment400 + 1; ++i) blocks.push_back(heap.allocate(400));
    EXPECT_EQ(heap.segment_count(), 3u);
    void* const freed = blocks[17];
    TaskHeap::free(freed);
    blocks[17] = nullptr;
    // The third segment fills up first; then the freed block comes back.
    bool reused = false;
    for (std::size_t i = 0; i < kPerSegment400 && !reused; ++i) {
      blocks.push_back(heap.allocate(400));
      reused = blocks.back() == freed;
      EXPECT_TRUE(reused || segment(blocks.back()) == segment(blocks[2 * kPerSegment400]));
    }
    EXPECT_TRUE(reused);
    EXPECT_EQ(heap.segment_count(), 3u);
    for (void* p : blocks) {
      if (p != nullptr) TaskHeap::free(p);
    }
  });
}

TEST(TaskHeap, BlocksFreedOnAnotherThreadAreCollectedByTheOwner) {
  on_new_thread([] {
    TaskHeap& heap = TaskHeap::local();
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(heap.allocate(400));
    on_new_thread([&] {
      for (void* p : blocks) TaskHeap::free(p);
    });
    // The owner takes them back when it next runs out of room: every one
    // is handed out again before the segment's untouched blocks.
    std::set<void*> wanted(blocks.begin(), blocks.end());
    std::vector<void*> again;
    std::size_t found = 0;
    for (std::size_t i = 0; i < 2 * kPerSegment400 && found < wanted.size(); ++i) {
      again.push_back(heap.allocate(400));
      found += wanted.count(again.back());
    }
    EXPECT_EQ(found, wanted.size());
    EXPECT_EQ(heap.segment_count(), 1u);
    for (void* p : again) TaskHeap::free(p);
  });
}

TEST(TaskHeap, SegmentsOutlivingTheirThreadAreOrphanedThenUnmapped) {
  const std::size_t orphans_before = TaskHeap::orphan_count();
  std::vector<void*> blocks;
  on_new_thread([&] {
    for (std::size_t i = 0; i < kPerSegment400 + 10; ++i) blocks.push_back(TaskHeap::local().allocate(400));
    TaskHeap::free(blocks.back());  // one freed by its owner
    blocks.pop_back();
  });
  EXPECT_EQ(TaskHeap::orphan_count(), orphans_before + 2);
  for (void* p : blocks) std::memset(p, 0x5a, 400);  // still mapped
  for (void* p : blocks) TaskHeap::free(p);
  EXPECT_EQ(TaskHeap::orphan_count(), orphans_before);
}

TEST(TaskHeap, TasksComeFromTheHeapOutsideSanitizersAndOutliveTheirThread) {
  const std::size_t orphans_before = TaskHeap::orphan_count();
  weft::Task<int> kept;
  on_new_thread([&] {
    weft::run([&] {
      kept = weft::create_task([] { return 42; });
      std::vector<weft::Task<int>> burst;
      for (int i = 0; i < 20000; ++i) burst.push_back(weft::create_task([i] { return i; }));
      long sum = 0;
      for (int v : weft::gather(burst)) sum += v;
      EXPECT_EQ(sum, 20000L * 19999 / 2);
      if (!weft::detail::kAddressSanitizer && !weft::detail::running_on_valgrind()) {
        EXPECT_GE(TaskHeap::local().segment_count(), 1u);
      }
      return kept.get();
    });
  });
  // The handle outlived its loop and its thread: the task's memory too.
  EXPECT_EQ(kept.result(), 42);
  const bool from_heap = !weft::detail::kAddressSanitizer && !weft::detail::running_on_valgrind();
  EXPECT_EQ(TaskHeap::orphan_count(), orphans_before + (from_heap ? 1 : 0));
  kept = weft::Task<int>();
  EXPECT_EQ(TaskHeap::orphan_count(), orphans_before);
}

}  // namespace

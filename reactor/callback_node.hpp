// reactor/callback_node.hpp — internal header of reactor/ (not installed).
//
// Every callback the loop holds lives in a CallbackNode: queued on the ready
// queue (call_soon), or on the timer wheel (call_later), then on the ready
// queue once due. (The ready queue also holds tasks' steps, which need no
// node: see ReadyItem.) Nodes come from a per-loop pool and are recycled, so
// scheduling allocates nothing once the pool has grown to the loop's peak.
// A node's generation counts its reuses; a Handle remembers the generation it
// was issued for, so a handle to a node that has since been recycled is inert.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "reactor/timer_list.hpp"
#include "weft/reactor/callback.hpp"
#include "weft/reactor/loop.hpp"

namespace weft {
namespace detail {

enum class NodeState : uint8_t {
  kFree,       // in the pool
  kTimer,      // on the timer wheel
  kReady,      // on the ready queue, will run
  kCancelled,  // on the ready queue, will be skipped (its callback is gone)
  kRunning,    // its callback is running now
};

struct CallbackNode : TimerEntry {
  Callback fn;
  Loop::Impl* owner = nullptr;
  std::chrono::steady_clock::time_point deadline{};  // exact, for timers
  uint64_t sequence = 0;  // timers: scheduling order
  uint32_t generation = 0;
  NodeState state = NodeState::kFree;
};

// An entry of the ready queue: a callback node, or a step of the layer
// above — a task's next step, which the task itself keeps track of, so that
// a wake-up allocates nothing and a task carries no node. The two are told
// apart by the low bit (nodes and step owners are at least 2-aligned).
class ReadyItem {
 public:
  ReadyItem() noexcept = default;
  static ReadyItem node(CallbackNode* n) noexcept { return ReadyItem(reinterpret_cast<std::uintptr_t>(n)); }
  static ReadyItem step(void* owner) noexcept { return ReadyItem(reinterpret_cast<std::uintptr_t>(owner) | 1); }

  bool is_step() const noexcept { return (bits_ & 1) != 0; }
  CallbackNode* as_node() const noexcept { return reinterpret_cast<CallbackNode*>(bits_); }
  void* step_owner() const noexcept { return reinterpret_cast<void*>(bits_ & ~std::uintptr_t{1}); }

 private:
  explicit ReadyItem(std::uintptr_t bits) noexcept : bits_(bits) {}
  std::uintptr_t bits_ = 0;
};

// A free list of nodes, grown in chunks that are never returned before the
// loop is destroyed (handles may point into them); a chunk's nodes are
// constructed as they are first handed out. Chunks double in size up
// to kMaxChunkBytes; the big ones are 2 MiB-aligned and offered to the
// kernel for transparent huge pages, since a loop that holds a million
// timers otherwise spends a quarter of its scheduling time in page faults.
class NodePool {
 public:
  NodePool() = default;
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;
  ~NodePool();

  CallbackNode* allocate() {
    if (free_ != nullptr) {
      CallbackNode* n = free_;
      free_ = static_cast<CallbackNode*>(n->next);
      n->next = nullptr;
      return n;
    }
    if (fresh_ == fresh_end_) grow();
    // Built on first use: a new chunk is written once, not twice.
    ++chunks_.back().built;
    return ::new (static_cast<void*>(fresh_++)) CallbackNode();
  }

  // The node's callback must already be empty.
  void release(CallbackNode* n) noexcept {
    ++n->generation;
    n->state = NodeState::kFree;
    n->next = free_;
    free_ = n;
  }

  // Calls f(node) for every node not in the pool.
  template <class F>
  void for_each_in_use(F f) {
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
      for (std::size_t i = 0; i < chunks_[c].built; ++i) {
        CallbackNode& n = chunks_[c].nodes[i];
        if (n.state != NodeState::kFree) f(n);
      }
    }
  }

 private:
  static constexpr std::size_t kFirstChunk = 64;
  static constexpr std::size_t kMaxChunkBytes = std::size_t{2} << 20;

  struct Chunk {
    CallbackNode* nodes;
    std::size_t count;
    std::size_t built;  // nodes[0, built) are constructed; the rest is raw memory
  };

  void grow();

  CallbackNode* free_ = nullptr;  // released nodes, reused first
  CallbackNode* fresh_ = nullptr;  // the last chunk's first node never used
  CallbackNode* fresh_end_ = nullptr;
  std::vector<Chunk> chunks_;
};

// The ready queue: a FIFO ring of ReadyItems that doubles when full.
//
//   buf_: [ . . . h x x x x t . . ]     h = head_, t = (head_ + size_) & mask_
class ReadyQueue {
 public:
  ReadyQueue() : buf_(new ReadyItem[kInitial]), mask_(kInitial - 1) {}

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  void push(ReadyItem item) {
    if (size_ > mask_) grow();
    buf_[(head_ + size_) & mask_] = item;
    ++size_;
  }

  ReadyItem front() const { return buf_[head_]; }

  ReadyItem pop() {
    const ReadyItem item = buf_[head_];
    head_ = (head_ + 1) & mask_;
    --size_;
    return item;
  }

 private:
  static constexpr std::size_t kInitial = 256;

  void grow() {
    const std::size_t capacity = (mask_ + 1) * 2;
    std::unique_ptr<ReadyItem[]> bigger(new ReadyItem[capacity]);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = buf_[(head_ + i) & mask_];
    buf_ = std::move(bigger);
    mask_ = capacity - 1;
    head_ = 0;
  }

  std::unique_ptr<ReadyItem[]> buf_;
  std::size_t mask_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace detail
}  // namespace weft

// reactor/timer_wheel.hpp — internal header of reactor/ (not installed).
//
// A hierarchical hashed timing wheel over integer ticks, after Varghese and
// Lauck, "Hashed and Hierarchical Timing Wheels" (1987), laid out as Tokio's
// runtime/time/wheel: six levels of 64 slots, each level's slot spanning 64
// times the one below, with a 64-bit occupancy mask per level so the next
// expiration is found with a count of trailing zeros.
//
//   level  slot span       level span
//     0    1 tick          64 ticks          (1 ms ticks: 64 ms)
//     1    64              4,096             (~4 s)
//     2    4,096           262,144           (~4.4 min)
//     3    262,144         16,777,216        (~4.7 h)
//     4    16,777,216      1,073,741,824     (~12.4 days)
//     5    1,073,741,824   68,719,476,736    (~2.2 years)
//
// The wheel sees ticks only; converting clock time to ticks is the loop's job
// (reactor/clock.hpp). Entries are intrusive: the wheel never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "reactor/timer_list.hpp"

namespace weft {
namespace detail {

class TimerWheel {
 public:
  static constexpr unsigned kLevels = 6;
  static constexpr unsigned kSlotBits = 6;
  static constexpr unsigned kSlots = 1u << kSlotBits;
  // A deadline that never comes: time_point::max() maps here.
  static constexpr uint64_t kNever = UINT64_MAX;

  TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Schedules `e`, which must not be scheduled (e->list == nullptr), for tick
  // e->when. An entry whose tick has already been polled (when < elapsed())
  // is due at the next poll(). Deadlines beyond the wheel's range (including
  // kNever) wait in an overflow list and are moved into the wheel when it
  // comes within range. O(1).
  void insert(TimerEntry* e);

  // Unschedules `e`, which must be scheduled in this wheel. O(1). Afterwards
  // e->list == nullptr.
  void remove(TimerEntry* e);

  // Moves every entry whose tick is <= now into `expired` (appended in no
  // particular order; the loop orders them by exact deadline) and makes
  // elapsed() = now + 1. `now` must not go backwards. Returned entries are
  // unscheduled (list == nullptr) and may be inserted again. Allocates only if
  // `expired` must grow. Precondition: now + 1 >= elapsed() and now < kNever.
  void poll(uint64_t now, std::vector<TimerEntry*>& expired);

  // The earliest tick at which poll() may have something to return:
  // elapsed() - 1 or less if an entry is already due, kNever if the wheel is
  // empty. For entries on upper levels this is the start of their slot (the
  // poll there cascades them down), so it is never later than the true
  // deadline. May be somewhat earlier; never later.
  //
  // Precisely: exactly elapsed() - 1 if an entry is due (it was inserted with
  // when < elapsed()); otherwise a tick >= elapsed(). So
  // next_expiration() < elapsed() means "poll now, without waiting".
  uint64_t next_expiration() const;

  // The first tick not yet polled.
  uint64_t elapsed() const { return elapsed_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  // Ticks the six levels cover: a deadline at least this far past elapsed_
  // waits in overflow_.
  static constexpr unsigned kRangeBits = kLevels * kSlotBits;  // 36
  static constexpr uint64_t kRange = uint64_t{1} << kRangeBits;

  // The next tick at which a slot (or the overflow list) must be processed.
  struct Expiration {
    uint64_t deadline;  // kNever when nothing is pending
    unsigned level;     // 0..kLevels-1 for a slot; kLevels for overflow_
  };

  // Invariants, between calls:
  //  - Every scheduled entry is linked in exactly one of due_, overflow_ or a
  //    slot, and size_ counts them all.
  //  - due_ holds entries inserted with when < elapsed_ (already late).
  //  - An entry on level L sits in slot (when >> 6L) & 63. Its slot's start
  //    tick, (when >> 6L) << 6L, is one of the first 64 level-L slot starts
  //    at or after elapsed_, so all entries of one slot share one start tick
  //    and the slot index plus elapsed_ recover it. On levels 0-4 that start
  //    lies in the same level-(L+1) span as elapsed_; on level 5 it may lie
  //    in the next 2^36 span: the top level is a ring, as in Tokio.
  //  - Bit s of occupied_[L] is set iff slot s of level L is non-empty.
  //  - overflow_ entries were at least kRange ahead of elapsed_ when placed;
  //    while overflow_ is non-empty, elapsed_ <= overflow_deadline_ <=
  //    turn_start(when) <= when for each of them (removals may leave the
  //    deadline early, never late).

  static unsigned level_for(uint64_t elapsed, uint64_t when);
  // Links `e` where its tick belongs relative to elapsed_; size_ untouched.
  void place(TimerEntry* e);
  uint64_t slot_deadline(unsigned level) const;
  static uint64_t turn_start(uint64_t when);
  Expiration earliest() const;
  void expire_all(TimerList& list, std::vector<TimerEntry*>& expired);
  void place_all(TimerList& list);
  bool owns(const TimerList* list) const;

  // slots_[L * kSlots + s] is slot s of level L. One flat array so that
  // remove() finds an entry's level and slot from e->list by subtraction.
  TimerList slots_[kLevels * kSlots];
  uint64_t occupied_[kLevels] = {};
  TimerList due_;
  TimerList overflow_;
  uint64_t overflow_deadline_ = kNever;  // meaningful only while overflow_ is non-empty
  uint64_t elapsed_ = 0;
  std::size_t size_ = 0;
};

}  // namespace detail
}  // namespace weft

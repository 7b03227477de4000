// reactor/timer_wheel.cpp — the hierarchical timing wheel.
//
// Placing an entry: the highest bit in which its tick differs from elapsed_
// picks the level (Tokio's level_for), the tick's six bits of that level pick
// the slot. Expiring: the earliest occupied slot across the levels is found
// from the occupancy masks; polling past its start either expires it (level
// 0, one tick per slot) or empties it and places its entries again relative
// to the slot's start, which drops each one at least a level (the cascade).
//
// Cost: insert and remove are a few instructions, with no loop; poll spends
// O(levels) per processed slot plus O(1) per entry and cascade step, and an
// entry cascades at most five times (plus one pass through overflow_ if it
// starts out there).
#include "reactor/timer_wheel.hpp"

#include <algorithm>
#include <cassert>
#include <functional>

namespace weft {
namespace detail {

namespace {

// Unlinks an entry taken from a list with take_all(), so that list == nullptr
// tells the loop (and remove()'s assertion) it is no longer scheduled.
void unlink(TimerEntry* e) {
  e->prev = e->next = nullptr;
  e->list = nullptr;
}

}  // namespace

TimerWheel::TimerWheel() = default;

// The level whose slots tell `when` apart from `elapsed`: that of the highest
// bit in which they differ. Ticks within 63 of each other, in the same
// 64-tick span, share level 0 (the `| 63`). A tick less than kRange ahead but
// across a 2^36 boundary differs in bit 36 or above; it goes to the top level,
// whose slots then hold it for their next turn round the ring.
unsigned TimerWheel::level_for(uint64_t elapsed, uint64_t when) {
  uint64_t masked = (elapsed ^ when) | (kSlots - 1);
  if (masked >= kRange) masked = kRange - 1;
  const unsigned significant = 63u - static_cast<unsigned>(__builtin_clzll(masked));
  return significant / kSlotBits;
}

void TimerWheel::insert(TimerEntry* e) {
  assert(e->list == nullptr && "insert: entry already scheduled");
  ++size_;
  place(e);
}

void TimerWheel::place(TimerEntry* e) {
  const uint64_t when = e->when;
  if (when < elapsed_) {
    due_.push_back(e);
    return;
  }
  // Written as a difference, not as elapsed_ + kRange, which could overflow.
  // kNever lands here except in the last 2^36 ticks of the range, where it
  // goes into the wheel; it still never fires there, as poll() never reaches
  // kNever.
  if (when - elapsed_ >= kRange) {
    const uint64_t at = turn_start(when);
    overflow_deadline_ = overflow_.empty() ? at : std::min(overflow_deadline_, at);
    overflow_.push_back(e);
    return;
  }
  const unsigned level = level_for(elapsed_, when);
  const auto slot = static_cast<unsigned>(when >> (kSlotBits * level)) & (kSlots - 1);
  slots_[level * kSlots + slot].push_back(e);
  occupied_[level] |= uint64_t{1} << slot;
}

void TimerWheel::remove(TimerEntry* e) {
  TimerList* list = e->list;
  assert(list != nullptr && owns(list) && "remove: entry not scheduled in this wheel");
  list->erase(e);
  --size_;
  if (list->empty() && list != &due_ && list != &overflow_) {
    const auto index = static_cast<unsigned>(list - slots_);
    occupied_[index / kSlots] &= ~(uint64_t{1} << (index % kSlots));
  }
}

void TimerWheel::poll(uint64_t now, std::vector<TimerEntry*>& expired) {
  assert(now != kNever && now + 1 >= elapsed_ && "poll: now is kNever or went backwards");
  expire_all(due_, expired);
  // Slots are processed in order of their start ticks, and elapsed_ steps to
  // each start before the slot is processed, so a cascaded entry is placed
  // relative to its own slot and lands below it. An entry cascaded to a tick
  // <= now is found again by a later turn of this loop.
  for (;;) {
    const Expiration next = earliest();
    if (next.deadline > now) break;
    assert(next.deadline >= elapsed_ && "poll: a slot or overflow_ fell behind elapsed_");
    elapsed_ = next.deadline;
    if (next.level == kLevels) {
      place_all(overflow_);
      continue;
    }
    const unsigned shift = kSlotBits * next.level;
    const unsigned slot = static_cast<unsigned>(next.deadline >> shift) & (kSlots - 1);
    occupied_[next.level] &= ~(uint64_t{1} << slot);
    TimerList& list = slots_[next.level * kSlots + slot];
    if (next.level == 0) {
      expire_all(list, expired);
    } else {
      place_all(list);
    }
  }
  elapsed_ = now + 1;
}

void TimerWheel::expire_all(TimerList& list, std::vector<TimerEntry*>& expired) {
  for (TimerEntry* e = list.take_all(); e != nullptr;) {
    TimerEntry* next = e->next;
    unlink(e);
    expired.push_back(e);
    --size_;
    e = next;
  }
}

void TimerWheel::place_all(TimerList& list) {
  for (TimerEntry* e = list.take_all(); e != nullptr;) {
    TimerEntry* next = e->next;  // place() relinks e
    place(e);
    e = next;
  }
}

uint64_t TimerWheel::next_expiration() const {
  if (!due_.empty()) return elapsed_ - 1;  // due_ non-empty implies elapsed_ > 0
  return earliest().deadline;
}

// The minimum over every level and the overflow list. Tokio may stop at the
// lowest occupied level, because its elapsed is the last tick polled; ours is
// the first tick not polled, so a level-1 slot starting at elapsed_ (say 64,
// after poll(63)) is still unprocessed while an entry inserted then for tick
// 70 goes to level 0: the upper slot is the earlier one.
TimerWheel::Expiration TimerWheel::earliest() const {
  Expiration best{overflow_.empty() ? kNever : overflow_deadline_, kLevels};
  for (unsigned level = 0; level < kLevels; ++level) {
    if (occupied_[level] == 0) continue;
    const uint64_t deadline = slot_deadline(level);
    if (deadline < best.deadline) best = Expiration{deadline, level};
  }
  return best;
}

// The start tick of the first occupied slot of `level` at or after elapsed_.
//
// Slots are numbered absolutely (tick >> shift); slot index = number & 63.
// The search starts at `first`, the first slot starting at or after elapsed_:
// the slot holding elapsed_ if elapsed_ is its first tick, else the next one.
// Rotating the mask right by first's index puts first at bit 0, so the count
// of trailing zeros is the distance, in slots, to the next occupied one. An
// index below first's belongs to the next turn of the level; so does the
// index of a slot elapsed_ is inside, which comes last (only the top level
// wraps, so only there can such slots be occupied).
//
// No overflow: the result is the start tick of an actual entry's slot, which
// is at most that entry's tick.
uint64_t TimerWheel::slot_deadline(unsigned level) const {
  const unsigned shift = kSlotBits * level;
  const uint64_t inside = elapsed_ & ((uint64_t{1} << shift) - 1);
  const uint64_t first = (elapsed_ >> shift) + (inside != 0 ? 1 : 0);
  const auto pos = static_cast<unsigned>(first) & (kSlots - 1);
  const uint64_t mask = occupied_[level];
  const uint64_t rotated = (mask >> pos) | (mask << ((kSlots - pos) & (kSlots - 1)));
  const auto distance = static_cast<unsigned>(__builtin_ctzll(rotated));
  return (first + distance) << shift;
}

// overflow_ is a pseudo-level above the top one. An entry there can enter the
// wheel once elapsed_ reaches the start of the top level's turn (2^36 span)
// holding its tick; overflow_deadline_ is the least such start among the
// entries, and poll() places them all again there (those still out of range
// come back and set the next deadline). Waiting for the least start rather
// than for each turn keeps a poll's cost independent of how far it jumps:
// overflow_ is processed once per turn holding one of its ticks, not once per
// 2^36 ticks crossed. kNever is never due, so it sets no deadline: a wheel
// holding only kNever entries reports kNever, and the loop may sleep without
// a timeout.
uint64_t TimerWheel::turn_start(uint64_t when) {
  return when == kNever ? kNever : when & ~(kRange - 1);
}

// For assertions: whether `list` is one of this wheel's lists. std::less gives
// a total order even for pointers into different objects.
bool TimerWheel::owns(const TimerList* list) const {
  const std::less<const TimerList*> before;
  const bool in_slots = !before(list, slots_) && before(list, slots_ + kLevels * kSlots);
  return in_slots || list == &due_ || list == &overflow_;
}

}  // namespace detail
}  // namespace weft

// tests/reactor/test_timer_wheel.cpp — reactor/timer_wheel.
//
// Time is an input: every test drives the wheel with explicit ticks, as Tokio
// tests wheel/mod.rs through poll(now). The central check is "fires in the
// first poll at or after its tick": with polls one tick apart that means
// exactly on time, with jumps it means never early and never a poll late.
#include "reactor/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace weft {
namespace detail {
namespace {

constexpr uint64_t kNever = TimerWheel::kNever;
constexpr uint64_t kRange = uint64_t{1} << 36;  // ticks the six levels span
constexpr uint64_t kDay = 24 * 3600 * 1000;     // in 1 ms ticks

// An entry that records the polls that returned it.
struct Timer : TimerEntry {
  unsigned fired = 0;
  uint64_t fired_at = kNever;  // the `now` of the poll that returned it
};

using Ticks = std::vector<uint64_t>;

std::vector<TimerEntry*> poll(TimerWheel& wheel, uint64_t now) {
  std::vector<TimerEntry*> expired;
  wheel.poll(now, expired);
  return expired;
}

// Moves the clock of an empty wheel so that elapsed() == tick.
void start_at(TimerWheel& wheel, uint64_t tick) {
  ASSERT_TRUE(wheel.empty());
  if (tick > 0) {
    EXPECT_TRUE(poll(wheel, tick - 1).empty());
  }
  ASSERT_EQ(tick, wheel.elapsed());
}

void schedule(TimerWheel& wheel, Timer& t, uint64_t when) {
  t.when = when;
  wheel.insert(&t);
}

// Polls at each tick of `polls` (increasing), recording what fired and
// checking that each poll returns only unlinked entries.
void run(TimerWheel& wheel, const Ticks& polls) {
  std::vector<TimerEntry*> expired;
  for (uint64_t now : polls) {
    expired.clear();
    wheel.poll(now, expired);
    ASSERT_EQ(now + 1, wheel.elapsed());
    for (TimerEntry* e : expired) {
      ASSERT_EQ(nullptr, e->list);
      Timer* t = static_cast<Timer*>(e);
      ++t->fired;
      t->fired_at = now;
    }
  }
}

// The poll of `polls` that must return an entry for tick `when`.
uint64_t first_poll_at_or_after(const Ticks& polls, uint64_t when) {
  const auto it = std::lower_bound(polls.begin(), polls.end(), when);
  return it == polls.end() ? kNever : *it;
}

void expect_fired_on_time(const std::vector<Timer>& timers, const Ticks& polls) {
  for (const Timer& t : timers) {
    const uint64_t due = first_poll_at_or_after(polls, t.when);
    EXPECT_EQ(due == kNever ? 0u : 1u, t.fired) << "tick " << t.when;
    EXPECT_EQ(due, t.fired_at) << "tick " << t.when;
  }
}

// Polls one tick at a time over [t - 2, t + 2] for every t in `ticks`, with
// a single jump in between.
Ticks tick_by_tick_around(const Ticks& ticks, uint64_t start) {
  Ticks polls;
  for (uint64_t t : ticks) {
    for (uint64_t now = std::max(t, start + 2) - 2; now <= t + 2; ++now) polls.push_back(now);
  }
  std::sort(polls.begin(), polls.end());
  polls.erase(std::unique(polls.begin(), polls.end()), polls.end());
  return polls;
}

// Polls from `start` to at least `last` in steps of `step`.
Ticks jumps(uint64_t start, uint64_t last, uint64_t step) {
  Ticks polls;
  for (uint64_t now = start + step; polls.empty() || polls.back() < last; now += step) {
    polls.push_back(now);
  }
  return polls;
}

// A tick near each level boundary; 2^36 - 1 is the last tick of the wheel
// proper when elapsed() is 0.
const Ticks kLevelTicks = {1,      63,     64,     65,
                           4095,   4096,   262143, 262144,
                           (uint64_t{1} << 24) + 5, (uint64_t{1} << 30) + 7, kRange - 1};

uint64_t lcg(uint64_t& x) {
  x = x * 6364136223846793005u + 1442695040888963407u;
  return x;
}

TEST(TimerWheel, EmptyWheel) {
  TimerWheel wheel;
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(0u, wheel.size());
  EXPECT_EQ(0u, wheel.elapsed());
  EXPECT_EQ(kNever, wheel.next_expiration());
  EXPECT_TRUE(poll(wheel, 1000).empty());
  EXPECT_EQ(1001u, wheel.elapsed());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

TEST(TimerWheel, FiresAtItsTickNeverBefore) {
  TimerWheel wheel;
  Timer t;
  schedule(wheel, t, 10);
  EXPECT_EQ(1u, wheel.size());
  EXPECT_EQ(10u, wheel.next_expiration());
  EXPECT_TRUE(poll(wheel, 9).empty());
  EXPECT_EQ(10u, wheel.next_expiration());
  const std::vector<TimerEntry*> expired = poll(wheel, 10);
  ASSERT_EQ(1u, expired.size());
  EXPECT_EQ(&t, expired[0]);
  EXPECT_EQ(nullptr, t.list);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

TEST(TimerWheel, EntriesOfOneTickFireTogether) {
  TimerWheel wheel;
  std::vector<Timer> early(500);
  std::vector<Timer> late(500);
  // The first half is placed from tick 0 on level 1, the second from tick 768
  // on level 0, before the first half's slot [768, 832) has cascaded: both
  // halves meet in one poll.
  for (Timer& t : early) schedule(wheel, t, 777);
  EXPECT_TRUE(poll(wheel, 767).empty());
  for (Timer& t : late) schedule(wheel, t, 777);
  EXPECT_EQ(1000u, wheel.size());
  EXPECT_TRUE(poll(wheel, 776).empty());
  EXPECT_EQ(1000u, poll(wheel, 777).size());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, EveryLevelFiresOnTimeTickByTick) {
  // From elapsed 0 the ticks fall on each level in turn; from the other
  // origins they straddle slot and level boundaries differently, and from
  // 2^36 - 77 most of them lie across the top level's wrap.
  for (uint64_t origin : {uint64_t{0}, uint64_t{12345}, kRange - 77, 3 * kRange + 4097}) {
    SCOPED_TRACE("origin " + std::to_string(origin));
    TimerWheel wheel;
    start_at(wheel, origin);
    std::vector<Timer> timers(kLevelTicks.size());
    Ticks ticks;
    for (std::size_t i = 0; i < timers.size(); ++i) {
      ticks.push_back(origin + kLevelTicks[i]);
      schedule(wheel, timers[i], ticks.back());
    }
    const Ticks polls = tick_by_tick_around(ticks, origin);
    run(wheel, polls);
    expect_fired_on_time(timers, polls);
    EXPECT_TRUE(wheel.empty());
  }
}

TEST(TimerWheel, EachLevelAloneFiresOnTime) {
  for (uint64_t tick : kLevelTicks) {
    TimerWheel wheel;
    std::vector<Timer> timers(1);
    schedule(wheel, timers[0], tick);
    EXPECT_LE(wheel.next_expiration(), tick);
    const Ticks polls = tick_by_tick_around({tick}, 0);
    run(wheel, polls);
    expect_fired_on_time(timers, polls);
    EXPECT_TRUE(wheel.empty());
    EXPECT_EQ(kNever, wheel.next_expiration());
  }
}

// Polls from 0 past 2^36 in jumps whose sizes span every level, from a
// few ticks to whole top-level slots.
Ticks jumps_of_every_scale(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Ticks polls;
  for (uint64_t now = 0; now < kRange;) {
    now += 1 + (rng() & ((uint64_t{1} << (rng() % 32)) - 1));
    polls.push_back(now);
  }
  return polls;
}

TEST(TimerWheel, EveryLevelFiresInTheFirstPollPastItsTickWithBigJumps) {
  std::vector<Ticks> schedules = {jumps(0, kRange, 1000003),
                                  jumps(0, kRange, (uint64_t{1} << 29) + 1),
                                  jumps(0, kRange, kRange / 3)};
  for (uint64_t seed = 1; seed <= 3; ++seed) schedules.push_back(jumps_of_every_scale(seed));
  for (const Ticks& polls : schedules) {
    TimerWheel wheel;
    std::vector<Timer> timers(kLevelTicks.size());
    for (std::size_t i = 0; i < timers.size(); ++i) schedule(wheel, timers[i], kLevelTicks[i]);
    run(wheel, polls);
    expect_fired_on_time(timers, polls);
    EXPECT_TRUE(wheel.empty());
  }
}

TEST(TimerWheel, OnePollAcrossEveryLevelCascadesAll) {
  TimerWheel wheel;
  std::vector<Timer> timers(kLevelTicks.size());
  for (std::size_t i = 0; i < timers.size(); ++i) schedule(wheel, timers[i], kLevelTicks[i]);
  EXPECT_EQ(kLevelTicks.size(), poll(wheel, kRange - 1).size());
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

TEST(TimerWheel, JumpsStoppingJustShortOfEachTick) {
  // Each poll lands one tick before the next deadline, so every poll
  // cascades as far down as it can without expiring anything early.
  TimerWheel wheel;
  std::vector<Timer> timers(kLevelTicks.size());
  for (std::size_t i = 0; i < timers.size(); ++i) schedule(wheel, timers[i], kLevelTicks[i]);
  for (std::size_t i = 0; i < timers.size(); ++i) {
    const uint64_t tick = kLevelTicks[i];
    if (tick > 1) {
      EXPECT_TRUE(poll(wheel, tick - 1).empty());
    }
    EXPECT_LE(wheel.next_expiration(), tick);
    const std::vector<TimerEntry*> expired = poll(wheel, tick);
    ASSERT_EQ(1u, expired.size());
    EXPECT_EQ(&timers[i], expired[0]);
  }
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, UpperSlotStartingAtElapsedIsNotOvertaken) {
  // After poll(63) the level-1 slot [64, 128) is not processed yet, and an
  // entry inserted now for tick 70 goes to level 0: the level-1 slot, which
  // starts at 64, must still come first.
  TimerWheel wheel;
  std::vector<Timer> timers(2);
  schedule(wheel, timers[0], 100);
  EXPECT_TRUE(poll(wheel, 63).empty());
  schedule(wheel, timers[1], 70);
  EXPECT_EQ(64u, wheel.next_expiration());
  Ticks polls;
  for (uint64_t now = 64; now <= 200; ++now) polls.push_back(now);
  run(wheel, polls);
  expect_fired_on_time(timers, polls);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, TopLevelSlotsActAsARing) {
  // elapsed() sits inside top-level slot 10. An entry in slot 20 of this turn
  // must come before entries that the top level holds for its next turn in
  // slots 2 and 10 (the latter being the slot elapsed() is inside).
  const uint64_t slot = uint64_t{1} << 30;
  TimerWheel wheel;
  start_at(wheel, 10 * slot + 7);
  std::vector<Timer> timers(3);
  schedule(wheel, timers[0], 20 * slot + 3);
  schedule(wheel, timers[1], kRange + 10 * slot + 3);
  schedule(wheel, timers[2], kRange + 2 * slot);
  EXPECT_EQ(20 * slot, wheel.next_expiration());
  Ticks ticks;
  for (const Timer& t : timers) ticks.push_back(t.when);
  const Ticks polls = tick_by_tick_around(ticks, wheel.elapsed());
  run(wheel, polls);
  expect_fired_on_time(timers, polls);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, RemovedEntryNeverFires) {
  TimerWheel wheel;
  std::vector<Timer> timers(3);
  schedule(wheel, timers[0], 100);
  schedule(wheel, timers[1], 100);
  schedule(wheel, timers[2], 5000);
  wheel.remove(&timers[1]);
  EXPECT_EQ(nullptr, timers[1].list);
  EXPECT_EQ(2u, wheel.size());
  EXPECT_EQ(1u, poll(wheel, 4999).size());
  // Removing an entry that has been cascaded to a lower level.
  wheel.remove(&timers[2]);
  EXPECT_TRUE(wheel.empty());
  EXPECT_TRUE(poll(wheel, 10000).empty());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

TEST(TimerWheel, RemovingTheOnlyEntryOfASlotClearsIt) {
  TimerWheel wheel;
  Timer soon;
  Timer later;
  schedule(wheel, soon, 7);      // level 0
  schedule(wheel, later, 5000);  // level 2, slot [4096, 8192)
  EXPECT_EQ(7u, wheel.next_expiration());
  wheel.remove(&soon);
  EXPECT_EQ(4096u, wheel.next_expiration());
  wheel.remove(&later);
  EXPECT_EQ(kNever, wheel.next_expiration());
  EXPECT_TRUE(wheel.empty());
  // The cleared slots take new entries as usual.
  schedule(wheel, soon, 7);
  EXPECT_EQ(7u, wheel.next_expiration());
  EXPECT_EQ(1u, poll(wheel, 7).size());
}

TEST(TimerWheel, RemovingFromASharedSlotKeepsTheOthers) {
  TimerWheel wheel;
  std::vector<Timer> timers(3);
  for (Timer& t : timers) schedule(wheel, t, 4100);
  wheel.remove(&timers[0]);
  wheel.remove(&timers[2]);
  EXPECT_EQ(4096u, wheel.next_expiration());
  const std::vector<TimerEntry*> expired = poll(wheel, 4100);
  ASSERT_EQ(1u, expired.size());
  EXPECT_EQ(&timers[1], expired[0]);
}

TEST(TimerWheel, PastDeadlineIsDueAtTheNextPoll) {
  TimerWheel wheel;
  EXPECT_TRUE(poll(wheel, 100).empty());
  std::vector<Timer> timers(3);
  schedule(wheel, timers[0], 50);
  schedule(wheel, timers[1], 0);
  schedule(wheel, timers[2], 100);  // the tick just polled
  EXPECT_EQ(3u, wheel.size());
  // elapsed() - 1, the last tick polled: "poll without waiting".
  EXPECT_EQ(100u, wheel.next_expiration());
  EXPECT_LT(wheel.next_expiration(), wheel.elapsed());
  // Polling the same tick again is allowed and drains them.
  EXPECT_EQ(3u, poll(wheel, 100).size());
  EXPECT_EQ(101u, wheel.elapsed());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

TEST(TimerWheel, DueEntriesCanBeRemoved) {
  TimerWheel wheel;
  EXPECT_TRUE(poll(wheel, 100).empty());
  std::vector<Timer> timers(3);
  schedule(wheel, timers[0], 101);
  schedule(wheel, timers[1], 20);
  schedule(wheel, timers[2], 30);
  EXPECT_EQ(100u, wheel.next_expiration());
  wheel.remove(&timers[1]);
  wheel.remove(&timers[2]);
  EXPECT_EQ(101u, wheel.next_expiration());
  EXPECT_TRUE(poll(wheel, 100).empty());
  EXPECT_EQ(1u, poll(wheel, 101).size());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, ExpiredEntryCanBeScheduledAgain) {
  TimerWheel wheel;
  Timer t;
  schedule(wheel, t, 10);
  for (uint64_t when = 10; when < 100000; when += 997) {
    ASSERT_TRUE(poll(wheel, when - 1).empty());
    const std::vector<TimerEntry*> expired = poll(wheel, when);
    ASSERT_EQ(1u, expired.size());
    schedule(wheel, t, when + 997);
  }
  EXPECT_EQ(1u, wheel.size());
  wheel.remove(&t);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, BeyondTheRangeWaitsInOverflow) {
  TimerWheel wheel;
  std::vector<Timer> timers(1);
  schedule(wheel, timers[0], kRange + 5);
  EXPECT_EQ(1u, wheel.size());
  EXPECT_LE(wheel.next_expiration(), kRange + 5);
  const Ticks polls = tick_by_tick_around({kRange - 1, kRange, kRange + 5}, 0);
  run(wheel, polls);
  expect_fired_on_time(timers, polls);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, BeyondTheRangeFiresOnTimeAfterOneJump) {
  TimerWheel wheel;
  Timer t;
  schedule(wheel, t, kRange + 5);
  EXPECT_TRUE(poll(wheel, kRange + 4).empty());
  EXPECT_EQ(kRange + 5, wheel.next_expiration());
  EXPECT_EQ(1u, poll(wheel, kRange + 5).size());
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, NeverDeadlineNeverFires) {
  TimerWheel wheel;
  Timer never;
  schedule(wheel, never, kNever);
  EXPECT_EQ(1u, wheel.size());
  EXPECT_EQ(kNever, wheel.next_expiration());  // nothing to wake up for
  Ticks polls = jumps(0, uint64_t{1} << 40, uint64_t{1} << 33);
  const Ticks around = tick_by_tick_around({kRange, 2 * kRange}, 0);
  polls.insert(polls.end(), around.begin(), around.end());
  std::sort(polls.begin(), polls.end());
  polls.erase(std::unique(polls.begin(), polls.end()), polls.end());
  run(wheel, polls);
  EXPECT_EQ(0u, never.fired);
  EXPECT_EQ(1u, wheel.size());
  EXPECT_EQ(kNever, wheel.next_expiration());
  wheel.remove(&never);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

TEST(TimerWheel, FarDeadlinesInDaysOfMillisecondsFireOnTime) {
  // 3 and 30 days are in the wheel; 1000 days and 10 years are beyond 2^36
  // ticks (~795 days) and start in overflow.
  const Ticks ticks = {3 * kDay, 30 * kDay, 1000 * kDay, 3652 * kDay + 17};
  TimerWheel wheel;
  std::vector<Timer> timers(ticks.size());
  for (std::size_t i = 0; i < ticks.size(); ++i) schedule(wheel, timers[i], ticks[i]);
  // Hourly polls, plus one tick at a time around each deadline.
  Ticks polls = jumps(0, ticks.back(), 3600 * 1000);
  const Ticks around = tick_by_tick_around(ticks, 0);
  polls.insert(polls.end(), around.begin(), around.end());
  std::sort(polls.begin(), polls.end());
  polls.erase(std::unique(polls.begin(), polls.end()), polls.end());
  run(wheel, polls);
  expect_fired_on_time(timers, polls);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, FarDeadlinesFireOnTimeInDailyJumps) {
  const Ticks ticks = {3 * kDay, 30 * kDay, 1000 * kDay, 3652 * kDay + 17};
  TimerWheel wheel;
  std::vector<Timer> timers(ticks.size());
  for (std::size_t i = 0; i < ticks.size(); ++i) schedule(wheel, timers[i], ticks[i]);
  const Ticks polls = jumps(0, ticks.back(), kDay + 1);
  run(wheel, polls);
  expect_fired_on_time(timers, polls);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, OnePollAcrossTheWholeTickRange) {
  // Overflow is processed once per 2^36 span holding one of its ticks, not
  // once per 2^36 ticks crossed: this poll crosses 2^28 top-level turns, and
  // would not finish otherwise.
  TimerWheel wheel;
  std::vector<Timer> nevers(1000);
  for (Timer& t : nevers) schedule(wheel, t, kNever);
  std::vector<Timer> timers(20);
  for (std::size_t i = 0; i < timers.size(); ++i) {
    schedule(wheel, timers[i], (uint64_t{i} + 1) * (uint64_t{1} << 59) + 7);
  }
  EXPECT_EQ(timers.size(), poll(wheel, kNever - 1).size());
  EXPECT_EQ(nevers.size(), wheel.size());
  EXPECT_EQ(kNever, wheel.next_expiration());
  for (Timer& t : nevers) wheel.remove(&t);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, NearTheTopOfTheTickRange) {
  // The last 2^36 span of the tick range has no boundary above it, and
  // kNever is within range there.
  const uint64_t last_span = kNever - (kRange - 1);
  TimerWheel wheel;
  start_at(wheel, last_span - 1000);
  std::vector<Timer> timers(4);
  schedule(wheel, timers[0], last_span + 5);  // top level, next turn
  schedule(wheel, timers[1], kNever - 1);     // overflow
  schedule(wheel, timers[2], kNever - 2);     // overflow
  Timer never;
  schedule(wheel, never, kNever);  // overflow
  EXPECT_EQ(last_span, wheel.next_expiration());
  Ticks polls = tick_by_tick_around({last_span, last_span + 5}, wheel.elapsed());
  run(wheel, polls);
  // Overflow has moved into the wheel; this one goes there directly.
  schedule(wheel, timers[3], kNever - 3);
  const Ticks last = {kNever - 5, kNever - 4, kNever - 3, kNever - 2, kNever - 1};
  run(wheel, last);
  polls.insert(polls.end(), last.begin(), last.end());
  expect_fired_on_time(timers, polls);
  EXPECT_EQ(0u, never.fired);
  EXPECT_EQ(kNever, wheel.elapsed());
  ASSERT_EQ(1u, wheel.size());
  EXPECT_EQ(kNever, wheel.next_expiration());
  // Even here a deadline already polled is due at the next poll.
  Timer late;
  schedule(wheel, late, 5);
  EXPECT_EQ(kNever - 1, wheel.next_expiration());
  EXPECT_EQ(1u, poll(wheel, kNever - 1).size());
  wheel.remove(&never);
  EXPECT_TRUE(wheel.empty());
}

// Random inserts, removes and polls with jumps of every scale, checked after
// each step against a sorted multimap: each poll returns exactly the entries
// whose tick is <= now, and next_expiration() is never later than the
// earliest tick (and is elapsed() - 1 exactly when something is overdue).
class TimerWheelModel : public ::testing::TestWithParam<uint64_t> {};

uint64_t random_deadline(std::mt19937_64& rng, uint64_t elapsed) {
  const unsigned kind = static_cast<unsigned>(rng() % 12);
  if (kind == 0) return elapsed == 0 ? 0 : elapsed - 1 - rng() % std::min<uint64_t>(elapsed, 200);
  if (kind == 1) return kNever;
  // Distances of every scale: within a level-0 span up to past the range.
  static const unsigned kBits[] = {0, 6, 6, 12, 12, 18, 24, 30, 36, 38};
  const uint64_t distance = rng() & ((uint64_t{1} << kBits[kind - 2]) - 1);
  return distance > kNever - elapsed ? kNever : elapsed + distance;
}

// The next poll: a random jump of any scale, or one that lands exactly on a
// tick where something happens (just before or at the next expiration or the
// earliest deadline, or just before a slot boundary of some level), since
// those are where an off-by-one would hide.
uint64_t random_poll(std::mt19937_64& rng, const TimerWheel& wheel,
                     const std::multimap<uint64_t, Timer*>& model) {
  const uint64_t last = wheel.elapsed() - 1;  // elapsed() > 0: origin >= 1
  const uint64_t back = rng() % 2;
  uint64_t now = last;
  switch (rng() % 4) {
    case 0: {
      const uint64_t next = wheel.next_expiration();
      if (next != kNever && next >= back) now = next - back;
      break;
    }
    case 1:
      if (!model.empty() && model.begin()->first >= back) now = model.begin()->first - back;
      break;
    case 2: {
      const unsigned bits = 6 * (1 + static_cast<unsigned>(rng() % 6));
      const uint64_t span = uint64_t{1} << bits;
      const uint64_t boundary = (last | (span - 1));  // the tick before a boundary
      now = boundary == kNever ? kNever - 1 : boundary;
      break;
    }
    default: {
      static const unsigned kBits[] = {0, 1, 3, 6, 7, 12, 13, 18, 24, 31, 37};
      const unsigned bits = kBits[rng() % (sizeof kBits / sizeof kBits[0])];
      const uint64_t jump = rng() & ((uint64_t{1} << bits) - 1);
      now = jump >= kNever - last ? kNever - 1 : last + jump;
    }
  }
  return std::min(std::max(now, last), kNever - 1);
}

TEST_P(TimerWheelModel, AgreesWithASortedMultimap) {
  const uint64_t origin = GetParam();
  std::mt19937_64 rng(origin ^ 0x5eedu);
  TimerWheel wheel;
  start_at(wheel, origin);
  std::vector<Timer> pool(3000);
  std::vector<Timer*> idle;
  for (Timer& t : pool) idle.push_back(&t);
  std::multimap<uint64_t, Timer*> model;
  std::vector<TimerEntry*> expired;

  for (int step = 0; step < 60000; ++step) {
    const unsigned op = static_cast<unsigned>(rng() % 20);
    if (op < 11 && !idle.empty()) {
      Timer* t = idle.back();
      idle.pop_back();
      schedule(wheel, *t, random_deadline(rng, wheel.elapsed()));
      model.emplace(t->when, t);
    } else if (op < 15) {
      Timer* t = &pool[rng() % pool.size()];
      if (t->list == nullptr) continue;  // not scheduled
      wheel.remove(t);
      ASSERT_EQ(nullptr, t->list);
      auto range = model.equal_range(t->when);
      const auto is_t = [t](const std::pair<const uint64_t, Timer*>& kv) { return kv.second == t; };
      const auto it = std::find_if(range.first, range.second, is_t);
      ASSERT_NE(range.second, it);
      model.erase(it);
      idle.push_back(t);
    } else {
      const uint64_t now = random_poll(rng, wheel, model);
      expired.clear();
      wheel.poll(now, expired);
      std::vector<TimerEntry*> want;
      while (!model.empty() && model.begin()->first <= now) {
        want.push_back(model.begin()->second);
        idle.push_back(model.begin()->second);
        model.erase(model.begin());
      }
      std::sort(want.begin(), want.end());
      std::sort(expired.begin(), expired.end());
      ASSERT_EQ(want, expired) << "step " << step << ", poll " << now;
    }
    ASSERT_EQ(model.size(), wheel.size()) << "step " << step;
    const uint64_t next = wheel.next_expiration();
    if (model.empty()) {
      ASSERT_EQ(kNever, next) << "step " << step;
    } else if (model.begin()->first < wheel.elapsed()) {
      ASSERT_EQ(wheel.elapsed() - 1, next) << "step " << step;
    } else {
      ASSERT_GE(next, wheel.elapsed()) << "step " << step;
      ASSERT_LE(next, model.begin()->first) << "step " << step;
    }
  }
  for (auto& kv : model) wheel.remove(kv.second);
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(kNever, wheel.next_expiration());
}

// Origins: the start, just below the top level's first wrap, mid-range, and
// two spans below the end of the tick range.
INSTANTIATE_TEST_SUITE_P(Origins, TimerWheelModel,
                         ::testing::Values(uint64_t{1}, kRange - 5000, 5 * kRange - 1234567,
                                           kNever - 2 * kRange));

// The loop's benchmark pattern: a million deadlines spread over [1000, 600000].
std::vector<Timer> million_timers() {
  std::vector<Timer> timers(1000000);
  uint64_t x = 1;
  for (Timer& t : timers) t.when = 1000 + (lcg(x) >> 33) % 599001;
  return timers;
}

TEST(TimerWheel, MillionInsertedThenRemovedLeavesItEmpty) {
  TimerWheel wheel;
  std::vector<Timer> timers = million_timers();
  for (Timer& t : timers) wheel.insert(&t);
  EXPECT_EQ(timers.size(), wheel.size());
  EXPECT_LE(wheel.next_expiration(), 1000u);
  // Remove in an order unrelated to insertion: a stride coprime to the count.
  for (std::size_t i = 0, k = 0; i < timers.size(); ++i, k = (k + 7919) % timers.size()) {
    wheel.remove(&timers[k]);
  }
  EXPECT_EQ(0u, wheel.size());
  EXPECT_EQ(kNever, wheel.next_expiration());
  EXPECT_TRUE(poll(wheel, 600000).empty());
}

TEST(TimerWheel, MillionFireOnceNeverEarlyInRandomJumps) {
  TimerWheel wheel;
  std::vector<Timer> timers = million_timers();
  for (Timer& t : timers) wheel.insert(&t);
  Ticks polls;
  std::mt19937_64 rng(42);
  for (uint64_t now = 0; now < 600000;) {
    now = std::min<uint64_t>(now + 1 + rng() % 5000, 600000);
    polls.push_back(now);
  }
  run(wheel, polls);
  expect_fired_on_time(timers, polls);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, MillionFireExactlyOnTimeTickByTick) {
  TimerWheel wheel;
  std::vector<Timer> timers = million_timers();
  for (Timer& t : timers) wheel.insert(&t);
  Ticks polls;
  for (uint64_t now = 0; now <= 600000; ++now) polls.push_back(now);
  run(wheel, polls);
  for (const Timer& t : timers) {
    ASSERT_EQ(1u, t.fired);
    ASSERT_EQ(t.when, t.fired_at);
  }
  EXPECT_TRUE(wheel.empty());
}

}  // namespace
}  // namespace detail
}  // namespace weft

// reactor/clock.hpp — internal header of reactor/ (not installed).
//
// Converts between the steady clock and the timer wheel's ticks, as Tokio's
// time/source.rs. A tick is one millisecond counted from the loop's start.
// A deadline maps to the tick at or after it (rounded up) and the present
// maps to the tick at or before it (rounded down), so a timer is handed out
// only when floor(now) >= ceil(deadline): never early, at most ~1 ms late.
#pragma once

#include <chrono>
#include <cstdint>

#include "reactor/timer_wheel.hpp"

namespace weft {
namespace detail {

class TickClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  explicit TickClock(time_point start) : start_(start) {}

  // The first tick at or after t; TimerWheel::kNever for time_point::max().
  uint64_t deadline_tick(time_point t) const {
    if (t == time_point::max()) return TimerWheel::kNever;
    if (t <= start_) return 0;
    const uint64_t ns = static_cast<uint64_t>((t - start_).count());
    return ns / kNsPerTick + (ns % kNsPerTick != 0 ? 1 : 0);
  }

  // The last tick at or before t.
  uint64_t now_tick(time_point t) const {
    if (t <= start_) return 0;
    return static_cast<uint64_t>((t - start_).count()) / kNsPerTick;
  }

  // When tick begins; time_point::max() if that is past the clock's range.
  time_point tick_start(uint64_t tick) const {
    const uint64_t room = static_cast<uint64_t>((time_point::max() - start_).count()) / kNsPerTick;
    if (tick >= room) return time_point::max();
    return start_ + duration(static_cast<duration::rep>(tick * kNsPerTick));
  }

 private:
  static_assert(std::is_same<duration, std::chrono::nanoseconds>::value,
                "the tick arithmetic assumes a nanosecond steady clock");
  static constexpr uint64_t kNsPerTick = 1000000;  // 1 ms

  time_point start_;
};

}  // namespace detail
}  // namespace weft

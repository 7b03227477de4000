// Helpers shared by the reactor tests.
#pragma once

#include <chrono>
#include <functional>

#include "weft/reactor/loop.hpp"

namespace weft_test {

// Runs iterations of `loop` until `done()` holds or `limit` passes (a
// generous bound: the machine is small and often loaded). Returns done().
inline bool run_until(weft::Loop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    // A short timer bounds each blocking poll, so the limit is honoured even
    // if the awaited event never comes.
    weft::TimerHandle tick = loop.call_later(std::chrono::milliseconds(10), [] {});
    loop.run_once();
    tick.cancel();
  }
  return true;
}

}  // namespace weft_test

// tools/bench/reactor_workloads.cpp — the reactor-level workloads of
// BENCHMARKS.md: no tasks, plain loop callbacks.
#include <vector>

#include "tools/bench/report.hpp"
#include "weft/reactor/loop.hpp"

namespace weft_bench {

// A chain of 1,000,000 call_soon callbacks, each scheduling the next.
void run_callbacks() {
  constexpr long kOps = 1000000;
  weft::Loop loop;
  long count = 0;
  struct Step {
    weft::Loop* loop;
    long* count;
    void operator()() const {
      if (++*count < kOps) {
        loop->call_soon(Step{loop, count});
      } else {
        loop->stop();
      }
    }
  };
  const double t0 = now_s();
  loop.call_soon(Step{&loop, &count});
  loop.run_forever();
  const double wall = now_s() - t0;
  if (count != kOps) fail("callbacks", "ran " + std::to_string(count) + " callbacks");
  bench_line("callbacks", {{"ns_per_op", wall * 1e9 / kOps}});
}

// 1,000,000 call_later with delays in [1 s, 600 s], then all cancelled.
void run_timer_churn() {
  constexpr std::size_t kOps = 1000000;
  weft::Loop loop;
  std::vector<weft::TimerHandle> handles;
  handles.reserve(kOps);
  Lcg lcg;
  long fired = 0;
  const double t0 = now_s();
  for (std::size_t i = 0; i < kOps; ++i) {
    handles.push_back(loop.call_later(std::chrono::milliseconds(lcg.next_churn_ms()), [&fired] { ++fired; }));
  }
  std::size_t cancelled = 0;
  for (weft::TimerHandle& h : handles) cancelled += h.cancel() ? 1 : 0;
  const double wall = now_s() - t0;
  loop.run_once(false);
  if (cancelled != kOps || fired != 0) {
    fail("timer_churn", "cancelled " + std::to_string(cancelled) + ", fired " + std::to_string(fired));
  }
  bench_line("timer_churn", {{"ns_per_op", wall * 1e9 / static_cast<double>(kOps)}});
}

}  // namespace weft_bench

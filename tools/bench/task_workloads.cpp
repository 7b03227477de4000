// tools/bench/task_workloads.cpp — the task-level workloads of BENCHMARKS.md:
// spawn, switch, timers, parked.
#include <string>
#include <vector>

#include "tools/bench/report.hpp"
#include "weft/weft.hpp"

namespace weft_bench {

// N tasks that each return their index, then all joined; the sum is checked.
void run_spawn() {
  constexpr long kTasks = 200000;
  const long rss_before = rss_kib();
  (void)rss_before;
  const double t0 = now_s();
  const long sum = weft::run([] {
    std::vector<weft::Task<long>> tasks;
    tasks.reserve(kTasks);
    for (long i = 0; i < kTasks; ++i) tasks.push_back(weft::create_task([i] { return i; }));
    long total = 0;
    for (auto& t : tasks) total += t.get();
    return total;
  });
  const double wall = now_s() - t0;
  if (sum != kTasks * (kTasks - 1) / 2) fail("spawn", "sum " + std::to_string(sum));
  bench_line("spawn", {{"ns_per_op", wall * 1e9 / kTasks}, {"peak_rss_mib", peak_rss_kib() / 1024.0}});
}

// Two tasks that each yield 1,000,000 times.
void run_switch() {
  constexpr long kYields = 1000000;
  long count = 0;
  double wall = 0;
  weft::run([&] {
    auto body = [&count] {
      for (long i = 0; i < kYields; ++i) {
        weft::yield();
        ++count;
      }
    };
    const double t0 = now_s();
    auto a = weft::create_task(body);
    auto b = weft::create_task(body);
    a.get();
    b.get();
    wall = now_s() - t0;
  });
  if (count != 2 * kYields) fail("switch", "yields " + std::to_string(count));
  bench_line("switch", {{"ns_per_op", wall * 1e9 / (2.0 * kYields)}});
}

// 100,000 tasks each sleep an LCG duration in [0, 1000] ms.
void run_timers() {
  constexpr long kTasks = 100000;
  long finished = 0;
  double wall = 0;
  double cpu = 0;
  weft::run([&] {
    Lcg lcg;
    std::vector<unsigned> delays(kTasks);
    for (auto& d : delays) d = lcg.next_ms();
    const double c0 = cpu_s();
    const double t0 = now_s();
    std::vector<weft::Task<void>> tasks;
    tasks.reserve(kTasks);
    for (long i = 0; i < kTasks; ++i) {
      const unsigned ms = delays[static_cast<std::size_t>(i)];
      tasks.push_back(weft::create_task([ms, &finished] {
        weft::sleep(std::chrono::milliseconds(ms));
        ++finished;
      }));
    }
    for (auto& t : tasks) t.get();
    wall = now_s() - t0;
    cpu = cpu_s() - c0;
  });
  if (finished != kTasks) fail("timers", "finished " + std::to_string(finished));
  bench_line("timers", {{"cpu_s", cpu}, {"overshoot_ms", wall * 1000.0 - 1000.0}});
}

// 100,000 tasks wait on one event; once all wait, it is set and all finish.
void run_parked() {
  constexpr long kTasks = 100000;
  long finished = 0;
  double wall = 0;
  long rss_growth = 0;
  weft::run([&] {
    weft::Future<void> event;
    const long rss0 = rss_kib();
    const double t0 = now_s();
    std::vector<weft::Task<void>> tasks;
    tasks.reserve(kTasks);
    for (long i = 0; i < kTasks; ++i) {
      tasks.push_back(weft::create_task([event, &finished]() mutable {
        event.get();
        ++finished;
      }));
    }
    weft::yield();  // every task starts and parks
    rss_growth = peak_rss_kib() - rss0;
    event.set_result();
    for (auto& t : tasks) t.get();
    wall = now_s() - t0;
  });
  if (finished != kTasks) fail("parked", "finished " + std::to_string(finished));
  bench_line("parked", {{"kib_per_task", static_cast<double>(rss_growth) / kTasks}, {"ns_per_op", wall * 1e9 / kTasks}});
}

}  // namespace weft_bench

// tools/bench/task_workloads.cpp — the task-level workloads of BENCHMARKS.md:
// spawn, switch, timers, parked.
#include <string>
#include <tuple>
#include <vector>

#include "tools/bench/report.hpp"
#include "weft/weft.hpp"

namespace weft_bench {

// N tasks that each return their index, then all joined; the sum is checked.
void run_spawn() {
  constexpr long kTasks = 200000;
  const double t0 = now_s();
  const long sum = weft::run([] {
    std::vector<weft::Task<long>> tasks;
    tasks.reserve(kTasks);
    for (long i = 0; i < kTasks; ++i) tasks.push_back(weft::create_task([i] { return i; }));
    long total = 0;
    for (long v : weft::gather(tasks)) total += v;
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

// An integer goes ping -> q1 -> pong -> q2 -> ping, 500,000 round trips,
// through two unbounded queues as asyncio's anchor does.
void run_pingpong() {
  constexpr long kTrips = 500000;
  long value = 0;
  double wall = 0;
  weft::run([&] {
    weft::Queue<long> q1;
    weft::Queue<long> q2;
    const double t0 = now_s();
    auto ping = weft::create_task([&] {
      long v = 0;
      for (long i = 0; i < kTrips; ++i) {
        q1.put(v);
        v = q2.get();
      }
      return v;
    });
    auto pong = weft::create_task([&] {
      for (long i = 0; i < kTrips; ++i) q2.put(q1.get() + 1);
    });
    value = std::get<0>(weft::gather(ping, pong));
    wall = now_s() - t0;
  });
  if (value != kTrips) fail("pingpong", "value " + std::to_string(value));
  bench_line("pingpong", {{"ns_per_op", wall * 1e9 / kTrips}});
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
    weft::gather(tasks);
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
    weft::Event event;
    const long rss0 = rss_kib();
    const double t0 = now_s();
    std::vector<weft::Task<void>> tasks;
    tasks.reserve(kTasks);
    for (long i = 0; i < kTasks; ++i) {
      tasks.push_back(weft::create_task([&event, &finished] {
        event.wait();
        ++finished;
      }));
    }
    weft::yield();  // every task starts and parks
    rss_growth = peak_rss_kib() - rss0;
    event.set();
    weft::gather(tasks);
    wall = now_s() - t0;
  });
  if (finished != kTasks) fail("parked", "finished " + std::to_string(finished));
  bench_line("parked", {{"kib_per_task", static_cast<double>(rss_growth) / kTasks}, {"ns_per_op", wall * 1e9 / kTasks}});
}

}  // namespace weft_bench

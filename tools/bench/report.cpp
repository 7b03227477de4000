// tools/bench/report.cpp — BENCH lines, clocks and memory readings.
#include "tools/bench/report.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace weft_bench {
namespace {

// Digits after the point for each metric, as BENCHMARKS.md prescribes.
int metric_precision(const char* metric) {
  static const struct {
    const char* name;
    int digits;
  } kFormats[] = {{"ns_per_op", 1},    {"peak_rss_mib", 1}, {"cpu_s", 3},
                  {"overshoot_ms", 1}, {"kib_per_task", 3}, {"rtt_per_s", 0},
                  {"req_per_s", 0},    {"wall_ms", 1},      {"mib_per_s", 1}};
  for (const auto& row : kFormats) {
    if (std::strcmp(row.name, metric) == 0) return row.digits;
  }
  return 3;
}

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::atol(line.c_str() + n + 1);
    }
  }
  return -1;
}

}  // namespace

void bench_line(const char* workload, const std::vector<std::pair<const char*, double>>& metrics) {
  std::printf("BENCH %s weft", workload);
  for (const auto& m : metrics) {
    std::printf(" %s=%.*f", m.first, metric_precision(m.first), m.second);
  }
  std::printf("\n");
  std::fflush(stdout);
}

ServerOptions& server_options() {
  static ServerOptions options;
  return options;
}

void fail(const char* workload, const std::string& why) {
  std::fflush(stdout);
  std::fprintf(stderr, "FAIL %s: %s\n", workload, why.c_str());
  std::exit(1);
}

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long rss_kib() { return status_kib("VmRSS"); }
long peak_rss_kib() { return status_kib("VmHWM"); }

}  // namespace weft_bench

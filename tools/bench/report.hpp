// tools/bench/report.hpp — what every weft-bench workload shares: the BENCH
// line format of BENCHMARKS.md, the clocks, memory readings and the LCG.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace weft_bench {

// Prints `BENCH <workload> weft <metric>=<value> ...` in BENCHMARKS.md's
// formats, on stdout, flushed.
void bench_line(const char* workload, const std::vector<std::pair<const char*, double>>& metrics);

// A failed check: `FAIL <workload>: why` on stderr. The workload's runner
// then exits 1 without printing a BENCH line.
[[noreturn]] void fail(const char* workload, const std::string& why);

double now_s();      // steady clock, seconds
double cpu_s();      // user + system CPU time of the process, seconds
long rss_kib();      // resident set size now
long peak_rss_kib(); // peak resident set size (VmHWM)

// BENCHMARKS.md's LCG: seed 42, x = x * 6364136223846793005 + 1442695040888963407.
struct Lcg {
  uint64_t x = 42;
  uint64_t next() {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
  }
  unsigned next_ms() { return static_cast<unsigned>((next() >> 33) % 1001); }
  unsigned next_churn_ms() { return static_cast<unsigned>(1000 + (next() >> 33) % 599001); }
};

// Workloads, one function each; each runs in a fresh process.
// The servers given on the command line (main.cpp sets them before a
// workload runs): the harness nginx's port, its TLS port and CA file.
struct ServerOptions {
  int port = 0;
  int tls_port = 0;
  std::string cacert;
};
ServerOptions& server_options();

void run_callbacks();
void run_timer_churn();
void run_spawn();
void run_switch();
void run_pingpong();
void run_timers();
void run_parked();
void run_echo();
void run_http();
void run_fetch_all();
void run_download();
void run_https();

}  // namespace weft_bench

// tools/bench/http_workloads.cpp — the HTTP workloads of BENCHMARKS.md:
// http, fetch_all and download, against the harness nginx on 127.0.0.1
// (--port), through weft::http::ClientSession.
#include <string>
#include <vector>

#include "tools/bench/report.hpp"
#include "weft/weft.hpp"

namespace weft_bench {
namespace {

std::string base_url() { return "http://127.0.0.1:" + std::to_string(server_options().port); }

}  // namespace

// 64 tasks share one session and pull from one count of 100,000 GETs of
// /1k.bin; every response must be a 200 with a 1,024-byte body. The clock
// covers the requests, not the session's creation. `https` does the same
// over TLS, verifying the server against the harness's CA.
void get_1k_many(const char* workload, bool tls) {
  constexpr long kRequests = 100000;
  constexpr int kInFlight = 64;
  long left = kRequests;
  long good = 0;
  std::string failure;
  double wall = 0;
  weft::run([&] {
    weft::http::SessionOptions options;
    std::string url = base_url() + "/1k.bin";
    if (tls) {
      weft::TlsOptions trust;
      trust.cafile = server_options().cacert;
      options.connector.ssl = weft::TlsContext::client(trust);
      url = "https://127.0.0.1:" + std::to_string(server_options().tls_port) + "/1k.bin";
    }
    weft::http::ClientSession session(options);
    const double t0 = now_s();
    std::vector<weft::Task<void>> workers;
    for (int w = 0; w < kInFlight; ++w) {
      workers.push_back(weft::create_task([&] {
        while (left > 0 && failure.empty()) {
          --left;
          weft::http::Response response = session.get(url);
          const std::string body = response.read();
          if (response.status() != 200 || body.size() != 1024) {
            failure = "status " + std::to_string(response.status()) + ", " + std::to_string(body.size()) + " bytes";
            return;
          }
          ++good;
        }
      }));
    }
    for (auto& worker : workers) worker.get();
    wall = now_s() - t0;
  });
  if (!failure.empty()) fail(workload, failure);
  if (good != kRequests) fail(workload, std::to_string(good) + " of " + std::to_string(kRequests) + " responses");
  bench_line(workload, {{"req_per_s", kRequests / wall}});
}

void run_http() { get_1k_many("http", false); }
void run_https() { get_1k_many("https", true); }

// The seed example: one session gathers 1,000 GETs of /f/0.bin ..
// /f/999.bin, at most 100 in flight (the session's connector limit, as
// aiohttp's), each body checked to be 1,024 bytes starting "<i> ". The
// clock covers everything from opening the session to closing it.
void run_fetch_all() {
  constexpr int kUrls = 1000;
  int good = 0;
  std::string failure;
  double wall = 0;
  weft::run([&] {
    const std::string base = base_url();
    const double t0 = now_s();
    {
      weft::http::ClientSession session;
      std::vector<weft::Task<void>> fetches;
      fetches.reserve(kUrls);
      for (int i = 0; i < kUrls; ++i) {
        fetches.push_back(weft::create_task([&, i] {
          weft::http::Response response = session.get(base + "/f/" + std::to_string(i) + ".bin");
          const std::string body = response.read();
          const std::string head = std::to_string(i) + " ";
          if (response.status() != 200 || body.size() != 1024 || body.compare(0, head.size(), head) != 0) {
            failure = "wrong response for /f/" + std::to_string(i) + ".bin";
            return;
          }
          ++good;
        }));
      }
      weft::gather(fetches);
    }
    wall = now_s() - t0;
  });
  if (!failure.empty()) fail("fetch_all", failure);
  if (good != kUrls) fail("fetch_all", std::to_string(good) + " of " + std::to_string(kUrls) + " responses");
  bench_line("fetch_all", {{"wall_ms", wall * 1e3}});
}

// One GET of /256m.bin, the body streamed through content().read() into a
// 64 KiB buffer, counted and dropped.
void run_download() {
  const unsigned long long kSize = 256ULL << 20;
  unsigned long long got = 0;
  int status = 0;
  double wall = 0;
  weft::run([&] {
    weft::http::ClientSession session;
    const std::string url = base_url() + "/256m.bin";
    const double t0 = now_s();
    weft::http::Response response = session.get(url);
    status = response.status();
    static char chunk[64 * 1024];
    for (;;) {
      const std::size_t n = response.content().read(chunk, sizeof chunk);
      if (n == 0) break;
      got += n;
    }
    wall = now_s() - t0;
  });
  if (status != 200) fail("download", "status " + std::to_string(status));
  if (got != kSize) fail("download", std::to_string(got) + " of " + std::to_string(kSize) + " bytes");
  bench_line("download", {{"mib_per_s", static_cast<double>(got) / double(1 << 20) / wall}});
}

}  // namespace weft_bench

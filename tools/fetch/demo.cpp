// tools/fetch/demo.cpp — the demo: a server and a client in one process, on
// one loop, the same 20 requests made one by one and then all at once.
#include "tools/fetch/demo.hpp"

#include <chrono>
#include <cstdio>
#include <string>

#include "tools/fetch/demo_server.hpp"
#include "tools/fetch/fetcher.hpp"
#include "weft/fiber/runners.hpp"

namespace weft_fetch {
namespace {

constexpr std::size_t kRequests = 20;
constexpr std::chrono::milliseconds kResponseDelay(100);

// Quiet, but for failures: the demo prints only its three lines.
class FailurePrinter : public FetchObserver {
 public:
  void started(const std::string&) override {}
  void finished(const FetchResult& result) override {
    if (result.ok()) return;
    std::fprintf(stderr, "weft-fetch demo: %s: %s: %s\n", result.url.c_str(), result.error_type.c_str(),
                 result.error_message.c_str());
  }
};

// Times fetching every URL of `options` with `concurrency` requests in flight.
FetchTotals fetch_with(FetchOptions options, std::size_t concurrency) {
  options.concurrency = concurrency;
  const OutputDir no_output;
  FailurePrinter observer;
  return fetch_all(options, no_output, observer);
}

void print_comparison(const FetchTotals& sequential, const FetchTotals& concurrent) {
  std::printf("sequential: %zu requests in %.0f ms\n", sequential.urls(), sequential.elapsed_ms);
  std::printf("concurrent: %zu requests in %.0f ms\n", concurrent.urls(), concurrent.elapsed_ms);
  // "\xC3\x97" is U+00D7, the multiplication sign, in UTF-8.
  std::printf("speed-up: %.1f\xC3\x97\n", sequential.elapsed_ms / concurrent.elapsed_ms);
  std::fflush(stdout);
}

}  // namespace

int run_demo() {
  return weft::run([] {
    DemoServer server(kResponseDelay);
    FetchOptions options;
    for (std::size_t i = 0; i < kRequests; ++i) {
      options.urls.push_back("http://127.0.0.1:" + std::to_string(server.port()) + "/" + std::to_string(i));
    }
    const FetchTotals sequential = fetch_with(options, 1);
    const FetchTotals concurrent = fetch_with(options, kRequests);
    server.close();
    print_comparison(sequential, concurrent);
    return sequential.failed + concurrent.failed == 0 ? kExitOk : kExitFailures;
  });
}

}  // namespace weft_fetch

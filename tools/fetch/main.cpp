// weft-fetch — fetches URLs concurrently through weft's HTTP client, the
// client's outside face (DESIGN.md, "Command-line tools"):
//
//   weft-fetch                      # no arguments at all: the demo
//   weft-fetch [--json] [--concurrency N] [--timeout S] [--max-redirects N]
//              [--cacert FILE | --insecure] [-X METHOD] [-H 'K: V']...
//              [-d DATA] [-o DIR] [--] URL...
//
// The pieces: options.hpp (the command line), fetcher.hpp (the fetching),
// report.hpp (what is printed), saved_bodies.hpp (-o), demo.hpp (the demo).
// Exit status: 0 if every URL succeeded, 1 if any failed, 2 on a usage
// error.
#include <cstdio>
#include <exception>

#include "tools/fetch/demo.hpp"
#include "tools/fetch/fetcher.hpp"
#include "tools/fetch/options.hpp"
#include "tools/fetch/report.hpp"
#include "tools/fetch/saved_bodies.hpp"
#include "weft/fiber/runners.hpp"

namespace weft_fetch {
namespace {

// Fetches the URLs of a parsed command line and reports them; returns the
// exit status.
int run_fetch(const CommandLine& line) {
  OutputDir output;
  if (!line.options.output_dir.empty()) {
    try {
      output = OutputDir(line.options.output_dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weft-fetch: -o: %s\n", e.what());
      return kExitUsage;
    }
  }
  return weft::run([&] {
    ConsoleReport report(line.json, line.options.urls.size());
    const FetchTotals totals = fetch_all(line.options, output, report);
    report.summary(totals);
    return totals.failed == 0 ? kExitOk : kExitFailures;
  });
}

int run(int argc, char** argv) {
  const CommandLine line = parse_command_line(argc, argv);
  switch (line.action) {
    case CommandLine::Action::kExit:
      return line.exit_status;
    case CommandLine::Action::kDemo:
      return run_demo();
    case CommandLine::Action::kFetch:
      return run_fetch(line);
  }
  return kExitUsage;  // not reached: every action is handled above
}

}  // namespace
}  // namespace weft_fetch

int main(int argc, char** argv) {
  try {
    return weft_fetch::run(argc, argv);
  } catch (const std::exception& e) {
    // Not a URL's failure (those are results): weft itself could not run.
    std::fprintf(stderr, "weft-fetch: %s\n", e.what());
    return weft_fetch::kExitFailures;
  }
}

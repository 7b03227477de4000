// tools/fetch/report.hpp — what weft-fetch prints (DESIGN.md, "Command-line
// tools"): a table line or a JSON line per URL as it completes, a summary,
// and a progress bar on stderr when stderr is a terminal.
//
// The table, one line per URL, columns aligned:
//
//     200    1.2 KiB    12.3 ms  http://example.org/final
//     404       10 B     2.0 ms  http://example.org/missing
//     ERR          -     0.4 ms  http://127.0.0.1:1/  ClientConnectorError: ...
//     3 URLs: 2 succeeded, 1 failed; 1.2 KiB in 14.9 ms
//
// With --json, stdout holds only JSON lines, their keys in DESIGN.md's
// order; the summary and the progress bar go to stderr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/fetch/fetcher.hpp"

namespace weft_fetch {

// One JSON object, without a newline. Bytes that are not UTF-8 (in a
// header, say) become U+FFFD.
std::string json_line(const FetchResult& result);
// One table line, without a newline.
std::string table_line(const FetchResult& result);
// "3 URLs: 2 succeeded, 1 failed; 1.2 KiB in 14.9 ms", without a newline.
std::string summary_line(const FetchTotals& totals);
// "512 B", "1.2 KiB", "3.4 MiB", "5.6 GiB".
std::string format_size(std::uint64_t bytes);

// A one-line bar on stderr, redrawn in place; does nothing unless enabled.
class ProgressBar {
 public:
  ProgressBar(std::size_t total, bool enabled) : total_(total), enabled_(enabled) {}
  // Draws the bar for the counts given.
  void draw(std::size_t done, std::size_t in_flight, std::size_t failed);
  // Erases it, so that a line can be printed where it was.
  void clear();

 private:
  std::size_t total_;
  bool enabled_;
  bool shown_ = false;
};

// The observer of a weft-fetch run: prints each result, keeps the bar
// up to date, and prints the summary.
class ConsoleReport : public FetchObserver {
 public:
  // The bar is shown when stderr is a terminal.
  ConsoleReport(bool json, std::size_t urls);

  void started(const std::string& url) override;
  void finished(const FetchResult& result) override;
  // Erases the bar and prints the summary (to stderr with --json).
  void summary(const FetchTotals& totals);

 private:
  bool json_;
  ProgressBar bar_;
  std::size_t done_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t failed_ = 0;
};

}  // namespace weft_fetch

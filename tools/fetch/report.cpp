// tools/fetch/report.cpp — weft-fetch's table, JSON lines, summary and
// progress bar.
#include "tools/fetch/report.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace weft_fetch {
namespace {

constexpr int kBarWidth = 30;

// elapsed_ms to the microsecond: enough, and short when printed.
double round_to_microseconds(double ms) { return std::round(ms * 1000) / 1000; }

// Writes `line` and a newline (fwrite: a line may hold any byte).
void put_line(std::FILE* out, const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), out);
  std::fputc('\n', out);
  std::fflush(out);
}

// "12.3": one decimal, for sizes and times.
std::string one_decimal(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

nlohmann::ordered_json headers_json(const weft::http::Headers& headers) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::array();
  for (const auto& field : headers) fields.push_back({field.first, field.second});
  return fields;
}

nlohmann::ordered_json error_json(const FetchResult& result) {
  if (result.ok()) return nullptr;
  nlohmann::ordered_json error;
  error["type"] = result.error_type;
  error["message"] = result.error_message;
  return error;
}

}  // namespace

std::string json_line(const FetchResult& result) {
  const bool ok = result.ok();
  nlohmann::ordered_json line;
  line["url"] = result.url;
  line["final_url"] = result.final_url;
  line["status"] = ok ? nlohmann::ordered_json(result.status) : nullptr;
  line["reason"] = ok ? nlohmann::ordered_json(result.reason) : nullptr;
  line["headers"] = ok ? headers_json(result.headers) : nullptr;
  line["body_bytes"] = ok ? nlohmann::ordered_json(result.body_bytes) : nullptr;
  line["body_sha256"] = ok ? nlohmann::ordered_json(result.body_sha256) : nullptr;
  line["redirects"] = result.redirects;
  line["elapsed_ms"] = round_to_microseconds(result.elapsed_ms);
  line["error"] = error_json(result);
  // ensure_ascii off (UTF-8 stays UTF-8); invalid UTF-8 becomes U+FFFD.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string table_line(const FetchResult& result) {
  char columns[64];
  const std::string status = result.ok() ? std::to_string(result.status) : "ERR";
  const std::string size = result.ok() ? format_size(result.body_bytes) : "-";
  const std::string time = one_decimal(result.elapsed_ms) + " ms";
  std::snprintf(columns, sizeof columns, "%-3s %10s %10s  ", status.c_str(), size.c_str(), time.c_str());
  if (result.ok()) return columns + result.final_url;
  return columns + result.url + "  " + result.error_type + ": " + result.error_message;
}

std::string summary_line(const FetchTotals& totals) {
  return std::to_string(totals.urls()) + (totals.urls() == 1 ? " URL: " : " URLs: ") +
         std::to_string(totals.succeeded) + " succeeded, " + std::to_string(totals.failed) + " failed; " +
         format_size(totals.body_bytes) + " in " + one_decimal(totals.elapsed_ms) + " ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < sizeof kUnits / sizeof kUnits[0]) {
    value /= 1024;
    ++unit;
  }
  return one_decimal(value) + " " + kUnits[unit];
}

// --- ProgressBar -------------------------------------------------------------------

void ProgressBar::draw(std::size_t done, std::size_t in_flight, std::size_t failed) {
  if (!enabled_ || total_ == 0) return;
  const int filled = static_cast<int>(done * kBarWidth / total_);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kBarWidth, '.');
  // "\r" back to the line's start; "\x1b[K" erases what a longer line left.
  std::fprintf(stderr, "\r[%s] %zu/%zu done, %zu in flight, %zu failed\x1b[K", bar.c_str(), done, total_,
               in_flight, failed);
  std::fflush(stderr);
  shown_ = true;
}

void ProgressBar::clear() {
  if (!shown_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

// --- ConsoleReport -----------------------------------------------------------------

ConsoleReport::ConsoleReport(bool json, std::size_t urls) : json_(json), bar_(urls, isatty(STDERR_FILENO) == 1) {}

void ConsoleReport::started(const std::string&) {
  ++in_flight_;
  bar_.draw(done_, in_flight_, failed_);
}

void ConsoleReport::finished(const FetchResult& result) {
  --in_flight_;
  ++done_;
  if (!result.ok()) ++failed_;
  bar_.clear();
  // Flushed: each line appears as its URL completes, even into a pipe.
  put_line(stdout, json_ ? json_line(result) : table_line(result));
  bar_.draw(done_, in_flight_, failed_);
}

void ConsoleReport::summary(const FetchTotals& totals) {
  bar_.clear();
  put_line(json_ ? stderr : stdout, summary_line(totals));
}

}  // namespace weft_fetch

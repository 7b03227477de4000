// tools/fetch/fetcher.hpp — fetching weft-fetch's URLs (DESIGN.md,
// "Command-line tools"): one ClientSession, one task per URL, at most
// --concurrency requests in flight; each body streamed through a SHA-256
// (and into a file with -o), never held whole.
//
// A URL's outcome is a FetchResult, reported to a FetchObserver as soon as
// it is known, in completion order; what is printed is the observer's
// business (report.hpp), so the demo reuses the same engine silently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/fetch/options.hpp"
#include "tools/fetch/saved_bodies.hpp"
#include "weft/http/headers.hpp"

namespace weft_fetch {

// What happened to one URL. Invariant: either error_type is empty and the
// response fields hold the final response, or error_type names the failure
// (DESIGN.md's table: "InvalidURL", "TimeoutError", ...) and the response
// fields are meaningless (printed as null).
struct FetchResult {
  std::size_t index = 0;  // position among the URLs, from 0
  std::string url;        // as given
  // The final response's URL; on an error, the last URL tried as far as the
  // error tells (ClientError::url()), else the URL as given.
  std::string final_url;
  int status = 0;
  std::string reason;
  weft::http::Headers headers;   // the final response's, in wire order
  std::uint64_t body_bytes = 0;  // decoded (de-chunked, decompressed)
  std::string body_sha256;       // 64 lower-case hex digits
  std::size_t redirects = 0;     // 0 on an error
  double elapsed_ms = 0;         // from the start to the last body byte (or the error)
  std::string error_type;
  std::string error_message;

  bool ok() const noexcept { return error_type.empty(); }
};

// Told about each URL as it starts (once it has a slot) and as it ends.
// Both are called from the URL's task; neither may block.
class FetchObserver {
 public:
  virtual ~FetchObserver() = default;
  virtual void started(const std::string& url) = 0;
  virtual void finished(const FetchResult& result) = 0;
};

// The whole run.
struct FetchTotals {
  std::size_t succeeded = 0;
  std::size_t failed = 0;
  std::uint64_t body_bytes = 0;  // of the URLs that succeeded
  double elapsed_ms = 0;         // wall time of fetch_all()

  std::size_t urls() const noexcept { return succeeded + failed; }
};

// Fetches every URL of `options` and returns once each is done. A failed
// URL is a FetchResult, never an exception: this throws only
// weft::CancelledError if the calling task is cancelled, and
// weft::ExceptionGroup if the observer throws. With a non-empty `output`,
// each complete body is saved there (saved_bodies.hpp). Must be called
// from a task.
FetchTotals fetch_all(const FetchOptions& options, const OutputDir& output, FetchObserver& observer);

}  // namespace weft_fetch

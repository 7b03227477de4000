// tools/fetch/fetcher.cpp — fetch_all(): the tasks, the in-flight bound, and
// what one URL's fetch records.
#include "tools/fetch/fetcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>

#include "tools/fetch/sha256.hpp"
#include "weft/weft.hpp"

namespace weft_fetch {
namespace {

namespace http = weft::http;
using Clock = std::chrono::steady_clock;

// The body is read in pieces of this size: memory per URL stays bounded
// however large the body.
constexpr std::size_t kReadPiece = 64 * 1024;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// --- failures ----------------------------------------------------------------------

template <class E>
bool is_a(const std::exception& e) {
  return dynamic_cast<const E*>(&e) != nullptr;
}

// The "type" of each failure, by DESIGN.md's table. The first match wins,
// so a class comes before its bases (ClientConnectorCertificateError before
// ClientConnectorError before ClientOSError, TooManyRedirects before
// ClientResponseError, everything before ClientError).
struct FailureKind {
  const char* type;
  bool (*matches)(const std::exception&);
};

const FailureKind kFailureKinds[] = {
    {"TimeoutError", is_a<weft::TimeoutError>},
    {"InvalidURL", is_a<http::InvalidURL>},
    {"ClientConnectorCertificateError", is_a<http::ClientConnectorCertificateError>},
    {"ClientConnectorError", is_a<http::ClientConnectorError>},
    {"ClientOSError", is_a<http::ClientOSError>},
    {"ServerDisconnectedError", is_a<http::ServerDisconnectedError>},
    {"ResponseParseError", is_a<http::ResponseParseError>},
    {"ClientPayloadError", is_a<http::ClientPayloadError>},
    {"TooManyRedirects", is_a<http::TooManyRedirects>},
    {"ClientResponseError", is_a<http::ClientResponseError>},
    {"ClientError", is_a<http::ClientError>},
    // Not the client's: a file of -o that could not be written.
    {"OSError", is_a<weft::OSError>},
};

const char* failure_type(const std::exception& e) {
  for (const FailureKind& kind : kFailureKinds) {
    if (kind.matches(e)) return kind.type;
  }
  return "Error";
}

// Turns `result` into an error result. The response fields are dropped,
// whatever had been recorded before the failure.
void record_failure(const std::exception& e, FetchResult& result) {
  result.error_type = failure_type(e);
  result.error_message = e.what();
  const http::ClientError* client_error = dynamic_cast<const http::ClientError*>(&e);
  result.final_url = client_error != nullptr && !client_error->url().empty() ? client_error->url() : result.url;
  result.status = 0;
  result.reason.clear();
  result.headers.clear();
  result.body_bytes = 0;
  result.body_sha256.clear();
  result.redirects = 0;
}

// --- one URL, and all of them -------------------------------------------------------

http::SessionOptions session_options(const FetchOptions& options, std::size_t in_flight) {
  http::SessionOptions session;
  // Never the binding limit (the semaphore is): one request holds one
  // connection at a time, redirects included.
  session.connector.limit = in_flight;
  session.timeout.total = options.timeout;
  apply_tls_options(session, options.cacert, options.insecure);
  return session;
}

http::RequestOptions request_options(const FetchOptions& options) {
  http::RequestOptions request;
  request.headers = options.headers;
  request.data = options.body;
  // ClientTimeout total spans connecting, redirects and the body's last
  // byte: exactly --timeout's "per URL".
  request.timeout.total = options.timeout;
  request.max_redirects = options.max_redirects;
  return request;
}

// Invariant: at most in_flight_ URLs are between started() and finished();
// each holds one permit of slots_ for that time.
class Fetcher {
 public:
  Fetcher(const FetchOptions& options, const OutputDir& output, FetchObserver& observer)
      : options_(options),
        output_(output),
        observer_(observer),
        in_flight_(std::max<std::size_t>(1, std::min(options.concurrency, options.urls.size()))),
        session_(session_options(options, in_flight_)),
        request_(request_options(options)),
        slots_(static_cast<std::int64_t>(in_flight_)) {}

  FetchTotals run();

 private:
  void fetch_in_task(std::size_t index);
  FetchResult fetch(std::size_t index);
  void read_body(http::Response& response, std::size_t index, FetchResult& result);

  const FetchOptions& options_;
  const OutputDir& output_;
  FetchObserver& observer_;
  const std::size_t in_flight_;
  http::ClientSession session_;
  const http::RequestOptions request_;
  // Why a semaphore and not only the connector's limit: a request waiting
  // for a connection slot inside the client is already running its
  // --timeout, so 1,000 URLs at --concurrency 10 would time out waiting.
  // A URL takes a permit before it starts, and its clock starts then.
  weft::Semaphore slots_;
  FetchTotals totals_;
};

// The tasks are created one permit at a time, so that at most in_flight_
// of them are alive at once, however many URLs there are.
FetchTotals Fetcher::run() {
  const Clock::time_point start = Clock::now();
  weft::task_group([this](weft::TaskGroup& group) {
    for (std::size_t index = 0; index < options_.urls.size(); ++index) {
      slots_.acquire();
      group.create_task([this, index] { fetch_in_task(index); });
    }
  });
  totals_.elapsed_ms = milliseconds_since(start);
  return totals_;
}

void Fetcher::fetch_in_task(std::size_t index) {
  std::lock_guard<weft::Semaphore> slot(slots_, std::adopt_lock);  // run() acquired it
  observer_.started(options_.urls[index]);
  const FetchResult result = fetch(index);
  if (result.ok()) {
    ++totals_.succeeded;
    totals_.body_bytes += result.body_bytes;
  } else {
    ++totals_.failed;
  }
  observer_.finished(result);
}

FetchResult Fetcher::fetch(std::size_t index) {
  FetchResult result;
  result.index = index;
  result.url = options_.urls[index];
  const Clock::time_point start = Clock::now();
  try {
    http::Response response = session_.request(options_.method, result.url, request_);
    result.final_url = response.url().str();
    result.status = response.status();
    result.reason = response.reason();
    result.headers = response.headers();
    result.redirects = response.history().size();
    read_body(response, index, result);
  } catch (const std::exception& e) {
    record_failure(e, result);
  }
  result.elapsed_ms = milliseconds_since(start);
  return result;
}

// Streams the body to its end through the digest (and the -o file, which
// is kept only once the body is complete).
void Fetcher::read_body(http::Response& response, std::size_t index, FetchResult& result) {
  SavedBody saved;
  if (output_) saved = SavedBody(output_, saved_name(index, http::URL::parse(result.url)));
  Sha256 digest;
  std::unique_ptr<char[]> piece(new char[kReadPiece]);
  for (;;) {
    const std::size_t n = response.content().read(piece.get(), kReadPiece);
    if (n == 0) break;
    digest.update(piece.get(), n);
    if (output_) saved.write(piece.get(), n);
    result.body_bytes += n;
  }
  result.body_sha256 = digest.hex_digest();
  saved.keep();
}

}  // namespace

FetchTotals fetch_all(const FetchOptions& options, const OutputDir& output, FetchObserver& observer) {
  Fetcher fetcher(options, output, observer);
  return fetcher.run();
}

}  // namespace weft_fetch

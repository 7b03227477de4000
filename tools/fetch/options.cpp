// tools/fetch/options.cpp — weft-fetch's options: CLI11 declarations, the
// validators of the values CLI11 cannot check by type, and the step from
// "what was typed" to FetchOptions.
#include "tools/fetch/options.hpp"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "weft/version.hpp"

namespace weft_fetch {
namespace {

// Longer than anyone waits, and far from overflowing milliseconds.
constexpr double kMaxTimeoutSeconds = 1e9;

const char kFooter[] =
    "With no arguments at all, weft-fetch runs its demo: a local server whose\n"
    "responses take 100 ms each, fetched 20 times one by one, then concurrently.\n"
    "\n"
    "Output: one line per URL as it completes, then a summary. With --json,\n"
    "stdout holds one JSON object per URL (url, final_url, status, reason,\n"
    "headers, body_bytes, body_sha256, redirects, elapsed_ms, error) and the\n"
    "summary goes to stderr. Any HTTP status is a success.\n"
    "\n"
    "-o DIR saves the body of URL number I (from 0) as DIR/I-NAME, NAME being\n"
    "the last segment of the URL's path with every byte but A-Z a-z 0-9 . _ -\n"
    "replaced by '_' (\"index\" if the segment is empty).\n"
    "\n"
    "Exit status: 0 if every URL succeeded, 1 if any failed, 2 on a usage error.";

// RFC 9110 section 5.6.2: a token (a method, a header name).
bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (c == '\0' || std::strchr("!#$%&'*+-.^_`|~", c) == nullptr)) return false;
  }
  return true;
}

// "decimal seconds > 0": digits with an optional fraction ("5", "0.3",
// ".5"); no sign, exponent, "inf" or "nan", which strtod alone would take.
bool parse_seconds(const std::string& text, double& seconds) {
  const std::size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  const std::string fraction = dot == std::string::npos ? std::string() : text.substr(dot + 1);
  const bool digits_only = whole.find_first_not_of("0123456789") == std::string::npos &&
                           fraction.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || whole.size() + fraction.size() == 0) return false;
  seconds = std::strtod(text.c_str(), nullptr);
  return true;
}

// Rounded up, so that 0.0001 s is a 1 ms timeout rather than none (a zero
// ClientTimeout field means "no timeout").
std::chrono::milliseconds to_milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

// -H 'K: V' splits at the first colon; the value loses its leading spaces.
bool split_header(const std::string& text, std::string& name, std::string& value) {
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) return false;
  name = text.substr(0, colon);
  const std::size_t start = text.find_first_not_of(" \t", colon + 1);
  value = start == std::string::npos ? std::string() : text.substr(start);
  return true;
}

// --- validators: "" when the value is good, else what is wrong with it ---------

std::string check_timeout(const std::string& text) {
  double seconds = 0;
  if (!parse_seconds(text, seconds) || seconds <= 0) {
    return "'" + text + "' is not a number of seconds greater than 0 (as 5 or 0.5)";
  }
  if (seconds > kMaxTimeoutSeconds) return "'" + text + "' seconds is too long";
  return std::string();
}

std::string check_concurrency(const std::string& text) {
  const bool digits_only = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || text.find_first_not_of('0') == std::string::npos) {
    return "'" + text + "' is not a whole number of at least 1";
  }
  return std::string();
}

std::string check_header(const std::string& text) {
  std::string name, value;
  if (!split_header(text, name, value)) return "'" + text + "' is not of the form 'Name: value'";
  if (!is_token(name)) return "'" + name + "' is not a valid header name";
  if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    return "the value of header '" + name + "' contains CR, LF or NUL";
  }
  return std::string();
}

std::string check_method(const std::string& text) {
  return is_token(text) ? std::string() : "'" + text + "' is not a valid HTTP method";
}

// The raw values, as typed; turned into FetchOptions once CLI11 accepted them.
struct TypedValues {
  std::vector<std::string> urls;
  bool json = false;
  std::size_t concurrency = 100;
  std::string timeout;
  unsigned max_redirects = weft::http::kDefaultMaxRedirects;
  std::string cacert;
  bool insecure = false;
  std::string method;
  std::vector<std::string> headers;
  std::string data;
  std::string output_dir;
};

void declare_options(CLI::App& app, TypedValues& v) {
  // allow_extra_args(false): "-H 'K: V' URL" must not read URL as a second
  // header; options take exactly one value each time they appear.
  app.add_option("URL", v.urls, "the URLs to fetch (http or https)")->type_name("")->required();
  app.add_flag("--json", v.json, "print one JSON line per URL instead of a table");
  app.add_option("--concurrency", v.concurrency, "requests in flight at most (default 100)")
      ->type_name("N")
      ->check(CLI::Validator(check_concurrency, ""));
  app.add_option("--timeout", v.timeout, "seconds allowed per URL, redirects and body included (default 300)")
      ->type_name("S")
      ->check(CLI::Validator(check_timeout, ""));
  app.add_option("--max-redirects", v.max_redirects, "redirects followed at most per URL (default 10)")
      ->type_name("N");
  CLI::Option* cacert = app.add_option("--cacert", v.cacert, "verify https servers with these CAs only")
                            ->type_name("FILE")
                            ->check(CLI::Validator(CLI::ExistingFile).description(""));
  CLI::Option* insecure = app.add_flag("--insecure", v.insecure, "do not verify https servers");
  cacert->excludes(insecure);
  insecure->excludes(cacert);
  app.add_option("-X,--request", v.method, "the request method (default GET, or POST with -d)")
      ->type_name("METHOD")
      ->check(CLI::Validator(check_method, ""));
  app.add_option("-H,--header", v.headers, "a request header, replacing a default one of the same name")
      ->type_name("'K: V'")
      ->allow_extra_args(false)
      ->check(CLI::Validator(check_header, ""));
  app.add_option("-d,--data", v.data, "send DATA as the body (form-encoded unless -H sets a Content-Type)")
      ->type_name("DATA");
  app.add_option("-o,--output", v.output_dir, "save each body in DIR (created if need be)")->type_name("DIR");
  // Checked before the URLs are required: `weft-fetch --version` is enough.
  app.set_version_flag("--version", "weft-fetch " WEFT_VERSION_STRING);
}

FetchOptions to_fetch_options(const CLI::App& app, const TypedValues& v) {
  FetchOptions options;
  options.urls = v.urls;
  options.concurrency = v.concurrency;
  if (!v.timeout.empty()) {
    double seconds = 0;
    parse_seconds(v.timeout, seconds);  // validated by check_timeout
    options.timeout = to_milliseconds(seconds);
  }
  options.max_redirects = v.max_redirects;
  options.cacert = v.cacert;
  options.insecure = v.insecure;
  options.has_body = app.count("--data") > 0;
  options.body = v.data;
  options.method = !v.method.empty() ? v.method : options.has_body ? "POST" : "GET";
  for (const std::string& header : v.headers) {
    std::string name, value;
    split_header(header, name, value);  // validated by check_header
    options.headers.add(name, value);
  }
  if (options.has_body && !options.headers.contains("Content-Type")) {
    options.headers.add("Content-Type", "application/x-www-form-urlencoded");
  }
  options.output_dir = v.output_dir;
  return options;
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine line;
  if (argc <= 1) {
    line.action = CommandLine::Action::kDemo;
    return line;
  }
  CLI::App app("weft-fetch: fetch URLs concurrently with weft's HTTP client", "weft-fetch");
  app.footer(kFooter);
  TypedValues values;
  declare_options(app, values);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError too, whose exit code is 0.
    line.exit_status = app.exit(e) == 0 ? kExitOk : kExitUsage;
    return line;
  }
  line.action = CommandLine::Action::kFetch;
  line.json = values.json;
  line.options = to_fetch_options(app, values);
  return line;
}

void apply_tls_options(weft::http::SessionOptions& session, const std::string& cacert, bool insecure) {
  if (cacert.empty() && !insecure) return;  // the client's default: system CAs, verified
  weft::TlsOptions tls;
  tls.cafile = cacert;               // --cacert replaces the system CA store
  tls.insecure_no_verify = insecure;  // --insecure: no certificate checks at all
  session.connector.ssl = weft::TlsContext::client(tls);
}

}  // namespace weft_fetch

// tools/fetch/options.hpp — weft-fetch's command line (DESIGN.md, "Command-
// line tools"): what the options mean, how they are checked, and the
// settings they become.
//
//   weft-fetch [--json] [--concurrency N] [--timeout S] [--max-redirects N]
//              [--cacert FILE | --insecure] [-X METHOD] [-H 'K: V']...
//              [-d DATA] [-o DIR] [--] URL...
//   weft-fetch --help | --version
//
// Parsing is CLI11's; every rule it cannot express (a decimal timeout > 0,
// a well-formed header, a method that is a token) is a validator, so every
// usage error takes the same road: a message on stderr and exit status 2.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "weft/http/client.hpp"

namespace weft_fetch {

// Exit statuses (DESIGN.md): every URL succeeded, some failed, usage error.
constexpr int kExitOk = 0;
constexpr int kExitFailures = 1;
constexpr int kExitUsage = 2;

// What to fetch and how: everything fetch_all() needs (fetcher.hpp).
struct FetchOptions {
  std::vector<std::string> urls;  // as given, in order
  std::size_t concurrency = 100;  // requests in flight at most, >= 1
  // Per URL, from its start to its last body byte (redirects included).
  std::chrono::milliseconds timeout = std::chrono::seconds(300);
  unsigned max_redirects = weft::http::kDefaultMaxRedirects;
  std::string method = "GET";     // -X, or POST when -d is given
  weft::http::Headers headers;    // -H, plus -d's Content-Type
  bool has_body = false;          // -d was given (an empty DATA is a body)
  std::string body;
  std::string output_dir;         // -o; empty: bodies are not saved
  std::string cacert;             // --cacert; empty: the system CA store
  bool insecure = false;          // --insecure
};

// A parsed command line: what main() does next.
struct CommandLine {
  enum class Action {
    kFetch,  // fetch options.urls
    kDemo,   // no arguments at all
    kExit,   // --help, or a usage error: exit with exit_status
  };
  Action action = Action::kExit;
  int exit_status = kExitOk;
  bool json = false;  // --json
  FetchOptions options;
};

// Parses argv. Prints --help's usage and --version's "weft-fetch X.Y.Z" to
// stdout, and a usage error to stderr (then exit_status is kExitUsage).
// Never throws except std::bad_alloc.
CommandLine parse_command_line(int argc, char** argv);

// The session's TLS context from --cacert / --insecure; neither leaves the
// client's default (verification against the system CAs). Throws
// weft::SSLError if the CA file cannot be loaded.
void apply_tls_options(weft::http::SessionOptions& session, const std::string& cacert, bool insecure);

}  // namespace weft_fetch

// Runs weft-fetch (whose path Meson puts in WEFT_FETCH) as a child process
// against a server inside the test (fetch_test_server.hpp), and checks each
// rule of DESIGN.md's "Command-line tools": usage errors and --version, the
// JSON lines (the keys of DESIGN.md's example, in its order), failure types,
// redirects, -X/-H/-d, -o, the table, concurrency, and the demo.
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/tools/fetch_test_server.hpp"
#include "weft/version.hpp"

namespace {

using weft_fetch_test::TestServer;
using Json = nlohmann::ordered_json;

const char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// --- running weft-fetch ------------------------------------------------------------

struct FetchRun {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string temp_file() {
  char path[] = "/tmp/weft-fetch-test-XXXXXX";
  const int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  return path;
}

// Waits for `pid` at most `limit`, then kills it; its exit code, or -1.
int wait_for_exit(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "weft-fetch did not exit within " << limit.count() << " s; killing it";
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs weft-fetch with `args`, stdin from /dev/null, stdout and stderr to
// files (not a terminal: no progress bar).
// Runs the program whose path is in the environment variable `program_var`.
FetchRun run_program(const char* program_var, const std::vector<std::string>& args) {
  FetchRun run;
  const char* path = std::getenv(program_var);
  if (path == nullptr) {
    ADD_FAILURE() << program_var << " is not set";
    return run;
  }
  std::vector<std::string> words{path};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(&word[0]);
  argv.push_back(nullptr);
  const std::string out_path = temp_file();
  const std::string err_path = temp_file();
  const pid_t pid = fork();
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_TRUNC);
    const int err = open(err_path.c_str(), O_WRONLY | O_TRUNC);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
    execv(path, argv.data());
    _exit(127);
  }
  if (pid > 0) run.exit_code = wait_for_exit(pid, std::chrono::seconds(120));
  run.out = read_file(out_path);
  run.err = read_file(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return run;
}

FetchRun run_fetch(const std::vector<std::string>& args) { return run_program("WEFT_FETCH", args); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// stdout of a --json run: one object per line, each parsed.
std::vector<Json> json_lines(const FetchRun& run) {
  std::vector<Json> objects;
  for (const std::string& line : lines_of(run.out)) {
    try {
      objects.push_back(Json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a JSON line: " << line << " (" << e.what() << ")";
    }
  }
  return objects;
}

// The line whose "url" is `url`, or null.
Json line_for(const std::vector<Json>& lines, const std::string& url) {
  for (const Json& line : lines) {
    if (line.is_object() && line.contains("url") && line["url"] == url) return line;
  }
  ADD_FAILURE() << "no line for " << url;
  return Json();
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

// A port on 127.0.0.1 with nothing listening: bound, then released.
int refused_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

// The names in a directory, "." and ".." left out.
std::set<std::string> directory_entries(const std::string& path) {
  std::set<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return names;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(dir);
  return names;
}

void remove_tree(const std::string& path) {
  struct stat info;
  if (lstat(path.c_str(), &info) != 0) return;
  if (S_ISDIR(info.st_mode)) {
    for (const std::string& name : directory_entries(path)) remove_tree(path + "/" + name);
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/weft-fetch-dir-XXXXXX";
    if (mkdtemp(path) != nullptr) path_ = path;
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Whether `line` is prefix + middle + suffix; `middle` receives the middle.
bool split_line(const std::string& line, const std::string& prefix, const std::string& suffix, std::string& middle) {
  if (line.size() <= prefix.size() + suffix.size() || line.compare(0, prefix.size(), prefix) != 0 ||
      line.compare(line.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  middle = line.substr(prefix.size(), line.size() - prefix.size() - suffix.size());
  return true;
}

// Digits, then optionally (or, if `one_decimal`, always) '.' and one digit.
bool is_decimal(const std::string& text, bool one_decimal) {
  const std::size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  const bool whole_ok = !whole.empty() && whole.find_first_not_of("0123456789") == std::string::npos;
  if (dot == std::string::npos) return whole_ok && !one_decimal;
  return whole_ok && text.size() == dot + 2 && std::isdigit(static_cast<unsigned char>(text[dot + 1]));
}

void expect_error_line(const Json& line, const std::string& type) {
  ASSERT_TRUE(line.is_object());
  EXPECT_TRUE(line["status"].is_null());
  EXPECT_TRUE(line["reason"].is_null());
  EXPECT_TRUE(line["headers"].is_null());
  EXPECT_TRUE(line["body_bytes"].is_null());
  EXPECT_TRUE(line["body_sha256"].is_null());
  EXPECT_EQ(0, line["redirects"]);
  ASSERT_TRUE(line["error"].is_object()) << line.dump();
  EXPECT_EQ(type, line["error"]["type"]) << line.dump();
  EXPECT_TRUE(line["error"]["message"].is_string());
  EXPECT_NE("", line["error"]["message"]);
}

// --- usage ---------------------------------------------------------------------------

TEST(WeftFetchUsage, HelpExitsZero) {
  const FetchRun run = run_fetch({"--help"});
  EXPECT_EQ(0, run.exit_code);
  EXPECT_NE(std::string::npos, run.out.find("--concurrency")) << run.out;
}

TEST(WeftFetchUsage, VersionPrintsWeftsVersionAndExitsZero) {
  const FetchRun alone = run_fetch({"--version"});
  EXPECT_EQ(0, alone.exit_code) << alone.err;
  EXPECT_EQ("weft-fetch " WEFT_VERSION_STRING "\n", alone.out);
  EXPECT_EQ("", alone.err);

  // With URLs it still only prints the version: nothing is fetched.
  TestServer server;
  const FetchRun with_url = run_fetch({"--version", server.url("/hello")});
  EXPECT_EQ(0, with_url.exit_code) << with_url.err;
  EXPECT_EQ("weft-fetch " WEFT_VERSION_STRING "\n", with_url.out);
  EXPECT_TRUE(server.requests().empty());
}

// weft-bench follows the same rule (its own tests are the benchmark runs).
TEST(WeftBenchUsage, VersionPrintsWeftsVersionAndExitsZero) {
  const FetchRun run = run_program("WEFT_BENCH", {"--version"});
  EXPECT_EQ(0, run.exit_code) << run.err;
  EXPECT_EQ("weft-bench " WEFT_VERSION_STRING "\n", run.out);
  EXPECT_EQ("", run.err);
}

TEST(WeftFetchUsage, UnknownOptionIsAUsageError) {
  TestServer server;
  const FetchRun run = run_fetch({"--no-such-option", server.url("/hello")});
  EXPECT_EQ(2, run.exit_code);
  EXPECT_TRUE(server.requests().empty());
}

TEST(WeftFetchUsage, OptionsWithoutUrlIsAUsageError) {
  EXPECT_EQ(2, run_fetch({"--json"}).exit_code);
  EXPECT_EQ(2, run_fetch({"--concurrency", "3", "--"}).exit_code);
}

TEST(WeftFetchUsage, CacertWithInsecureIsAUsageError) {
  const FetchRun run = run_fetch({"--cacert", "/etc/hostname", "--insecure", "http://127.0.0.1:1/"});
  EXPECT_EQ(2, run.exit_code) << run.err;
}

TEST(WeftFetchUsage, BadValuesAreUsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"--concurrency", "0"}, {"--concurrency", "-1"}, {"--concurrency", "x"}, {"--timeout", "0"},
      {"--timeout", "-1"},    {"--timeout", "abc"},    {"--timeout", ""},     {"--timeout", "0.0"},
      {"--max-redirects", "-1"}, {"-H", "no colon"},   {"-X", "GET /"},       {"--timeout"},
  };
  TestServer server;
  for (std::vector<std::string> args : cases) {
    args.push_back(server.url("/hello"));
    const FetchRun run = run_fetch(args);
    EXPECT_EQ(2, run.exit_code) << args[0] << " " << args[1];
    EXPECT_FALSE(run.err.empty()) << args[0] << " " << args[1];
  }
  EXPECT_TRUE(server.requests().empty());
}

// --- JSON lines ------------------------------------------------------------------------

TEST(WeftFetchJson, EachLineHasTheKeysInOrderWithTheirTypes) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", server.url("/hello"), server.url("/empty"), server.url("/big")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(3u, lines.size()) << run.out;
  const std::vector<std::string> keys{"url",       "final_url",   "status",    "reason",     "headers",
                                      "body_bytes", "body_sha256", "redirects", "elapsed_ms", "error"};
  for (const Json& line : lines) {
    std::vector<std::string> seen;
    for (auto it = line.begin(); it != line.end(); ++it) seen.push_back(it.key());
    EXPECT_EQ(keys, seen) << line.dump();
    EXPECT_TRUE(line["url"].is_string());
    EXPECT_EQ(line["url"], line["final_url"]);
    EXPECT_EQ(200, line["status"]);
    EXPECT_EQ("OK", line["reason"]);
    EXPECT_TRUE(line["body_bytes"].is_number_integer());
    EXPECT_TRUE(line["body_sha256"].is_string());
    EXPECT_EQ(0, line["redirects"]);
    EXPECT_TRUE(line["elapsed_ms"].is_number());
    EXPECT_GE(line["elapsed_ms"].get<double>(), 0.0);
    EXPECT_TRUE(line["error"].is_null());
    ASSERT_TRUE(line["headers"].is_array());
    for (const Json& field : line["headers"]) {
      ASSERT_TRUE(field.is_array() && field.size() == 2 && field[0].is_string() && field[1].is_string())
          << field.dump();
    }
  }
  const Json hello = line_for(lines, server.url("/hello"));
  EXPECT_EQ(13, hello["body_bytes"]);
  EXPECT_EQ(sha256_hex("hello, world\n"), hello["body_sha256"]);
  EXPECT_EQ(Json::array({Json::array({"Content-Length", "13"})}), hello["headers"]);
  const Json empty = line_for(lines, server.url("/empty"));
  EXPECT_EQ(0, empty["body_bytes"]);
  EXPECT_EQ(kEmptySha256, empty["body_sha256"]);
  // Chunked on the wire: the count and hash are of the de-chunked body.
  const Json big = line_for(lines, server.url("/big"));
  EXPECT_EQ(weft_fetch_test::kBigSize, big["body_bytes"].get<std::size_t>());
  EXPECT_EQ(sha256_hex(weft_fetch_test::big_body()), big["body_sha256"]);
  EXPECT_EQ(Json::array({Json::array({"Transfer-Encoding", "chunked"})}), big["headers"]);
  // The summary goes to stderr.
  EXPECT_NE(std::string::npos, run.err.find("3 succeeded")) << run.err;
}

TEST(WeftFetchJson, SizeAndHashAreOfTheDecodedBody) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", server.url("/gzip")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size()) << run.out;
  EXPECT_EQ(weft_fetch_test::kBigSize, lines[0]["body_bytes"].get<std::size_t>());
  EXPECT_EQ(sha256_hex(weft_fetch_test::big_body()), lines[0]["body_sha256"]);
}

TEST(WeftFetchJson, NotFoundIsASuccess) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", server.url("/missing")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ(404, lines[0]["status"]);
  EXPECT_EQ("Not Found", lines[0]["reason"]);
  EXPECT_EQ(sha256_hex("no such page\n"), lines[0]["body_sha256"]);
  EXPECT_TRUE(lines[0]["error"].is_null());
}

TEST(WeftFetchJson, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", server.url("/latin1")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size()) << run.out;
  EXPECT_EQ(Json::array({"X-Latin1", "caf\xEF\xBF\xBD"}), lines[0]["headers"][1]) << lines[0].dump();
}

TEST(WeftFetchJson, LinesComeInCompletionOrder) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", "--concurrency", "2", server.url("/delay/1500"), server.url("/hello")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(2u, lines.size());
  EXPECT_EQ(server.url("/hello"), lines[0]["url"]);
  EXPECT_EQ(server.url("/delay/1500"), lines[1]["url"]);
}

TEST(WeftFetchJson, OptionsMayFollowUrlsAndDoubleDashEndsThem) {
  TestServer server;
  const FetchRun run = run_fetch({server.url("/hello"), "--json", "--", "--json"});
  EXPECT_EQ(1, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(2u, lines.size()) << run.out;
  expect_error_line(line_for(lines, "--json"), "InvalidURL");
  EXPECT_EQ(200, line_for(lines, server.url("/hello"))["status"]);
}

// --- failures --------------------------------------------------------------------------

TEST(WeftFetchFailures, InvalidUrlsFailAloneAndTheOthersAreFetched) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", "not a url", "ftp://example.org/x", server.url("/hello")});
  EXPECT_EQ(1, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(3u, lines.size()) << run.out;
  expect_error_line(line_for(lines, "not a url"), "InvalidURL");
  expect_error_line(line_for(lines, "ftp://example.org/x"), "InvalidURL");
  EXPECT_EQ("not a url", line_for(lines, "not a url")["final_url"]);
  EXPECT_EQ(200, line_for(lines, server.url("/hello"))["status"]);
  EXPECT_EQ(1u, server.requests_for("/hello").size());
}

TEST(WeftFetchFailures, RefusedConnectionIsAClientConnectorError) {
  const std::string url = "http://127.0.0.1:" + std::to_string(refused_port()) + "/";
  const FetchRun run = run_fetch({"--json", url});
  EXPECT_EQ(1, run.exit_code);
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size()) << run.out;
  expect_error_line(lines[0], "ClientConnectorError");
  EXPECT_EQ(url, lines[0]["final_url"]);
}

TEST(WeftFetchFailures, SlowHeadIsATimeoutError) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", "--timeout", "0.3", server.url("/slow"), server.url("/hello")});
  EXPECT_EQ(1, run.exit_code);
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(2u, lines.size()) << run.out;
  const Json slow = line_for(lines, server.url("/slow"));
  expect_error_line(slow, "TimeoutError");
  EXPECT_LT(slow["elapsed_ms"].get<double>(), 20000.0);  // not the server's 30 s
  EXPECT_EQ(200, line_for(lines, server.url("/hello"))["status"]);
}

TEST(WeftFetchFailures, StalledBodyIsATimeoutError) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", "--timeout", "0.3", server.url("/stall-body")});
  EXPECT_EQ(1, run.exit_code);
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size()) << run.out;
  expect_error_line(lines[0], "TimeoutError");
}

TEST(WeftFetchFailures, CloseBeforeTheHeadIsAServerDisconnectedError) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", server.url("/close")});
  EXPECT_EQ(1, run.exit_code);
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size()) << run.out;
  expect_error_line(lines[0], "ServerDisconnectedError");
  EXPECT_EQ(server.url("/close"), lines[0]["final_url"]);
}

// --- redirects ---------------------------------------------------------------------------

TEST(WeftFetchRedirects, AreCountedAndEndAtTheFinalUrl) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", server.url("/redirect/3")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ(server.url("/redirect/3"), lines[0]["url"]);
  EXPECT_EQ(server.url("/redirect/0"), lines[0]["final_url"]);
  EXPECT_EQ(3, lines[0]["redirects"]);
  EXPECT_EQ(200, lines[0]["status"]);
  EXPECT_EQ(sha256_hex("landed\n"), lines[0]["body_sha256"]);
}

TEST(WeftFetchRedirects, BeyondMaxRedirectsIsTooManyRedirects) {
  TestServer server;
  const FetchRun run = run_fetch({"--json", "--max-redirects", "2", server.url("/redirect/3")});
  EXPECT_EQ(1, run.exit_code);
  const std::vector<Json> lines = json_lines(run);
  ASSERT_EQ(1u, lines.size());
  expect_error_line(lines[0], "TooManyRedirects");
  EXPECT_TRUE(server.requests_for("/redirect/0").empty());
}

// --- what is sent --------------------------------------------------------------------------

TEST(WeftFetchRequests, MethodHeadersAndDataReachTheServer) {
  TestServer server;
  const FetchRun run = run_fetch({"-X", "PUT", "-H", "X-Test: yes", "-H", "User-Agent:   tester/1", "-d", "a=1&b=2",
                             server.url("/echo?1")});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<weft_fetch_test::RecordedRequest> seen = server.requests_for("/echo?1");
  ASSERT_EQ(1u, seen.size());
  EXPECT_EQ("PUT", seen[0].method);
  EXPECT_EQ(std::vector<std::string>{"yes"}, seen[0].header("X-Test"));
  // Replaces the default User-Agent; leading spaces of the value dropped.
  EXPECT_EQ(std::vector<std::string>{"tester/1"}, seen[0].header("User-Agent"));
  EXPECT_EQ(std::vector<std::string>{"application/x-www-form-urlencoded"}, seen[0].header("Content-Type"));
  EXPECT_EQ("a=1&b=2", seen[0].body);
}

TEST(WeftFetchRequests, DataImpliesPostAndHeaderSetsItsContentType) {
  TestServer server;
  EXPECT_EQ(0, run_fetch({"-d", "x=1", server.url("/echo?post")}).exit_code);
  EXPECT_EQ(0, run_fetch({"-H", "Content-Type: text/plain", "-d", "text", server.url("/echo?typed")}).exit_code);
  EXPECT_EQ(0, run_fetch({server.url("/echo?get")}).exit_code);
  const auto post = server.requests_for("/echo?post");
  const auto typed = server.requests_for("/echo?typed");
  const auto get = server.requests_for("/echo?get");
  ASSERT_EQ(1u, post.size());
  ASSERT_EQ(1u, typed.size());
  ASSERT_EQ(1u, get.size());
  EXPECT_EQ("POST", post[0].method);
  EXPECT_EQ("x=1", post[0].body);
  EXPECT_EQ("POST", typed[0].method);
  EXPECT_EQ(std::vector<std::string>{"text/plain"}, typed[0].header("Content-Type"));
  EXPECT_EQ("GET", get[0].method);
  EXPECT_TRUE(get[0].body.empty());
}

// --- -o DIR ----------------------------------------------------------------------------------

TEST(WeftFetchOutput, SavesEachBodyInsideTheDirectoryUnderASafeName) {
  TestServer server;
  TempDir temp;
  const std::string dir = temp.path() + "/out/sub";  // created, parents too
  const std::vector<std::string> targets{"/files/a.txt", "/files/",         "/files/%2E%2E", "/files/x%2Fy",
                                         "/files/..%2F..%2Fescape", "/files/a/..", "/close"};
  std::vector<std::string> args{"--json", "-o", dir};
  for (const std::string& t : targets) args.push_back(server.url(t));
  const FetchRun run = run_fetch(args);
  EXPECT_EQ(1, run.exit_code) << run.err;  // /close fails
  const std::set<std::string> expected{"0-a.txt", "1-index", "2-..", "3-x_y", "4-.._.._escape", "5-index"};
  EXPECT_EQ(expected, directory_entries(dir));
  EXPECT_EQ(std::set<std::string>{"out"}, directory_entries(temp.path()));
  EXPECT_EQ(std::set<std::string>{"sub"}, directory_entries(temp.path() + "/out"));
  EXPECT_EQ("file:/files/a.txt", read_file(dir + "/0-a.txt"));
  EXPECT_EQ("file:/files/", read_file(dir + "/1-index"));
  EXPECT_EQ("file:/files/%2E%2E", read_file(dir + "/2-.."));
  EXPECT_EQ("file:/files/x%2Fy", read_file(dir + "/3-x_y"));
  EXPECT_EQ("file:/files/..%2F..%2Fescape", read_file(dir + "/4-.._.._escape"));
}

TEST(WeftFetchOutput, DirectoryThatCannotBeMadeIsAUsageError) {
  TestServer server;
  const FetchRun run = run_fetch({"-o", "/etc/hostname/sub", server.url("/hello")});
  EXPECT_EQ(2, run.exit_code);
  EXPECT_TRUE(server.requests().empty());
}

// --- the table and concurrency ---------------------------------------------------------------

TEST(WeftFetchTable, OneLinePerUrlAndASummary) {
  TestServer server;
  const FetchRun run = run_fetch({server.url("/hello"), server.url("/missing"), server.url("/close")});
  EXPECT_EQ(1, run.exit_code);
  const std::vector<std::string> lines = lines_of(run.out);
  ASSERT_EQ(4u, lines.size()) << run.out;
  std::set<std::string> statuses;
  for (std::size_t i = 0; i < 3; ++i) statuses.insert(lines[i].substr(0, 3));
  EXPECT_EQ((std::set<std::string>{"200", "404", "ERR"}), statuses) << run.out;
  for (std::size_t i = 0; i < 3; ++i) {
    if (lines[i].compare(0, 3, "ERR") == 0) {
      EXPECT_NE(std::string::npos, lines[i].find("ServerDisconnectedError")) << lines[i];
    }
  }
  EXPECT_NE(std::string::npos, lines[3].find("3 URLs: 2 succeeded, 1 failed")) << lines[3];
  EXPECT_TRUE(run.err.empty()) << run.err;  // no progress bar: stderr is a file
}

TEST(WeftFetchConcurrency, NoMoreRequestsInFlightThanAsked) {
  TestServer server;
  std::vector<std::string> args{"--json", "--concurrency", "2"};
  for (int i = 0; i < 6; ++i) args.push_back(server.url("/delay/200?" + std::to_string(i)));
  const FetchRun run = run_fetch(args);
  EXPECT_EQ(0, run.exit_code) << run.err;
  EXPECT_EQ(6u, json_lines(run).size());
  EXPECT_LE(server.max_in_flight(), 2);
  EXPECT_GE(server.max_in_flight(), 1);
}

// --- the demo -----------------------------------------------------------------------------------

TEST(WeftFetchDemo, RunsWithNoArguments) {
  const FetchRun run = run_fetch({});
  EXPECT_EQ(0, run.exit_code) << run.err;
  const std::vector<std::string> lines = lines_of(run.out);
  ASSERT_EQ(3u, lines.size()) << run.out;
  std::string sequential, concurrent, speed_up;
  ASSERT_TRUE(split_line(lines[0], "sequential: 20 requests in ", " ms", sequential)) << lines[0];
  ASSERT_TRUE(split_line(lines[1], "concurrent: 20 requests in ", " ms", concurrent)) << lines[1];
  ASSERT_TRUE(split_line(lines[2], "speed-up: ", "\xC3\x97", speed_up)) << lines[2];
  EXPECT_TRUE(is_decimal(sequential, false)) << lines[0];
  EXPECT_TRUE(is_decimal(concurrent, false)) << lines[1];
  EXPECT_TRUE(is_decimal(speed_up, true)) << lines[2];
  EXPECT_GE(std::stod(sequential), 2000.0);  // 20 responses of 100 ms each, one after the other
  EXPECT_LT(std::stod(concurrent), std::stod(sequential));
}

}  // namespace

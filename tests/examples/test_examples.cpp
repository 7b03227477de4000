// Runs each example of tools/examples/ (the seed articles' programs) and
// checks its output line by line, and that its waits overlapped where the
// article says they do (generous bounds: only "faster than sequential").
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

struct ExampleRun {
  std::string output;
  int status = -1;
  double seconds = 0;
};

// Runs the example whose path Meson put in WEFT_EXAMPLE_<NAME>, with
// `args` (already shell-safe: URLs of the test's own server).
ExampleRun run_example(const char* name, const std::string& args = std::string()) {
  const std::string var = std::string("WEFT_EXAMPLE_") + name;
  const char* path = std::getenv(var.c_str());
  ExampleRun run;
  if (path == nullptr) {
    ADD_FAILURE() << var << " is not set";
    return run;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string command = std::string(path) + (args.empty() ? "" : " " + args);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen " << path;
    return run;
  }
  char buf[256];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) run.output.append(buf, n);
  run.status = pclose(pipe);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

void expect_ok(const ExampleRun& run) {
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(0, WEXITSTATUS(run.status));
}

TEST(Examples, Greet) {
  const ExampleRun run = run_example("greet");
  expect_ok(run);
  EXPECT_EQ("Hello\nWorld\n", run.output);
  EXPECT_GE(run.seconds, 1.0);
}

TEST(Examples, MultipleAwaits) {
  const ExampleRun run = run_example("multiple_awaits");
  expect_ok(run);
  EXPECT_EQ("Starting...\nHello\nWorld\nFinished!\n", run.output);
  EXPECT_GE(run.seconds, 2.0);
}

TEST(Examples, GatherRunsConcurrently) {
  const ExampleRun run = run_example("gather");
  expect_ok(run);
  EXPECT_EQ("Task 2 complete\nTask 1 complete\n", run.output);
  EXPECT_GE(run.seconds, 2.0);
  EXPECT_LT(run.seconds, 3.0);  // 2 s + 1 s had they run one after the other
}

TEST(Examples, CreateTaskRunsConcurrently) {
  const ExampleRun run = run_example("create_task");
  expect_ok(run);
  EXPECT_EQ("Task 2 complete\nTask 1 complete\n", run.output);
  EXPECT_LT(run.seconds, 3.0);
}

TEST(Examples, GatherCollectsResultsInOrder) {
  const ExampleRun run = run_example("gather_results");
  expect_ok(run);
  EXPECT_EQ("[1, 4, 9]\n", run.output);
  EXPECT_LT(run.seconds, 3.0);  // three 1 s squares at once
}

TEST(Examples, WaitForTimesOut) {
  const ExampleRun run = run_example("wait_for_timeout");
  expect_ok(run);
  EXPECT_EQ("Task timed out\n", run.output);
  EXPECT_GE(run.seconds, 2.0);
  EXPECT_LT(run.seconds, 5.0);  // the 5 s task did not run to its end
}

TEST(Examples, ProducerConsumer) {
  const ExampleRun run = run_example("producer_consumer");
  expect_ok(run);
  // Each item is consumed as soon as it is produced, before the next one.
  EXPECT_EQ(
      "Producing 0\nConsuming 0\nProducing 1\nConsuming 1\nProducing 2\nConsuming 2\n"
      "Producing 3\nConsuming 3\nProducing 4\nConsuming 4\n",
      run.output);
}

// A small HTTP/1.1 server on 127.0.0.1 for the seed articles' HTTP
// examples (the articles fetch example.com, which the test machine cannot
// reach): plain blocking sockets on its own thread, so it shares nothing
// with the weft code under test. Each path maps to a body; every response
// says "Connection: close".
class PageServer {
 public:
  explicit PageServer(std::map<std::string, std::pair<std::string, std::string>> pages)
      : pages_(std::move(pages)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      ADD_FAILURE() << "PageServer: cannot listen on 127.0.0.1";
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~PageServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  void serve() {
    while (!stop_) {
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      const std::size_t path_start = request.find(' ') + 1;
      const std::string path = request.substr(path_start, request.find(' ', path_start) - path_start);
      const auto page = pages_.find(path);
      const std::string status = page == pages_.end() ? "404 Not Found" : "200 OK";
      const std::string type = page == pages_.end() ? "text/plain" : page->second.first;
      const std::string body = page == pages_.end() ? "not found" : page->second.second;
      const std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                                   "\r\nContent-Length: " + std::to_string(body.size()) +
                                   "\r\nConnection: close\r\n\r\n" + body;
      std::size_t sent = 0;
      while (sent < response.size()) {
        const ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ::close(client);
    }
  }

  std::map<std::string, std::pair<std::string, std::string>> pages_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string page_of(char letter) {
  return "<!doctype html><title>" + std::string(1, letter) + "</title>" + std::string(200, letter);
}

TEST(Examples, SessionContextPrintsTheFirst100Characters) {
  PageServer server({{"/", {"text/html; charset=utf-8", page_of('a')}}});
  const ExampleRun run = run_example("session_context", server.url("/"));
  expect_ok(run);
  EXPECT_EQ(page_of('a').substr(0, 100) + "\n", run.output);
}

TEST(Examples, FetchAllGathersInTheOrderGiven) {
  PageServer server({{"/a", {"text/html", page_of('a')}},
                     {"/b", {"text/html", page_of('b')}},
                     {"/c", {"text/html", page_of('c')}}});
  const ExampleRun run = run_example("fetch_all", server.url("/c") + " " + server.url("/a") + " " + server.url("/b"));
  expect_ok(run);
  EXPECT_EQ(page_of('c').substr(0, 100) + "\n" + page_of('a').substr(0, 100) + "\n" +
                page_of('b').substr(0, 100) + "\n",
            run.output);
}

TEST(Examples, FetchDataPrintsEachJsonResult) {
  PageServer server({{"/data1", {"application/json", "{\"id\": 1, \"name\": \"one\"}"}},
                     {"/data2", {"application/json", "[1, 2, 3]"}},
                     {"/data3", {"application/json", "{\"ok\": true}"}}});
  const ExampleRun run =
      run_example("fetch_data", server.url("/data1") + " " + server.url("/data2") + " " + server.url("/data3"));
  expect_ok(run);
  EXPECT_EQ("{\"id\":1,\"name\":\"one\"}\n[1,2,3]\n{\"ok\":true}\n", run.output);
}

// legacy_threads: three std::thread workers submit fetches to one
// LoopThread and wait on std::futures; lines come out in the order given.
TEST(Examples, LegacyThreadsFetchThroughALoopThread) {
  std::map<std::string, std::pair<std::string, std::string>> pages;
  for (char letter = 'a'; letter <= 'g'; ++letter) {  // bodies of different sizes
    const std::string body = page_of(letter) + std::string(static_cast<std::size_t>(letter - 'a'), '!');
    pages[std::string("/") + letter] = {"text/html", body};
  }
  PageServer server(pages);
  std::string args;
  std::string expected;
  for (const char letter : std::string("gcaebfd")) {
    const std::string path = std::string("/") + letter;
    args += (args.empty() ? "" : " ") + server.url(path);
    expected += server.url(path) + ": 200, " + std::to_string(pages[path].second.size()) + " bytes\n";
  }
  const ExampleRun run = run_example("legacy_threads", args);
  expect_ok(run);
  EXPECT_EQ(expected + "7 fetches from 3 threads, each run on the loop thread\n", run.output);
}

TEST(Examples, LegacyThreadsWithoutURLsFetchFromTheirOwnServer) {
  const ExampleRun run = run_example("legacy_threads");
  expect_ok(run);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < run.output.size();) {
    const std::size_t end = run.output.find('\n', at);
    lines.push_back(run.output.substr(at, end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  ASSERT_EQ(7u, lines.size()) << run.output;
  for (int i = 1; i <= 6; ++i) {
    const std::string suffix = "/" + std::to_string(i) + ": 200, 6 bytes";  // "page N"
    const std::string& line = lines[static_cast<std::size_t>(i - 1)];
    EXPECT_EQ(0u, line.find("http://127.0.0.1:")) << line;
    ASSERT_GE(line.size(), suffix.size()) << line;
    EXPECT_EQ(suffix, line.substr(line.size() - suffix.size())) << line;
  }
  EXPECT_EQ("6 fetches from 3 threads, each run on the loop thread", lines[6]);
}

TEST(Examples, LegacyThreadsReportAFailedFetch) {
  PageServer server({{"/a", {"text/html", page_of('a')}}});
  const ExampleRun run = run_example("legacy_threads", server.url("/a") + " http://127.0.0.1:1/");
  ASSERT_TRUE(WIFEXITED(run.status));
  EXPECT_NE(0, WEXITSTATUS(run.status));
  EXPECT_EQ(0u, run.output.find(server.url("/a") + ": 200, " + std::to_string(page_of('a').size()) + " bytes\n"))
      << run.output;
  EXPECT_NE(std::string::npos, run.output.find("http://127.0.0.1:1/: failed: ")) << run.output;
}

TEST(Examples, FetchAllFailsLoudlyOnARefusedPort) {
  const ExampleRun run = run_example("fetch_all", "http://127.0.0.1:1/");
  ASSERT_TRUE(WIFEXITED(run.status));
  EXPECT_NE(0, WEXITSTATUS(run.status));  // the ClientConnectorError propagates out of weft::run
}

}  // namespace

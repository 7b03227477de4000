// weft in legacy code: an ordinary multi-threaded C++14 program whose
// std::thread workers hand HTTP fetches to one weft::LoopThread and wait for
// them on std::futures (asyncio's run_coroutine_threadsafe with a loop on a
// thread of its own). None of the program's threads runs on a fiber; only
// the functions it submits run, as tasks, on the loop's thread.
//   Usage: example_legacy_threads [URL...]
//   (default: six pages of a small weft server the program starts itself on
//   127.0.0.1, on a LoopThread of its own)
//
// Prints one line per URL, in the order given: "<url>: <status>, <n> bytes",
// and a last line once every fetch is known to have run on the loop thread.
// Exits 1 if a fetch failed.
#include <weft/weft.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kWorkers = 3;

// What a worker learns from one fetch.
struct Fetched {
  int status = 0;
  std::string body;
  std::thread::id ran_on;  // the thread the fetch task ran on
};

// A tiny page server for the default URLs: answers "GET /<name>" with
// "page <name>" and closes the connection.
void serve_page(weft::Stream stream) {
  const std::string head = stream.read_until("\r\n\r\n");
  const std::size_t path = head.find(' ') + 2;
  const std::string body = "page " + head.substr(path, head.find(' ', path) - path);
  stream.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body);
  stream.drain();
  stream.close();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> urls(argv + 1, argv + argc);

  // Without URLs, a server to fetch from, on its own loop thread. The
  // Server is created, used and closed on that loop, like everything of weft.
  std::unique_ptr<weft::LoopThread> server_thread;
  std::unique_ptr<weft::Server> server;
  if (urls.empty()) {
    server_thread.reset(new weft::LoopThread);
    server = server_thread->submit([] {
      return std::unique_ptr<weft::Server>(new weft::Server(weft::start_server(serve_page, "127.0.0.1", 0)));
    }).get();
    const uint16_t port = server_thread->submit([&server] { return server->port(); }).get();
    for (int i = 1; i <= 6; ++i) urls.push_back("http://127.0.0.1:" + std::to_string(port) + "/" + std::to_string(i));
  }

  // The loop the workers share, and one ClientSession on it (a session
  // belongs to the loop that made it: it is made and destroyed there, and
  // its pooled connections serve every worker's fetches).
  weft::LoopThread weft_thread;
  const std::thread::id loop_thread = weft_thread.submit([] { return std::this_thread::get_id(); }).get();
  std::shared_ptr<weft::http::ClientSession> session =
      weft_thread.submit([] { return std::make_shared<weft::http::ClientSession>(); }).get();

  // The legacy part: plain threads, each fetching every kWorkers-th URL and
  // blocking on the std::future of each fetch. Results go to distinct
  // slots (char, not the packed vector<bool>), read after join().
  std::vector<std::string> lines(urls.size());
  std::vector<char> failed(urls.size(), 0);
  std::vector<char> on_loop(urls.size(), 0);
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (std::size_t i = w; i < urls.size(); i += kWorkers) {
        std::future<Fetched> fetched = weft_thread.submit([session, &urls, i] {
          weft::http::Response response = session->get(urls[i]);
          Fetched result;
          result.status = response.status();
          result.body = response.text();
          result.ran_on = std::this_thread::get_id();
          return result;
        });
        try {
          const Fetched result = fetched.get();  // blocks this worker only
          lines[i] = urls[i] + ": " + std::to_string(result.status) + ", " + std::to_string(result.body.size()) +
                     " bytes";
          on_loop[i] = result.ran_on == loop_thread && result.ran_on != std::this_thread::get_id();
        } catch (const std::exception& e) {
          lines[i] = urls[i] + ": failed: " + e.what();
          failed[i] = 1;
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();

  // The session dies on its loop; so does the server.
  weft_thread.submit([&session] { session.reset(); }).get();
  if (server) {
    server_thread->submit([&server] {
      server->close();
      server->wait_closed();
      server.reset();
    }).get();
  }

  int status = 0;
  bool all_on_loop = true;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::printf("%s\n", lines[i].c_str());
    if (failed[i]) status = 1;
    if (!failed[i] && !on_loop[i]) all_on_loop = false;
  }
  if (status == 0 && all_on_loop) {
    std::printf("%zu fetches from %zu threads, each run on the loop thread\n", urls.size(), kWorkers);
  }
  return all_on_loop ? status : 1;
}

// A program outside weft's tree, as a user writes it: built by
// tests/packaging/check_consumers.sh with weft as a Meson subproject, and
// against the installed weft through pkg-config, static and shared. It runs
// a task, a queue and an HTTP GET (and json()) against a server it starts
// itself on 127.0.0.1, catches two exceptions thrown inside weft by their
// type (which, with libweft.so, only works if the library exports their
// typeinfo), then prints one line that the script checks.
#include <weft/http/json.hpp>
#include <weft/version.hpp>
#include <weft/weft.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

namespace {

// Answers one request with a small JSON body, then closes.
void serve_one(weft::Stream stream) {
  stream.read_until("\r\n\r\n");
  const std::string body = "{\"greeting\": \"hello\"}";
  stream.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  stream.drain();
  stream.close();
}

// A GET to a port nobody listens on (one a server had and gave back) must
// throw weft::http::ClientConnectorError carrying ECONNREFUSED.
std::string refused_get(weft::http::ClientSession& session) {
  weft::Server gone = weft::start_server(serve_one, "127.0.0.1", 0);
  const uint16_t port = gone.port();
  gone.close();
  gone.wait_closed();
  try {
    session.get("http://127.0.0.1:" + std::to_string(port) + "/");
    return "no-error";
  } catch (const weft::http::ClientConnectorError& e) {
    return e.error() == ECONNREFUSED && e.port() == port ? "ClientConnectorError" : "wrong-error";
  }
}

// wait_for() on a task that outlives its timeout must throw
// weft::TimeoutError (thrown by the library's Timeout).
std::string timed_out_wait() {
  try {
    weft::wait_for([] { weft::sleep(std::chrono::seconds(30)); }, std::chrono::milliseconds(20));
    return "no-error";
  } catch (const weft::TimeoutError&) {
    return "TimeoutError";
  }
}

std::string consume() {
  // A task.
  weft::Task<int> answer = weft::create_task([] {
    weft::sleep(std::chrono::milliseconds(1));
    return 6 * 7;
  });

  // A queue between a producer task and this one.
  weft::Queue<int> queue(2);
  weft::Task<void> producer = weft::create_task([&queue] {
    for (int i = 1; i <= 4; ++i) queue.put(i);
  });
  int sum = 0;
  for (int i = 0; i < 4; ++i) sum += queue.get();
  producer.get();

  // An HTTP GET against our own server.
  weft::Server server = weft::start_server(serve_one, "127.0.0.1", 0);
  weft::http::ClientSession session;
  weft::http::Response response = session.get("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  const nlohmann::json json = response.json();
  server.close();
  server.wait_closed();

  // Exceptions from inside weft, caught by type.
  const std::string refused = refused_get(session);
  const std::string timeout = timed_out_wait();

  return "weft " WEFT_VERSION_STRING " consumer: task=" + std::to_string(answer.get()) +
         " queue=" + std::to_string(sum) + " http=" + std::to_string(response.status()) +
         " greeting=" + json.at("greeting").get<std::string>() + " refused=" + refused +
         " timeout=" + timeout;
}

}  // namespace

int main() {
  try {
    const std::string line = weft::run(consume);
    std::printf("%s\n", line.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}

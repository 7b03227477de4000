// Servers that hold an HTTP client at one chosen point of a request, for the
// cancellation storms (test_cancellation_storms.cpp): a cancel that lands
// while the client waits there is known to have struck at that point.
//
//   where the client waits          the server
//   connecting (SYN sent)           FullBacklogListener: listen(fd, 0), never
//                                   accept(), its one-entry accept queue full
//   in the TLS handshake            StallServer kSilent, for an https:// URL
//   for the response head           StallServer kSilent, for an http:// URL
//   inside the body                 StallServer kBody (a byte every 20 ms, so
//                                   that cancels also meet wake-ups)
//   for a pool slot                 any of these, with limit_per_host reached
//
// StallServer's other modes answer: kAnswer at once (for the requests that
// must succeed after a storm), kAnswerLater after random short delays, its
// body in two writes (for storms whose cancels strike wherever the request
// happens to be). Each counts what it saw, so a test can wait until every
// request of a storm has reached its point before cancelling any.
//
// Threads: construct, use and destroy a StallServer inside a task of one
// loop (it is a ScriptServer, tests/http/script_server.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "tests/http/script_server.hpp"
#include "tests/support/full_backlog.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/tls.hpp"

namespace weft_test {

// What a StallServer does with each request it receives.
enum class Stall {
  kSilent,       // nothing: read until the client goes away
  kBody,         // a head announcing kStallBodySize bytes, the first kStallBodySent of them, then one a tick
  kAnswer,       // 200 with kAnswerBody, keep-alive
  kAnswerLater,  // 200 with kAnswerBody, after 0-10 ms, its body in two writes 0-20 ms apart
};

constexpr std::size_t kStallBodySize = 1 << 20;
constexpr std::size_t kStallBodySent = 1000;
constexpr std::chrono::milliseconds kStallBodyTick{20};
constexpr const char kAnswerBody[] = "the answer of a StallServer, in full\n";

class StallServer {
 public:
  // `seed` drives kAnswerLater's delays; `tls`, if set, makes it an
  // https server (the handshake done before the mode applies).
  explicit StallServer(Stall mode, unsigned seed = 0, weft::TlsContext tls = weft::TlsContext())
      : state_(std::make_shared<State>(mode, seed)), server_(handler(state_), std::move(tls)) {}

  StallServer(const StallServer&) = delete;
  StallServer& operator=(const StallServer&) = delete;

  // Applies to requests received from now on.
  void set_mode(Stall mode) { state_->mode = mode; }

  // "http://127.0.0.1:PORT/path" ("https" for a TLS server).
  std::string url(const std::string& path = "/") const { return server_.url(path); }
  // The same port with an https:// URL, whatever the server speaks: a
  // plain kSilent server then holds clients in their TLS handshake.
  std::string https_url(const std::string& path = "/") const {
    return "https://127.0.0.1:" + std::to_string(server_.port()) + path;
  }

  // Connections that sent at least one byte (a TLS client: its ClientHello).
  std::size_t greeted() const { return state_->greeted; }
  // Request heads received (plain HTTP only).
  std::size_t requests() const { return state_->requests; }
  std::size_t open_connections() const { return server_.open_connections(); }

  // Blocks (this task) until every connection the clients closed is closed
  // here too, or `limit` passes; false then.
  bool wait_idle(std::chrono::milliseconds limit = std::chrono::seconds(30)) const {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (open_connections() != 0) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      weft::sleep(std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  struct State {
    State(Stall m, unsigned seed) : mode(m), random(seed) {}
    Stall mode;
    std::mt19937 random;
    std::size_t greeted = 0;
    std::size_t requests = 0;
  };

  static ScriptServer::Handler handler(std::shared_ptr<State> state) {
    return [state](ScriptConnection& connection) {
      weft::Stream& stream = connection.stream();
      std::string pending;
      bool greeted = false;
      for (;;) {
        std::string chunk = stream.read(64 * 1024);
        if (chunk.empty()) return;  // the client went away
        if (!greeted) {
          greeted = true;
          ++state->greeted;
        }
        pending += chunk;
        // GETs only: a request is its head.
        for (std::size_t end = pending.find("\r\n\r\n"); end != std::string::npos; end = pending.find("\r\n\r\n")) {
          pending.erase(0, end + 4);
          ++state->requests;
          respond(*state, stream);
        }
      }
    };
  }

  static void respond(State& state, weft::Stream& stream) {
    const std::string body = kAnswerBody;
    switch (state.mode) {
      case Stall::kSilent:
        return;
      case Stall::kBody:
        stream.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kStallBodySize) + "\r\n\r\n" +
                     std::string(kStallBodySent, 'x'));
        stream.drain();
        // Until a write finds the client gone (ConnectionError ends the
        // handler); the body never ends within a test.
        for (std::size_t sent = kStallBodySent; sent < kStallBodySize; ++sent) {
          weft::sleep(kStallBodyTick);
          stream.write("x");
          stream.drain();
        }
        return;
      case Stall::kAnswer:
        stream.write(with_length(body));
        stream.drain();
        return;
      case Stall::kAnswerLater: {
        std::uniform_int_distribution<int> head_delay(0, 10);
        std::uniform_int_distribution<int> body_delay(0, 20);
        const std::string response = with_length(body);
        const std::size_t split = response.size() - body.size() / 2;
        weft::sleep(std::chrono::milliseconds(head_delay(state.random)));
        stream.write(response.substr(0, split));
        stream.drain();
        weft::sleep(std::chrono::milliseconds(body_delay(state.random)));
        stream.write(response.substr(split));
        stream.drain();
        return;
      }
    }
  }

  std::shared_ptr<State> state_;
  ScriptServer server_;
};

}  // namespace weft_test
